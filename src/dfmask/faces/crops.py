"""Square face crops with a margin, cut from full-resolution frames.

The crop window (``crop_box``) is an integer square in full-resolution pixels: centred
on the face box, side = longer box side x (1 + 2 x margin). It may extend past the
frame; the outside is padded with black (``cv2.BORDER_CONSTANT``, value 0) so padded
pixels are never mistaken for image content and a fake and its original get the same
padding. The window is then resized to ``size`` x ``size`` (area interpolation when
shrinking, bilinear when growing). Because the window is stored exactly, a crop pixel
(u, v) maps back to the frame at ``x0 + (u + 0.5) * side / size - 0.5`` (same for y).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np


def crop_window(box: np.ndarray, margin: float) -> np.ndarray:
    """The integer square window (x0, y0, x1, y1) around ``box``, full-res px.

    Side = ceil(longer box side x (1 + 2 x margin)), at least 1; centred on the box
    centre (rounded to the pixel grid). Coordinates may be negative or past the frame.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(1, math.ceil(max(x1 - x0, y1 - y0) * (1.0 + 2.0 * margin)))
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    left = math.floor(cx - side / 2.0 + 0.5)
    top = math.floor(cy - side / 2.0 + 0.5)
    return np.array([left, top, left + side, top + side], np.int64)


def cut_window(frame: np.ndarray, window: np.ndarray) -> np.ndarray:
    """The pixels of ``frame`` (H, W, C) inside ``window``, zero-padded outside the frame."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in window)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if ix0 >= ix1 or iy0 >= iy1:  # window entirely outside the frame
        return np.zeros((y1 - y0, x1 - x0, *frame.shape[2:]), frame.dtype)
    inner = frame[iy0:iy1, ix0:ix1]
    pads = (iy0 - y0, y1 - iy1, ix0 - x0, x1 - ix1)
    if any(pads):
        inner = cv2.copyMakeBorder(inner, *pads, borderType=cv2.BORDER_CONSTANT, value=0)
    return np.ascontiguousarray(inner)


def crop_face(frame: np.ndarray, window: np.ndarray, size: int) -> np.ndarray:
    """Cut ``window`` from ``frame`` and resize it to ``size`` x ``size`` (uint8 RGB)."""
    patch = cut_window(frame, window)
    side = patch.shape[0]
    if side == size:
        return patch
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interp)


def mask_in_crop(frame_mask: np.ndarray, crop_box: Sequence[float] | np.ndarray, size: int) -> np.ndarray:
    """A full-frame mask (H, W; > 0 = manipulated) seen through a crop window, (size, size)
    uint8 0/1.

    Cut and resized exactly like the crop (`crop_face`: zero outside the frame, area when
    shrinking, bilinear when growing) as a float 0/1 image, then thresholded at 0.5: a
    crop pixel is manipulated when at least half of what it covers is. This is how the
    ground truth's full-frame swap masks are compared with crop masks everywhere.
    """
    window = np.rint(np.asarray(crop_box, np.float64)).astype(np.int64)
    patch = cut_window((np.asarray(frame_mask) > 0).astype(np.float32), window)
    side = patch.shape[0]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        patch = cv2.resize(patch, (size, size), interpolation=interp)
    return (patch >= 0.5).astype(np.uint8)


def to_crop_coords(points: np.ndarray, crop_box: Sequence[float], size: int) -> np.ndarray:
    """Map full-resolution frame points (..., 2) into the ``size``-px crop of ``crop_box``."""
    x0, y0, x1, y1 = (float(v) for v in crop_box)
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    out = np.empty_like(pts)
    out[:, 0] = (pts[:, 0] - x0 + 0.5) * size / (x1 - x0) - 0.5
    out[:, 1] = (pts[:, 1] - y0 + 0.5) * size / (y1 - y0) - 0.5
    return out
