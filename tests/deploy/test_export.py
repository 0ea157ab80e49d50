"""Export: DPU op check, BN folding, torch-vs-ORT parity, artefacts and determinism."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from deploy_toy import SIZE, TINY_CONFIG, tiny_uynet, toy_batch
from onnx import TensorProto, helper
from torch import nn

from dfmask.deploy.export import export_model, to_onnx
from dfmask.deploy.opcheck import check_dpu_ops, find_violations
from dfmask.errors import DfmaskError
from dfmask.model.uynet import load_checkpoint


def _graph(*nodes: onnx.NodeProto) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    return helper.make_model(helper.make_graph(list(nodes), "g", [x], [y]))


def test_opcheck_names_offending_op_and_node() -> None:
    model = _graph(
        helper.make_node("Relu", ["x"], ["r"], name="ok_relu"),
        helper.make_node("Sigmoid", ["r"], ["y"], name="head/sigmoid"),
    )
    with pytest.raises(DfmaskError, match=r"Sigmoid \(node 'head/sigmoid'\)"):
        check_dpu_ops(model)


def test_opcheck_rejects_bilinear_resize_and_unfolded_bn() -> None:
    resize = helper.make_node("Resize", ["x", "", "s"], ["y"], name="up", mode="linear")
    bn = helper.make_node("BatchNormalization", ["x", "a", "b", "c", "d"], ["z"], name="bn")
    nearest = helper.make_node("Resize", ["x", "", "s"], ["w"], name="up2", mode="nearest")
    bad = {(v.op_type, v.node_name) for v in find_violations(_graph(resize, bn, nearest))}
    assert bad == {("Resize", "up"), ("BatchNormalization", "bn")}


@pytest.mark.parametrize(
    "overrides",
    [{"upsample": "transpose"}, {"upsample": "nearest"}, {"stem_stride": 2, "cls_input": "joint"}],
)
def test_uynet_exports_to_dpu_ops_only_with_bn_folded(overrides: dict) -> None:
    model = tiny_uynet(**overrides).eval()
    proto = to_onnx(model, SIZE, opset=17)
    ops = {n.op_type for n in proto.graph.node}
    assert not find_violations(proto)
    assert "BatchNormalization" not in ops  # folded into the convs
    assert "Gather" not in ops  # the cls head ends in a shape-only Reshape
    assert proto.opset_import[0].version >= 17
    assert [o.name for o in proto.graph.output] == ["seg_logits", "cls_logit"]


def test_export_parity_artifacts_and_reload(tiny_model: nn.Module, tmp_path) -> None:
    images = toy_batch(6, seed=3)[0]
    result = export_model(tiny_model, TINY_CONFIG, tmp_path, SIZE, parity_images=images)
    assert max(result.max_abs_diff.values()) <= 1e-4
    # The state_dict + config bundle rebuilds the same model (what the lab server loads).
    reloaded, config = load_checkpoint(tmp_path / "uynet.state_dict.pt", tmp_path / "model_config.json")
    assert config.to_dict() == TINY_CONFIG
    with torch.no_grad():
        a, b = tiny_model(torch.from_numpy(images)), reloaded(torch.from_numpy(images))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    report = json.loads((tmp_path / "export.json").read_text())
    assert report["parity_max_abs_diff"] == result.max_abs_diff


def test_export_is_byte_identical_on_rerun(tiny_model: nn.Module, tmp_path) -> None:
    export_model(tiny_model, TINY_CONFIG, tmp_path / "a", SIZE)
    export_model(tiny_model, TINY_CONFIG, tmp_path / "b", SIZE)
    for name in ("uynet.onnx", "uynet.state_dict.pt", "model_config.json", "export.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_export_fails_on_non_dpu_op(tmp_path) -> None:
    class WithSigmoid(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = tiny_uynet()

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            seg, cls = self.inner(x)
            return torch.sigmoid(seg), cls

    with pytest.raises(DfmaskError, match="Sigmoid"):
        export_model(WithSigmoid().eval(), TINY_CONFIG, tmp_path, SIZE)
    assert not (tmp_path / "uynet.onnx").exists()


def test_export_fails_when_parity_bound_is_violated(tiny_model: nn.Module, tmp_path) -> None:
    with pytest.raises(DfmaskError, match="parity_atol"):
        export_model(
            tiny_model,
            TINY_CONFIG,
            tmp_path,
            SIZE,
            atol=0.0,
            parity_images=np.random.default_rng(0).random((4, 3, SIZE, SIZE), dtype=np.float32) * 50,
        )
