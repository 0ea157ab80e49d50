"""The predict benchmark's report on a tiny input (the real benchmark is `make bench-predict`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inference_fixtures import Models, Videos

from tools.bench.predict import PHASES, bench, main, validate_report


def test_report_format_on_a_tiny_model(models: Models, videos: Videos, tmp_path: Path) -> None:
    doc = bench(
        videos.face, models.ckpt, ["torch"], frames=4, repeats=2, server_requests=2, concurrency=(1, 2), cold=False
    )
    validate_report(json.loads(json.dumps(doc)))
    torch_ = doc["backends"]["torch"]
    assert set(torch_["phases_s"]) == set(PHASES) and torch_["crops"] > 0
    assert doc["server"]["backend"] == "torch" and set(doc["server"]["concurrency"]) == {"1", "2"}
    assert doc["video"] == {"file": "face.mp4", "width": 320, "height": 180, "duration_s": 1.2, "fps": 10.0}
    assert doc["goal"]["met"] is None  # no int8 model: the goal is not judged
    # the fastest backend once more with the detector as the faces stage runs it
    assert doc["faces_exact"] is False and set(doc["backends_exact_faces"]) == {"torch"}
    assert doc["backends_exact_faces"]["torch"]["crops"] == torch_["crops"]
    broken = json.loads(json.dumps(doc))
    del broken["backends"]["torch"]["phases_s"]["model"]
    with pytest.raises(AssertionError):
        validate_report(broken)


def test_main_fails_in_one_line_without_models(
    videos: Videos, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--video", str(videos.face), "--models", str(tmp_path), "--out", str(tmp_path / "r.json")])
    assert code == 2 and "no model for backends" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_fast_vs_exact_report(models: Models, videos: Videos, tmp_path: Path) -> None:
    from tools.bench.predict_exact import compare, main

    doc = compare([videos.face, videos.face], model=models.ckpt, backend="torch")
    assert doc["videos"] == 2 and doc["scored_both"] == 2 and doc["status_differs"] == 0
    assert 0 <= doc["mean_abs_dp"] <= doc["max_abs_dp"] < 0.01 and doc["label_flips"] == 0
    assert doc["seconds"]["fast"] > 0 and doc["seconds"]["exact"] > 0
    out = tmp_path / "r.json"
    assert main(["--videos", str(tmp_path), "--out", str(out)]) == 2 and not out.exists()  # no video: one line
