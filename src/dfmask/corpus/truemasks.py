"""A corpus's own manipulation masks (FaceForensics++ ``masks/videos/*.mp4``), frame by frame.

FaceForensics++ ships, for most methods, one mask video per fake: white where the face
was manipulated, black elsewhere, at the fake's size and frame rate, H.264-coded (so the
edges carry codec noise). The videos table names it in ``mask_path`` (relative to
``corpus.root``; `dfmask.corpus.adapters.ffpp`). `true_masks` decodes it to one boolean
full-frame mask per frame, the form the sample's ground truth has
(`dfmask.corpus.groundtruth.true_mask`), so the same crop mapping
(`dfmask.faces.crops.mask_in_crop`) can score SSIM masks against it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.video import displayed_size, iter_frames, iter_frames_at, probe

#: Luma level (0-255) above which a mask-video pixel counts as manipulated: midway between
#: the black and white the masks are drawn with, clear of codec ringing at the edges.
THRESHOLD = 127


def mask_shape(width: Any, height: Any, rotation: Any) -> tuple[int, int] | None:
    """The (H, W) a video's true mask must have: the video's frame as displayed (coded
    ``width`` x ``height`` turned by ``rotation``, as the faces stage decodes it, so crop
    boxes are in those coordinates); None when the table lacks the size."""
    if width is None or height is None:
        return None
    w, h = displayed_size(int(width), int(height), int(rotation or 0))
    return (h, w)


def true_masks_at(
    corpus_root: str | os.PathLike[str], mask_path: str, indices: set[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, mask)`` of ``corpus_root/mask_path``, one (H, W) bool array per frame,
    True = manipulated: every frame, or only ``indices`` (those the video has, in
    increasing order; only they are converted, `dfmask.video.iter_frames_at`). Raises
    `DfmaskError` naming the file (relative to ``corpus.root``) when it cannot be read."""
    path = Path(corpus_root) / mask_path
    if not path.is_file():
        raise DfmaskError(f"{mask_path}: true mask video not found under corpus.root")
    frames = enumerate(iter_frames(path)) if indices is None else iter_frames_at(path, sorted(indices))
    try:
        for i, frame in frames:
            grey = frame.max(axis=2) if frame.ndim == 3 else frame
            yield i, grey > THRESHOLD
    except Exception as err:  # PyAV raises its own error types for broken files
        # named relative to corpus.root, never by where the corpus lies on this machine
        why = str(err).replace(str(path), mask_path)
        if not why.startswith(mask_path):
            why = f"{mask_path}: cannot decode the true mask video: {why}"
        raise DfmaskError(why) from err


def mask_frame_count(corpus_root: str | os.PathLike[str], mask_path: str) -> int | None:
    """The frame count ``corpus_root/mask_path``'s header declares (no full decode); None
    when the file cannot be opened or its header does not say."""
    found = probe(Path(corpus_root) / mask_path, decode=False)
    return found.declared_frames or None if found.error is None else None


def true_masks(corpus_root: str | os.PathLike[str], mask_path: str) -> Iterator[np.ndarray]:
    """Every frame's mask of ``corpus_root/mask_path`` (`true_masks_at`)."""
    for _, mask in true_masks_at(corpus_root, mask_path):
        yield mask


def scorable(
    masks: dict[int, np.ndarray],
    frames: set[int],
    shape: tuple[int, int] | None,
    mask_path: str,
    lengths: tuple[int | None, int | None] = (None, None),
) -> Iterator[tuple[int, np.ndarray | None, str | None, str]]:
    """For each of ``frames`` (sorted): ``(frame, mask, None, "")`` when ``masks`` (decoded
    by `true_masks_at`) has it at ``shape`` (`mask_shape`; None: not checked), else
    ``(frame, None, reason, example)`` with reason ``mask_length_mismatch``,
    ``mask_frames_missing`` or ``mask_size_mismatch``: the one rule masks_quality and
    evaluate both count by. ``lengths``: the frame counts the mask video's and the fake's
    headers declare (`mask_frame_count`; the videos table's ``declared_frames``); when both
    are known and differ, frame *i* of one is not known to be frame *i* of the other, so no
    frame is scored."""
    mask_len, video_len = lengths
    for f in sorted(frames):
        seen = masks.get(f)
        if mask_len and video_len and mask_len != video_len:
            yield f, None, "mask_length_mismatch", f"{mask_path}: {mask_len} frames, its fake {video_len}"
        elif seen is None:
            yield f, None, "mask_frames_missing", f"{mask_path}: no frame {f}"
        elif shape is not None and seen.shape != shape:
            got, want = f"{seen.shape[1]}x{seen.shape[0]}", f"{shape[1]}x{shape[0]}"
            yield f, None, "mask_size_mismatch", f"{mask_path}: {got}, the video {want} as displayed"
        else:
            yield f, seen, None, ""


def corpus_masks(
    corpus_root: str | os.PathLike[str], rows: Iterable[Mapping[str, Any]], needed: Mapping[str, set[int]]
) -> Iterator[tuple[str, int, np.ndarray | None, str | None, str]]:
    """``(video_id, frame, mask, reason, example)`` for each frame ``needed[video_id]``
    names of each of ``rows`` (ingest rows: ``video_id``, ``mask_path``, ``width``,
    ``height``, ``rotation``, ``declared_frames``) that names a mask video: the mask, or
    None with why it cannot be scored (`scorable`'s reasons, or ``mask_unreadable``) and
    one line naming the file. Each mask video is decoded once, for every frame any of its
    fakes needs (FF++'s c23 and c40 copies share one), and its header read once; one mask
    video's frames are held at a time. The one reader ``masks_quality`` and ``evaluate``
    both count by."""
    users: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("mask_path") and needed.get(str(row["video_id"])):
            users.setdefault(str(row["mask_path"]), []).append(row)
    for mask_path, mine in sorted(users.items()):
        try:
            got = dict(true_masks_at(corpus_root, mask_path, set().union(*(needed[str(r["video_id"])] for r in mine))))
        except DfmaskError as err:
            for row in mine:
                for f in sorted(needed[str(row["video_id"])]):
                    yield str(row["video_id"]), f, None, "mask_unreadable", str(err)
            continue
        mask_len = mask_frame_count(corpus_root, mask_path)
        for row in mine:
            declared = row.get("declared_frames")
            lengths = (mask_len, int(declared) if isinstance(declared, int) else None)
            shape = mask_shape(row.get("width"), row.get("height"), row.get("rotation"))
            for f, seen, why, example in scorable(got, needed[str(row["video_id"])], shape, mask_path, lengths):
                yield str(row["video_id"]), f, seen, why, example
