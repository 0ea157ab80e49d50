"""A real local Ray cluster per test module (Ray has no local mode any more).

`ray_cluster` starts one 2-CPU cluster for the module that asks for it and shuts it
down after the module's last test: starting one costs ~5 s, so tests share it.
Executors created while it runs join it and leave it running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """The GCS address of a fresh 2-CPU local cluster (for subprocesses to join).

    Its worker processes inherit this environment: PYTHONPATH gets this folder, so
    that they import the test modules' job functions by name as the driver does."""
    here = str(Path(__file__).parent)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (here, old) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old
