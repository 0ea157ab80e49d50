"""The ``masks`` stage: pair fake crops with their original's crops, SSIM → binary masks.

For every fake crop of a part, the original's crop of the same (frame_idx, track_id) is
looked up; faces cuts both with the original's boxes, so the pair is pixel-aligned.
The mask is ``1 − SSIM > threshold`` cleaned by morphology (`dfmask.masks.ssim`), stored as an
8-bit grey PNG with 255 = manipulated (docs/architecture.md, "Masks in tables").

* **Real crops have no mask rows.** Readers treat a real crop's mask as all zeros.
* **Validity.** A fake crop is ``valid`` when more than ``valid_min_pixels`` pixels have
  an 8-bit dissimilarity ``(1 − SSIM)·255`` above ``valid_diff_level`` (the DFDC 1st
  place's rule). Invalid fakes (the swap failed, or the detector saw another face) keep
  their row with ``valid = false``; they are never dropped unseen.
* **Nothing silent.** A fake crop without a paired original crop, or whose PNGs cannot
  be decoded or differ in size, gets a status counted in the part's report
  (``<paths.reports>/masks/part=N.json``).
* **Resumable and deterministic.** Each fake video's rows are kept in a `WorkDir` item;
  after a crash the same command skips finished videos, and the shards are assembled
  from the items in sorted order, so a resumed run writes the same bytes. The number of
  worker processes does not change the output.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask.codedeps import source_files
from dfmask.errors import DfmaskError
from dfmask.faces.schema import FACES
from dfmask.masks.ssim import MorphConfig, SsimConfig, diff8, mask_from_ssim, ssim_map
from dfmask.params import MasksParams, to_dict
from dfmask.progress import progress
from dfmask.tables import (
    IMAGE,
    TableSpec,
    decode_png,
    encode_png,
    field,
    file_sha256,
    read_metadata,
    read_tables,
    shard_paths,
    write_json,
    write_table,
)
from dfmask.workdir import WorkDir, code_and_libraries

MASKS = TableSpec(
    name="masks",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "corpus part N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "the FAKE video's id (mp4 stem)", nullable=False),
            field("original_id", pa.string(), "video_id of the fake's original", nullable=False),
            field("frame_idx", pa.int32(), "0-based frame index in the decoded stream", nullable=False),
            field("track_id", pa.int32(), "face track id of the original (shared by the fake)", nullable=False),
            field("mask", IMAGE, "8-bit grey PNG, crop size; 255 = manipulated, 0 = untouched"),
            field("ssim_mean", pa.float32(), "mean SSIM(real, fake) without the window/2 border strip"),
            field("manipulated_frac", pa.float32(), "share of mask pixels set (0..1)"),
            field("valid", pa.bool_(), "more than valid_min_pixels pixels with (1-SSIM)*255 > valid_diff_level"),
            field("diff", IMAGE, "optional raw 8-bit (1-SSIM)*255 PNG (null unless masks.store_diff)"),
        ]
    ),
    sort_key=("part", "video_id", "frame_idx", "track_id"),
    image_columns=("mask", "diff"),
)

#: Faces columns this stage reads (see dfmask.faces).
FACES_COLUMNS = ("part", "video_id", "original_id", "is_fake", "frame_idx", "track_id", "crop")

#: Per-fake-crop statuses counted in the report ("ok" = a mask row was written).
STATUSES = {
    "ok": "mask row written",
    "unpaired_no_original_crop": "the original has no crop at this frame and track",
    "unpaired_original_missing": "the original video has no crops in this part (or original_id is null)",
    "decode_error": "a crop PNG could not be decoded",
    "shape_mismatch": "real and fake crops differ in size",
}


@dataclass(frozen=True)
class PairMask:
    """The mask of one aligned (real, fake) pair and its QA figures."""

    mask: np.ndarray  # (H, W) uint8, 1 = manipulated
    ssim_mean: float  # unitless
    manipulated_frac: float  # share of pixels set
    valid: bool
    diff: np.ndarray  # (H, W) uint8 (1 - SSIM) * 255


def ssim_config(params: MasksParams) -> SsimConfig:
    return SsimConfig(
        gaussian_weights=params.gaussian_weights,
        sigma=params.sigma,
        win_size=params.win_size,
        use_sample_covariance=params.use_sample_covariance,
        data_range=params.data_range,
        colour=params.colour,
    )


def morph_config(params: MasksParams) -> MorphConfig:
    return MorphConfig(
        threshold=params.threshold,
        open_px=params.open_px,
        close_px=params.close_px,
        dilate_px=params.dilate_px,
        min_area=params.min_area,
        fill_hull=params.fill_hull,
    )


def mask_pair(real: np.ndarray, fake: np.ndarray, params: MasksParams) -> PairMask:
    """SSIM map → 8-bit diff, validity, thresholded and cleaned mask of one pair."""
    result = ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype))
    diff = diff8(result.ssim)
    mask = mask_from_ssim(result.ssim, morph_config(params))
    valid = int(np.count_nonzero(diff > params.valid_diff_level)) > params.valid_min_pixels
    return PairMask(
        mask=mask,
        ssim_mean=result.ssim_mean,
        manipulated_frac=float(np.count_nonzero(mask)) / mask.size,
        valid=valid,
        diff=diff,
    )


# ----------------------------------------------------------------------------- pairing


@dataclass(frozen=True)
class FakeVideoJob:
    """The paired crops of one fake video: (frame_idx, track_id, real PNG, fake PNG)."""

    part: int
    video_id: str
    original_id: str
    pairs: tuple[tuple[int, int, bytes, bytes], ...]


def faces_shards(faces_dir: str | os.PathLike[str]) -> list[Path]:
    """The ``faces`` table shards of a part folder (other tables there are ignored)."""
    folder = Path(faces_dir)
    if not folder.is_dir():
        raise DfmaskError(f"{folder}: no faces output for this part; run `dvc repro faces@N` first")
    shards = [p for p in shard_paths(folder) if read_metadata(p).get("table") == FACES.name]
    if not shards:
        raise DfmaskError(f"{folder}: holds no 'faces' table shards; re-run the faces stage")
    return shards


def read_faces(shards: Sequence[Path]) -> pa.Table:
    """The columns masks needs from the faces shards (table name and version checked)."""
    return read_tables(shards, FACES, columns=FACES_COLUMNS)


def pair_crops(faces: pa.Table, part: int) -> tuple[list[FakeVideoJob], Counter[str]]:
    """Group fake crops by video and pair each with its original's crop.

    Returns the jobs (sorted by fake video id, pairs by frame and track) and the counts
    of unpaired fake crops by status.
    """
    cols = {c: faces.column(c).to_pylist() for c in FACES_COLUMNS if c != "crop"}
    crops = faces.column("crop").to_pylist()
    real: dict[tuple[str, int, int], bytes] = {}
    originals_with_crops: set[str] = set()
    fakes: dict[str, list[int]] = {}
    for i, is_fake in enumerate(cols["is_fake"]):
        if is_fake:
            fakes.setdefault(cols["video_id"][i], []).append(i)
        else:
            key = (cols["video_id"][i], int(cols["frame_idx"][i]), int(cols["track_id"][i]))
            real[key] = crops[i]["bytes"]
            originals_with_crops.add(cols["video_id"][i])
    jobs: list[FakeVideoJob] = []
    unpaired: Counter[str] = Counter()
    for video_id in sorted(fakes):
        rows = sorted(fakes[video_id], key=lambda i: (cols["frame_idx"][i], cols["track_id"][i]))
        original_id = cols["original_id"][rows[0]]
        if original_id is None or original_id not in originals_with_crops:
            unpaired["unpaired_original_missing"] += len(rows)
            continue
        pairs = []
        for i in rows:
            frame_idx, track_id = int(cols["frame_idx"][i]), int(cols["track_id"][i])
            real_png = real.get((original_id, frame_idx, track_id))
            if real_png is None:
                unpaired["unpaired_no_original_crop"] += 1
                continue
            pairs.append((frame_idx, track_id, real_png, crops[i]["bytes"]))
        if pairs:
            jobs.append(FakeVideoJob(part, video_id, original_id, tuple(pairs)))
    return jobs, unpaired


# ----------------------------------------------------------------------------- workers


def mask_video(job: FakeVideoJob, params: MasksParams) -> pa.Table:
    """All mask rows of one fake video, with a status per crop (work-item table)."""
    rows: list[dict[str, Any]] = []
    for frame_idx, track_id, real_png, fake_png in job.pairs:
        row: dict[str, Any] = {
            "part": job.part,
            "video_id": job.video_id,
            "original_id": job.original_id,
            "frame_idx": frame_idx,
            "track_id": track_id,
            "mask": None,
            "ssim_mean": None,
            "manipulated_frac": None,
            "valid": None,
            "diff": None,
        }
        try:
            real, fake = decode_png(real_png), decode_png(fake_png)
        except DfmaskError:
            rows.append({**row, "status": "decode_error"})
            continue
        if real.shape != fake.shape:
            rows.append({**row, "status": "shape_mismatch"})
            continue
        pm = mask_pair(real, fake, params)
        name = f"{job.video_id}/{frame_idx:05d}_{track_id}.png"
        row["mask"] = {"bytes": encode_png(pm.mask * np.uint8(255)), "path": f"mask/{name}"}
        row["ssim_mean"] = pm.ssim_mean
        row["manipulated_frac"] = pm.manipulated_frac
        row["valid"] = pm.valid
        if params.store_diff:
            row["diff"] = {"bytes": encode_png(pm.diff), "path": f"diff/{name}"}
        rows.append({**row, "status": "ok"})
    return pa.Table.from_pylist(rows, schema=MASKS.schema.append(pa.field("status", pa.string())))


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


def _work(job: FakeVideoJob) -> tuple[str, pa.Table]:
    assert _WORKER_PARAMS is not None
    return job.video_id, mask_video(job, _WORKER_PARAMS)


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


def run_jobs(jobs: Sequence[FakeVideoJob], params: MasksParams, workers: int) -> Iterator[tuple[str, pa.Table]]:
    """Yield (video_id, work table) per job, in job order, using ``workers`` processes."""
    if workers <= 1 or len(jobs) <= 1:
        _init_worker(params)
        for job in jobs:
            yield _work(job)
        return
    # spawn, not fork: a child forked after OpenCV's thread pool has run can deadlock on
    # a lock copied in the held state (seen here: workers stuck in futex_wait).
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(params,)) as pool:
        yield from pool.imap(_work, jobs, chunksize=1)


# ----------------------------------------------------------------------------- the stage


@dataclass(frozen=True)
class MasksPaths:
    """Where ``masks@N`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    faces: Path  # the part's faces folder: <paths.faces>/part=N
    out: Path  # the part's masks folder: <paths.masks>/part=N
    report: Path  # <paths.reports>/masks/part=N.json
    work: Path  # paths.work: finished videos under <work>/masks/part=N/ (outside DVC's outs)


@dataclass(frozen=True)
class MasksResult:
    """What `run` wrote: the shards, the report document and where it is."""

    shards: list[Path]
    report: dict[str, Any]
    report_path: Path

    def summary(self) -> str:
        r = self.report
        return (
            f"part={r['part']}: {r['fake_crops']:,} fake crops → {r['valid']:,} valid masks, "
            f"{r['invalid']:,} invalid, {r['unpaired']:,} unpaired (see {self.report_path})"
        )


def shaping_params(params: MasksParams) -> dict[str, Any]:
    """The params that shape the mask rows (``workers`` does not; it is left out so the
    output bytes do not depend on the machine)."""
    return {k: v for k, v in to_dict(params).items() if k != "workers"}


def work_key(params: MasksParams, shards: Sequence[Path]) -> dict[str, Any]:
    """Everything that shapes a video's mask rows: params (not ``workers`` or
    ``shard_rows``), the faces shards, the source files this module runs
    (`dfmask.codedeps`, the list dvc.yaml's masks deps are checked against), and the
    library versions (OpenCV, numpy, ...)."""
    return {
        "table": MASKS.name,
        "version": MASKS.version,
        **code_and_libraries(source_files("dfmask.masks.stage"), Path(__file__).parents[1]),
        "params": {k: v for k, v in shaping_params(params).items() if k != "shard_rows"},
        "faces": {p.name: file_sha256(p) for p in shards},
    }


def run(params: MasksParams, paths: MasksPaths, part: int) -> MasksResult:
    """The ``masks@part`` stage: masks for every fake crop of one part; writes the shards
    to ``paths.out`` and the part report (counts by status) to ``paths.report``.

    Returns:
        The written shard paths and the part report.
    """
    shards = faces_shards(paths.faces)
    faces = read_faces(shards)
    fake_crops = int(sum(1 for f in faces.column("is_fake").to_pylist() if f))
    jobs, unpaired = pair_crops(faces, part)
    del faces

    work = WorkDir("masks", f"part={part}", work_key(params, shards), root=Path(paths.work))
    work.prune_stale()
    todo = [job for job in jobs if not work.done(job.video_id)]  # any video id: WorkDir hashes odd names
    workers = worker_count(params.workers, sum(len(job.pairs) for job in todo))
    for video_id, table in progress(
        run_jobs(todo, params, workers), desc=f"masks part={part}", total=len(todo), unit="video"
    ):
        work.save(video_id, table)

    items = [work.load(job.video_id) for job in jobs]
    work_schema = MASKS.schema.append(pa.field("status", pa.string()))
    all_rows = pa.concat_tables(items) if items else work_schema.empty_table()
    statuses: Counter[str] = Counter(all_rows.column("status").to_pylist())
    statuses.update(unpaired)
    ok = all_rows.filter(pc.equal(all_rows.column("status"), "ok")).select(list(MASKS.schema.names))
    written = write_shards(ok, jobs, Path(paths.out), part, params)

    valid = ok.column("valid").to_pylist()
    ssim_means = ok.column("ssim_mean").to_numpy(zero_copy_only=False)
    frac = ok.column("manipulated_frac").to_numpy(zero_copy_only=False)
    valid_arr = np.asarray(valid, dtype=bool)
    report = {
        "part": part,
        "fake_crops": fake_crops,
        "fake_videos_paired": len(jobs),
        "masks": ok.num_rows,
        "valid": int(valid_arr.sum()),
        "invalid": int((~valid_arr).sum()),
        "unpaired": int(sum(v for k, v in statuses.items() if k.startswith("unpaired"))),
        "status_counts": {k: int(statuses.get(k, 0)) for k in STATUSES},
        "status_meaning": STATUSES,
        "ssim_mean": float(ssim_means.mean()) if ok.num_rows else None,
        "manipulated_frac_valid_mean": float(frac[valid_arr].mean()) if valid_arr.any() else None,
        "shards": [p.name for p in written],
    }
    write_json(paths.report, report)
    return MasksResult(shards=written, report=report, report_path=Path(paths.report))


def write_shards(
    table: pa.Table, jobs: Sequence[FakeVideoJob], out_dir: Path, part: int, params: MasksParams
) -> list[Path]:
    """Write ``table`` as shards of at most ``shard_rows`` rows, cut at video boundaries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: list[list[str]] = [[]]
    counts = Counter(table.column("video_id").to_pylist())
    rows_in_group = 0
    for job in jobs:
        n = counts.get(job.video_id, 0)
        if groups[-1] and rows_in_group + n > params.shard_rows:
            groups.append([])
            rows_in_group = 0
        groups[-1].append(job.video_id)
        rows_in_group += n
    written = []
    for i, videos in enumerate(groups):
        mask = pc.is_in(table.column("video_id"), value_set=pa.array(videos, pa.string()))
        path = out_dir / f"masks-{i:05d}.parquet"
        write_table(table.filter(mask), path, MASKS, stage=f"masks@{part}", params={"masks": shaping_params(params)})
        written.append(path)
    for stale in shard_paths(out_dir):
        if stale not in written:
            stale.unlink()
    return written
