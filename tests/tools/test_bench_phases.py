"""The phases benchmark's report: its format, and its projection recomputed from its measured inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dfmask.compute.projection import CorpusShape, MachineProfile, PhaseCosts, project_all
from dfmask.errors import DfmaskError
from tools.bench.phases import ASSUMED_GPU_SOURCE, PhaseClock, build_report, summarise

REPO = Path(__file__).resolve().parents[2]


def _clock() -> PhaseClock:
    """Two originals and four fakes with known CPU seconds (wall = CPU here)."""
    clock = PhaseClock()
    costs = {
        ("original", "decode"): [1.0, 1.2],
        ("original", "detect"): [4.0, 5.0],
        ("original", "crop_png"): [0.3, 0.3],
        ("fake", "decode"): [1.0, 1.0, 1.1, 0.9],
        ("fake", "crop_png"): [0.3] * 4,
        ("fake", "ssim"): [0.08, 0.07, 0.09, 0.08],
    }
    for key, values in costs.items():
        clock.cpu[key] = list(values)
        clock.wall[key] = list(values)
    return clock


def _report(clock: PhaseClock) -> dict[str, Any]:
    corpus = {"root": "data/bench/corpus", "part": 0, "originals": 2, "fakes": 4, "sizes": ["1920x1080"]}
    machine = {"cpus": 2, "cpu": {"model": "test CPU"}}
    return build_report(summarise(clock), {"original": 32.0, "fake": 32.0}, corpus, machine, {"faces": {}})


def recompute(report: dict[str, Any]) -> dict[str, Any]:
    """The report's projection, computed again from its measured inputs and named assumptions."""
    m = report["measured_inputs"]
    costs = PhaseCosts(m["original"], m["fake"], m["source"])
    profiles = [MachineProfile(**p["profile"]) for p in report["projection"]["profiles"].values()]
    doc = project_all(costs, profiles, CorpusShape(**report["projection"]["corpus"]))
    return json.loads(json.dumps(doc))


def test_report_holds_machine_inputs_assumptions_and_a_projection_that_recomputes() -> None:
    report = _report(_clock())
    assert report["machine"]["cpu"]["model"] == "test CPU" and report["machine"]["cpus"] == 2
    assert report["per_video"]["original"]["detect"] == {
        "videos": 2,
        "cpu_s_mean": 4.5,
        "cpu_s_median": 4.5,
        "wall_s_mean": 4.5,
    }
    assert report["measured_inputs"]["original"] == {"decode": 1.1, "detect": 4.5, "crop_png": 0.3}
    assert report["measured_inputs"]["fake"]["ssim"] == pytest.approx(0.08)
    assert report["assumed"]["gpu_detect_speedup_source"] == ASSUMED_GPU_SOURCE
    assert ASSUMED_GPU_SOURCE.startswith("ASSUMED")
    profiles = report["projection"]["profiles"]
    assert [p["profile"]["goal_hours"] for p in profiles.values()] == [48.0, None, 4.0]
    # written as JSON and read back, the projection is exactly what its inputs give
    assert recompute(json.loads(json.dumps(report))) == json.loads(json.dumps(report["projection"]))
    # 2-core profile by hand: (1/6)(1.1 + 4.5 + 0.3) + (5/6)(1.0 + 0.3 + 0.08) core-s per video
    per_video = (1.1 + 4.5 + 0.3) / 6 + 5 * (1.0 + 0.3 + 0.08) / 6
    a = profiles["a: this machine, 2 cores"]
    assert a["wall_hours"] == pytest.approx(119_154 * per_video / 2 / 3600, abs=1e-3)


def test_a_phase_without_any_timed_video_is_an_error() -> None:
    clock = _clock()
    del clock.cpu[("fake", "ssim")]
    with pytest.raises(DfmaskError, match=r"fake\.ssim"):
        _report(clock)


def test_committed_report_projection_recomputes_from_its_measured_inputs() -> None:
    path = REPO / "reports/bench_phases.json"
    if not path.exists():
        pytest.skip("reports/bench_phases.json not measured yet (make bench-phases)")
    report = json.loads(path.read_text())
    assert {"machine", "corpus", "per_video", "measured_inputs", "assumed", "projection"} <= set(report)
    assert report["machine"]["cpu"]["model"] and report["machine"]["cpus"] >= 1
    assert recompute(report) == report["projection"]


def test_reproject_keeps_the_measurements_and_rebuilds_the_projection_for_another_gpu_factor(
    tmp_path: Path,
) -> None:
    from tools.bench.phases import reproject

    src, out = tmp_path / "phases.json", tmp_path / "out.json"
    old = _report(_clock())
    src.write_text(json.dumps(old))
    assert reproject(src, out, 40.0, "measured: somewhere") == 0
    new = json.loads(out.read_text())
    assert new["per_video"] == old["per_video"] and new["measured_inputs"] == old["measured_inputs"]
    assert new["assumed"]["gpu_detect_speedup"] == 40.0
    assert new["assumed"]["gpu_detect_speedup_source"] == "measured: somewhere"
    for name, profile in new["projection"]["profiles"].items():
        before = old["projection"]["profiles"][name]
        assert profile["cpu_hours"] == before["cpu_hours"]
        if before["gpu_hours"]:  # GPU time scales with 1/s: 20 → 40 halves it
            assert profile["gpu_hours"] == pytest.approx(before["gpu_hours"] / 2, rel=1e-3)
    (tmp_path / "bad.json").write_text("{}")
    assert reproject(tmp_path / "bad.json", out, 40.0, "x") == 2


def test_dense_reference_is_reported_beside_the_phases_and_never_projected() -> None:
    """The dense float64 P-Net's detection time sits in ``per_video.reference`` with its
    ratio to the screened ``detect`` phase; the projection reads only the stage's phases."""
    from tools.bench.phases import DENSE_PHASE, dense_reference

    clock = _clock()
    clock.cpu[("original", DENSE_PHASE)] = [10.0, 12.5]
    per_video = summarise(clock)
    assert DENSE_PHASE not in per_video["original"]
    per_video["reference"] = dense_reference(clock, [True, False])
    ref = per_video["reference"]
    assert ref["videos"] == 2 and ref["dense_cpu_s_mean"] == 11.25 and ref["screened_cpu_s_mean"] == 4.5
    assert ref["dense_over_screened"] == 2.5 and ref["detections_identical"] == "1/2"
    report = build_report(per_video, {"original": 32.0, "fake": 32.0}, {"root": "x"}, {"cpus": 2}, {})
    assert report["measured_inputs"]["original"] == {"decode": 1.1, "detect": 4.5, "crop_png": 0.3}


def test_same_detections_compares_the_stored_bytes() -> None:
    import numpy as np

    from dfmask.faces.detect import FrameFaces
    from tools.bench.phases import same_detections

    def faces(x0: float) -> FrameFaces:
        return FrameFaces(
            np.array([[x0, 2, 30, 40]], np.float32), np.array([0.99], np.float32), np.zeros((1, 5, 2), np.float32)
        )

    assert same_detections([faces(1.0), FrameFaces.empty()], [faces(1.0), FrameFaces.empty()])
    assert not same_detections([faces(1.0)], [faces(np.nextafter(np.float32(1.0), np.float32(2.0)))])
    assert not same_detections([faces(1.0)], [faces(1.0), faces(1.0)])


def test_committed_report_reference_found_the_same_faces() -> None:
    path = REPO / "reports/bench_phases.json"
    if not path.exists():
        pytest.skip("reports/bench_phases.json not measured yet (make bench-phases)")
    ref = json.loads(path.read_text())["per_video"].get("reference")
    if ref is None:
        pytest.skip("measured without the dense reference (float32 or a GPU)")
    done, total = (int(n) for n in ref["detections_identical"].split("/"))
    assert total == ref["videos"] >= 1 and done == total
