"""The job list contract every executor relies on (`dfmask.compute.jobs`)."""

from __future__ import annotations

import pytest

from dfmask.compute import executor_for
from dfmask.compute.jobs import Job, call, check_jobs
from dfmask.compute.local import ProcessExecutor, ThreadExecutor
from dfmask.compute.ray_cluster import RayExecutor
from dfmask.params import ComputeParams


def _add(a: int, b: int) -> int:
    return a + b


def test_a_job_needing_a_later_or_unknown_job_is_refused() -> None:
    with pytest.raises(ValueError, match="'b' needs 'a', which is neither an earlier job nor done"):
        check_jobs([Job("b", _add, (1,), needs="a"), Job("a", _add, (1, 2))], {})
    check_jobs([Job("b", _add, (1,), needs="a")], {"a": lambda: 3})  # a done job may be needed
    with pytest.raises(ValueError, match="'a' appears twice"):
        check_jobs([Job("a", _add, (1, 2)), Job("a", _add, (3, 4))], {})


def test_call_puts_the_setup_value_then_the_needed_result_before_the_args() -> None:
    def fn(*args: object) -> tuple[object, ...]:
        return args

    assert call(Job("x", fn, ("arg",)), None, ()) == ("arg",)
    assert call(Job("x", fn, ("arg",), setup=lambda: 0), "setup", ("needed",)) == ("setup", "needed", "arg")


def test_executor_for_follows_compute_executor() -> None:
    assert isinstance(executor_for(ComputeParams(), 2), ThreadExecutor)
    assert isinstance(executor_for(ComputeParams(), 2, processes=True), ProcessExecutor)
    assert isinstance(executor_for(ComputeParams(executor="ray"), 2), RayExecutor)
