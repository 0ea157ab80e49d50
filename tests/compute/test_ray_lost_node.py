"""A node lost mid-stage: a real multi-node Ray cluster on this machine
(`ray.cluster_utils.Cluster`: a head and worker nodes, each its own raylet), one worker
node removed while a job runs on it. The job is retried on another node and its result
is the one an undisturbed run gives; lost beyond ``compute.max_retries`` times, the stage
fails with one line naming the video. (Killing a worker process is tested in
test_ray_cluster.py; this is the loss of the whole node under it.)"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dfmask.compute.jobs import Job
from dfmask.compute.ray_cluster import RayExecutor
from dfmask.errors import DfmaskError
from dfmask.params import ComputeParams

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")


def _slow_first_time(marker: str, x: int) -> tuple[int, str]:
    """The first attempt says where it runs, then waits to be lost with its node; a retry
    returns at once. The result does not depend on the attempt."""
    with open(f"{marker}.attempts", "a") as log:  # every attempt's node, in order
        log.write(ray.get_runtime_context().get_node_id() + "\n")
    seen = Path(f"{marker}.seen")
    if not seen.exists():
        seen.write_text("first attempt")
        Path(marker).write_text(ray.get_runtime_context().get_node_id())
        time.sleep(120)
    return x * 10, "done"


def _slow_always(marker: str, x: int) -> int:
    Path(marker).write_text(ray.get_runtime_context().get_node_id())
    time.sleep(120)
    return x


@pytest.fixture()
def cluster() -> Iterator[object]:
    """A head that runs no jobs (0 CPUs: they must go to worker nodes) and one 1-CPU
    worker node; worker processes import this module's functions by name."""
    here = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, old) if p)
    c = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False, logging_level="error")
        yield c
    finally:
        ray.shutdown()
        c.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _lose_nodes(cluster: object, marker: Path, times: int) -> None:
    """Each time a job writes ``marker`` on a node, add a fresh node and remove that one
    (abruptly: its raylet and workers are killed), ``times`` times. Ray starts nodes only
    from the main thread, so this runs there and the stage in a thread (`_drive`)."""
    for _ in range(times):
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert time.monotonic() < deadline, "no job started on a worker node"
            time.sleep(0.1)
        node_id = marker.read_text()
        doomed = next(n for n in cluster.worker_nodes if n.node_id == node_id)  # type: ignore[attr-defined]
        cluster.add_node(num_cpus=1)  # type: ignore[attr-defined]
        cluster.remove_node(doomed, allow_graceful=False)  # type: ignore[attr-defined]
        marker.unlink()


def _drive(compute: ComputeParams, jobs: list[Job]) -> tuple[threading.Thread, dict[str, object]]:
    """The stage's side: the Ray executor running ``jobs``, in a thread; its results or
    its error land in the returned dict."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            with RayExecutor(compute) as ex:
                out["results"] = dict(ex.run(jobs))
        except Exception as err:  # noqa: BLE001 -- handed to the test's thread, which asserts on it
            out["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@pytest.mark.slow
def test_a_job_whose_node_is_lost_runs_again_elsewhere_with_the_same_result(cluster: object, tmp_path: Path) -> None:
    marker = tmp_path / "running_on"
    started = time.monotonic()
    job = Job("aaqqfake.mp4", _slow_first_time, (str(marker), 4))
    thread, out = _drive(ComputeParams(executor="ray", max_retries=2), [job])
    _lose_nodes(cluster, marker, times=1)
    thread.join(timeout=150)
    assert not thread.is_alive() and "error" not in out, out
    assert out["results"] == {"aaqqfake.mp4": (40, "done")}
    assert time.monotonic() - started < 110  # retried on the new node, not waited out on the lost one
    first, again = Path(f"{marker}.attempts").read_text().split()
    assert first != again  # the first attempt's node was removed: the result came from another


@pytest.mark.slow
def test_a_video_whose_nodes_keep_dying_fails_the_stage_in_one_line(cluster: object, tmp_path: Path) -> None:
    marker = tmp_path / "running_on"
    job = Job("aaqqfake.mp4", _slow_always, (str(marker), 1))
    thread, out = _drive(ComputeParams(executor="ray", max_retries=1), [job])
    _lose_nodes(cluster, marker, times=2)
    thread.join(timeout=150)
    assert not thread.is_alive() and "results" not in out, out
    err = out["error"]
    assert isinstance(err, DfmaskError)
    message = str(err)
    assert "\n" not in message
    assert message.startswith("compute: aaqqfake.mp4: its Ray worker or node was lost 2 times (compute.max_retries: 1)")
