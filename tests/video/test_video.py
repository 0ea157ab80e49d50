"""PyAV helpers: linspace sampling, sequential sampled decode, deterministic encode."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from dfmask import video
from dfmask.errors import DfmaskError
from dfmask.video import encode_video, iter_frames, iter_frames_at, probe, read_frames, sample_indices


def _frames(n: int) -> list[np.ndarray]:
    # each frame's mean brightness encodes its index, robust to H.264 loss
    return [np.full((32, 48, 3), 10 + 20 * i, np.uint8) for i in range(n)]


@pytest.mark.parametrize(("n", "k", "expected"), [(10, 4, [0, 3, 6, 9]), (3, 32, [0, 1, 2]), (0, 5, []), (7, 1, [0])])
def test_sample_indices(n: int, k: int, expected: list[int]) -> None:
    assert sample_indices(n, k).tolist() == expected


def test_read_frames_returns_the_wanted_frames(tmp_path: Path) -> None:
    path = encode_video(_frames(12), tmp_path / "v.mp4", fps=12)
    frames, got = read_frames(path, [11, 2, 5, 2])
    assert got == [2, 5, 11]
    assert frames.shape == (3, 32, 48, 3)
    means = frames.reshape(3, -1).mean(axis=1)
    assert np.allclose(means, [10 + 20 * i for i in got], atol=3)
    # asking past the end returns only frames that exist
    frames, got = read_frames(path, [10, 50])
    assert got == [10]


def test_encode_is_byte_deterministic_and_probed(tmp_path: Path) -> None:
    a = encode_video(_frames(6), tmp_path / "a.mp4", fps=10)
    b = encode_video(_frames(6), tmp_path / "b.mp4", fps=10)
    assert a.read_bytes() == b.read_bytes()
    p = probe(a)
    assert (p.frames, p.width, p.height, p.codec, p.error) == (6, 48, 32, "h264", None)
    with pytest.raises(ValueError, match="even"):
        encode_video([np.zeros((31, 48, 3), np.uint8)], tmp_path / "odd.mp4", fps=10)


# Widths whose count of 16-px macroblocks is not a multiple of 16 (160, 96, 192 px): the
# AVX-512 build of x264's macroblock-tree kernels read past the end of such a row, so
# before `encode_video` pinned those kernels the bytes followed the heap's contents.
_ODD_ROW_SIZES = ((160, 96), (96, 160), (192, 256))

_ENCODE_SCRIPT = """
import hashlib, sys
import cv2, numpy as np
from dfmask.video import encode_video
out, cpu = sys.argv[1], (sys.argv[2] or None)
digest = hashlib.sha256()
for w, h in {sizes}:
    rng = np.random.default_rng(w)
    base = cv2.GaussianBlur(rng.integers(0, 256, (2 * h, 2 * w, 3), dtype=np.uint8), (0, 0), 3)
    frames = [np.ascontiguousarray(base[3 * i : 3 * i + h, 2 * i : 2 * i + w]) for i in range(6)]
    path = encode_video(frames, f"{{out}}/{{w}}x{{h}}.mp4", fps=10, cpu=cpu)
    digest.update(path.read_bytes())
print(digest.hexdigest())
"""


def _encode_in_subprocess(out: Path, env: dict[str, str], cpu: str = "") -> str:
    """sha256 of the `_ODD_ROW_SIZES` clips encoded by a fresh interpreter with ``env``."""
    out.mkdir()
    script = _ENCODE_SCRIPT.format(sizes=_ODD_ROW_SIZES)
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    done = subprocess.run([sys.executable, "-c", script, str(out), cpu], env=full, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_encode_bytes_do_not_depend_on_memory_contents(tmp_path: Path) -> None:
    """glibc fills every fresh allocation with the MALLOC_PERTURB_ byte: two different
    bytes must give the same mp4 bytes (no uninitialised memory reaches the stream)."""
    a = _encode_in_subprocess(tmp_path / "a", {"MALLOC_PERTURB_": "85"})
    b = _encode_in_subprocess(tmp_path / "b", {"MALLOC_PERTURB_": "170"})
    assert a == b


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x264 CPU names are x86's")
@pytest.mark.parametrize("cpu", ["none", "SSE2", "AVX2"])
def test_encode_bytes_do_not_depend_on_the_cpu(tmp_path: Path, cpu: str) -> None:
    """x264 restricted to an older instruction set (what another machine would use) gives
    the same bytes as x264 with everything this machine has."""
    here = encode_video(_frames(6), tmp_path / "here.mp4", fps=10)
    other = encode_video(_frames(6), tmp_path / "other.mp4", fps=10, cpu=cpu)
    assert here.read_bytes() == other.read_bytes()
    for w, h in _ODD_ROW_SIZES:
        rng = np.random.default_rng(w)
        frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(4)]
        here = encode_video(frames, tmp_path / f"h{w}.mp4", fps=10)
        other = encode_video(frames, tmp_path / f"o{w}.mp4", fps=10, cpu=cpu)
        assert here.read_bytes() == other.read_bytes(), (w, h)


def _textured_clip(path: Path, n: int = 60) -> Path:
    """A moving noise texture: x264 (preset medium) codes it with B-frames, half of them
    non-reference, which is what the skipping decode leaves out."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (96, 160, 3), np.uint8)
    return encode_video([base[i % 24 : i % 24 + 64, i % 48 : i % 48 + 96] for i in range(n)], path, fps=25)


def _plan(path: Path) -> video._Plan | None:
    with av.open(str(path)) as c:
        return video._skip_plan(c, c.streams.video[0])


@pytest.mark.parametrize(
    "indices", [[0], [1, 2, 3], sample_indices(60, 8).tolist(), list(range(0, 60, 5)), [59], [58, 100], list(range(60))]
)
def test_skipping_decode_is_bit_identical_to_a_full_decode(tmp_path: Path, indices: list[int]) -> None:
    path = _textured_clip(tmp_path / "b.mp4")
    plan = _plan(path)
    assert plan is not None and sum(plan.disposable) >= 10  # the skip path is exercised
    full = list(iter_frames(path))
    frames, got = read_frames(path, indices)
    assert got == [i for i in sorted(set(indices)) if i < len(full)]
    assert all(np.array_equal(f, full[i]) for f, i in zip(frames, got, strict=True))
    streamed = list(iter_frames_at(path, indices))
    assert [i for i, _ in streamed] == got and all(np.array_equal(f, frames[k]) for k, (_, f) in enumerate(streamed))
    # and it did skip: the non-reference frames not asked for are never decoded
    sent = video._packets_to_send(plan, set(indices))
    skipped = [i for i in range(len(plan.packets)) if plan.disposable[i] and plan.index[i] not in set(indices)]
    assert not set(sent) & set(skipped)


def test_skip_plan_ranks_packets_by_pts_in_display_order(tmp_path: Path) -> None:
    path = _textured_clip(tmp_path / "b.mp4", 30)
    plan = _plan(path)
    assert plan is not None
    assert sorted(plan.index) == list(range(30)) and plan.index[0] == 0
    assert plan.index != sorted(plan.index)  # B-frames: decode order is not display order
    # every non-reference frame comes after a later-displayed reference frame
    assert all(plan.index[i] < max(plan.index[:i]) for i in range(1, 30) if plan.disposable[i])


def test_other_codecs_are_decoded_in_full(tmp_path: Path) -> None:
    path = tmp_path / "m.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for image in _frames(10):
            for p in stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    assert _plan(path) is None
    frames, got = read_frames(path, [7, 2])
    full = list(iter_frames(path))
    assert got == [2, 7] and np.array_equal(frames, np.stack([full[2], full[7]]))


def test_a_skipping_decode_that_gives_up_midway_falls_back_without_repeating_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _textured_clip(tmp_path / "b.mp4", 30)
    real = video._decode_skipping

    def gives_up(stream: Any, plan: Any, want: set[int]) -> Any:
        for n, item in enumerate(real(stream, plan, want)):
            if n == 2:
                raise video._Fallback("test")
            yield item

    monkeypatch.setattr(video, "_decode_skipping", gives_up)
    wanted = [1, 4, 9, 16, 25]
    frames, got = read_frames(path, wanted)
    full = list(iter_frames(path))
    assert got == wanted and all(np.array_equal(f, full[i]) for f, i in zip(frames, got, strict=True))


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_frames_are_decoded_as_displayed(tmp_path: Path, rotation: int) -> None:
    """A clip coded sideways with a display rotation decodes upright: the same frames as
    OpenCV's player-like decode (it applies the display matrix on its own) and, up to
    coding noise, as the upright clip."""
    import cv2
    from rotated_video import encode_rotated

    yy, xx = np.mgrid[0:64, 0:48]
    upright = []
    for i in range(6):  # an asymmetric picture (any turn or flip shows), smooth (little coding noise)
        frame = np.stack([xx * 4 + 3 * i, yy * 3, np.full_like(xx, 40)], -1).astype(np.uint8)
        frame[4:20, 4:16] = (230, 30, 30)
        frame[-10:, :, 2] = 220
        upright.append(frame)
    path = encode_rotated(upright, tmp_path / f"r{rotation}.mp4", rotation)
    p = probe(path)
    assert probe(path, decode=False).rotation == rotation  # ingest.probe_decode: false reads it too
    assert p.rotation == rotation and (p.width, p.height) == ((64, 48) if rotation % 180 else (48, 64))
    full = list(iter_frames(path))
    assert all(f.shape == (64, 48, 3) for f in full)
    capture = cv2.VideoCapture(str(path))  # auto-orients (CAP_PROP_ORIENTATION_AUTO)
    for frame in full:
        ok, bgr = capture.read()
        assert ok and np.array_equal(bgr[..., ::-1], frame)
    for frame, truth in zip(full, upright, strict=True):  # upright, up to coding noise
        assert np.abs(frame.astype(int) - truth).mean() < 3
        assert np.abs(frame.astype(int) - truth[::-1, ::-1]).mean() > 30  # a half turn would show
    frames, got = read_frames(path, [1, 4])
    assert got == [1, 4] and np.array_equal(frames, np.stack([full[1], full[4]]))


def _clip(tmp_path: Path, n: int = 10) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (64, 96, 3), np.uint8) for _ in range(n)]
    return encode_video(frames, tmp_path / "clip.mp4", 10), frames


def test_the_video_is_the_longest_stream_not_a_thumbnail_listed_first(tmp_path: Path) -> None:
    from tools.robustness.media import with_thumbnail_first

    clip, _ = _clip(tmp_path)
    both = with_thumbnail_first(clip, tmp_path / "thumb.mp4", np.zeros((64, 96, 3), np.uint8))
    with av.open(str(both)) as container:
        assert [s.codec_context.name for s in container.streams.video] == ["mjpeg", "h264"]
    info = probe(both)
    assert (info.frames, info.codec, info.error) == (10, "h264", None)
    got, idx = read_frames(both, [0, 9])
    ref, _ = read_frames(clip, [0, 9])
    assert idx == [0, 9] and np.array_equal(got, ref)


def test_a_concat_list_named_mp4_is_not_opened(tmp_path: Path) -> None:
    """FFmpeg would read it (its content says concat) and decode a file the caller never
    named; only media containers are opened."""
    clip, _ = _clip(tmp_path)
    listed = tmp_path / "list.mp4"
    listed.write_text(f"ffconcat version 1.0\nfile '{clip.name}'\n")
    assert probe(listed).error.startswith("cannot open container")
    with pytest.raises(DfmaskError, match="cannot open video"):
        read_frames(listed, [0])


def test_damaged_headers_are_errors_not_exceptions(tmp_path: Path) -> None:
    from tools.robustness.media import patched, with_codec_tag

    clip, _ = _clip(tmp_path)
    huge = patched(clip, tmp_path / "huge.mp4", b"stts", 12, xor=0x80)  # 10 → 2**31 + 10 frames
    assert probe(huge).error.startswith("broken header: it declares 2147483658 frames")
    unknown = with_codec_tag(clip, tmp_path / "zzzz.mp4")
    assert probe(unknown).error == "no decoder for the video stream's codec"
    with pytest.raises(DfmaskError, match="no decodable video stream"):
        read_frames(unknown, [0])
