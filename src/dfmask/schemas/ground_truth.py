"""The sample corpus's ground truth table (`dfmask.corpus.sample` writes it;
`dfmask.corpus.groundtruth` has helpers for its consumers).

``data/sample/ground_truth.parquet`` covers EVERY frame of every sample video. It comes
from the generator's own geometry (dlib landmarks on the source material moved by the
exact camera transform; the swap's own blend mask), never from a detector run on the
rendered video. The pipeline never reads it: tests and evaluation do, for face recall,
mask IoU and identity-leak checks.

One row per (video, frame, face); a frame with no face has ONE row with null
``face_idx``, ``actor_id`` and ``box``. Box convention: the tight bounding box of the 68
dlib landmarks (eyebrows to chin, jaw side to jaw side; no forehead, no margin),
clipped to the frame, ``(x0, y0, x1, y1)`` in full-resolution pixels.

Masks: a FAKE has a full-frame 8-bit PNG on every row (255 = manipulated, the pixels
where the fake's raw frame may differ from its original's, a feathered blend's whole
feather included; identical on every face row of one frame). It is all zero on frames
where nothing was swapped (no face) and on every frame of a ``failed`` (``no_change``)
fake. A REAL has a null mask (= all zero).

Video-level columns, repeated on every row of a video and never null: ``method`` (how
the fake was made), ``crf``/``preset`` (how THIS video was encoded) and
``encode_differs``. ``swap_kind`` is the case a method falls in: ``full`` for
``classical``, ``autoencoder``, ``hard_paste`` and ``feather``; ``mouth``; ``failed``
for ``no_change``.

Version 2 added ``method``, ``crf``, ``preset`` and ``encode_differs``.

`CODEC_PAIRS` is the manifest of the codec-noise fixture ``<paths.sample>/codec_pairs/``:
a few originals encoded a second time, from the same raw frames, at another CRF (and a
preset drawn again). The pair (original mp4, re-encoded mp4) differs by codec noise
only, with the original's geometry (its ground-truth boxes apply unchanged): a mask
method should find nothing between them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pyarrow as pa

from dfmask.tables import BOX, IMAGE, TableSpec, field, read_table

#: The manipulation methods of a sample fake, as the ground truth's ``method`` column
#: names them (a REAL's method is ``none``); `dfmask.params.MethodShares` has one share
#: per method, `dfmask.corpus.swap.BLENDS` how each blends
#: (`dfmask.corpus.plan` draws them).
FAKE_METHODS = ("classical", "autoencoder", "mouth", "hard_paste", "feather", "no_change")
#: The case (``swap_kind``) of each method: ``full`` face swaps, ``mouth``-only swaps,
#: and ``failed`` (a FAKE whose pixels are its original's).
METHOD_CASE = {
    "classical": "full",
    "autoencoder": "full",
    "mouth": "mouth",
    "hard_paste": "full",
    "feather": "full",
    "no_change": "failed",
}


GROUND_TRUTH = TableSpec(
    name="sample_ground_truth",
    version=2,
    schema=pa.schema(
        [
            field("part", pa.int32(), "N of dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "mp4 file name without .mp4", nullable=False),
            field("frame_idx", pa.int32(), "0-based index into the decoded stream", nullable=False),
            field(
                "face_idx",
                pa.int32(),
                "0-based face within the video (left to right in composites); null on a frame with no face",
            ),
            field("label", pa.string(), "REAL or FAKE, as in metadata.json", nullable=False),
            field("is_fake", pa.bool_(), "label == FAKE", nullable=False),
            field("original_id", pa.string(), "video_id of a fake's original; null for reals"),
            field(
                "swap_kind",
                pa.string(),
                "video level, the case: none (real) | full | mouth | failed "
                "(a no_change fake: frames identical to the original)",
                nullable=False,
            ),
            field(
                "method",
                pa.string(),
                "video level: none (real) | classical | autoencoder | mouth | hard_paste | feather | no_change "
                "(a FAKE with its original's pixels)",
                nullable=False,
            ),
            field("crf", pa.int32(), "video level: the x264 CRF this video was encoded with", nullable=False),
            field("preset", pa.string(), "video level: the x264 preset this video was encoded with", nullable=False),
            field(
                "encode_differs",
                pa.bool_(),
                "video level: a fake encoded with (crf, preset) other than its original's; false for reals",
                nullable=False,
            ),
            field("width", pa.int32(), "frame width in px", nullable=False),
            field("height", pa.int32(), "frame height in px", nullable=False),
            field("fps", pa.int32(), "frames per second", nullable=False),
            field("n_frames", pa.int32(), "frames in the video", nullable=False),
            field(
                "source",
                pa.string(),
                "the original's source material (package/file, clip start or 'animated')",
                nullable=False,
            ),
            field(
                "actor_id",
                pa.string(),
                "actor whose face is at this place in the ORIGINAL (the target); null when no face",
            ),
            field(
                "donor_actor_id",
                pa.string(),
                "actor whose face was swapped in (full/mouth faces of fakes); null otherwise, including failed swaps",
            ),
            field("face_swap_kind", pa.string(), "this face: none | full | mouth | failed; null when no face"),
            field(
                "box",
                BOX,
                "bbox of the 68 landmarks, clipped to the frame: x0, y0, x1, y1 "
                "in full-resolution px; null when no face",
            ),
            field(
                "landmarks",
                pa.list_(pa.float32(), 136),
                "the 68 dlib landmarks (x, y interleaved, full-resolution px, unclipped); null when no face",
            ),
            field(
                "mask",
                IMAGE,
                "fakes: full-frame 8-bit PNG, 255 = manipulated (all zero where nothing was swapped); null for reals",
            ),
        ]
    ),
    sort_key=("part", "video_id", "frame_idx", "face_idx"),
    image_columns=("mask",),
)


CODEC_PAIRS = TableSpec(
    name="sample_codec_pairs",
    version=1,
    schema=pa.schema(
        [
            field("part", pa.int32(), "N of the original's dfdc_train_part_N", nullable=False),
            field("video_id", pa.string(), "the ORIGINAL's video_id (its mp4 in the corpus)", nullable=False),
            field(
                "path",
                pa.string(),
                "the re-encoded mp4, relative to the sample folder (codec_pairs/<video_id>.mp4)",
                nullable=False,
            ),
            field("crf", pa.int32(), "x264 CRF of the re-encoded mp4 (never the original's)", nullable=False),
            field("preset", pa.string(), "x264 preset of the re-encoded mp4", nullable=False),
            field("original_crf", pa.int32(), "x264 CRF of the original mp4", nullable=False),
            field("original_preset", pa.string(), "x264 preset of the original mp4", nullable=False),
            field("width", pa.int32(), "frame width in px (the original's)", nullable=False),
            field("height", pa.int32(), "frame height in px (the original's)", nullable=False),
            field("n_frames", pa.int32(), "frames (the original's)", nullable=False),
        ]
    ),
    sort_key=("part", "video_id"),
)


def read_codec_pairs(path: str | os.PathLike[str]) -> pa.Table:
    """The codec-pair manifest at ``path`` (``<paths.sample>/codec_pairs/codec_pairs.parquet``),
    version-checked."""
    return read_table(path, CODEC_PAIRS)


def read_ground_truth(path: str | os.PathLike[str], columns: Iterable[str] | None = None) -> pa.Table:
    """The ground-truth table at ``path``, version-checked (a missing file is a `DfmaskError`)."""
    return read_table(path, GROUND_TRUTH, columns)
