"""Hostile video files derived from the clean base videos (PyAV, deterministic settings)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import cv2
import numpy as np

from dfmask.video import iter_frames


def frames_of(path: Path) -> list[np.ndarray]:
    """Every decoded RGB frame of a video (display rotation NOT applied)."""
    return list(iter_frames(path))


def fps_of(path: Path) -> int:
    with av.open(str(path)) as container:
        rate = container.streams.video[0].average_rate
        return round(float(rate)) if rate else 10


def encode(
    frames: Iterable[np.ndarray],
    dst: Path,
    fps: int,
    codec: str = "libx264",
    rotation: int | None = None,
) -> Path:
    """Encode RGB frames into an mp4 with ``codec``, single-threaded, bit-exact flags;
    ``rotation`` (degrees, counter-clockwise) sets the container's display matrix."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(dst), mode="w", format="mp4", options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.pix_fmt = "yuv420p"
        options: dict[str, object] = {"threads": "1", "flags": "+bitexact"}
        if codec == "libx264":
            options.update(crf="18", preset="medium")
        elif codec == "libvpx-vp9":
            options.update({"crf": "30", "deadline": "good", "b": "0", "row-mt": "0"})
        elif codec == "mpeg4":
            options.update(qscale="3")
        stream.options = options
        stream.codec_context.thread_count = 1
        if rotation is not None:
            stream.set_display_rotation(rotation)
        first = True
        for image in frames:
            if first:
                stream.height, stream.width = image.shape[:2]
                first = False
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def remux_rotation(src: Path, dst: Path, degrees: int) -> Path:
    """Copy ``src``'s packets unchanged into ``dst`` with a display rotation tag."""
    with av.open(str(src)) as inp, av.open(str(dst), mode="w", format="mp4", options={"fflags": "+bitexact"}) as out:
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        out_stream.set_display_rotation(degrees)
        _copy_packets(inp, in_stream, out, out_stream)
    return dst


def _copy_packets(
    inp: av.container.InputContainer,
    in_stream: av.VideoStream,
    out: av.container.OutputContainer,
    out_stream: av.VideoStream,
) -> None:
    """Every packet of ``in_stream`` muxed unchanged into ``out_stream`` (demuxer flush packets skipped)."""
    for packet in inp.demux(in_stream):
        if packet.dts is None:
            continue
        packet.stream = out_stream
        out.mux(packet)


def resized(frames: list[np.ndarray], scale: float) -> list[np.ndarray]:
    h, w = frames[0].shape[:2]
    size = (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2)
    return [cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames]


def no_face_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    """A smooth moving colour gradient: nothing a face detector can fire on."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    out = []
    for i in range(n):
        r = 128 + 100 * np.sin((x + 8 * i) / 40.0)
        g = 128 + 100 * np.cos((y - 5 * i) / 30.0)
        b = 128 + 60 * np.sin((x + y + 6 * i) / 50.0)
        out.append(np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8))
    return out


def mdat_span(data: bytes) -> tuple[int, int]:
    """(start, end) of the payload of the top-level 'mdat' box."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = len(data) - pos
        if kind == b"mdat":
            return pos + header, pos + size
        if size < header:
            break
        pos += size
    raise ValueError("no mdat box")


def xor_mdat(path: Path, n_bytes: int = 20) -> str:
    """XOR ``n_bytes`` bytes of the mdat payload in place, at the first of a few offsets
    where the decoded frames change and every frame still decodes. Returns where."""
    original = path.read_bytes()
    before = frames_of(path)
    start, end = mdat_span(original)
    for frac in (0.5, 0.35, 0.65, 0.2, 0.8):
        at = start + int((end - start) * frac)
        data = bytearray(original)
        for i in range(at, min(at + n_bytes, end)):
            data[i] ^= 0xFF
        path.write_bytes(bytes(data))
        try:
            after = frames_of(path)
        except Exception:  # noqa: BLE001 - PyAV raises many types on a damaged stream
            continue
        if len(after) == len(before) and any(not np.array_equal(a, b) for a, b in zip(after, before, strict=True)):
            return f"bytes {at}..{at + n_bytes} of the mdat payload ({frac:.0%} in)"
    path.write_bytes(original)
    raise RuntimeError(f"{path.name}: no offset changes the decoded frames while keeping them decodable")


def with_thumbnail_first(src: Path, dst: Path, thumbnail: np.ndarray) -> Path:
    """``src``'s video packets unchanged, behind a one-frame MJPEG thumbnail track listed
    first (stream 0): a file whose first video stream is not the video."""
    with av.open(str(src)) as inp, av.open(str(dst), mode="w", format="mp4", options={"fflags": "+bitexact"}) as out:
        in_stream = inp.streams.video[0]
        thumb = out.add_stream("mjpeg", rate=1)
        assert isinstance(thumb, av.VideoStream)
        thumb.height, thumb.width = thumbnail.shape[:2]
        thumb.pix_fmt = "yuvj420p"
        video = out.add_stream_from_template(in_stream)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(thumbnail), format="rgb24")
        for packet in [*thumb.encode(frame), *thumb.encode()]:
            out.mux(packet)
        _copy_packets(inp, in_stream, out, video)
    return dst


def patched(src: Path, dst: Path, box: bytes, offset: int, new: bytes | None = None, xor: int = 0) -> Path:
    """A copy of ``src`` with the bytes at ``offset`` after the first ``box`` tag replaced by
    ``new`` (or XORed with ``xor``): a damaged header field."""
    data = bytearray(src.read_bytes())
    at = data.find(box) + offset
    if new is not None:
        data[at : at + len(new)] = new
    else:
        data[at] ^= xor
    dst.write_bytes(bytes(data))
    return dst


def with_codec_tag(src: Path, dst: Path, tag: bytes = b"zzzz") -> Path:
    """A copy of H.264 ``src`` whose sample entry (``avc1`` inside ``stsd``) is renamed ``tag``:
    a codec FFmpeg has no decoder for."""
    data = src.read_bytes()
    stsd = data.find(b"stsd")
    return patched(src, dst, b"stsd", data.find(b"avc1", stsd) - stsd, new=tag)
