"""Model cost (GOPs, parameters) and an ESTIMATED VCK5000 throughput when no card is present.

GOPs follow the Vitis AI model-zoo convention: 2 operations per multiply-accumulate
of every Conv / ConvTranspose, for ONE image (batch 1), in units of 10^9. Pooling,
add and concat are ignored (under 1 % for a UNet).

The estimate scales the model-zoo's measured end-to-end fps of two UNets on the
VCK5000 (Vitis AI 2.5, docs/deploy.md "Benchmark method") by GOPs: each anchor gives an
effective rate (fps × GOPs, in GOP/s) for a DPU build, and our fps ≈ rate / our GOPs.
The two anchors (2D-UNet 128×128, 5.3 GOPs; UNet 512×512, 23.3 GOPs) bracket the
estimate. It is a compute-bound estimate: a model far smaller than the anchors is
further limited by per-frame overheads (PCIe transfers, host pre/post-processing) that
GOPs scaling ignores, so treat it as an upper bound there. It is always labelled as
an estimate and never mixed with measurements.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

#: Model-zoo end-to-end fps on the VCK5000 per DPU build (Vitis AI 2.5 model zoo).
ANCHORS: dict[str, dict[str, Any]] = {
    "2D-UNet 128x128": {"gops": 5.3, "fps": {"4PE": 915, "6PE-DWC": 1353, "8PE": 1505}},
    "UNet 512x512": {"gops": 23.3, "fps": {"4PE": 129, "6PE-DWC": 201, "8PE": 248}},
}

#: arch.json folder name → anchor column.
ARCH_TO_BUILD = {"VCK50004PE": "4PE", "VCK50006PEDWC": "6PE-DWC", "VCK50008PE": "8PE"}


def _shapes(model: onnx.ModelProto) -> dict[str, list[int]]:
    """Static shapes of every tensor with the batch dimension fixed to 1."""
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for tensor in (*fixed.graph.input, *fixed.graph.output):
        dims = tensor.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = 1
    for vi in list(fixed.graph.value_info):
        fixed.graph.value_info.remove(vi)
    inferred = onnx.shape_inference.infer_shapes(fixed)
    return {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
    }


def model_cost(model: onnx.ModelProto) -> dict[str, float]:
    """``{"gops": ..., "params": ...}`` of a float ONNX model at batch 1."""
    shapes = _shapes(model)
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    macs = 0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose") or node.input[1] not in weights:
            continue
        w = weights[node.input[1]]
        if node.op_type == "Conv":  # W: Cout × Cin/g × kh × kw; each output element costs Cin/g·kh·kw
            out = shapes.get(node.output[0])
            if out:
                macs += int(np.prod(out)) * int(np.prod(w.shape[1:]))
        else:  # ConvTranspose W: Cin × Cout/g × kh × kw; each input element scatters Cout/g·kh·kw
            inp = shapes.get(node.input[0])
            if inp:
                macs += int(np.prod(inp)) * int(np.prod(w.shape[1:]))
    params = sum(int(w.size) for w in weights.values() if w.dtype.kind == "f")
    return {"gops": 2.0 * macs / 1e9, "params": float(params)}


def dpu_build(arch_json: str) -> str | None:
    """The anchor column for an arch.json path (None for builds without an anchor)."""
    for folder, build in ARCH_TO_BUILD.items():
        if f"/{folder}/" in arch_json:
            return build
    return None


def estimate_vck5000_fps(gops: float, arch_json: str) -> dict[str, Any]:
    """ESTIMATED fps of a ``gops`` model on the DPU build of ``arch_json`` (see module doc)."""
    build = dpu_build(arch_json) or "4PE"
    per_anchor = {name: anchor["fps"][build] * anchor["gops"] / gops for name, anchor in ANCHORS.items()}
    low, high = min(per_anchor.values()), max(per_anchor.values())
    return {
        "label": "ESTIMATE (no VCK5000 present): model-zoo UNet fps scaled by GOPs",
        "dpu_build": build,
        "build_from_arch_json": dpu_build(arch_json) is not None,
        "model_gops": gops,
        "fps_by_anchor": per_anchor,
        "fps_low": low,
        "fps_high": high,
        "fps_mid": math.sqrt(low * high),
        "anchors": ANCHORS,
        "caveat": "compute-bound scaling; per-frame PCIe/host overheads are not modelled "
        "(an upper bound for models much smaller than the anchors)",
    }
