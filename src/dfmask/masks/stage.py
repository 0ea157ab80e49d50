"""The ``masks`` stage: pair fake crops with their original's crops, SSIM → binary masks.

Modules: `pairing` (fake crop ↔ original crop), `compute` (one video's mask rows),
`pool` (worker processes); this one runs a part: resume, shards, report.

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

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask.codedeps import source_files
from dfmask.compute import Job, executor_for
from dfmask.errors import DfmaskError
from dfmask.masks.pairing import FACES_COLUMNS, pair_crops
from dfmask.masks.pool import mask_job, worker_count
from dfmask.params import ComputeParams, MasksParams, to_dict
from dfmask.progress import progress
from dfmask.schemas.faces import FACES, faces_shards
from dfmask.schemas.masks import MASKS
from dfmask.tables import file_sha256, read_tables, write_json, write_shards
from dfmask.workdir import WorkDir, code_and_libraries

#: Per-fake-crop statuses counted in the report ("ok" = a mask row was written).
STATUSES = {
    "ok": "mask row written",
    "unpaired_no_original_crop": "the original has no crop at this frame and track",
    "unpaired_original_missing": "the original video has no crops in this part (or original_id is null)",
    "decode_error": "a crop PNG could not be decoded",
    "shape_mismatch": "real and fake crops differ in size",
}


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


def run(params: MasksParams, paths: MasksPaths, part: int, compute: ComputeParams | None = None) -> MasksResult:
    """The ``masks@part`` stage: masks for every fake crop of one part; writes the shards
    to ``paths.out`` and the part report (counts by status) to ``paths.report``.
    ``compute`` says where the videos are processed (default: this machine's worker
    processes); it changes no byte.

    Returns:
        The written shard paths and the part report.
    """
    folder = Path(paths.faces)
    if not folder.is_dir():
        raise DfmaskError(f"{folder}: no faces output for this part; run `dvc repro faces@N` first")
    shards = faces_shards(folder)
    if not shards:
        raise DfmaskError(f"{folder}: holds no 'faces' table shards; re-run the faces stage")
    faces = read_tables(shards, FACES, FACES_COLUMNS)
    fake_crops = int(sum(1 for f in faces.column("is_fake").to_pylist() if f))
    jobs, unpaired = pair_crops(faces, part)
    del faces

    work = WorkDir("masks", f"part={part}", work_key(params, shards), root=Path(paths.work))
    work.prune_stale()
    todo = [job for job in jobs if not work.done(job.video_id)]  # any video id: WorkDir hashes odd names
    workers = worker_count(params.workers, sum(len(job.pairs) for job in todo))
    jobs_to_run = [Job(job.video_id, mask_job, (job, params)) for job in todo]
    with executor_for(compute or ComputeParams(), workers, processes=True) as executor:
        for video_id, table in progress(
            executor.run(jobs_to_run), desc=f"masks part={part}", total=len(todo), unit="video"
        ):
            work.save(video_id, table)

    items = [work.load(job.video_id) for job in jobs]
    statuses: Counter[str] = Counter(s for item in items for s in item.column("status").to_pylist())
    statuses.update(unpaired)
    # one unit per fake video, in job order: a video never spans two shards
    units = [item.filter(pc.equal(item.column("status"), "ok")).select(list(MASKS.schema.names)) for item in items]
    ok = pa.concat_tables(units) if units else MASKS.schema.empty_table()
    written = write_shards(
        units,
        Path(paths.out),
        "masks",
        MASKS,
        params.shard_rows,
        stage=f"masks@{part}",
        params={"masks": shaping_params(params)},
    )

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
