"""One interface over every backend the benchmark compares: torch, ONNX Runtime, VART.

A runner takes float32 images N×3×S×S (the training normalisation) and returns
``(seg_logits N×1×S×S, cls_logit N)`` as float32 numpy arrays, so accuracy and
latency code never cares which backend ran.

Fairness: every ONNX Runtime runner is built by `ort_options` with the same session
options (graph optimisation level, intra-op threads, one inter-op thread, sequential
execution) so fp32 and int8 models are compared like for like.

The VCK5000 (VART) runs in the Vitis AI 3.0 env's Python 3.8: the benchmark measures
it through a separate entry point, ``vai/bench_vart.py`` (see `dfmask.deploy.benchmark`),
and `dfmask.deploy.dpu_runner.VartRunner` scores with it through another,
``vai/serve_vart.py``, a process started once in that env (`dfmask predict --backend
vart`); it lives apart so that no stage depends on the scorer's code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from dfmask.deploy.export import INPUT_NAME, OUTPUT_NAMES, model_outputs
from dfmask.errors import DfmaskError


class Runner(Protocol):
    """A backend that maps images to ``(seg_logits, cls_logit)``."""

    name: str

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


class TorchRunner:
    """Eager torch fp32 on CPU with ``threads`` intra-op threads."""

    def __init__(self, model: nn.Module, threads: int, name: str = "torch fp32") -> None:
        self.model = model.eval()
        self.threads = threads
        self.name = name

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        torch.set_num_threads(self.threads)
        with torch.inference_mode():
            seg, cls = model_outputs(self.model, torch.from_numpy(np.ascontiguousarray(images, np.float32)))
        return seg.numpy(), cls.numpy().reshape(-1)


def ort_options(threads: int) -> ort.SessionOptions:
    """The one set of session options every ORT model in a comparison uses."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def ort_providers(use_cuda: bool = True) -> list[str]:
    """CUDA EP first when this onnxruntime build has it (and ``use_cuda``), then CPU."""
    available = ort.get_available_providers()
    chosen = ["CUDAExecutionProvider"] if use_cuda and "CUDAExecutionProvider" in available else []
    return [*chosen, "CPUExecutionProvider"]


class OrtRunner:
    """An ONNX model under ONNX Runtime with `ort_options`."""

    def __init__(self, path: str | Path, threads: int, name: str, providers: list[str] | None = None) -> None:
        if not Path(path).exists():
            raise DfmaskError(f"{path}: ONNX model not found (run the export/quantize stages first)")
        self.path = Path(path)
        self.name = name
        self.session = ort.InferenceSession(
            str(path), ort_options(threads), providers=providers or ["CPUExecutionProvider"]
        )
        self.provider = self.session.get_providers()[0]

    def run(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seg, cls = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(images, np.float32)})
        return seg, cls.reshape(-1)

