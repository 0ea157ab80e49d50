"""Pictures of a prediction: the predicted mask as a heat overlay on the sampled frames.

Each scored frame is decoded again (`dfmask.video.iter_frames_at`, the same pixels the
crops were cut from); every face's mask probability map is resized to its crop window
and blended over the frame (JET colours, opacity = 0.6 x probability, so confident
manipulated pixels show and the rest of the face stays visible), with the face box and
its p_fake written above it. `write_overlay` saves them as an mp4 (one sampled frame per
video frame, at `OVERLAY_FPS`) and a PNG contact sheet.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from dfmask.inference.detector import Scored
from dfmask.tables import encode_png

#: Frames per second of the overlay mp4 (one sampled frame each).
OVERLAY_FPS = 4
#: Longest side of an overlay frame in px (larger videos are shrunk for the mp4 and sheet).
MAX_SIDE = 640
#: Thumbnails per row of the contact sheet.
SHEET_COLUMNS = 4
#: Most frames on a contact sheet (evenly spaced over the scored frames; the mp4 has all).
SHEET_FRAMES = 16


def _blend(frame: np.ndarray, prob: np.ndarray, window: Sequence[int]) -> None:
    """Blend the (S, S) probability map over ``frame`` inside ``window`` (in place)."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (int(v) for v in window)
    side = x1 - x0
    if side <= 0:
        return
    heat = cv2.resize(prob.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    ix0, iy0, ix1, iy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if ix0 >= ix1 or iy0 >= iy1:
        return
    part = heat[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    colour = cv2.applyColorMap((part * 255).astype(np.uint8), cv2.COLORMAP_JET)[:, :, ::-1]
    alpha = (0.6 * part)[:, :, None]
    region = frame[iy0:iy1, ix0:ix1].astype(np.float32)
    frame[iy0:iy1, ix0:ix1] = np.clip(region * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _text(image: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5) -> None:
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _fit(image: np.ndarray) -> np.ndarray:
    """Shrink to `MAX_SIDE` and make both sides even (H.264 needs that)."""
    h, w = image.shape[:2]
    scale = min(1.0, MAX_SIDE / max(h, w))
    nw, nh = max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2)
    if (nw, nh) != (w, h):
        image = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return image


def overlay_frames(path: str | Path, scored: Scored) -> list[tuple[int, np.ndarray]]:
    """``(frame_idx, RGB uint8 frame with heat, boxes and scores)`` per scored frame."""
    from dfmask.video import iter_frames_at

    pred = scored.prediction
    by_frame: dict[int, list[int]] = {}
    for k, entry in enumerate(pred.frames):
        by_frame.setdefault(entry.frame_idx, []).append(k)
    if not by_frame:
        return []
    out = []
    for f, frame in iter_frames_at(path, np.array(sorted(by_frame), np.int64)):
        image = frame.copy()
        for k in by_frame.get(f, []):
            entry = pred.frames[k]
            _blend(image, scored.seg_prob[k], entry.crop_box)
            x0, y0, x1, y1 = (round(v) for v in entry.box)
            cv2.rectangle(image, (x0, y0), (x1, y1), (255, 255, 255), 1)
            _text(image, f"p_fake {entry.p_fake:.2f}", (max(x0, 2), max(y0 - 6, 14)))
        image = _fit(image)
        _text(image, f"frame {f}  t={f / (pred.fps or 1):.2f}s  video p_fake {pred.p_fake:.3f}", (6, 18))
        out.append((f, image))
    return out


def contact_sheet(images: Sequence[np.ndarray], columns: int = SHEET_COLUMNS, thumb: int = 240) -> np.ndarray:
    """At most `SHEET_FRAMES` of the images (evenly spaced) side by side, ``columns`` per
    row, each scaled to ``thumb`` px wide."""
    if not images:
        return np.zeros((2, 2, 3), np.uint8)
    if len(images) > SHEET_FRAMES:
        images = [images[int(k)] for k in np.linspace(0, len(images) - 1, SHEET_FRAMES).round()]
    thumbs = []
    for im in images:
        h, w = im.shape[:2]
        thumbs.append(cv2.resize(im, (thumb, max(1, round(h * thumb / w))), interpolation=cv2.INTER_AREA))
    th = max(t.shape[0] for t in thumbs)
    rows = (len(thumbs) + columns - 1) // columns
    sheet = np.zeros((rows * th, min(columns, len(thumbs)) * thumb, 3), np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, columns)
        sheet[r * th : r * th + t.shape[0], c * thumb : (c + 1) * thumb] = t
    return sheet


def sheet_png(path: str | Path, scored: Scored) -> bytes | None:
    """The contact sheet of `overlay_frames` as PNG bytes (None without faces)."""
    frames = overlay_frames(path, scored)
    return encode_png(contact_sheet([im for _, im in frames])) if frames else None


def overlay_names(paths: list[Path]) -> dict[Path, str]:
    """Each input's overlay name: its stem, or, where two inputs share a stem (``a/clip.mp4``
    and ``b/clip.mp4``, ``clip.mp4`` and ``clip.MP4``), its path relative to the inputs'
    common folder with ``/`` as ``__`` and the extension kept (``a__clip.mp4``), so no
    overlay overwrites another's."""
    stems = Counter(p.stem.lower() for p in paths)
    absolute = [p.resolve() for p in paths]
    common = Path(os.path.commonpath([str(a.parent) for a in absolute])) if absolute else Path()
    return {
        p: p.stem if stems[p.stem.lower()] == 1 else a.relative_to(common).as_posix().replace("/", "__")
        for p, a in zip(paths, absolute, strict=True)
    }


def write_overlay(path: str | Path, scored: Scored, out_dir: str | Path, name: str | None = None) -> list[Path]:
    """``<out_dir>/<name>.overlay.mp4`` and ``<name>.sheet.png`` (``name``: the video's
    stem unless given, `overlay_names`); nothing without faces."""
    from dfmask.video import encode_video

    frames = overlay_frames(path, scored)
    if not frames:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or Path(path).stem
    size = frames[0][1].shape
    images = [im if im.shape == size else cv2.resize(im, (size[1], size[0])) for _, im in frames]
    mp4 = encode_video(images, out_dir / f"{stem}.overlay.mp4", OVERLAY_FPS, crf=23, preset="veryfast")
    png = out_dir / f"{stem}.sheet.png"
    tmp = png.with_name(f".{png.name}.tmp")
    tmp.write_bytes(encode_png(contact_sheet(images)))
    tmp.replace(png)
    return [mp4, png]
