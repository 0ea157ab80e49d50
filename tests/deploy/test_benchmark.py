"""Benchmark: GOPs count, the full CPU benchmark on a tiny trained model, the report files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from deploy_toy import SIZE, TINY_CONFIG, toy_batch
from torch import nn

from dfmask.deploy.bench_report import write_bench_reports
from dfmask.deploy.benchmark import interleaved_times, run_benchmark
from dfmask.deploy.calib import LabelledCrops
from dfmask.deploy.compile import compile_cpu
from dfmask.deploy.estimate import model_cost
from dfmask.deploy.export import export_model, to_onnx
from dfmask.deploy.quant_report import quantize_models
from dfmask.params import BenchmarkParams, DeployParams


def test_gops_match_a_hand_count() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(8, 4, 2, stride=2))

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = model

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.body(x)
            return y[:, :1], y.mean(dim=(1, 2, 3))

    cost = model_cost(to_onnx(Two().eval(), 16, 17))
    conv_macs = 16 * 16 * 8 * 3 * 3 * 3  # output pixels × Cout × Cin·k·k
    deconv_macs = 16 * 16 * 8 * 4 * 2 * 2  # input elems (8×16×16) × Cout·k·k
    assert cost["gops"] == pytest.approx(2 * (conv_macs + deconv_macs) / 1e9)
    assert cost["params"] == sum(p.numel() for p in model.parameters())


@pytest.mark.slow
def test_cpu_pipeline_benchmark_on_tiny_model(tiny_model: nn.Module, tmp_path: Path) -> None:
    export_model(tiny_model, TINY_CONFIG, tmp_path / "onnx", SIZE)
    crops = [LabelledCrops(*toy_batch(n, s), np.ones(n, bool)) for n, s in ((32, 1), (64, 2))]
    quantize_models(tmp_path / "onnx" / "uynet.onnx", tmp_path / "int8", crops[0], crops[1])
    compiled = compile_cpu(tmp_path / "onnx", tmp_path / "int8", tmp_path / "compiled")
    assert compiled["models"]["fp32"]["max_abs_diff"] < 1e-3
    params = BenchmarkParams(threads=1, batch=8, warmup=1, latency_runs=5, throughput_runs=2, use_cuda=False)
    doc = run_benchmark(
        DeployParams(), params, tmp_path / "onnx", tmp_path / "int8", tmp_path / "compiled", crops[1], tmp_path / "work"
    )
    rows = doc["backends"]
    assert {"torch fp32", "ORT fp32", "ORT int8", "ORT int8 Quark XINT8"} <= set(rows)
    # torch and ORT fp32 run the same weights: identical accuracy.
    assert rows["torch fp32"]["accuracy"]["auc"] == pytest.approx(rows["ORT fp32"]["accuracy"]["auc"], abs=1e-6)
    for row in rows.values():
        assert row["latency_ms_b1"]["p99"] >= row["latency_ms_b1"]["p50"] > 0
        assert row["throughput_ips"] > 0 and row["gops"] > 0
    assert doc["vck5000_estimate"]["fps_low"] <= doc["vck5000_estimate"]["fps_high"]
    write_bench_reports(doc, tmp_path / "bench")
    assert json.loads((tmp_path / "bench" / "bench.json").read_text())["backends"].keys() == rows.keys()
    md = (tmp_path / "bench" / "bench.md").read_text()
    assert "ESTIMATE" in md and "ORT int8" in md
    assert (tmp_path / "bench" / "bench.png").stat().st_size > 1000


class _Recorder:
    """A fake runner that logs its calls and sleeps ``seconds`` per call."""

    def __init__(self, name: str, seconds: float, log: list[str]) -> None:
        self.name, self.seconds, self.log = name, seconds, log

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import time

        self.log.append(self.name)
        time.sleep(self.seconds)
        return images, images[:, 0, 0, 0]


def test_interleaved_times_takes_turns_and_times_each_call() -> None:
    log: list[str] = []
    runners = [_Recorder("fast", 0.001, log), _Recorder("slow", 0.004, log), _Recorder("mid", 0.002, log)]
    times = interleaved_times(runners, np.zeros((1, 3, 2, 2), np.float32), warmup=1, runs=6)  # type: ignore[arg-type]
    timed = log[3:]  # after one warmup call each
    # every round of 3 calls runs each backend once: no backend is timed in a block
    assert [sorted(timed[i : i + 3]) for i in range(0, 18, 3)] == [["fast", "mid", "slow"]] * 6
    assert {k: len(v) for k, v in times.items()} == {"fast": 6, "slow": 6, "mid": 6}
    assert np.median(times["fast"]) < np.median(times["mid"]) < np.median(times["slow"])
    assert min(times["slow"]) >= 0.004


def _bench_doc(estimate: bool) -> dict[str, Any]:
    backends = {
        name: {"throughput_ips": ips, "latency_ms_b1": {"p50": ms, "p99": ms * 1.5}}
        for name, ips, ms in (("torch fp32", 80.0, 14.3), ("ORT fp32", 160.0, 6.4), ("ORT int8", 320.0, 3.5))
    }
    doc: dict[str, Any] = {
        "backends": backends,
        "machine": {"cpu": "Test CPU 9000", "cores": 2, "threads": 1},
        "params": {"input_size": 128, "batch": 16},
        "model": {"gops": 0.3},
    }
    if estimate:
        doc["vck5000_estimate"] = {"fps_low": 9000.0, "fps_mid": 12000.0, "fps_high": 16000.0}
    return doc


@pytest.mark.parametrize("estimate", [True, False])
def test_bench_figure_panels_share_labelled_rows(estimate: bool) -> None:
    """Each latency bar sits on the row of its own backend: both panels carry the same
    labelled rows (the estimate row included), and the title names the machine."""
    import matplotlib.pyplot as plt

    from dfmask.deploy.bench_report import figure

    fig = figure(_bench_doc(estimate))
    ax1, ax2 = fig.axes
    left = [t.get_text() for t in ax1.get_yticklabels()]
    right = [t.get_text() for t in ax2.get_yticklabels()]
    expected = ["torch fp32", "ORT fp32", "ORT int8"] + (["VCK5000 (ESTIMATE)"] if estimate else [])
    assert sorted(left) == sorted(expected) and left == right
    # bar y positions: the latency bar of "ORT int8" is on the "ORT int8" tick of both panels
    ticks = dict(zip(left, ax1.get_yticks(), strict=True))
    lat = {round(p.get_y() + p.get_height() / 2, 6): p.get_width() for p in ax2.patches}
    assert lat[round(ticks["ORT int8"], 6)] == pytest.approx(3.5)
    assert len(ax2.patches) == 3  # no latency bar for the estimate
    title = fig._suptitle.get_text() if fig._suptitle else ""
    assert "Test CPU 9000" in title and "128×128" in title
    plt.close(fig)
