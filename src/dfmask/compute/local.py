"""``compute.executor: local``: the stages' own pools on this machine.

`ThreadExecutor` is the faces stage's pool (``faces.workers`` threads: the detector,
the decoder and OpenCV release the GIL, and one detector serves every thread): jobs
start in list order from one FIFO queue, so with the originals listed first both
cores detect at the start and cut fakes at the end, and a fake's thread waits for
its original's result. `ProcessExecutor` is the masks stage's pool
(``masks.workers`` spawned processes: SSIM holds the GIL).
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor as _Pool
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any, Self

from dfmask.compute.jobs import Job, call, check_jobs


class _Setups:
    """Each distinct setup built once (lazily, on first use) and shared by every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[int, tuple[Callable[[], Any], Any]] = {}

    def get(self, setup: Callable[[], Any] | None) -> Any:
        if setup is None:
            return None
        with self._lock:
            if id(setup) not in self._built:
                self._built[id(setup)] = (setup, setup())  # keeps ``setup`` alive: its id stays unique
            return self._built[id(setup)][1]


def _after(job: Job, setup_value: Any, needed: Future[Any] | Callable[[], Any] | None) -> Any:  # runs on a pool thread
    if needed is None:
        return call(job, setup_value, ())
    value = needed.result() if isinstance(needed, Future) else needed()
    return call(job, setup_value, (value,))


class _Pooled:
    """What both local executors share: ``workers`` (at least 1), a context manager
    that holds nothing between stages (each `run` opens and closes its own pool), and
    `_drain`, which yields results as they finish."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def _drain(pool: _Pool, names: dict[Future[Any], str]) -> Iterator[tuple[str, Any]]:
        """``(job name, result)`` as each future finishes; a job's exception stops the
        stage here, after cancelling what has not started and waiting for what has."""
        try:
            for fut in as_completed(list(names)):
                yield names.pop(fut), fut.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


class ThreadExecutor(_Pooled):
    """``workers`` threads of this process, one FIFO queue in job order."""

    def __init__(self, workers: int, name: str = "dfmask"):
        super().__init__(workers)
        self.name = name

    def run(
        self, jobs: Sequence[Job], done: Mapping[str, Callable[[], Any]] | None = None
    ) -> Iterator[tuple[str, Any]]:
        done = dict(done or {})
        check_jobs(jobs, done)
        setups = _Setups()
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=self.name) as pool:
            futures: dict[str, Future[Any]] = {}
            for job in jobs:
                # the setup is built here, before the job is queued (the detector loads once)
                needed = futures.get(job.needs) or done.get(job.needs) if job.needs is not None else None
                futures[job.name] = pool.submit(_after, job, setups.get(job.setup), needed)
            names = {f: n for n, f in futures.items()}
            futures.clear()  # a result is dropped once yielded and its dependants have it
            yield from self._drain(pool, names)


def _in_process(job: Job) -> Any:  # runs in a spawned worker; setups are built per process
    return call(job, _process_setup(job.setup), ())


_PROCESS_SETUPS: dict[bytes, Any] = {}


def _process_setup(setup: Callable[[], Any] | None) -> Any:
    if setup is None:
        return None
    import pickle

    key = pickle.dumps(setup)
    if key not in _PROCESS_SETUPS:
        _PROCESS_SETUPS[key] = setup()
    return _PROCESS_SETUPS[key]


class ProcessExecutor(_Pooled):
    """``workers`` spawned processes (one job at a time each); with one worker or one
    job, everything runs in this process. Jobs may not ``need`` each other here (no
    stage that uses processes has such jobs)."""

    def run(
        self, jobs: Sequence[Job], done: Mapping[str, Callable[[], Any]] | None = None
    ) -> Iterator[tuple[str, Any]]:
        check_jobs(jobs, dict(done or {}))
        if any(job.needs is not None for job in jobs):
            raise ValueError("ProcessExecutor runs independent jobs only (a job has needs)")
        if self.workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield job.name, _in_process(job)
            return
        # spawn, not fork: a child forked after OpenCV's thread pool has run can deadlock on
        # a lock copied in the held state (seen here: workers stuck in futex_wait).
        pool: _Pool = ProcessPoolExecutor(max_workers=min(self.workers, len(jobs)), mp_context=mp.get_context("spawn"))
        with pool:
            names = {pool.submit(_in_process, job): job.name for job in jobs}
            yield from self._drain(pool, names)
