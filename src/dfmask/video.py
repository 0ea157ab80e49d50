"""Video I/O with PyAV: probing, frame sampling and decoding, H.264 encoding.

All frame indices are 0-based indices into the *decoded* stream (the order frames
come out of the decoder), which is what DESIGN.md calls a frame index. Frames are
RGB ``uint8`` arrays of shape (H, W, 3) with the display rotation NOT applied (the
DFDC clips carry none; `probe` reports it so a consumer can).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from dfmask.errors import DfmaskError


@dataclass(frozen=True)
class Probe:
    """What `probe` learns about one video file.

    Attributes:
        frames: number of frames that actually decode (0 if none), or the container's
            declared count when ``decode=False``.
        declared_frames: the frame count the container header declares (0 if unknown).
        fps: average frame rate (frames/s).
        width, height: coded frame size in pixels.
        duration: seconds, from the container (or frames / fps when absent).
        codec: codec name, e.g. ``"h264"``.
        bytes: file size in bytes.
        rotation: display rotation in degrees from the stream side data (0, 90, 180, 270).
        error: None if the file probed cleanly, else why it did not (truncated, corrupt).
    """

    frames: int
    declared_frames: int
    fps: float
    width: int
    height: int
    duration: float
    codec: str
    bytes: int
    rotation: int
    error: str | None = None


def _rotation(frame: av.VideoFrame) -> int:
    """Display rotation in degrees (0/90/180/270) from a decoded frame's display matrix."""
    try:
        return round(float(frame.rotation)) % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def probe(path: str | os.PathLike[str], decode: bool = True) -> Probe:
    """Probe a video: header facts, plus a full decode to count decodable frames.

    A corrupt, truncated or empty file does not raise: the returned `Probe` has
    ``error`` set and whatever could be read.
    """
    path = Path(path)
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, "empty file (0 bytes)")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[4:8] == b"ftyp":
            why = "truncated: an MP4 header is present but the file is incomplete (no index)"
        else:
            why = "cannot open container"
        return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, f"{why}: {err}")
    with container:
        if not container.streams.video:
            return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, "no video stream")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        declared = int(stream.frames or 0)
        duration = 0.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        width, height = int(ctx.width or 0), int(ctx.height or 0)
        codec = ctx.name or ""
        rotation = 0
        frames, error = declared, None
        if decode:
            frames = 0
            try:
                for frame in container.decode(stream):
                    if frames == 0:
                        rotation = _rotation(frame)
                    frames += 1
            except (av.error.FFmpegError, ValueError) as err:
                error = f"decode failed after {frames} frames: {err}"
            if frames == 0 and error is None:
                error = "no decodable frames"
            elif declared and frames < declared and error is None:
                error = f"truncated: {frames} of {declared} declared frames decode"
        if not duration and fps:
            duration = frames / fps
        return Probe(frames, declared, fps, width, height, duration, codec, size, rotation, error)


def sample_indices(n_frames: int, n_samples: int) -> np.ndarray:
    """``n_samples`` frame indices spread evenly (linspace) over ``[0, n_frames)``.

    Returns fewer (all frames) when the video is shorter than ``n_samples``; indices
    are unique and sorted.
    """
    if n_frames <= 0 or n_samples <= 0:
        return np.zeros(0, dtype=np.int64)
    if n_samples >= n_frames:
        return np.arange(n_frames, dtype=np.int64)
    return np.unique(np.linspace(0, n_frames - 1, n_samples).round().astype(np.int64))


def iter_frames(path: str | os.PathLike[str], threads: int = 0) -> Iterator[np.ndarray]:
    """Decode every frame in order as RGB uint8 (H, W, 3).

    Args:
        threads: decoder threads (0 = FFmpeg's choice).
    """
    for frame in _iter_av_frames(path, threads):
        yield frame.to_ndarray(format="rgb24")


def _iter_av_frames(path: str | os.PathLike[str], threads: int = 0) -> Iterator[av.VideoFrame]:
    """Decoded PyAV frames in order (not yet converted to RGB)."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise DfmaskError(f"{path}: cannot open video: {err}") from err
    with container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        yield from container.decode(stream)


def read_frames(
    path: str | os.PathLike[str], indices: Sequence[int] | np.ndarray, threads: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Decode the frames at ``indices`` by decoding sequentially and keeping those.

    Sequential decode beats per-frame seeking for DFDC-like clips (sparse keyframes):
    see docs/benchmarks.md. Decoding stops after the last wanted index.

    Returns:
        ``(frames, got)``: frames stacked as (N, H, W, 3) uint8, and the indices
        actually decoded (a truncated video returns only those that exist).
    """
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return np.zeros((0, 0, 0, 3), np.uint8), []
    want = set(wanted)
    last = wanted[-1]
    frames: list[np.ndarray] = []
    got: list[int] = []
    try:
        # Only the kept frames are converted to RGB: the YUV→RGB conversion of the
        # skipped ones would cost about as much as decoding them.
        for i, frame in enumerate(_iter_av_frames(path, threads)):
            if i in want:
                frames.append(frame.to_ndarray(format="rgb24"))
                got.append(i)
            if i >= last:
                break
    except (av.error.FFmpegError, ValueError) as err:
        if not frames:
            raise DfmaskError(f"{path}: decode failed: {err}") from err
    if not frames:
        return np.zeros((0, 0, 0, 3), np.uint8), []
    return np.stack(frames), got


def encode_video(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    fps: int,
    crf: int = 18,
    preset: str = "medium",
) -> Path:
    """Encode RGB uint8 frames as H.264 yuv420p mp4, deterministically.

    Single-threaded x264 with fixed options, so the same frames give the same bytes
    (the container gets no creation time). Width and height must be even.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    container = av.open(str(tmp), mode="w", options={"fflags": "+bitexact"})
    try:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1", "flags": "+bitexact"}
        stream.codec_context.thread_count = 1
        first = True
        for image in frames:
            if first:
                h, w = image.shape[:2]
                if h % 2 or w % 2:
                    raise ValueError(f"encode_video needs even width and height, got {w}x{h}")
                stream.width, stream.height = w, h
                first = False
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
    os.replace(tmp, path)
    return path
