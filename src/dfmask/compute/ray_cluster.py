"""``compute.executor: ray``: each video's job is a Ray task on a cluster (docs/cluster.md).

* Jobs with a ``setup`` (the faces originals: MTCNN) run on a pool of actors that
  build it once each: as many actors as the cluster holds ``cpus_per_task`` CPUs
  (and ``gpus_per_task`` GPU shares, when > 0: a fractional share lets several
  actors use one GPU), never more than there are such jobs. Each actor holds at most
  `IN_FLIGHT` jobs, so a slow actor does not collect a backlog. An actor with no job
  left is killed at once, which frees its CPUs for the tasks.
* Every other job is a CPU task (``cpus_per_task``). A job that ``needs`` another
  receives that job's result as a task argument: Ray starts it once the result
  exists, on any node, and the result never passes through the driver.
* Results come back to the driver (`dfmask.compute.jobs`), which writes them: only
  the corpus needs to be on a filesystem every node sees, at the same path.

Faults. A job whose own code raises fails the stage with that exception, as with the
local executor (a bad video is not an exception: the stages turn it into a status).
A worker process or node that dies (killed, out of memory, lost) is infrastructure:
Ray re-runs the job up to ``max_retries`` times (tasks: ``max_retries``; actors:
restarted, their pending jobs retried), then the stage fails with one line naming
the video. Nothing is written for a job until its result is back, so a killed driver
loses only the jobs in flight: the next run resumes from the stage's work items.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from dfmask.compute.jobs import Job, call, check_jobs
from dfmask.errors import DfmaskError
from dfmask.params import ComputeParams

#: Jobs queued on one actor at a time: one running, one ready to start when it ends.
IN_FLIGHT = 2


def _enter(cwd: str) -> None:
    """Run in the driver's working directory when this node has it: the stages pass
    paths relative to the repository (``corpus.root``), as the local executor does, so
    every status detail names a video exactly as a local run would."""
    if os.getcwd() != cwd and os.path.isdir(cwd):
        os.chdir(cwd)


def _task(cwd: str, job: Job, has_needed: bool, needed: Any) -> Any:  # runs in a Ray worker
    _enter(cwd)
    return call(job, None, (needed,) if has_needed else ())


class _Holder:
    """The actor class: builds a job's setup once, then runs jobs with it."""

    def __init__(self, setup: Callable[[], Any], cwd: str):
        _enter(cwd)
        self.cwd = cwd
        self.value = setup()

    def run(self, job: Job) -> Any:
        _enter(self.cwd)
        return call(job, self.value, ())

    def pid(self) -> int:
        return os.getpid()


class RayExecutor:
    """Connects to (or starts) the Ray cluster of ``compute.address``; runs jobs on it.

    A cluster this object started is shut down on leaving; one it joined (or one the
    caller had already initialised, as tests do) is left running.
    """

    def __init__(self, compute: ComputeParams):
        self.compute = compute
        self._started = False

    def __enter__(self) -> RayExecutor:
        import ray

        if not ray.is_initialized():
            address = self.compute.address or None
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=True, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = self.compute.address or "this machine"
                raise DfmaskError(f"compute.address: cannot join or start a Ray cluster at {where}: {err}") from err
            self._started = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def _capacity(self, gpus: bool) -> int:
        """How many ``cpus_per_task`` (and ``gpus_per_task``) slots the cluster has."""
        import ray

        resources = ray.cluster_resources()
        c = self.compute
        slots = int(resources.get("CPU", 0) // c.cpus_per_task)
        if slots < 1:
            raise DfmaskError(
                f"compute.cpus_per_task: {c.cpus_per_task:g}, but the Ray cluster has "
                f"{resources.get('CPU', 0):g} CPUs: no task could start"
            )
        if gpus:
            gpu_slots = int(resources.get("GPU", 0) // c.gpus_per_task)
            if gpu_slots < 1:
                raise DfmaskError(
                    f"compute.gpus_per_task: {c.gpus_per_task:g}, but the Ray cluster has "
                    f"{resources.get('GPU', 0):g} GPUs; set it to 0 to detect on CPU"
                )
            slots = min(slots, gpu_slots)
        return slots

    def _failure(self, name: str, err: Exception) -> DfmaskError:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        return DfmaskError(
            f"compute: {name}: its Ray worker or node was lost {self.compute.max_retries + 1} times "
            f"(compute.max_retries: {self.compute.max_retries}): {type(err).__name__}: {first}"
        )

    def run(
        self, jobs: Sequence[Job], done: Mapping[str, Callable[[], Any]] | None = None
    ) -> Iterator[tuple[str, Any]]:
        import ray

        done = dict(done or {})
        check_jobs(jobs, done)
        c, cwd = self.compute, os.getcwd()
        task = ray.remote(_task).options(num_cpus=c.cpus_per_task, num_gpus=0, max_retries=c.max_retries)
        on_actors = deque(job for job in jobs if job.setup is not None)
        actors: list[Any] = []
        if on_actors:
            setups = {id(job.setup) for job in on_actors}
            if len(setups) != 1:
                raise ValueError("the jobs with a setup must share one setup (one actor pool)")
            setup = on_actors[0].setup
            holder = ray.remote(_Holder).options(
                num_cpus=c.cpus_per_task,
                num_gpus=c.gpus_per_task,
                max_restarts=c.max_retries,
                max_task_retries=c.max_retries,
            )
            count = min(len(on_actors), self._capacity(gpus=c.gpus_per_task > 0))
            actors = [holder.remote(setup, cwd) for _ in range(count)]
        else:
            self._capacity(gpus=False)

        names: dict[Any, str] = {}  # outstanding ref -> job name
        loaded: dict[str, Any] = {}  # done name -> ref of its loaded result (put once)
        waiting: dict[str, list[Job]] = {}  # actor job name -> the jobs that need it, until it is dispatched
        load = [0] * len(actors)
        actor_of: dict[Any, int] = {}

        def submit_task(job: Job, dep: Any = None) -> Any:
            if job.needs is not None and dep is None:
                if job.needs not in loaded:
                    loaded[job.needs] = ray.put(done[job.needs]())
                dep = loaded[job.needs]
            ref = task.remote(cwd, job, job.needs is not None, dep)
            names[ref] = job.name
            return ref

        def feed(i: int) -> None:
            while on_actors and load[i] < IN_FLIGHT:
                job = on_actors.popleft()
                ref = actors[i].run.remote(job)
                names[ref], actor_of[ref] = job.name, i
                load[i] += 1
                for dependant in waiting.pop(job.name, []):
                    submit_task(dependant, ref)
            if not on_actors and load[i] == 0 and actors[i] is not None:
                ray.kill(actors[i])  # no job left for it: free its CPUs (and GPU share)
                actors[i] = None

        # Task jobs go out now (in list order), except those needing an actor job: they go
        # out when it is dispatched. A task job needed by another is listed before it.
        pending = {job.name for job in on_actors}
        refs: dict[str, Any] = {}
        for job in jobs:
            if job.setup is not None:
                continue
            if job.needs in pending:
                waiting.setdefault(str(job.needs), []).append(job)
            else:
                refs[job.name] = submit_task(job, refs.get(job.needs) if job.needs is not None else None)
        refs.clear()  # results are freed once yielded and their dependants have started
        loaded.clear()
        for i in range(len(actors)):
            feed(i)
        try:
            while names:
                ready, _ = ray.wait(list(names), num_returns=1)
                ref = ready[0]
                name = names.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as err:  # the job's own code raised
                    raise (err.cause if isinstance(err.cause, BaseException) else err) from None
                except ray.exceptions.RayActorError as err:
                    if err.actor_init_failed:  # the setup itself raised (e.g. the detector could not load)
                        first = (str(err).strip().splitlines() or [""])[-1][:300]
                        raise DfmaskError(f"compute: {name}: the worker's setup failed: {first}") from None
                    raise self._failure(name, err) from None
                except ray.exceptions.RayError as err:  # a worker, actor or node was lost for good
                    raise self._failure(name, err) from None
                if ref in actor_of:
                    i = actor_of.pop(ref)
                    load[i] -= 1
                    feed(i)
                yield name, result
                del result
        finally:
            for ref in names:  # best effort: the stage is failing or its consumer stopped
                with contextlib.suppress(ray.exceptions.RayError, ValueError, TypeError):
                    ray.cancel(ref, force=False)
            for actor in actors:
                if actor is not None:
                    ray.kill(actor)
