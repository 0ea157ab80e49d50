"""The tables the faces stage writes: `FACES` (crops) and `FACE_VIDEOS` (per-video status).

Layout of one part's output folder ``data/interim/faces/part=N/``:

* ``faces-00000.parquet``, ``faces-00001.parquet``, ...: `FACES` shards, at most
  ``faces.shard_rows`` rows each, cut at video boundaries (a video never spans two
  shards), in sort-key order. Read them with `read_faces` (or `faces_shards` for one part folder).
* ``_status/videos.parquet``: `FACE_VIDEOS`, one row per video of the part with its
  status. It sits in a ``_``-prefixed subfolder so that globbing ``*.parquet`` (our
  `tables.shard_paths`) and Hugging Face ``datasets`` (which skips ``_`` paths) see
  only the crop shards. Read it with `read_face_videos`.

Video statuses (`FACE_VIDEOS.status`):

======================  ==================================================================
``ok``                  crops written (a fake may still lose frames past its end)
``no_faces``            original: no face in any sampled frame (its fakes get
                        ``original_no_faces``)
``ingest_failed``       the ingest table marks the video unusable (``detail`` has its status)
``decode_failed``       the video would not decode at the sampled frames
``original_missing``    fake: no ``original_id``, or the original is not in this part
``original_failed``     fake: its original has a non-ok status other than ``no_faces``
``original_no_faces``   fake: its original has no faces, so there are no boxes to reuse
``resolution_mismatch`` fake: its frame size differs from the original's
======================  ==================================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa

from dfmask.tables import BOX, IMAGE, LANDMARKS, TableSpec, field, part_path, read_tables, table_shards

#: Where a part folder keeps its `FACE_VIDEOS` table (a ``_`` folder: see above).
STATUS_PATH = Path("_status") / "videos.parquet"

FACES = TableSpec(
    name="faces",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "corpus part N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("original_id", pa.string(), "video_id of the fake's original; null for reals"),
            field("is_fake", pa.bool_(), "true for FAKE videos", nullable=False),
            field("frame_idx", pa.int32(), "0-based index into the decoded stream", nullable=False),
            field(
                "track_id",
                pa.int32(),
                "face track within the original (0 = covers most sampled frames); fakes carry their original's ids",
                nullable=False,
            ),
            field("box", BOX, "smoothed face box x0,y0,x1,y1, full-resolution px", nullable=False),
            field(
                "crop_box",
                BOX,
                "exact integer square window x0,y0,x1,y1 (full-res px) the crop was cut "
                "from before resizing; may extend past the frame (zero padded)",
                nullable=False,
            ),
            field("landmarks", LANDMARKS, "5 points (x,y): eyes, nose, mouth corners, full-res px"),
            field(
                "prob",
                pa.float32(),
                "MTCNN confidence of the original's detection; null where the box was "
                "interpolated inside a track (detector missed that frame)",
            ),
            field("crop", IMAGE, "RGB PNG, faces.size x faces.size", nullable=False),
        ]
    ),
    sort_key=("part", "video_id", "frame_idx", "track_id"),
    image_columns=("crop",),
)

FACE_VIDEOS = TableSpec(
    name="face_videos",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "corpus part", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("original_id", pa.string(), "original's video_id for fakes, else null"),
            field("is_fake", pa.bool_(), "true for FAKE videos", nullable=False),
            field("status", pa.string(), "ok or a reason (see dfmask.faces.schema)", nullable=False),
            field("detail", pa.string(), "human-readable explanation of a non-ok status"),
            field("frames_sampled", pa.int32(), "frame indices asked for", nullable=False),
            field("frames_decoded", pa.int32(), "of those, frames that decoded", nullable=False),
            field("frames_with_faces", pa.int32(), "decoded frames with >= 1 crop", nullable=False),
            field(
                "frames_beyond_end",
                pa.int32(),
                "fake: original's sampled frames past the fake's last frame (not paired)",
                nullable=False,
            ),
            field("tracks", pa.int32(), "face tracks (originals) / tracks reused (fakes)", nullable=False),
            field("crops", pa.int64(), "rows written to the FACES shards", nullable=False),
        ]
    ),
    sort_key=("part", "video_id"),
)


def faces_shards(folder: str | os.PathLike[str]) -> list[Path]:
    """The `FACES` shards of one part folder, in name order (other tables there are
    skipped; a missing folder is a `DfmaskError`)."""
    return table_shards(folder, FACES)


def read_faces(root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str] | None = None) -> pa.Table:
    """The `FACES` rows of ``parts`` (folders ``root/part=N``), version-checked, in path order."""
    return read_tables([p for part in parts for p in faces_shards(part_path(root, part))], FACES, columns)


def read_face_videos(
    root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str] | None = None
) -> pa.Table:
    """The per-video status rows (`FACE_VIDEOS`) of ``parts``, version-checked, in path order."""
    return read_tables([part_path(root, part) / STATUS_PATH for part in parts], FACE_VIDEOS, columns)
