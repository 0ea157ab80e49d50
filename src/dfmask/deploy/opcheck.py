"""Check that an exported ONNX graph uses only ops the VCK5000 DPU runs.

The DPU (DPUCVDX8H, PG403) runs convolutions, transposed convolutions, ReLU /
LeakyReLU, max / average pooling, element-wise add, concat and nearest
upsampling; BatchNormalization is folded into the preceding convolution by the
quantizer. Anything else (sigmoid, softmax, Gemm, bilinear Resize, ...) would fall
back to the host CPU and split the xmodel into several subgraphs, so export fails
early, naming the offending op type and node.

Decision on BatchNormalization: `dfmask.deploy.export` folds every Conv/ConvTranspose
→ BatchNormalization pair into the convolution's weights before this check runs, so a
BatchNormalization node left in the graph is one that could NOT be folded (no
convolution in front of it). The DPU has no standalone BN engine, so it is rejected.

Shape-only ops (Flatten, Reshape, Squeeze, Identity) are allowed: they only reshape
the classification head's N×1×1×1 output to N×1 and compile to nothing on the DPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from dfmask.errors import DfmaskError

#: ONNX op types the DPU runs (after BN folding).
DPU_OPS: frozenset[str] = frozenset(
    {
        "Conv",
        "ConvTranspose",
        "Relu",
        "LeakyRelu",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "Concat",
        "Add",
        "Resize",  # only mode="nearest", checked below
    }
)

#: Shape-only ops that compile to no DPU instruction.
SHAPE_OPS: frozenset[str] = frozenset({"Flatten", "Reshape", "Squeeze", "Identity", "Constant"})

ALLOWED_OPS: frozenset[str] = DPU_OPS | SHAPE_OPS


@dataclass(frozen=True)
class OpViolation:
    """One node the DPU cannot run."""

    op_type: str
    node_name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.op_type} (node '{self.node_name}'): {self.reason}"


def _attr(node: onnx.NodeProto, name: str, default: object) -> object:
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def find_violations(model: onnx.ModelProto) -> list[OpViolation]:
    """Every node of ``model`` (main graph) that is not a DPU op, in graph order."""
    violations: list[OpViolation] = []
    for index, node in enumerate(model.graph.node):
        name = node.name or f"#{index}"
        if node.domain not in ("", "ai.onnx"):
            violations.append(OpViolation(node.op_type, name, f"custom domain '{node.domain}'"))
        elif node.op_type not in ALLOWED_OPS:
            violations.append(OpViolation(node.op_type, name, "not a DPU op"))
        elif node.op_type == "Resize":
            mode = _attr(node, "mode", b"nearest")
            mode_str = mode.decode() if isinstance(mode, bytes) else str(mode)
            if mode_str != "nearest":
                violations.append(OpViolation(node.op_type, name, f"mode '{mode_str}', DPU supports only nearest"))
        elif node.op_type == "Conv" and int(str(_attr(node, "group", 1))) != 1:
            violations.append(OpViolation(node.op_type, name, "grouped/depthwise conv (only DWC DPU builds run it)"))
    return violations


def check_dpu_ops(model: onnx.ModelProto, source: str = "model") -> None:
    """Raise `DfmaskError` naming every node of ``model`` the DPU cannot run."""
    violations = find_violations(model)
    if violations:
        listed = "; ".join(str(v) for v in violations[:10])
        more = f" (+{len(violations) - 10} more)" if len(violations) > 10 else ""
        raise DfmaskError(
            f"{source}: {len(violations)} op(s) the VCK5000 DPU cannot run: {listed}{more}. "
            "Replace them in the model with DPU ops (see dfmask.deploy.opcheck.DPU_OPS); "
            "apply sigmoid/softmax to the logits outside the model."
        )


def op_histogram(model: onnx.ModelProto) -> dict[str, int]:
    """Count of each op type in the main graph, sorted by op type (for reports)."""
    counts: dict[str, int] = {}
    for node in model.graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
