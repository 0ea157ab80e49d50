"""U-YNet: shapes, DPU-friendly op set, config round-trip, checkpoint loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from model_synthetic import write_hostile_checkpoint
from torch import nn

from dfmask.errors import DfmaskError
from dfmask.model.uynet import UYNetConfig, build_model, count_parameters, load_checkpoint

#: Module types the DPU can run (BN is folded into the conv; GAP is an avg pool).
DPU_MODULES = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.BatchNorm2d,
    nn.ReLU,
    nn.LeakyReLU,
    nn.MaxPool2d,
    nn.AdaptiveAvgPool2d,
    nn.Upsample,
)


@pytest.mark.parametrize("stem_stride", [1, 2])
@pytest.mark.parametrize("upsample", ["transpose", "nearest"])
@pytest.mark.parametrize("depth", [2, 3])
def test_output_shapes_are_logits_at_input_size(upsample: str, depth: int, stem_stride: int) -> None:
    model = build_model(
        {"base_width": 4, "depth": depth, "upsample": upsample, "input_size": 32, "stem_stride": stem_stride}
    )
    seg, cls = model(torch.rand(2, 3, 32, 32))
    assert seg.shape == (2, 1, 32, 32)
    assert cls.shape == (2,)
    # logits, not probabilities: the outputs are exactly the heads' conv outputs
    captured: dict[str, torch.Tensor] = {}
    model.seg_head.register_forward_hook(lambda m, i, o: captured.__setitem__("seg", o))
    model.cls_head.register_forward_hook(lambda m, i, o: captured.__setitem__("cls", o))
    model.eval()
    with torch.no_grad():
        seg, cls = model(torch.rand(4, 3, 32, 32))
    assert torch.equal(seg, captured["seg"])
    assert torch.equal(cls, captured["cls"][:, 0, 0, 0])


def test_only_dpu_friendly_leaf_modules() -> None:
    model = build_model(
        UYNetConfig(base_width=4, activation="leaky_relu", upsample="nearest", input_size=32, stem_stride=2)
    )
    leaves = [m for m in model.modules() if not list(m.children())]
    bad = [type(m).__name__ for m in leaves if not isinstance(m, DPU_MODULES)]
    assert not bad
    assert not any(isinstance(m, nn.Sigmoid | nn.Linear) for m in model.modules())


def test_cls_head_is_gap_then_1x1_conv_on_bottleneck() -> None:
    cfg = UYNetConfig(base_width=4, depth=3, input_size=32)
    model = build_model(cfg)
    assert isinstance(model.cls_pool, nn.AdaptiveAvgPool2d)
    assert model.cls_head.kernel_size == (1, 1)
    assert model.cls_head.in_channels == cfg.widths()[-1] == 32


def test_joint_cls_head_reads_the_pooled_bottleneck_and_decoder_map() -> None:
    torch.manual_seed(0)
    cfg = UYNetConfig(base_width=4, depth=2, input_size=32, stem_stride=2, cls_input="joint")
    model = build_model(cfg).eval()
    assert model.cls_head.in_channels == cfg.widths()[-1] + cfg.widths()[0]
    assert cfg.to_dict()["cls_input"] == "joint" and "cls_input" not in UYNetConfig().to_dict()
    x = torch.rand(2, 3, 32, 32)
    seen: dict[str, torch.Tensor] = {}
    model.down[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("bottleneck", o))
    model.restore.register_forward_hook(lambda m, i, o: seen.__setitem__("decoder", o))
    with torch.no_grad():
        _, cls = model(x)
        pooled = torch.cat([seen["bottleneck"].mean((2, 3)), seen["decoder"].mean((2, 3))], 1)
        expected = pooled @ model.cls_head.weight.flatten(1).T + model.cls_head.bias
    assert torch.allclose(cls, expected[:, 0], atol=1e-6)
    with pytest.raises(DfmaskError, match="cls_input"):
        UYNetConfig(cls_input="seg")  # type: ignore[arg-type]


def test_default_model_is_small() -> None:
    n = count_parameters(build_model(UYNetConfig()))
    assert 300_000 <= n <= 1_000_000


def test_config_round_trip_and_validation() -> None:
    cfg = UYNetConfig(base_width=8, depth=2, input_size=64)
    assert UYNetConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(DfmaskError, match="multiple of"):
        UYNetConfig(depth=3, input_size=100)
    with pytest.raises(DfmaskError, match="multiple of"):
        UYNetConfig(depth=3, input_size=72, stem_stride=2)
    with pytest.raises(DfmaskError, match="unknown keys"):
        UYNetConfig.from_dict({"widht": 3})


def test_load_plain_state_dict_with_config(tmp_path: Path) -> None:
    cfg = UYNetConfig(base_width=4, depth=2, input_size=32)
    model = build_model(cfg).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    loaded, loaded_cfg = load_checkpoint(tmp_path / "w.pt", tmp_path / "c.json")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(loaded(x)[1], model(x)[1])
    assert loaded_cfg == cfg


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="run the train stage"):
        load_checkpoint(tmp_path / "nope.ckpt")


def test_checkpoint_that_would_run_code_is_refused(tmp_path: Path) -> None:
    """A pickle's __reduce__ can name os.system: loading must refuse it, not run it."""
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    write_hostile_checkpoint(evil, marker)
    with pytest.raises(DfmaskError) as caught:
        load_checkpoint(evil)
    message = str(caught.value)
    assert not marker.exists(), "unpickling the checkpoint ran its command"
    assert "\n" not in message and str(evil) in message and "refused to import" in message


def _lightning_like(tmp_path: Path) -> Path:
    cfg = UYNetConfig(base_width=4, depth=2, input_size=32)
    state = {f"model.{k}": v for k, v in build_model(cfg).state_dict().items()}
    path = tmp_path / "good.ckpt"
    torch.save({"state_dict": state, "hyper_parameters": {"model_config": cfg.to_dict()}, "epoch": 1}, path)
    return path


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b'{"state_dict": {}}\n', id="json"),
        pytest.param(lambda b: bytes(range(256)) * 4, id="random"),
    ],
)
def test_bad_checkpoint_file_is_a_one_line_error(tmp_path: Path, damage: Any) -> None:
    good = _lightning_like(tmp_path)
    assert load_checkpoint(good)[1] == UYNetConfig(base_width=4, depth=2, input_size=32)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(DfmaskError) as caught:
        load_checkpoint(bad)
    assert "\n" not in str(caught.value) and str(caught.value).startswith(f"{bad}: ")


def test_checkpoint_with_foreign_content_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "odd.ckpt"
    torch.save({"state_dict": {"model.x": 3}, "hyper_parameters": {"model_config": {"base_width": 4}}}, path)
    with pytest.raises(DfmaskError, match="not a dict of named tensors"):
        load_checkpoint(path)
    torch.save({"state_dict": {}, "hyper_parameters": {"model_config": {"depth": "x"}}}, path)
    with pytest.raises(DfmaskError, match="bad model config"):
        load_checkpoint(path)
