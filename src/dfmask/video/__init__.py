"""Video I/O with PyAV: probing, frame sampling and decoding, H.264 encoding.

All frame indices are 0-based indices into the *decoded* stream (the order frames
come out of the decoder), which is what DESIGN.md calls a frame index. `read_frames`
may leave frames out of the decode (H.264 non-reference frames nobody asked for, see
`dfmask.video._h264`); it then numbers frames by the rank of their packet's pts, which is
the decoder's output order for the streams it does this on, and it checks that every
frame the decoder returns is the one expected, else decodes everything. Frames are
RGB ``uint8`` arrays of shape (H, W, 3) AS DISPLAYED: the display rotation (the stream's
display matrix, e.g. a phone clip coded sideways with a 90° tag) is applied, so H and W
are the displayed height and width and every pixel coordinate downstream (face boxes,
crop windows) is in the displayed frame. `probe` reports the coded size and the rotation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from dfmask.errors import DfmaskError
from dfmask.video import _h264 as h264


@dataclass(frozen=True)
class Probe:
    """What `probe` learns about one video file.

    Attributes:
        frames: number of frames that actually decode (0 if none), or the container's
            declared count when ``decode=False``.
        declared_frames: the frame count the container header declares (0 if unknown).
        fps: average frame rate (frames/s).
        width, height: coded frame size in pixels (the displayed size is
            `displayed_size` of these and ``rotation``).
        duration: seconds, from the container (or frames / fps when absent).
        codec: codec name, e.g. ``"h264"``.
        bytes: file size in bytes.
        rotation: display rotation in degrees counter-clockwise, from the display
            matrix the decoder attaches to frames (0, 90, 180, 270); the decode functions
            apply it.
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


#: Demuxers a video may be opened with (FFmpeg's ``format_whitelist``): real media
#: containers only. A text file named ``.mp4`` that FFmpeg would otherwise read as a
#: ``concat`` list, an HLS playlist or an image pattern points at files the inventory never
#: hashed (or outside the corpus), so it must not decode: it is ``corrupt``.
MEDIA_FORMATS = "mov,mp4,matroska,webm,avi,mpegts,flv,asf,mpeg,mpegvideo,m4v,h264,hevc,ivf,nut,yuv4mpegpipe,mjpeg"
#: The most frames a header may declare (the ingest tables store counts as int32); more is
#: a broken header, not a video.
MAX_DECLARED_FRAMES = 2**31 - 1


def _open_media(path: str | os.PathLike[str]) -> av.container.InputContainer:
    """``av.open`` restricted to `MEDIA_FORMATS` and to local files."""
    return av.open(str(path), options={"format_whitelist": MEDIA_FORMATS, "protocol_whitelist": "file"})


def _video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    """The video stream that is the video itself, not cover art or a thumbnail track
    listed first (either would otherwise be read as a one-frame video): attached pictures
    never; of the others the one whose header declares the most frames, else FFmpeg's best
    stream (`av_find_best_stream`), else the first. The usual one-stream file: that one."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if len(streams) <= 1:
        return streams[0] if streams else None
    most = max(int(s.frames or 0) for s in streams)
    if most > 0:
        return next(s for s in streams if int(s.frames or 0) == most)
    best = container.streams.best("video")
    return best if best in streams else streams[0]


def _rotation(frame: av.VideoFrame) -> int:
    """Display rotation in degrees counter-clockwise (0/90/180/270, the nearest quarter
    turn) from a decoded frame's display matrix (FFmpeg's convention, as PyAV reads it)."""
    try:
        return round(float(frame.rotation) / 90) % 4 * 90
    except (AttributeError, TypeError, ValueError):
        return 0


def displayed_size(width: int, height: int, rotation: int) -> tuple[int, int]:
    """(width, height) of a frame coded at ``width`` x ``height`` once ``rotation`` is applied."""
    return (height, width) if rotation % 180 == 90 else (width, height)


def displayed_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as RGB uint8 (H, W, 3) as it is displayed: rotated by its display
    matrix's quarter turns (counter-clockwise, `np.rot90`'s sense). Flips in the matrix
    are not applied (rare; `probe` does not report them either)."""
    rgb = frame.to_ndarray(format="rgb24")
    turns = _rotation(frame) // 90
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


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
        container = _open_media(path)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[4:8] == b"ftyp":
            why = "truncated: an MP4 header is present but the file is incomplete (no index)"
        else:
            why = "cannot open container"
        return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, f"{why}: {err}")
    with container:
        stream = _video_stream(container)
        if stream is None:
            return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, "no video stream")
        ctx = stream.codec_context
        if ctx is None:  # a codec FFmpeg has no decoder for
            return Probe(0, 0, 0.0, 0, 0, 0.0, "", size, 0, "no decoder for the video stream's codec")
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        declared = int(stream.frames or 0)
        if declared > MAX_DECLARED_FRAMES:
            return Probe(0, 0, fps, 0, 0, 0.0, ctx.name or "", size, 0, f"broken header: it declares {declared} frames")
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
        else:  # the display matrix reaches us on decoded frames: decode the first one
            with suppress(av.error.FFmpegError, ValueError, StopIteration):
                rotation = _rotation(next(container.decode(stream)))
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
    """Decode every frame in order as RGB uint8 (H, W, 3), as displayed (`displayed_rgb`).

    Args:
        threads: decoder threads (0 = FFmpeg's choice).
    """
    for frame in _iter_av_frames(path, threads):
        yield displayed_rgb(frame)


@contextmanager
def _open_video(
    path: str | os.PathLike[str], threads: int
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """The opened container and its video stream (`_video_stream`), set to decode with
    ``threads`` threads (0 = FFmpeg's choice); a file PyAV cannot open is a `DfmaskError`."""
    try:
        container = _open_media(path)
    except (av.error.FFmpegError, OSError) as err:
        raise DfmaskError(f"{path}: cannot open video: {err}") from err
    with container:
        stream = _video_stream(container)
        if stream is None or stream.codec_context is None:
            raise DfmaskError(f"{path}: cannot open video: no decodable video stream")
        stream.thread_type = "AUTO"
        if threads:
            stream.codec_context.thread_count = threads
        yield container, stream


def _iter_av_frames(path: str | os.PathLike[str], threads: int = 0) -> Iterator[av.VideoFrame]:
    """Decoded PyAV frames in order (not yet converted to RGB)."""
    with _open_video(path, threads) as (container, stream):
        yield from container.decode(stream)


class _Fallback(Exception):
    """The skipping decode met something it cannot vouch for: decode everything instead."""


@dataclass(frozen=True)
class _Plan:
    """The packets of a stream in decode order with each one's display index."""

    packets: list[av.Packet]
    index: list[int]
    disposable: list[bool]


def _skip_plan(container: av.container.InputContainer, stream: av.VideoStream) -> _Plan | None:
    """Demux every packet and rank it by pts; None when frames must not be skipped.

    Skipping needs an avcC H.264 stream that `dfmask.video._h264.stream_info` accepts, a first
    packet that is an IDR frame, and a unique pts on every packet (the display index of
    a packet is the rank of its pts; the decoder outputs frames in that order). Holds the
    compressed stream in memory (a few MB for a 10 s 1080p clip).
    """
    if stream.codec_context.name != "h264":
        return None
    info = h264.stream_info(stream.codec_context.extradata)
    if info is None:
        return None
    packets: list[av.Packet] = []
    pts: list[int] = []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        if packet.pts is None or packet.is_discard or packet.is_corrupt:
            return None
        packets.append(packet)
        pts.append(int(packet.pts))
    if not packets or len(set(pts)) != len(pts) or not h264.is_idr(bytes(packets[0]), info.length_size):
        return None
    if min(pts) != pts[0]:
        return None  # a frame displayed before the IDR: not a clean start
    rank = {t: r for r, t in enumerate(sorted(pts))}
    index = [rank[t] for t in pts]
    disposable = [h264.is_disposable(bytes(p), info.length_size) for p in packets]
    return _Plan(packets, index, disposable)


def _packets_to_send(plan: _Plan, want: set[int]) -> list[int]:
    """Positions (decode order) of the packets the wanted frames need: up to the last
    wanted frame in decode order, all but the disposable packets of unwanted frames."""
    present = [i for i, k in enumerate(plan.index) if k in want]
    if not present:
        return []
    return [i for i in range(max(present) + 1) if not plan.disposable[i] or plan.index[i] in want]


def _decode_skipping(stream: av.VideoStream, plan: _Plan, want: set[int]) -> Iterator[tuple[int, av.VideoFrame]]:
    """Decode only what the wanted frames need; yield ``(index, frame)`` for the wanted ones.

    A disposable packet (non-reference picture, see `dfmask.video._h264.is_disposable`) of an
    unwanted frame is never sent to the decoder; nothing after the last wanted frame (in
    decode order) is sent either. Every frame the decoder returns must be the next sent
    one in display order, else `_Fallback` is raised before anything wrong is yielded.
    """
    send = _packets_to_send(plan, want)
    if not send:
        return
    expected = iter(sorted(plan.index[i] for i in send))
    index_of_pts = {plan.packets[i].pts: plan.index[i] for i in send}
    pending = sum(1 for i in send if plan.index[i] in want)

    def take(frames: list[av.VideoFrame]) -> Iterator[tuple[int, av.VideoFrame]]:
        nonlocal pending
        for frame in frames:
            k = index_of_pts.get(frame.pts) if frame.pts is not None else None
            if k is None or k != next(expected, None):
                raise _Fallback(f"decoder returned pts {frame.pts} out of the expected order")
            if k in want:
                pending -= 1
                yield k, frame

    for i in send:
        yield from take(plan.packets[i].decode())
    yield from take(stream.codec_context.decode(None))  # drain the frames still held for reordering
    if pending:
        raise _Fallback(f"{pending} wanted frames were not returned by the decoder")


def _iter_wanted(path: str | os.PathLike[str], wanted: list[int], threads: int) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(index, frame)`` for each wanted index that decodes, in increasing order.

    Tries `_decode_skipping`; when it cannot be used or gives up (`_Fallback`, or FFmpeg
    fails), decodes sequentially from the start and keeps the wanted frames not yet
    yielded, exactly as before skipping existed.
    """
    want = set(wanted)
    done = -1
    # A failure of the skipping pass is not reported: the full sequential decode below
    # re-reads the video from the start and decides (its own failures are the caller's);
    # frames up to ``done`` were already yielded and are not repeated.
    with _open_video(path, threads) as (container, stream), suppress(_Fallback, av.error.FFmpegError, ValueError):
        plan = _skip_plan(container, stream)
        if plan is not None:
            for k, frame in _decode_skipping(stream, plan, want):
                done = k
                yield k, frame
            return
    last = wanted[-1]
    for i, frame in enumerate(_iter_av_frames(path, threads)):
        if i in want and i > done:
            yield i, frame
        if i >= last:
            break


def read_frames(
    path: str | os.PathLike[str], indices: Sequence[int] | np.ndarray, threads: int = 0
) -> tuple[np.ndarray, list[int]]:
    """Decode the frames at ``indices`` in one pass from the start, keeping those.

    A single pass beats per-frame seeking for DFDC-like clips (sparse keyframes): see
    docs/benchmarks.md. For H.264 it also skips what the wanted frames do not need:
    unwanted non-reference frames (most B-frames) are never sent to the decoder and
    nothing after the last wanted frame is; the frames returned are bit-identical to
    a full decode's (tests/test_video.py). Other codecs, Annex-B streams and any
    stream the skipping pass cannot vouch for are decoded in full (`_iter_wanted`).
    Only the kept frames are converted to RGB. (On a damaged stream whose full decode
    stops at a corrupt non-reference frame the skipping pass may return more frames;
    ingest already marks such videos as failed.)

    Returns:
        ``(frames, got)``: frames stacked as (N, H, W, 3) uint8, and the indices
        actually decoded (a truncated video returns only those that exist; a decode
        error after some frames returns those).
    """
    return _stack(iter_frames_at(path, indices, threads), len({int(i) for i in indices}))


def iter_frames_at(
    path: str | os.PathLike[str], indices: Sequence[int] | np.ndarray, threads: int = 0
) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, RGB frame)`` for each of ``indices`` that decodes, in increasing order:
    `read_frames` one frame at a time (a caller that crops each frame as it comes never
    holds the whole stack). Same decoding, same errors: `DfmaskError` when the video
    cannot be opened or fails before any wanted frame; a later failure ends the
    iteration early (the caller sees which indices it got)."""
    wanted = sorted({int(i) for i in indices})
    if not wanted:
        return
    yielded = False
    try:
        for k, frame in _iter_wanted(path, wanted, threads):
            yielded = True
            yield k, displayed_rgb(frame)
    except (av.error.FFmpegError, ValueError) as err:
        if not yielded:
            raise DfmaskError(f"{path}: decode failed: {err}") from err


def _stack(frames: Iterator[tuple[int, np.ndarray]], n_max: int) -> tuple[np.ndarray, list[int]]:
    """Copy frames into one preallocated (N, H, W, 3) array (no list + `np.stack` copy)."""
    out: np.ndarray | None = None
    got: list[int] = []
    for k, rgb in frames:
        if out is None:
            out = np.empty((n_max, *rgb.shape), rgb.dtype)
        out[len(got)] = rgb
        got.append(k)
    if out is None:
        return np.zeros((0, 0, 0, 3), np.uint8), []
    return out[: len(got)], got


# x264 picks its SIMD kernels by CPU. All of them give the C code's bytes except the two
# floating-point macroblock-tree kernels (mbtree_propagate_cost / _list, used by every
# preset's default mb-tree rate control): their SSE4/AVX2 and AVX-512 builds round
# differently from the C code, and the AVX-512 build reads uninitialised memory past a
# row of macroblocks (96, 160 and 192 px wide frames were hit, 256 px not), so the bytes
# followed the heap's contents (measured with MALLOC_PERTURB_, docs/architecture.md,
# "Reproducibility"). x264's `cpu-independent` option uses the C code for exactly those
# kernels ("ensure exact reproducibility across different cpus"); mb-tree, CRF and the
# preset are unchanged, encoding costs ~3 % more.
X264_PARAMS = "cpu-independent=1"


def encode_video(
    frames: Iterable[np.ndarray],
    path: str | os.PathLike[str],
    fps: int,
    crf: int = 18,
    preset: str = "medium",
    *,
    cpu: str | None = None,
) -> Path:
    """Encode RGB uint8 frames as H.264 yuv420p mp4, deterministically.

    Single-threaded x264 with fixed options and `X264_PARAMS`, so the same frames give
    the same bytes on any x86-64 CPU, whatever the heap held before (the container gets
    no creation time). Width and height must be even.

    Args:
        crf, preset: x264's constant rate factor and speed preset.
        cpu: restrict x264 to these instruction sets (its ``asm`` names, e.g. ``"SSE2"``,
            ``"AVX2"``, or ``"none"`` for its C code) as an older CPU would; None uses what
            this CPU has. The bytes do not depend on it (tests/test_video.py holds that).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    container = av.open(str(tmp), mode="w", options={"fflags": "+bitexact"})
    try:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        x264_params = X264_PARAMS if cpu is None else f"{X264_PARAMS}:asm={'0' if cpu == 'none' else cpu}"
        stream.options = {
            "crf": str(crf),
            "preset": preset,
            "threads": "1",
            "flags": "+bitexact",
            "x264-params": x264_params,
        }
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
