"""Where per-video work runs: the executors a stage fans its items out to.

Stages keep owning what is written (WorkDir items, shards, tables); this package
only decides where each per-video function call runs (``compute.executor``), so
the outputs do not depend on the executor. It is infrastructure: it imports no
stage package, and the stage packages hand it their functions.
"""

from __future__ import annotations

from dfmask.compute.jobs import Executor, Job
from dfmask.compute.local import ProcessExecutor, ThreadExecutor
from dfmask.compute.ray_cluster import RayExecutor
from dfmask.params import ComputeParams

__all__ = ["Executor", "Job", "executor_for"]


def executor_for(compute: ComputeParams, workers: int, processes: bool = False, name: str = "dfmask") -> Executor:
    """The executor ``compute.executor`` names: with ``local``, the stage's own pool of
    ``workers`` threads (or spawned ``processes``); with ``ray``, the Ray cluster of
    ``compute.address`` (``workers`` is then the cluster's business)."""
    if compute.executor == "ray":
        return RayExecutor(compute)
    return ProcessExecutor(workers) if processes else ThreadExecutor(workers, name)
