"""PyAV helpers: linspace sampling, sequential sampled decode, deterministic encode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dfmask.video import encode_video, probe, read_frames, sample_indices


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
