"""The executor interface: a stage's per-video work as `Job`s, results back to the driver.

A stage turns each video it still has to compute into a `Job` (a module-level
function and its arguments) and hands the list to an `Executor`, which yields
``(job name, result)`` as jobs finish, wherever they ran. The stage, on the driver,
writes each result to its `dfmask.workdir.WorkDir` item and later assembles the
shards from the items, exactly as before: so the bytes written never depend on the
executor, on the order jobs finish in, or on which machine ran them.

Two relations between jobs cover the stages' shapes:

* ``setup``: a per-worker resource built once and passed as the first argument (the
  faces detector, MTCNN loaded once per worker). Jobs with a setup run first.
* ``needs``: the name of another job whose result is the next argument (a fake's job
  needs its original's crop windows). The needed job is either earlier in the same
  list, or a finished one named in ``done``: a zero-argument loader of its stored
  result (an item computed by an earlier run of the stage).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    """One video's work.

    Args:
        name: the item it computes (a video id): results come back under it, and an
            infrastructure failure names it.
        fn: a module-level function (remote workers import it by name), called as
            ``fn(*[setup value], *[needed result], *args)``.
        args: its other arguments; picklable.
        needs: a job whose result ``fn`` takes (see the module docstring).
        setup: builds the per-worker resource ``fn`` takes first; picklable (a
            ``functools.partial`` of a class and its params), built once per worker.
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    needs: str | None = None
    setup: Callable[[], Any] | None = field(default=None, compare=False)


class Executor(Protocol):
    """Where jobs run. A context manager: entering connects (or starts a pool),
    leaving releases what it started."""

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def run(
        self, jobs: Sequence[Job], done: Mapping[str, Callable[[], Any]] | None = None
    ) -> Iterator[tuple[str, Any]]:
        """Run ``jobs``; yield ``(name, result)`` for each as it finishes, in any order.

        A job's own exception propagates unchanged (a bug in the stage's code, raised
        as with the local executor); ``done`` holds loaders for needed jobs not in
        ``jobs``.
        """
        ...


def check_jobs(jobs: Sequence[Job], done: Mapping[str, Callable[[], Any]]) -> None:
    """Refuse job lists an executor cannot run: repeated names, or a ``needs`` that
    names neither an earlier job nor a ``done`` loader (it would wait forever)."""
    seen: set[str] = set()
    for job in jobs:
        if job.name in seen:
            raise ValueError(f"job {job.name!r} appears twice")
        if job.needs is not None and job.needs not in seen and job.needs not in done:
            raise ValueError(f"job {job.name!r} needs {job.needs!r}, which is neither an earlier job nor done")
        seen.add(job.name)


def call(job: Job, setup_value: Any, needed: tuple[Any, ...]) -> Any:
    """Run ``job``'s function with its setup value (if it has a setup) and needed result."""
    lead = (setup_value,) if job.setup is not None else ()
    return job.fn(*lead, *needed, *job.args)
