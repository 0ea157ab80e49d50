"""The masks stage's workers: one fake video per job, set up once per process.

The jobs run on `dfmask.compute`'s executor: spawned local processes
(``masks.workers``) or Ray workers. Each worker process uses one OpenCV thread and
glibc is told to keep freed memory; the number of processes never changes the output
(each video's rows depend only on its pairs and the params, and the stage writes
them in job order).
"""

from __future__ import annotations

import os

import cv2
import pyarrow as pa

from dfmask.masks.compute import mask_video
from dfmask.masks.pairing import FakeVideoJob
from dfmask.params import MasksParams

_WORKER_PARAMS: MasksParams | None = None

# glibc mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory in the heap instead of returning it to the OS.

    Each pair allocates a few MB of float planes and frees them. With glibc's default
    (dynamic) thresholds, a fresh process hands that memory back after every pair and
    page-faults it in again on the next: measured here, 3,100 minor faults and ~9 ms of
    kernel time per 256² pair, more than the SSIM itself. Raising the mmap threshold
    (16 MB) and the trim threshold (64 MB) keeps the pages mapped. Returns whether the
    settings were applied (False off glibc, e.g. macOS or musl: only slower there).
    """
    import ctypes
    import ctypes.util
    import platform

    name = ctypes.util.find_library("c")
    if platform.system() != "Linux" or name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 16 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 64 << 20))


def _init_worker(params: MasksParams) -> None:
    global _WORKER_PARAMS
    _WORKER_PARAMS = params
    cv2.setNumThreads(1)  # parallelism comes from processes, not OpenCV threads
    keep_freed_memory()


def mask_job(job: FakeVideoJob, params: MasksParams) -> pa.Table:
    """One fake video's work table, in whichever process runs it (`dfmask.compute`);
    the process is set up (`_init_worker`) once per params."""
    if params != _WORKER_PARAMS:
        _init_worker(params)
    return mask_video(job, params)


#: With ``workers: 0`` (auto), at least this many pairs per extra process: starting a
#: spawned worker (a fresh interpreter importing numpy, OpenCV and pyarrow) costs 1–3 s
#: here, which is what one process needs for ~300 pairs at 128².
MIN_PAIRS_PER_WORKER = 1000


def worker_count(requested: int, pairs: int | None = None) -> int:
    """Processes to use: ``requested`` if > 0; else one per available CPU, but no more
    than one per `MIN_PAIRS_PER_WORKER` pairs (when ``pairs`` is given)."""
    if requested > 0:
        return requested
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if pairs is not None:
        cpus = min(cpus, max(1, pairs // MIN_PAIRS_PER_WORKER))
    return cpus
