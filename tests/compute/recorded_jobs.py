"""Stage job functions that also record which process ran them (for the Ray tests).

`tests/compute/test_probe_embed_on_ray.py` puts these in place of the ingest probe's
and the embed stage's job functions. Ray workers import this module by name (the
``ray_cluster`` fixture puts this folder on their PYTHONPATH), so it imports only
dfmask: each call touches ``PIDS/<stage>/<pid>``, then runs the real job.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from dfmask.corpus.ingest import _probe_job
from dfmask.identity.embed import _embed_job

#: Where the pids go: the driver and its local Ray workers share this machine's temp dir.
PIDS = Path(tempfile.gettempdir()) / f"dfmask-test-job-pids-{os.getuid()}"


def _record(stage: str) -> None:
    folder = PIDS / stage
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()


def pids(stage: str) -> set[int]:
    """The processes that ran ``stage``'s jobs since the folder was last cleared."""
    folder = PIDS / stage
    return {int(p.name) for p in folder.iterdir()} if folder.is_dir() else set()


def probe_job(file: str, probe_decode: bool) -> Any:
    _record("ingest")
    return _probe_job(file, probe_decode)


def embed_job(params: Any, crops: Any) -> Any:
    _record("embed")
    return _embed_job(params, crops)
