"""The masks table, ``<masks>/part=N/masks-*.parquet``: one row per FAKE crop with its
SSIM mask and QA figures (`dfmask.masks.stage` writes it). Real crops have no rows: a
reader treats a real crop's mask as all zeros."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from dfmask.tables import IMAGE, TableSpec, field, part_path, read_tables, table_shards

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


def masks_shards(folder: str | os.PathLike[str]) -> list[Path]:
    """The `MASKS` shards of one part folder, in name order (a missing folder is a `DfmaskError`)."""
    return table_shards(folder, MASKS)


def read_masks(root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str] | None = None) -> pa.Table:
    """The `MASKS` rows of ``parts`` (folders ``root/part=N``), version-checked, in path order."""
    return read_tables([p for part in parts for p in masks_shards(part_path(root, part))], MASKS, columns)
