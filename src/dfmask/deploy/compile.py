"""The compile stage: an ORT-optimised CPU model, or a VCK5000 xmodel (``deploy.target``).

``cpu``: ONNX Runtime applies its graph optimisations (constant folding, Conv+Relu
and QDQ fusions, ...) once and saves the result, so a deployment loads a graph that
needs no optimisation pass at start-up. ``ORT_ENABLE_EXTENDED`` is the highest level
whose output is portable across x86 CPUs (``ORT_ENABLE_ALL`` adds layout transforms
tied to the machine's instruction set). Both the fp32 model and the CPU int8 model
are optimised, and each optimised model is checked against its source on seeded
random input.

``vck5000``: ``vai_c_xir`` compiles the nndct xmodel for the card's DPU
(`dfmask.deploy.vck5000.compile_vck5000`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from dfmask.deploy.export import INPUT_NAME, ONNX_NAME
from dfmask.deploy.quantize import ORT_NAME
from dfmask.deploy.runners import OrtRunner
from dfmask.deploy.vck5000 import compile_vck5000
from dfmask.errors import DfmaskError
from dfmask.params import DeployParams
from dfmask.tables import file_sha256, write_json

CPU_NAMES = {"fp32": "uynet.fp32.ort.onnx", "int8": "uynet.int8.ort.onnx"}


def optimise_for_cpu(source: Path, target: Path, threads: int = 1) -> Path:
    """Save ``source`` after ORT's ``ORT_ENABLE_EXTENDED`` graph optimisations as ``target``."""
    if not source.exists():
        raise DfmaskError(f"{source}: model not found; run the export and quantize stages first")
    target.parent.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    options.intra_op_num_threads = threads
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
    return target


def max_output_diff(a: Path, b: Path, input_size: int, seed: int = 0) -> float:
    """Max |Δ| over both outputs of two models on 2 seeded random inputs (logits)."""
    images = np.random.default_rng(seed).random((2, 3, input_size, input_size), dtype=np.float32)
    out_a = OrtRunner(a, 1, "a").run(images)
    out_b = OrtRunner(b, 1, "b").run(images)
    return float(max(np.max(np.abs(x - y)) for x, y in zip(out_a, out_b, strict=True)))


def _input_size(model_path: Path) -> int:
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    shape = next(i.shape for i in session.get_inputs() if i.name == INPUT_NAME)
    return int(shape[-1])


def compile_cpu(onnx_dir: str | Path, int8_dir: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """ORT-optimised fp32 and int8 models in ``out_dir``, each checked against its source."""
    out_dir = Path(out_dir)
    sources = {"fp32": Path(onnx_dir) / ONNX_NAME, "int8": Path(int8_dir) / ORT_NAME}
    report: dict[str, Any] = {
        "target": "cpu",
        "level": "ORT_ENABLE_EXTENDED",
        "onnxruntime": ort.__version__,
        "models": {},
    }
    for key, source in sources.items():
        target = optimise_for_cpu(source, out_dir / CPU_NAMES[key])
        diff = max_output_diff(source, target, _input_size(source))
        # Optimised fp32 graphs only re-associate float ops; int8 fusions may move a
        # rounding step, which can change an output by one quantization step.
        bound = 1e-3 if key == "fp32" else 0.5
        if diff > bound:
            raise DfmaskError(f"{target}: optimised model differs from {source} by {diff:.3g} > {bound}")
        report["models"][key] = {
            "source": str(source),
            "path": str(target),
            "max_abs_diff": diff,
            "bytes": target.stat().st_size,
            "sha256": file_sha256(target),
        }
    return report


@dataclass(frozen=True)
class CompilePaths:
    """Inputs and output folder of the compile stage."""

    onnx_dir: Path  # the export stage's folder (target cpu)
    int8_dir: Path  # the quantize stage's folder (target cpu)
    vai_quant_dir: Path  # the quantize_vai stage's folder (target vck5000)
    out_dir: Path  # models/compiled (with compile.json)


@dataclass(frozen=True)
class CompileReport:
    """The ``compile.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    out_dir: Path

    def summary(self) -> str:
        if self.doc["target"] == "cpu":
            return f"target cpu: {len(self.doc['models'])} ORT-optimised models in {self.out_dir}"
        arch = self.doc["arch"]
        return f"target vck5000: {self.doc['xmodel']} for {arch['target']} (arch.json sha256 {arch['sha256'][:12]})"


def run(params: DeployParams, paths: CompilePaths) -> CompileReport:
    """Dispatch on ``deploy.target`` (ORT-optimised CPU models, or the VCK5000 xmodel); write compile.json."""
    if params.target == "cpu":
        doc = compile_cpu(paths.onnx_dir, paths.int8_dir, paths.out_dir)
    else:
        doc = compile_vck5000(params, paths.vai_quant_dir, paths.out_dir)
    write_json(paths.out_dir / "compile.json", doc)
    return CompileReport(doc, paths.out_dir)
