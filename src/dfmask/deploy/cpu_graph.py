"""Exact fp32 graph rewrites that make the ORT CPU int8 model faster (never used for the DPU).

`fold_restore_head` rewrites the tail of a ``stem_stride: 2`` U-YNet,

    ConvTranspose(k=2, s=2) -> Relu -> Conv 1x1 (K outputs, usually the 1-channel seg head)

which runs at full resolution, into the same function computed at half resolution,

    Conv 1x1 (Cin -> 4C) -> Relu -> Conv 1x1 (4C -> 4K, block-diagonal) -> DepthToSpace(2, DCR).

Why: a k=2, s=2 transposed conv writes each input pixel's ``C x 2 x 2`` block independently,
so it equals a 1x1 conv to ``4C`` channels (one group of C per output phase ``(i, j)``)
followed by a pixel shuffle; Relu is elementwise, and the seg head, a 1x1 conv, applies
to each phase separately (block-diagonal weights; dense, because ORT's grouped int8 conv
with one output per group measured 3x slower than the dense one). Only the K-channel
head output is shuffled (``DepthToSpace`` is slow in ONNX Runtime for wide tensors).
ONNX Runtime's CPU provider has no int8 ConvTranspose, so in the int8 model the restore
block ran in fp32 between a Dequantize and a Quantize at full resolution, and the
1-output-channel head ran as a full-resolution QLinearConv; after the fold both become
half-resolution QLinearConvs (docs/deploy.md has the measurements).

The rewrite is exact in fp32 (same sums; tests check ≤ 1e-5 against the original). It
adds ``DepthToSpace``, which is not a DPU op, so it is applied only to the model that
ONNX Runtime quantizes for the CPU, never to ``uynet.onnx`` or the Quark/nndct models.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _is_k2s2_transpose(node: onnx.NodeProto) -> bool:
    a = _attrs(node)
    return (
        node.op_type == "ConvTranspose"
        and list(a.get("kernel_shape", [])) == [2, 2]
        and list(a.get("strides", [])) == [2, 2]
        and not any(a.get("pads", [0]))
        and not any(a.get("output_padding", [0]))
        and all(d == 1 for d in a.get("dilations", [1]))
        and a.get("group", 1) == 1
        and "output_shape" not in a
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )


def _is_plain_1x1(node: onnx.NodeProto) -> bool:
    a = _attrs(node)
    return (
        node.op_type == "Conv"
        and list(a.get("kernel_shape", [])) == [1, 1]
        and a.get("group", 1) == 1
        and not any(a.get("pads", [0]))
        and all(s == 1 for s in a.get("strides", [1]))
        and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
    )


def _array(inits: dict[str, onnx.TensorProto], node: onnx.NodeProto, index: int, default: np.ndarray) -> np.ndarray:
    if len(node.input) > index and node.input[index]:
        return numpy_helper.to_array(inits[node.input[index]])
    return default


def _find_chain(graph: onnx.GraphProto) -> tuple[int, int, int] | None:
    """Indices (transposed conv, relu, head) of the first foldable chain, or None."""
    inits = {init.name for init in graph.initializer}
    nodes = list(graph.node)
    consumers: dict[str, list[int]] = {}
    for index, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(index)
    outputs = {o.name for o in graph.output}

    def only_consumer(tensor: str) -> int | None:
        users = consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in outputs else None

    for u, up in enumerate(nodes):
        if not _is_k2s2_transpose(up) or not all(i in inits for i in up.input[1:] if i):
            continue
        r = only_consumer(up.output[0])
        if r is None or nodes[r].op_type != "Relu":
            continue
        h = only_consumer(nodes[r].output[0])
        if h is None or not _is_plain_1x1(nodes[h]) or not all(i in inits for i in nodes[h].input[1:] if i):
            continue
        return u, r, h
    return None


def fold_restore_head(model: onnx.ModelProto) -> int:
    """Fold every ConvTranspose(k2,s2) -> Relu -> Conv1x1 chain in ``model`` (in place).

    Returns the number of chains folded (0 leaves the model unchanged, e.g. for a
    ``stem_stride: 1`` U-YNet, which has no restore block). A chain is folded only when
    its intermediate tensors have exactly one consumer and are not graph outputs, and
    all its weights are initializers.
    """
    graph = model.graph
    folded = 0
    while (chain := _find_chain(graph)) is not None:
        nodes = [copy.deepcopy(n) for n in graph.node]
        inits = {init.name: init for init in graph.initializer}
        up, head = nodes[chain[0]], nodes[chain[2]]
        weight = numpy_helper.to_array(inits[up.input[1]])  # Cin x C x 2 x 2
        cin, width = weight.shape[:2]
        bias = _array(inits, up, 2, np.zeros(width, weight.dtype))
        head_w = numpy_helper.to_array(inits[head.input[1]])[:, :, 0, 0]  # K x C
        heads = head_w.shape[0]
        head_b = _array(inits, head, 2, np.zeros(heads, head_w.dtype))
        # DCR order: channel (i*2 + j)*C + c holds output phase (i, j) of channel c
        w1 = weight.transpose(2, 3, 1, 0).reshape(4 * width, cin, 1, 1)
        w2 = np.zeros((4 * heads, 4 * width, 1, 1), head_w.dtype)
        for phase in range(4):
            w2[phase * heads : (phase + 1) * heads, phase * width : (phase + 1) * width, 0, 0] = head_w
        prefix = up.name or up.output[0]
        names = [f"{prefix}/fold_{k}" for k in ("w1", "b1", "w2", "b2")]
        for name, arr in zip(names, (w1, np.tile(bias, 4), w2, np.tile(head_b, 4)), strict=True):
            graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        mid, act, packed = f"{prefix}/fold_conv", f"{prefix}/fold_relu", f"{prefix}/fold_head"
        new_nodes = [
            helper.make_node("Conv", [up.input[0], names[0], names[1]], [mid], name=mid, kernel_shape=[1, 1]),
            helper.make_node("Relu", [mid], [act], name=act),
            helper.make_node("Conv", [act, names[2], names[3]], [packed], name=packed, kernel_shape=[1, 1]),
            helper.make_node(
                "DepthToSpace", [packed], [head.output[0]], name=f"{prefix}/fold_d2s", blocksize=2, mode="DCR"
            ),
        ]
        # the head is the last of the three in topological order: put the fold there
        kept = [n for i, n in enumerate(nodes) if i not in chain[:2]]
        at = kept.index(head)
        kept[at : at + 1] = new_nodes
        del graph.node[:]
        graph.node.extend(kept)
        folded += 1
    if folded:
        used = {name for node in graph.node for name in node.input}
        kept_inits = [init for init in graph.initializer if init.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept_inits)
        onnx.checker.check_model(model)
    return folded
