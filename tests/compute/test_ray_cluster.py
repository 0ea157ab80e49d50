"""The Ray executor on a real local cluster: where jobs run, dependencies, faults."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from dfmask.compute.jobs import Job
from dfmask.compute.ray_cluster import RayExecutor
from dfmask.errors import DfmaskError
from dfmask.params import ComputeParams

ray = pytest.importorskip("ray")

RAY = ComputeParams(executor="ray", max_retries=2)


class Holder:
    """A setup that records which process built it (stands for the detector)."""

    def __init__(self) -> None:
        self.pid = os.getpid()


def _on_actor(holder: Holder, x: int) -> tuple[int, int, int]:
    return holder.pid, os.getpid(), x


def _pid(x: int) -> tuple[int, int]:
    return os.getpid(), x


def _plus(needed: tuple[int, int, int] | int, x: int) -> int:
    return (needed[2] if isinstance(needed, tuple) else needed) + x


def _die_once(marker: str, x: int) -> int:
    """Kill this worker process the first time (as a lost worker would die), then work."""
    if not os.path.exists(marker):
        Path(marker).write_text("killed once")
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def _die_always(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


def _raise(x: int) -> int:
    raise KeyError(f"bug on {x}")


def test_jobs_run_in_ray_worker_processes_and_fakes_get_their_originals_results(ray_cluster: str) -> None:
    originals = [Job(f"o{i}", _on_actor, (i,), setup=Holder) for i in range(5)]
    fakes = [Job(f"f{i}", _plus, (100,), needs=f"o{i}") for i in range(5)]
    fakes.append(Job("g", _plus, (1,), needs="earlier"))  # an original done by an earlier run
    with RayExecutor(RAY) as ex:
        results = dict(ex.run([*originals, *fakes, Job("t", _pid, (7,))], {"earlier": lambda: 41}))
    assert ray.is_initialized()  # the executor joined the module's cluster and left it running
    on_actors = [results[f"o{i}"] for i in range(5)]
    assert {pid for _, pid, _ in on_actors}.isdisjoint({os.getpid()})
    assert all(built == ran for built, ran, _ in on_actors)  # the setup lives in the process that runs
    assert len({pid for _, pid, _ in on_actors}) <= 2  # two CPUs: at most two actors, each built once
    assert [results[f"f{i}"] for i in range(5)] == [100 + i for i in range(5)]
    assert results["g"] == 42
    assert results["t"][0] != os.getpid() and results["t"][1] == 7


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_its_result_is_the_same(ray_cluster: str, tmp_path: Path) -> None:
    jobs = [Job(str(i), _die_once, (str(tmp_path / f"m{i}"), i)) for i in range(3)]
    with RayExecutor(RAY) as ex:
        assert dict(ex.run(jobs)) == {"0": 0, "1": 1, "2": 2}
    assert all((tmp_path / f"m{i}").exists() for i in range(3))  # each job really died once


@pytest.mark.slow
def test_a_killed_actor_is_restarted_and_its_job_retried(ray_cluster: str, tmp_path: Path) -> None:
    marker = str(tmp_path / "actor")
    jobs = [Job("o", _die_once_with_setup, (marker, 3), setup=Holder), Job("f", _plus, (1,), needs="o")]
    with RayExecutor(RAY) as ex:
        assert dict(ex.run(jobs)) == {"o": 3, "f": 4}
    assert Path(marker).exists()


def _die_once_with_setup(holder: Holder, marker: str, x: int) -> int:
    return _die_once(marker, x)


@pytest.mark.slow
def test_past_max_retries_the_stage_fails_with_one_line_naming_the_video(ray_cluster: str) -> None:
    with RayExecutor(ComputeParams(executor="ray", max_retries=1)) as ex, pytest.raises(DfmaskError) as err:
        dict(ex.run([Job("ok", _pid, (1,)), Job("aaqqfake.mp4", _die_always, (2,))]))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("compute: aaqqfake.mp4: its Ray worker or node was lost 2 times (compute.max_retries: 1)")


def test_a_jobs_own_exception_is_raised_as_locally_not_retried(ray_cluster: str) -> None:
    with RayExecutor(RAY) as ex, pytest.raises(KeyError, match="bug on 3"):
        dict(ex.run([Job("3", _raise, (3,))]))


def test_resources_the_cluster_lacks_are_refused_in_one_line(ray_cluster: str) -> None:
    jobs = [Job("o", _on_actor, (1,), setup=Holder)]
    gpus = RayExecutor(ComputeParams(executor="ray", gpus_per_task=0.25))
    with gpus as ex, pytest.raises(DfmaskError, match=r"compute.gpus_per_task: 0.25, but the Ray cluster has 0 GPUs"):
        dict(ex.run(jobs))
    cpus = RayExecutor(ComputeParams(executor="ray", cpus_per_task=4))
    with cpus as ex, pytest.raises(DfmaskError, match=r"compute.cpus_per_task: 4, but the Ray cluster has 2 CPUs"):
        dict(ex.run([Job("t", _pid, (1,))]))
