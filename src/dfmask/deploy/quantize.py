"""Post-training INT8 quantization of the fp32 ONNX model, two ways.

* **DPU numerics** (`quantize_quark_xint8`): AMD Quark ``XINT8``: int8 activations and
  weights, symmetric, per-tensor, power-of-two scales (``2^-k``), MinMSE calibration,
  written as standard QDQ ONNX. This mimics what the VCK5000 DPU computes (it shifts
  instead of multiplying), so its accuracy is the best estimate of the card's accuracy
  that runs without the card. Quark also inserts a ``Mul`` after GlobalAveragePool that
  models the DPU's fixed-point average.
* **CPU speed** (`quantize_ort_static`): ONNX Runtime's own static quantizer, u8
  activations (asymmetric, MinMax) and s8 per-channel weights. ``reduce_range`` (7-bit
  weights) avoids u8×s8 accumulator saturation on x86 CPUs without VNNI (AVX2 only,
  like this machine); the format (QDQ or QOperator) is a param, chosen by measurement
  (see docs/deploy.md). With ``fold_restore`` the fp32 graph is first rewritten by
  `dfmask.deploy.cpu_graph.fold_restore_head` (exact in fp32): the full-resolution
  restore block + seg head of a ``stem_stride: 2`` model, which ORT cannot run in int8,
  become half-resolution convs it can.

Both calibrate on the same crops (`dfmask.deploy.calib`). `power_of_two_scales` reads
every QuantizeLinear/DequantizeLinear scale back from a model so tests and the report
can prove the DPU model really uses powers of two.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from dfmask.deploy.cpu_graph import fold_restore_head
from dfmask.deploy.export import INPUT_NAME
from dfmask.errors import DfmaskError
from dfmask.progress import plain_stderr

QUARK_NAME = "uynet.quark_xint8.onnx"
ORT_NAME = "uynet.ort_int8.onnx"


@dataclass(frozen=True)
class OrtInt8:
    """The ORT static int8 model, how many restore+head chains were folded, what stayed fp32."""

    path: Path
    restore_folds: int  # fold_restore_head chains rewritten before quantizing (0: none)
    fp32_nodes: tuple[str, ...]  # nodes left in fp32 on purpose (the first conv)


class ArrayReader(CalibrationDataReader):
    """Feeds N×3×S×S calibration images to a quantizer in batches of ``batch``."""

    def __init__(self, images: np.ndarray, batch: int = 8) -> None:
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch = batch
        self._iter: Iterator[dict[str, np.ndarray]] = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self.images), self.batch):
            yield {INPUT_NAME: self.images[start : start + self.batch]}

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self._batches()


def _check_calib(images: np.ndarray) -> None:
    if images.ndim != 4 or images.shape[1] != 3 or len(images) == 0:
        raise DfmaskError(f"quantize: calibration images must be N×3×S×S with N>0, got shape {images.shape}")


def quantize_quark_xint8(fp32_path: str | Path, out_path: str | Path, calib: np.ndarray, batch: int = 8) -> Path:
    """Quark XINT8 (power-of-two symmetric per-tensor int8) QDQ model of ``fp32_path``.

    The first Quark import JIT-compiles its custom ops with g++ (about 10 s). Quark's
    console tables go to the ``quark`` logger and stdout; they are captured and kept
    out of the stage's one-line summary.
    """
    _check_calib(images=calib)
    # Quark's screen loggers print [QUARK-INFO] lines in colour from import on: warnings
    # and errors only (QUARK_LOG_LEVEL, read at import; a value set by the user wins),
    # and off a terminal without colours or calibration bars (plain_stderr).
    os.environ.setdefault("QUARK_LOG_LEVEL", "warning")
    with plain_stderr():
        from quark.common.utils.log import ScreenLogger
        from quark.onnx import ModelQuantizer
        from quark.onnx.quantization.config.custom_config import XINT8_QCONFIG

    if os.environ["QUARK_LOG_LEVEL"] == "warning":
        ScreenLogger.set_shared_level(logging.WARNING)  # also when Quark was imported earlier
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Quark normalises the config object in place (activation → input_tensors) and then
    # rejects it on a second use, so every call gets its own copy.
    config = copy.deepcopy(XINT8_QCONFIG)
    config.extra_options["PrintSummary"] = False
    source, target = str(Path(fp32_path).resolve()), str(out_path.resolve())  # before chdir
    # Quark appends a summary to ./quantized_info.csv; run it in a scratch working dir so
    # it never writes into the repo or a DVC output.
    with (
        tempfile.TemporaryDirectory(prefix="quark-") as scratch,
        contextlib.chdir(scratch),
        contextlib.redirect_stdout(io.StringIO()),
        plain_stderr(),
    ):
        ModelQuantizer(config).quantize_model(source, target, ArrayReader(calib, batch))
    return out_path


def quantize_ort_static(
    fp32_path: str | Path,
    out_path: str | Path,
    calib: np.ndarray,
    quant_format: Literal["qdq", "qoperator"] = "qdq",
    reduce_range: bool = True,
    batch: int = 8,
    fold_restore: bool = True,
    fp32_first_conv: bool = True,
) -> OrtInt8:
    """ORT static int8 model of ``fp32_path``: u8 activations, s8 per-channel weights.

    ``fold_restore`` applies `fold_restore_head` to the fp32 graph before quantizing
    (a no-op for models without a restore block; the count is returned).
    ``fp32_first_conv`` keeps the conv(s) reading the image input in fp32: with 3 input
    channels ORT's int8 conv gains nothing (a 27-long im2col row) and the image would
    have to be quantized at full resolution first; ORT's fp32 conv takes 3-channel
    NCHW input directly (measured 1-5% faster overall, docs/deploy.md).
    """
    _check_calib(images=calib)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    prepped = out_path.with_suffix(".prep.onnx")
    folded_path = out_path.with_suffix(".fold.onnx")
    source = Path(fp32_path)
    folds = 0
    try:
        if fold_restore:
            model = onnx.load(str(fp32_path))
            folds = fold_restore_head(model)
            if folds:
                onnx.save(model, str(folded_path))
                source = folded_path
        quant_pre_process(str(source), str(prepped), skip_symbolic_shape=True)
        first_convs = [
            node.name
            for node in onnx.load(str(prepped)).graph.node
            if fp32_first_conv and node.op_type == "Conv" and node.input[0] == INPUT_NAME
        ]
        with plain_stderr():
            quantize_static(
                str(prepped),
                str(out_path),
                ArrayReader(calib, batch),
                quant_format=QuantFormat.QDQ if quant_format == "qdq" else QuantFormat.QOperator,
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=first_convs,
            )
    finally:
        prepped.unlink(missing_ok=True)
        folded_path.unlink(missing_ok=True)
    return OrtInt8(out_path, folds, tuple(first_convs))


@dataclass(frozen=True)
class QuantScale:
    """The scale of one Quantize/DequantizeLinear node."""

    node: str
    tensor: str
    scales: tuple[float, ...]  # one per channel for per-channel nodes
    zero_points: tuple[int, ...]
    dtype: str  # numpy dtype of the quantized tensor (int8 / uint8)

    @property
    def power_of_two(self) -> bool:
        """True when every scale is exactly 2^k for an integer k."""
        return all(s > 0 and math.log2(s) == round(math.log2(s)) for s in self.scales)


def quant_scales(model: onnx.ModelProto) -> list[QuantScale]:
    """Every QuantizeLinear/DequantizeLinear scale in ``model``, in graph order."""
    inits = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    for node in model.graph.node:  # scales stored as Constant nodes
        if node.op_type == "Constant" and node.attribute:
            inits.setdefault(node.output[0], numpy_helper.to_array(node.attribute[0].t))
    found = []
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        if node.input[1] not in inits:
            raise DfmaskError(f"quantize: scale of node '{node.name}' is not a constant; cannot audit it")
        scale = np.atleast_1d(inits[node.input[1]]).astype(np.float64)
        zero = np.atleast_1d(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] else np.zeros(1, np.uint8)
        found.append(
            QuantScale(
                node=node.name,
                tensor=node.input[0],
                scales=tuple(float(s) for s in scale),
                zero_points=tuple(int(z) for z in zero),
                dtype=str(zero.dtype),
            )
        )
    return found


def dpu_numerics_audit(model: onnx.ModelProto) -> dict[str, int]:
    """Counts that prove DPU numerics: pow-2, symmetric (zero point 0), int8, per-tensor."""
    scales = quant_scales(model)
    return {
        "qdq_nodes": len(scales),
        "power_of_two": sum(s.power_of_two for s in scales),
        "symmetric": sum(all(z == 0 for z in s.zero_points) for s in scales),
        "int8": sum(s.dtype == "int8" for s in scales),
        "per_tensor": sum(len(s.scales) == 1 for s in scales),
    }
