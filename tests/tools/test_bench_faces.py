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


_TREE = """
import subprocess, sys, time
import numpy as np
if sys.argv[1] == "worker":
    big = np.ones(int(sys.argv[2]) << 17)  # sys.argv[2] MiB, touched
    time.sleep(1.5)  # long enough for both workers to overlap on a loaded machine
else:
    a = np.ones(64 << 17)  # the driver holds 64 MiB while its two workers run
    workers = [subprocess.Popen([sys.executable, __file__, "worker", mb]) for mb in ("200", "120")]
    for w in workers:
        w.wait()
    print("ok")
"""


def test_peak_rss_of_each_process_and_the_total_of_a_tree(tmp_path: Path) -> None:
    """A stage with worker processes: the bench reports the driver's own peak, each
    worker's, and the tree's total at one moment (not the largest process's alone)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    from tools.bench.faces import run_with_peak_rss, stage_processes

    script = tmp_path / "tree.py"
    script.write_text(_TREE)
    run = run_with_peak_rss(script, ["driver"], tmp_path, interval=0.02)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    procs = run.processes
    assert procs["driver"]["name"] == "python tree.py" and procs["processes"] == 3
    driver = procs["driver"]["peak_rss_mb"]
    workers = sorted(c["peak_rss_mb"] for c in procs["children"])
    assert 64 <= driver < 64 + 150
    assert 120 <= workers[0] < 120 + 150 and 200 <= workers[1] < 200 + 150
    # all three lived at once: the total counts them together, above any one of them
    assert procs["total_peak_rss_mb"] >= 64 + 120 + 200
    assert run.total_peak_rss_mb == procs["total_peak_rss_mb"] <= procs["sum_of_peaks_mb"] + 1
    assert run.peak_rss_mb >= 200  # wait4's figure: the largest single process of the tree
    # the report's section, over runs
    runs = [{"peak_rss_mb": run.total_peak_rss_mb, "processes": procs}]
    section = stage_processes(runs)
    assert section["stage_driver_peak_rss_mb"] == driver
    assert section["stage_child_processes"] == 2
    assert list(section["stage_children_peak_rss_mb"]) == ["python tree.py"]
    assert section["stage_children_peak_rss_mb"]["python tree.py"] == workers[1]
    assert section["stage_total_peak_rss_mb"] == run.total_peak_rss_mb


def test_machine_info_records_what_makes_runs_comparable() -> None:
    """The report's machine section: CPU model and ISA flags, torch/oneDNN threads after
    faces.threads, the faces execution params and the library versions."""
    from dfmask.params import FacesParams
    from tools.bench.faces import machine_info

    info = machine_info(FacesParams(threads=1, workers=2, batch_size=8))
    assert info["cpus"] >= 1
    if sys.platform.startswith("linux"):
        assert info["cpu"]["model"] and isinstance(info["cpu"]["isa_flags"], list)
    threads = info["torch_threads"]
    assert threads["intra_op"] == 1 and threads["cpu_capability"]
    assert any("get_num_threads" in line for line in threads["parallel_info"])
    assert info["faces"] == {
        "workers": 2, "threads": 1, "decode_threads": 1, "batch_size": 8, "precision": "float64", "device": "auto",
    }  # fmt: skip
    for lib in ("python", "torch", "numpy", "av", "facenet_pytorch", "opencv", "glibc"):
        assert info["versions"][lib], lib
