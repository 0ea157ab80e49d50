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
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.video import iter_frames

#: Luma level (0-255) above which a mask-video pixel counts as manipulated: midway between
#: the black and white the masks are drawn with, clear of codec ringing at the edges.
THRESHOLD = 127


def true_masks(corpus_root: str | os.PathLike[str], mask_path: str) -> Iterator[np.ndarray]:
    """The masks of ``corpus_root/mask_path``, one (H, W) bool array per decoded frame,
    True = manipulated. Raises `DfmaskError` naming the file when it cannot be read."""
    path = Path(corpus_root) / mask_path
    if not path.is_file():
        raise DfmaskError(f"{mask_path}: true mask video not found under corpus.root")
    try:
        for frame in iter_frames(path):
            grey = frame.max(axis=2) if frame.ndim == 3 else frame
            yield grey > THRESHOLD
    except Exception as err:  # PyAV raises its own error types for broken files
        # named relative to corpus.root, never by where the corpus lies on this machine
        why = str(err).replace(str(path), mask_path)
        if not why.startswith(mask_path):
            why = f"{mask_path}: cannot decode the true mask video: {why}"
        raise DfmaskError(why) from err
