"""The faces benchmark: the seeking decoder returns the sequential decoder's frames; a child's peak RSS is its own."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dfmask.video import encode_video, read_frames
from tools.bench.faces import read_frames_seek


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


def test_child_peak_rss_is_the_childs_own_not_the_parents(tmp_path: Path) -> None:
    """wait4's ru_maxrss of a child starts at the parent's peak RSS (Linux records the
    old address space's high-water mark at exec, and vfork's is the parent's): the bench
    reported its own peak (e.g. after generating the corpus) as the stage's. Started by a
    small launcher, the child's figure does not depend on this process."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the exec high-water behaviour is Linux's")
    from tools.bench.faces import run_with_peak_rss

    big = np.ones(1 << 27)  # 1 GiB, touched: this process peaks at >= 1 GiB
    del big
    script = tmp_path / "small.py"
    script.write_text("import sys\nprint(sys.argv[1:])\n")
    run = run_with_peak_rss(script, ["a", "b"], tmp_path)
    assert run.returncode == 0 and run.stdout.strip() == "['a', 'b']"
    assert run.ru_maxrss_mb >= 1000  # what the bench reported before: the parent's peak
    assert run.peak_rss_mb < 100, run  # a bare Python is ~10 MB
    assert run.cpu_s < 5
