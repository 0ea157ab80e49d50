"""fold_restore_head: exact in fp32, folds only the restore block + head, and its int8 model keeps accuracy."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from deploy_toy import SIZE, TINY_CONFIG, tiny_uynet, toy_batch, train_tiny
from torch import nn

from dfmask.deploy.calib import LabelledCrops
from dfmask.deploy.cpu_graph import fold_restore_head
from dfmask.deploy.export import INPUT_NAME, OUTPUT_NAMES, export_model, ort_session, to_onnx
from dfmask.deploy.quant_report import quantize_models


def _random_model(**overrides: object) -> nn.Module:
    """A tiny U-YNet with random weights and non-trivial BN running stats (eval mode)."""
    torch.manual_seed(3)
    model = tiny_uynet(**overrides)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None  # cumulative running stats over the batches below
    model.train()
    with torch.no_grad():
        for seed in range(4):
            model(torch.from_numpy(toy_batch(8, seed)[0]))
    return model.eval()


def _run(proto: onnx.ModelProto, images: np.ndarray) -> list[np.ndarray]:
    return ort_session(proto).run(list(OUTPUT_NAMES), {INPUT_NAME: images})


def _ops(proto: onnx.ModelProto) -> Counter[str]:
    return Counter(n.op_type for n in proto.graph.node)


def test_fold_is_exact_and_moves_the_restore_block_to_half_resolution() -> None:
    proto = to_onnx(_random_model(stem_stride=2), SIZE, 17)
    folded = onnx.ModelProto()
    folded.CopyFrom(proto)
    assert fold_restore_head(folded) == 1
    before, after = _ops(proto), _ops(folded)
    assert after["ConvTranspose"] == before["ConvTranspose"] - 1  # only the restore block, not the up blocks
    assert after["DepthToSpace"] == 1 and after["Conv"] == before["Conv"] + 1
    producer = {o: n for n in folded.graph.node for o in n.output}
    assert producer["seg_logits"].op_type == "DepthToSpace"  # the head now runs at half resolution
    images = toy_batch(6, 21)[0]
    for want, got in zip(_run(proto, images), _run(folded, images), strict=True):
        assert got.shape == want.shape
        assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, float(np.max(np.abs(want))))
    assert fold_restore_head(folded) == 0  # idempotent: nothing left to fold


def test_fold_is_exact_for_a_multi_channel_head() -> None:
    """K > 1 head outputs: the phase/channel order of the packed weights and DepthToSpace must agree."""

    class Tail(nn.Module):  # (seg, cls) like the model contract; the seg "head" has 2 channels
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
            self.up = nn.Sequential(nn.ConvTranspose2d(4, 3, 2, stride=2), nn.ReLU(), nn.Conv2d(3, 2, 1))
            self.cls = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 1, 1))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.body(x)
            return self.up(y), self.cls(y).reshape(-1)

    torch.manual_seed(5)
    proto = to_onnx(Tail(), 8, 17)
    folded = onnx.ModelProto()
    folded.CopyFrom(proto)
    assert fold_restore_head(folded) == 1
    images = np.random.default_rng(0).normal(size=(3, 3, 8, 8)).astype(np.float32)
    names = [o.name for o in proto.graph.output]
    want = ort_session(proto).run(names, {INPUT_NAME: images})
    got = ort_session(folded).run(names, {INPUT_NAME: images})
    for w, g in zip(want, got, strict=True):
        assert g.shape == w.shape and np.max(np.abs(g - w)) <= 1e-5


@pytest.mark.parametrize("overrides", [{}, {"stem_stride": 2, "cls_input": "joint"}])
def test_fold_leaves_other_graphs_unchanged(overrides: dict) -> None:
    """No restore block (stem 1), or the restore output also feeds the cls head (joint): no fold."""
    proto = to_onnx(_random_model(**overrides), SIZE, 17)
    copy = onnx.ModelProto()
    copy.CopyFrom(proto)
    assert fold_restore_head(copy) == 0
    assert copy.SerializeToString() == proto.SerializeToString()


@pytest.mark.slow
def test_folded_int8_model_keeps_accuracy(tmp_path: Path) -> None:
    """stem_stride 2 toy model: the folded ORT int8 model meets the targets like the unfolded one."""
    model = train_tiny(stem_stride=2)
    export_model(model, {**TINY_CONFIG, "stem_stride": 2}, tmp_path / "onnx", SIZE)

    def crops(n: int, seed: int) -> LabelledCrops:
        images, masks, is_fake = toy_batch(n, seed)
        return LabelledCrops(images, masks, is_fake, np.ones(n, bool))

    calib, test = crops(64, 11), crops(128, 12)
    reports = {  # fold on + first conv fp32 (the defaults) vs both off
        fold: quantize_models(
            tmp_path / "onnx" / "uynet.onnx",
            tmp_path / f"int8_{fold}",
            calib,
            test,
            fold_restore=fold,
            fp32_first_conv=fold,
        )["int8"]["ort_int8"]
        for fold in (True, False)
    }
    for fold, entry in reports.items():
        reads_image = [n for n in onnx.load(entry["path"]).graph.node if INPUT_NAME in n.input]
        want = ["Conv"] if fold else ["QuantizeLinear"]  # fp32 first conv, or the image quantized first
        assert [n.op_type for n in reads_image] == want and len(entry["fp32_nodes"]) == int(fold)
    assert reports[True]["restore_folds"] == 1 and reports[False]["restore_folds"] == 0
    assert (
        _ops(onnx.load(reports[True]["path"]))["ConvTranspose"]
        == _ops(onnx.load(reports[False]["path"]))["ConvTranspose"] - 1
    )
    for entry in reports.values():
        assert entry["meets_targets"] and entry["seg_cosine"] > 0.98 and entry["cls_cosine"] > 0.98, entry
    assert reports[True]["auc"] > 0.9 and reports[True]["dice"] > 0.5  # a model that learned the toy task
    assert abs(reports[True]["dice"] - reports[False]["dice"]) < 0.02
