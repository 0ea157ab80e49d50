"""The ``deploy_crops`` stage: draw the deploy stages' crops once (`dfmask.deploy.calib`).

Reads faces ⋈ masks ⋈ splits of ``corpus.parts`` through the crop index the model was
trained on (`dfmask.model.crop_index.read_crop_tables`: the same join, the same rows
and the same order), draws each `Draw` with `select_rows` and writes one small
`DEPLOY_CROPS` table per draw into the stage's folder. Each table's metadata records
only its own draw, so a changed draw size rewrites only that table, and DVC re-runs
only the stage that reads it.

It is the only deploy module that reads the crop index (no torch, no Lightning); the
deploy stages after it read its small tables (`dfmask.deploy.calib.read_draw`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from dfmask.deploy.calib import Draw, select_rows
from dfmask.errors import DfmaskError
from dfmask.model.crop_index import CropIndex, read_crop_tables
from dfmask.schemas.deploy_crops import DEPLOY_CROPS
from dfmask.tables import IMAGE, write_table


@dataclass(frozen=True)
class DeployCropsPaths:
    """Inputs (the crop tables) and the output folder of the deploy_crops stage."""

    faces: Path  # faces stage root: part=N/ shards
    masks: Path  # masks stage root: part=N/ shards
    splits: Path  # the splits table
    out_dir: Path  # one <draw>.parquet per draw


@dataclass(frozen=True)
class DeployCropsReport:
    """Crops per draw (``name → (split, crops)``) and where they were written."""

    draws: dict[str, tuple[str, int]]
    crops_joined: int  # crops of corpus.parts the draws were taken from
    out_dir: Path

    def summary(self) -> str:
        shown = ", ".join(f"{name} {n} ({split})" for name, (split, n) in self.draws.items())
        return f"{shown} of {self.crops_joined} crops in {self.out_dir}"


def draw_table(index: CropIndex, draw: Draw, seed: int) -> pa.Table:
    """The `DEPLOY_CROPS` rows of ``draw``: its seeded subset of the split, in index order."""
    rows = select_rows(index.rows(draw.split), draw.max_crops, seed)
    n = len(rows)
    take = pa.array(rows, pa.int64())
    no_path = pa.nulls(n, pa.string())
    mask_bytes = index.mask_png.take(take)  # null for reals and fakes without a mask row
    return pa.table(
        {
            "part": pa.array(index.part[rows], pa.int32()),
            "video_id": pa.array(index.video_id[rows].tolist(), pa.string()),
            "frame_idx": pa.array(index.frame_idx[rows], pa.int32()),
            "track_id": pa.array(index.track_id[rows], pa.int32()),
            "split": pa.array([draw.split] * n, pa.string()),
            "is_fake": pa.array(index.is_fake[rows], pa.bool_()),
            "seg_ok": pa.array(index.seg_ok[rows], pa.bool_()),
            "crop": pa.StructArray.from_arrays([index.crop_png.take(take), no_path], fields=list(IMAGE)),
            "mask": pa.StructArray.from_arrays(
                [mask_bytes, no_path], fields=list(IMAGE), mask=pc.is_null(mask_bytes)
            ),
        }
    )


def run(draws: Sequence[Draw], paths: DeployCropsPaths, seed: int, parts: tuple[int, ...]) -> DeployCropsReport:
    """Write one table per draw (``base.seed``, ``corpus.parts``); fails on an empty split."""
    index = read_crop_tables(paths.faces, paths.masks, paths.splits, parts)
    counts: dict[str, tuple[str, int]] = {}
    for draw in draws:
        table = draw_table(index, draw, seed)
        if table.num_rows == 0:
            raise DfmaskError(
                f"{paths.splits}: split '{draw.split}' has no crops in parts {list(parts)} (needed by the "
                f"{draw.name} draw); check the split and faces stage reports"
            )
        params = {"draw": draw.name, "split": draw.split, "max_crops": draw.max_crops, "seed": seed}
        write_table(table, draw.path(paths.out_dir), DEPLOY_CROPS, "deploy_crops", {**params, "parts": list(parts)})
        counts[draw.name] = (draw.split, table.num_rows)
    return DeployCropsReport(counts, len(index), paths.out_dir)
