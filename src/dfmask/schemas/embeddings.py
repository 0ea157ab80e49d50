"""The embeddings table, ``<embeddings>/part=N.parquet``: face embeddings of a few crops
per track, one row per selected crop with a status (`dfmask.identity.embed` writes it)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import pyarrow as pa

from dfmask.tables import TableSpec, field, part_path, read_tables

EMBEDDINGS = TableSpec(
    name="embeddings",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "corpus part N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("original_id", pa.string(), "video_id of a fake's original; null for reals"),
            field("is_fake", pa.bool_(), "FAKE = true; a fake crop shows the donor's face", False),
            field("track_id", pa.int32(), "face track within the original video", False),
            field("frame_idx", pa.int32(), "0-based decoded frame index of the crop", False),
            field("track_rows", pa.int32(), "face rows of this track in the faces table", False),
            field("prob", pa.float32(), "MTCNN face probability of the crop's detection"),
            # the text is part of every table's bytes: it keeps its v1 wording (the vocabulary now
            # lives in dfmask.identity.encoders.STATUSES) until the next version bump
            field("status", pa.string(), "ok or why no embedding (dfmask.identity.STATUSES)", False),
            field("embedding", pa.list_(pa.float32()), "face embedding (dlib 128-d / facenet 512-d)"),
        ]
    ),
    sort_key=("part", "video_id", "track_id", "frame_idx"),
)


def read_embeddings(
    root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str] | None = None
) -> pa.Table:
    """The embeddings tables ``root/part=N.parquet`` of ``parts``, version-checked, in path order."""
    return read_tables([part_path(root, p, ".parquet") for p in parts], EMBEDDINGS, columns)
