"""The local executors: the faces stage's threads and the masks stage's processes."""

from __future__ import annotations

import os

import pytest

from dfmask.compute.jobs import Job
from dfmask.compute.local import ProcessExecutor, ThreadExecutor


class Counter:
    """A setup whose builds are counted (a detector stands for it in the stage)."""

    builds = 0

    def __init__(self) -> None:
        type(self).builds += 1


def _with_setup(counter: Counter, x: int) -> tuple[int, int]:
    return id(counter), x


def _twice(x: int) -> int:
    return 2 * x


def _plus(needed: int, x: int) -> int:
    return needed + x


def _pid(x: int) -> tuple[int, int]:
    return os.getpid(), x


def test_threads_build_a_setup_once_and_pass_results_to_the_jobs_that_need_them() -> None:
    Counter.builds = 0
    jobs = [Job(f"o{i}", _with_setup, (i,), setup=Counter) for i in range(4)]
    jobs += [Job("a", _twice, (5,)), Job("b", _plus, (1,), needs="a"), Job("c", _plus, (100,), needs="done")]
    with ThreadExecutor(2) as ex:
        results = dict(ex.run(jobs, {"done": lambda: 7}))
    assert Counter.builds == 1
    assert len({results[f"o{i}"][0] for i in range(4)}) == 1  # one shared object
    assert [results[f"o{i}"][1] for i in range(4)] == [0, 1, 2, 3]
    assert (results["a"], results["b"], results["c"]) == (10, 11, 107)


def test_threads_start_jobs_in_list_order() -> None:
    """One FIFO queue: with one thread, jobs start exactly in list order (originals first)."""
    started: list[int] = []

    def note(i: int) -> int:
        started.append(i)
        return i

    order = [5, 1, 4, 2, 3]
    with ThreadExecutor(1) as ex:
        assert sorted(r for _, r in ex.run([Job(str(i), note, (i,)) for i in order])) == [1, 2, 3, 4, 5]
    assert started == order


def test_a_jobs_own_exception_reaches_the_caller_unchanged() -> None:
    def boom(x: int) -> int:
        raise KeyError(f"video {x}")

    with ThreadExecutor(2) as ex, pytest.raises(KeyError, match="video 3"):
        dict(ex.run([Job("1", _twice, (1,)), Job("3", boom, (3,)), Job("4", _plus, (1,), needs="3")]))


def test_processes_run_jobs_in_other_processes_and_one_worker_runs_here() -> None:
    jobs = [Job(str(i), _pid, (i,)) for i in range(4)]
    with ProcessExecutor(2) as ex:
        results = dict(ex.run(jobs))
    assert {r[1] for r in results.values()} == {0, 1, 2, 3}
    assert os.getpid() not in {r[0] for r in results.values()}
    with ProcessExecutor(1) as ex:
        assert {r[0] for _, r in ex.run(jobs)} == {os.getpid()}
    with ProcessExecutor(2) as ex, pytest.raises(ValueError, match="independent jobs only"):
        list(ex.run([Job("a", _twice, (1,)), Job("b", _plus, (1,), needs="a")]))
