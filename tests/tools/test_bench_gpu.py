"""The GPU benchmark's comparisons, its refusal without a GPU, and its train section run
with the CPU standing in (the GPU itself is measured only where one is lent)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dfmask.errors import DfmaskError
from dfmask.faces.detect import FrameFaces
from dfmask.params import TrainParams
from tools.bench import gpu

REPO = Path(__file__).resolve().parents[2]


def _faces(*boxes: list[float]) -> FrameFaces:
    arr = np.asarray(boxes, np.float32).reshape(-1, 4)
    return FrameFaces(arr, np.ones(len(arr), np.float32), np.zeros((len(arr), 5, 2), np.float32))


def test_box_agreement_pairs_boxes_by_position_and_skips_frames_whose_counts_differ() -> None:
    ref = [_faces([10, 10, 50, 50], [100, 10, 140, 50]), _faces([0, 0, 5, 5]), _faces()]
    # same faces in the other order, one coordinate 0.25 px off; a missed face; an empty frame
    other = [_faces([100, 10, 140, 50.25], [10, 10, 50, 50]), _faces(), _faces()]
    got = gpu.box_agreement(ref, other)
    assert got["frames"] == 3
    assert got["frames_same_face_count"] == 2
    assert got["max_abs_box_diff_px"] == pytest.approx(0.25)
    assert got["mean_abs_box_diff_px"] == pytest.approx(0.25 / 8)
    with pytest.raises(DfmaskError, match="3 frames against 2"):
        gpu.box_agreement(ref, other[:2])


def _rows(shift: float = 0.0, png: bytes = b"a") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": ["v", "v"],
            "frame_idx": [0, 5],
            "track_id": [0, 0],
            "box": [np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 3.0, 4.0 + shift])],
            "crop_box": [np.array([0, 0, 8, 8]), np.array([0, 0, 8, 8 + int(shift)])],
            "crop": [b"a", png],
        }
    )


def test_crop_agreement_reports_box_shift_windows_and_png_equality() -> None:
    same = gpu.crop_agreement(_rows(), _rows())
    assert same == {
        "rows": [2, 2],
        "same_rows": True,
        "max_abs_box_diff_px": 0.0,
        "crop_windows_equal": 1.0,
        "crop_png_equal": 1.0,
    }
    moved = gpu.crop_agreement(_rows(), _rows(shift=1.0, png=b"b"))
    assert moved["max_abs_box_diff_px"] == 1.0
    assert moved["crop_windows_equal"] == 0.5
    assert moved["crop_png_equal"] == 0.5
    fewer = gpu.crop_agreement(_rows(), _rows().iloc[:1])
    assert fewer == {"rows": [2, 1], "same_rows": False}


def test_without_a_gpu_it_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--out", "unused.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["bench gpu: error: torch sees no CUDA GPU; this benchmark measures the GPU paths"]


@pytest.mark.slow
def test_train_section_runs_every_variant_with_the_cpu_standing_in(tmp_path: Path) -> None:
    """The train section end to end (fit, DDP on one device, checkpoints compared), the
    CPU in the GPU's place: on the CPU, the two 32-true runs must give the same weights."""
    params = TrainParams(base_width=4, depth=2, input_size=32, batch_size=8)
    got = gpu.train_section(params, "cpu", crop_size=32, videos=3, frames=2, epochs=1)
    assert set(got["runs"]) == {"gpu_auto", "gpu_32_1", "gpu_32_2", "gpu_ddp_1_device", "cpu"}
    assert got["runs"]["gpu_ddp_1_device"]["strategy"] == "ddp"
    assert all(r["epochs"] == 1 and r["train_crops"] > 0 for r in got["runs"].values())
    # every run on all cores, whatever an earlier section left torch's thread count at
    assert {r["threads"] for r in got["runs"].values()} == {os.cpu_count()}
    assert got["gpu_32_true_runs_same_weights"] is True
    assert got["gpu_32_true_against_cpu_max_abs_weight_diff"] == 0.0
    json.dumps(got)  # the report is JSON as it stands


def test_a_failed_section_is_recorded_without_machine_paths(tmp_path: Path) -> None:
    """The report keeps the error and where it happened, files named relative to the
    repository or their package (a committed report holds no machine path); the next
    section still runs."""
    import numpy as np

    def broken() -> dict:
        np.zeros(2).reshape(3)  # raises inside numpy
        return {}

    report: dict = {}
    out = tmp_path / "report.json"
    gpu._section(report, "broken", out, broken)
    gpu._section(report, "fine", out, lambda: {"ok": True})
    written = json.loads(out.read_text())
    assert written["broken"]["error"].startswith("ValueError: cannot reshape")
    frames = written["broken"]["traceback"]
    assert frames[0].startswith("tools/bench/gpu.py:") and any(
        f.startswith("tests/tools/test_bench_gpu.py:") for f in frames
    )
    assert not any(f.startswith("/") or str(REPO) in f for f in frames)
    assert written["fine"]["ok"] is True


def test_gpu_info_is_the_faces_bench_machine_record_plus_the_gpu() -> None:
    from dfmask.params import FacesParams
    from tools.bench.faces import machine_info

    info = gpu.gpu_info(FacesParams(device="cpu"))
    assert set(machine_info(FacesParams(device="cpu"))) <= set(info)
    assert info["versions"]["lightning"] and "dvclive" in info["versions"]
    assert "torch_cuda" in info["gpu"] and "nvidia_smi" in info["gpu"]
