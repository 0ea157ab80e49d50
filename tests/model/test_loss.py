"""The U-YNet joint loss: the real-crop terms (train.real_area_weight, train.cls_real_weight)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dfmask.errors import DfmaskError
from dfmask.model.lightning import joint_loss
from dfmask.params import TrainParams, load_section


def _batch(is_fake: list[float], side: int = 8) -> dict[str, torch.Tensor]:
    n = len(is_fake)
    mask = torch.zeros(n, 1, side, side)
    for k, f in enumerate(is_fake):
        if f:
            mask[k, :, 2:6, 2:6] = 1.0  # a fake's manipulated square; reals stay empty
    return {
        "is_fake": torch.tensor(is_fake),
        "mask": mask,
        "seg_w": torch.ones(n),
        "cls_w": torch.ones(n),
    }


def _grads(
    batch: dict[str, torch.Tensor], seg: torch.Tensor, cls: torch.Tensor, **weights: float
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    seg = seg.clone().requires_grad_(True)
    cls = cls.clone().requires_grad_(True)
    parts = joint_loss(seg, cls, batch, 1.0, 1.0, **weights)
    parts["loss"].backward()
    assert seg.grad is not None and cls.grad is not None
    return parts, seg.grad, cls.grad


def test_real_area_is_the_mean_predicted_area_on_real_crops() -> None:
    batch = _batch([0.0, 1.0, 0.0])
    seg = torch.full((3, 1, 8, 8), -20.0)
    seg[0, :, :4] = 20.0  # half of real crop 0 predicted manipulated
    seg[1] = 20.0  # the fake's prediction does not count
    parts = joint_loss(seg, torch.zeros(3), batch, 1.0, 1.0, real_area_weight=2.0)
    assert float(parts["real_area"]) == pytest.approx(0.25, abs=1e-6)  # (0.5 + 0) / 2 real crops
    base = joint_loss(seg, torch.zeros(3), batch, 1.0, 1.0)
    assert float(parts["loss"] - base["loss"]) == pytest.approx(0.5, abs=1e-5)
    # a batch without reals: the term is 0, not NaN
    only_fakes = joint_loss(seg[1:2], torch.zeros(1), _batch([1.0]), 1.0, 1.0, real_area_weight=2.0)
    assert float(only_fakes["real_area"]) == 0.0 and torch.isfinite(only_fakes["loss"])


def test_real_area_weight_pushes_seg_logits_down_on_reals_only() -> None:
    batch = _batch([0.0, 1.0])
    seg = torch.zeros(2, 1, 8, 8)
    cls = torch.zeros(2)
    _, g0, c0 = _grads(batch, seg, cls)
    _, g1, c1 = _grads(batch, seg, cls, real_area_weight=4.0)
    # gradient of 4 · mean(sigmoid) over the one real crop at logit 0: 4 · 0.25 / 64 per pixel
    assert torch.allclose(g1[0] - g0[0], torch.full_like(g0[0], 4.0 * 0.25 / 64), atol=1e-7)
    assert torch.equal(g1[1], g0[1]) and torch.equal(c1, c0)  # fake seg and the cls head untouched


def test_cls_real_weight_scales_a_real_crops_share_of_the_cls_gradient() -> None:
    batch = _batch([0.0, 1.0])
    seg = torch.zeros(2, 1, 8, 8)
    cls = torch.tensor([1.0, -1.0])  # the real leans FAKE, the fake leans REAL
    parts1, _, c1 = _grads(batch, seg, cls)
    parts3, _, c3 = _grads(batch, seg, cls, cls_real_weight=3.0)
    p = torch.sigmoid(cls)
    # weighted mean BCE: d/dlogit_k = w_k (p_k - y_k) / sum(w)
    assert torch.allclose(c1, torch.tensor([p[0] - 0.0, p[1] - 1.0]) / 2.0, atol=1e-6)
    assert torch.allclose(c3, torch.tensor([3.0 * (p[0] - 0.0), p[1] - 1.0]) / 4.0, atol=1e-6)
    # the real's pull towards REAL grows against the fake's pull towards FAKE
    assert float(abs(c3[0] / c3[1])) == pytest.approx(3.0 * float(abs(c1[0] / c1[1])), rel=1e-5)
    # both crops have the same BCE here, so the weighted mean equals the plain one
    assert float(parts3["cls_loss"].detach()) == pytest.approx(float(parts1["cls_loss"].detach()), rel=1e-6)
    # crops without a cls target stay out whatever the weight
    batch["cls_w"] = torch.tensor([0.0, 1.0])
    _, _, c = _grads(batch, seg, cls, cls_real_weight=3.0)
    assert float(c[0]) == 0.0 and float(c[1]) == pytest.approx(float(p[1] - 1.0), abs=1e-6)


def test_defaults_leave_the_loss_as_before() -> None:
    batch = _batch([0.0, 1.0, 0.0, 1.0])
    torch.manual_seed(0)
    seg, cls = torch.randn(4, 1, 8, 8), torch.randn(4)
    default = TrainParams()
    parts = joint_loss(seg, cls, batch, 1.0, 1.0, default.real_area_weight, default.cls_real_weight)
    assert float(parts["loss"]) == pytest.approx(
        float(parts["cls_loss"] + parts["seg_bce"] + parts["seg_dice"] + default.real_area_weight * parts["real_area"])
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("real_area_weight", -0.5, "train.real_area_weight: must be >= 0"),
        ("cls_real_weight", 0.0, "train.cls_real_weight: must be > 0"),
        ("cls_real_weight", "high", "train.cls_real_weight: expected float"),
    ],
)
def test_bad_real_weights_name_the_key(tmp_path: Path, key: str, value: object, message: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {key: value}}))
    with pytest.raises(DfmaskError, match=message):
        load_section(TrainParams, "train", path)
