"""The benchmark stage: latency, throughput and accuracy per backend, plus model cost.

Backends (those present): torch fp32; ORT fp32; ORT int8 (the ORT static model whose
parity is in reports/quant.json); ORT Quark XINT8 (DPU numerics, for accuracy: QDQ
with power-of-two scales is not what makes a CPU fast); the same ORT models on the
CUDA EP when onnxruntime has it; VART on a VCK5000 (``deploy.target: vck5000``,
through the Python 3.8 entry point ``vai/bench_vart.py``). Without a card the VCK5000
row is an ESTIMATE from GOPs and the model-zoo anchors (`dfmask.deploy.estimate`).

Method (docs/deploy.md): ``threads`` intra-op threads for torch and every ORT session
(same `ort_options`); ``warmup`` untimed runs; p50/p99 of ``latency_runs`` batch-1
runs (ms, wall clock); throughput = ``batch`` / the median wall time of
``throughput_runs`` batch-``batch`` runs (images/s). Accuracy: AUC and Dice on the same seeded test subset for
every backend. The machine is shared: numbers carry that noise, so the ratio ORT
int8 / ORT fp32 comes from one run in which the backends take turns call by call
(`interleaved_times`), so load changes hit them alike.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch

from dfmask.deploy.accuracy import Predictions, head_metrics, predict
from dfmask.deploy.calib import LabelledCrops, read_draw, save_calibration
from dfmask.deploy.estimate import estimate_vck5000_fps, model_cost
from dfmask.deploy.export import CONFIG_NAME, ONNX_NAME, STATE_DICT_NAME
from dfmask.deploy.quantize import ORT_NAME, QUARK_NAME
from dfmask.deploy.runners import OrtRunner, Runner, TorchRunner, ort_providers
from dfmask.deploy.vitis import require_environment, run_vendor, vendor_command
from dfmask.params import BenchmarkParams, DeployParams

BENCH_VART = Path("src/dfmask/deploy/vai/bench_vart.py")


def interleaved_times(
    runners: list[Runner], images: np.ndarray, warmup: int, runs: int, seed: int = 0
) -> dict[str, list[float]]:
    """Wall-clock seconds of ``runs`` calls per runner on ``images``, round robin.

    Each round runs every runner once, in a seeded shuffled order, so a load spike on a
    shared machine hits every backend alike instead of whichever one was being timed
    in a long block; the int8/fp32 ratio is then stable from run to run.
    """
    for runner in runners:
        for _ in range(warmup):
            runner.run(images)
    rng = np.random.default_rng(seed)
    times: dict[str, list[float]] = {runner.name: [] for runner in runners}
    for _ in range(runs):
        for index in rng.permutation(len(runners)):
            runner = runners[int(index)]
            start = time.perf_counter()
            runner.run(images)
            times[runner.name].append(time.perf_counter() - start)
    return times


def latency_stats(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean latency in ms of batch-1 call times (s)."""
    ms = np.asarray(seconds) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "mean": float(np.mean(ms))}


def accuracy(preds: Predictions, test: LabelledCrops) -> dict[str, float | None]:
    """AUC / log loss over all test crops; Dice over crops with a usable mask."""
    metrics = head_metrics(preds, test.masks, test.is_fake)
    ok = test.seg_ok
    metrics["dice"] = head_metrics(
        Predictions(preds.seg_logits[ok], preds.cls_logit[ok]), test.masks[ok], test.is_fake[ok]
    )["dice"]
    return metrics


def cpu_runners(onnx_dir: Path, int8_dir: Path, params: BenchmarkParams) -> list[tuple[Runner, dict[str, Any]]]:
    """torch fp32 and the ORT models (CPU, plus CUDA EP when present), with their metadata."""
    from dfmask.model.uynet import load_checkpoint

    model, _ = load_checkpoint(onnx_dir / STATE_DICT_NAME, onnx_dir / CONFIG_NAME)
    runners: list[tuple[Runner, dict[str, Any]]] = [
        (
            TorchRunner(model, params.threads),
            {"precision": "fp32", "device": "cpu", "path": str(onnx_dir / STATE_DICT_NAME)},
        )
    ]
    models = {"fp32": onnx_dir / ONNX_NAME, "int8": int8_dir / ORT_NAME, "int8 Quark XINT8": int8_dir / QUARK_NAME}
    providers = [["CPUExecutionProvider"]]
    if params.use_cuda and ort_providers()[0] == "CUDAExecutionProvider":
        providers.append(ort_providers())
    for chosen in providers:
        device = "cuda" if chosen[0] == "CUDAExecutionProvider" else "cpu"
        for label, path in models.items():
            name = f"ORT {label}" + (" (CUDA EP)" if device == "cuda" else "")
            runners.append(
                (
                    OrtRunner(path, params.threads, name, chosen),
                    {"precision": label.split()[0], "device": device, "path": str(path)},
                )
            )
    return runners


def measure(
    runners: list[tuple[Runner, dict[str, Any]]], test: LabelledCrops, params: BenchmarkParams, size: int
) -> dict[str, dict[str, Any]]:
    """Latency, throughput and accuracy per runner (`interleaved_times`: one call per runner per round)."""
    rng = np.random.default_rng(0)
    one = rng.random((1, 3, size, size), dtype=np.float32)
    batch = np.resize(test.images, (params.batch, 3, size, size)).astype(np.float32)
    rows: dict[str, dict[str, Any]] = {r.name: dict(meta) for r, meta in runners}
    only = [runner for runner, _ in runners]
    for name, seconds in interleaved_times(only, one, params.warmup, params.latency_runs).items():
        rows[name]["latency_ms_b1"] = latency_stats(seconds)
    warm = max(1, params.warmup // 2)
    for name, seconds in interleaved_times(only, batch, warm, params.throughput_runs, seed=1).items():
        # the median call: one load spike on the shared machine must not decide the ratio
        rows[name]["throughput_ips"] = len(batch) / float(np.median(seconds))
    for runner, _ in runners:
        rows[runner.name]["accuracy"] = accuracy(predict(runner, test.images, params.batch), test)
    return rows


def card_fingerprint() -> dict[str, Any]:
    """``xbutil examine`` output (the card, shell and XRT) or why it is unavailable."""
    try:
        done = subprocess.run(["xbutil", "examine"], capture_output=True, text=True, check=False, timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired) as err:
        return {"available": False, "reason": f"xbutil examine: {err}"}
    return {"available": done.returncode == 0, "xbutil_examine": (done.stdout + done.stderr).strip().splitlines()[:80]}


def vart_row(
    deploy: DeployParams,
    params: BenchmarkParams,
    compiled_dir: Path,
    test: LabelledCrops,
    work_dir: Path,
    cost: dict[str, float],
) -> dict[str, Any]:
    """Run ``vai/bench_vart.py`` in the Vitis AI env on the card and fold its results in."""
    require_environment(deploy)
    work_dir.mkdir(parents=True, exist_ok=True)
    save_calibration(work_dir / "eval.npz", test.images)
    argv = [
        "python",
        str(BENCH_VART),
        "--xmodel",
        str(compiled_dir / "uynet.xmodel"),
        "--eval",
        str(work_dir / "eval.npz"),
        "--logits",
        str(work_dir / "logits.npz"),
        "--out",
        str(work_dir / "vart.json"),
        "--threads",
        str(params.vart_threads),
        "--seconds",
        str(params.vart_seconds),
        "--warmup",
        str(params.warmup),
        "--runs",
        str(params.latency_runs),
    ]
    run_vendor(vendor_command(deploy, argv), work_dir / "bench_vart.log", "VART benchmark (bench_vart.py)")
    vart = json.loads((work_dir / "vart.json").read_text())
    with np.load(work_dir / "logits.npz") as logits:
        preds = Predictions(logits["seg_logits"], logits["cls_logit"])
    return {
        "precision": "int8",
        "device": "vck5000",
        "path": str(compiled_dir / "uynet.xmodel"),
        "latency_ms_b1": vart["latency_ms"],
        "throughput_ips": vart["throughput_fps"],
        "runner_batch": vart["runner_batch"],
        "dpu_fingerprint": vart["dpu_fingerprint"],
        "vart_threads": params.vart_threads,
        "accuracy": accuracy(preds, test),
        "card": card_fingerprint(),
        "measured": True,
        **cost,
    }


def run_benchmark(
    deploy: DeployParams,
    params: BenchmarkParams,
    onnx_dir: str | Path,
    int8_dir: str | Path,
    compiled_dir: str | Path,
    test: LabelledCrops,
    work_dir: str | Path,
) -> dict[str, Any]:
    """The bench.json document (see module docstring)."""
    onnx_dir, int8_dir, compiled_dir = Path(onnx_dir), Path(int8_dir), Path(compiled_dir)
    size = int(test.images.shape[-1])
    cost = model_cost(onnx.load(str(onnx_dir / ONNX_NAME)))
    torch_threads = torch.get_num_threads()
    try:
        rows = measure(cpu_runners(onnx_dir, int8_dir, params), test, params, size)
    finally:
        torch.set_num_threads(torch_threads)
    for row in rows.values():
        row.update(cost)
        row["measured"] = True
    if deploy.target == "vck5000":
        rows["VART int8 (VCK5000)"] = vart_row(deploy, params, compiled_dir, test, Path(work_dir), cost)
    fp32, int8 = rows["ORT fp32"]["throughput_ips"], rows["ORT int8"]["throughput_ips"]
    return {
        "machine": {
            "cpu": _cpu_name(),
            "cores": _cores(),
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "threads": params.threads,
            "providers": ort.get_available_providers(),
        },
        "params": {
            "batch": params.batch,
            "warmup": params.warmup,
            "latency_runs": params.latency_runs,
            "throughput_runs": params.throughput_runs,
            "test_crops": len(test),
            "input_size": size,
        },
        "model": cost,
        "backends": rows,
        "ort_int8_speedup": int8 / fp32,
        "vck5000_estimate": None
        if deploy.target == "vck5000"
        else estimate_vck5000_fps(cost["gops"], deploy.arch_json),
    }


def _cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux), else the platform's best guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@dataclass(frozen=True)
class BenchmarkPaths:
    """Inputs and outputs of the benchmark stage."""

    onnx_dir: Path  # the export stage's folder
    int8_dir: Path  # the quantize stage's folder
    compiled_dir: Path  # the compile stage's folder (the VCK5000 xmodel)
    test_crops: Path  # the deploy_crops stage's bench_eval table (test)
    out_dir: Path  # reports/bench: bench.json, bench.md, bench.png
    work_dir: Path  # scratch for the VART run (outside DVC's outs)


@dataclass(frozen=True)
class BenchReport:
    """The ``bench.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    out_dir: Path

    def summary(self) -> str:
        rows = self.doc["backends"]
        est = self.doc.get("vck5000_estimate")
        tail = f"; VCK5000 ESTIMATE {est['fps_mid']:.0f} fps" if est else ""
        return (
            f"ORT fp32 {rows['ORT fp32']['throughput_ips']:.1f} img/s, ORT int8 "
            f"{rows['ORT int8']['throughput_ips']:.1f} img/s ({self.doc['ort_int8_speedup']:.2f}x){tail} "
            f"(see {self.out_dir / 'bench.md'})"
        )


def run(deploy: DeployParams, params: BenchmarkParams, paths: BenchmarkPaths) -> BenchReport:
    """The benchmark stage: the bench_eval crops, `run_benchmark`, then bench.json / bench.md / bench.png."""
    from dfmask.deploy.bench_report import write_bench_reports

    size = int(json.loads((paths.onnx_dir / CONFIG_NAME).read_text())["input_size"])
    test = read_draw(paths.test_crops, size)
    doc = run_benchmark(deploy, params, paths.onnx_dir, paths.int8_dir, paths.compiled_dir, test, paths.work_dir)
    write_bench_reports(doc, paths.out_dir)
    return BenchReport(doc, paths.out_dir)
