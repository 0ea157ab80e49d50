"""The splits table: one row per video with its group, identities and split
(`dfmask.splits.build` writes it; one file for the whole corpus)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import pyarrow as pa

from dfmask.tables import TableSpec, field, read_table

SPLITS = TableSpec(
    name="splits",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int16(), "corpus part N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("original_id", pa.string(), "video_id of a fake's original; null for reals"),
            field("is_fake", pa.bool_(), "FAKE = true"),
            field("group_id", pa.string(), "g-<smallest video_id of the group>", nullable=False),
            field("identity_id", pa.string(), "target identity (largest track); null: no face"),
            field("donor_identity_id", pa.string(), "fakes: matched donor identity, else null"),
            field("split", pa.string(), "train / val / test", nullable=False),
        ]
    ),
    sort_key=("part", "video_id"),
)


def read_splits(path: str | os.PathLike[str], columns: Iterable[str] | None = None) -> pa.Table:
    """The splits table at ``path``, version-checked (a missing file is a `DfmaskError`)."""
    return read_table(path, SPLITS, columns)
