"""The faces benchmark's seeking decoder returns exactly the sequential decoder's frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dfmask.bench.faces import read_frames_seek
from dfmask.video import encode_video, read_frames


def test_seek_decode_matches_sequential_decode(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    # every frame distinct (a moving bar); x264 puts one keyframe first, so each seek
    # lands on it and decodes forward to the wanted timestamp
    frames = []
    for i in range(60):
        f = base.copy()
        f[:, i % 64] = 255
        frames.append(f)
    path = tmp_path / "v.mp4"
    encode_video(frames, path, fps=30)
    wanted = [0, 7, 24, 25, 26, 40, 59]
    seq, got_seq = read_frames(path, wanted)
    seek, got_seek = read_frames_seek(path, wanted)
    assert got_seq == got_seek == wanted
    np.testing.assert_array_equal(seek, seq)
