"""Self-contained U-YNet for the Vitis AI 3.0 PyTorch env (Python 3.8, torch 1.13).

A copy of `dfmask.model.uynet.UYNet` with the same module names (so the same
``state_dict`` loads with ``strict=True``) and no dfmask imports. One deliberate
difference: ``forward`` returns the classification logit as the N×1×1×1 output of the
1×1 conv instead of its ``reshape(-1)``, so the last DPU op is a conv and no reshape
lands on the host CPU; the values are identical (the parity test compares
``cls.reshape(-1)``). Keep this file in step with dfmask/model/uynet.py:
tests/deploy/test_vai_model.py fails when they diverge.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

CONFIG_KEYS = ("in_channels", "base_width", "depth", "activation", "upsample", "input_size")
#: keys a config may leave out (written only when not the default), with their defaults
OPTIONAL_KEYS = {"stem_stride": 1, "cls_input": "bottleneck"}


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    """The model config JSON (model_config.json) validated: known keys, known choices."""
    unknown = sorted(set(config) - set(CONFIG_KEYS) - set(OPTIONAL_KEYS))
    missing = sorted(set(CONFIG_KEYS) - set(config))
    if unknown or missing:
        raise ValueError(f"model_config.json: unknown keys {unknown}, missing keys {missing}")
    if config["activation"] not in ("relu", "leaky_relu"):
        raise ValueError("model_config.json: activation {!r} not supported".format(config["activation"]))
    if config["upsample"] not in ("transpose", "nearest"):
        raise ValueError("model_config.json: upsample {!r} not supported".format(config["upsample"]))
    config = dict(OPTIONAL_KEYS, **config)
    if config["stem_stride"] not in (1, 2):
        raise ValueError("model_config.json: stem_stride {!r} not supported".format(config["stem_stride"]))
    if config["cls_input"] not in ("bottleneck", "joint"):
        raise ValueError("model_config.json: cls_input {!r} not supported".format(config["cls_input"]))
    return config


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True) if kind == "leaky_relu" else nn.ReLU(inplace=True)


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, act: str, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            _act(act),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            _act(act),
        )


class Up(nn.Module):
    def __init__(self, cin: int, cout: int, mode: str, act: str) -> None:
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)  # type: nn.Module
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 1))
        self.conv = DoubleConv(2 * cout, cout, act)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(deep), skip], dim=1))


class UYNetVai(nn.Module):
    """U-YNet; forward returns ``(seg_logits N×1×H×W, cls_logit N×1×1×1)``."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        config = check_config(config)
        widths = [config["base_width"] * 2**i for i in range(config["depth"] + 1)]
        act = config["activation"]
        self.stem = DoubleConv(config["in_channels"], widths[0], act, stride=config["stem_stride"])
        self.down = nn.ModuleList(
            [nn.Sequential(nn.MaxPool2d(2), DoubleConv(widths[i], widths[i + 1], act)) for i in range(config["depth"])]
        )
        self.up = nn.ModuleList(
            [Up(widths[i + 1], widths[i], config["upsample"], act) for i in reversed(range(config["depth"]))]
        )
        self.restore: nn.Module | None = None
        if config["stem_stride"] == 2:
            self.restore = nn.Sequential(nn.ConvTranspose2d(widths[0], widths[0], 2, stride=2), _act(act))
        self.seg_head = nn.Conv2d(widths[0], 1, 1)
        self.cls_pool = nn.AdaptiveAvgPool2d(1)
        self.joint = config["cls_input"] == "joint"
        self.cls_head = nn.Conv2d(widths[-1] + (widths[0] if self.joint else 0), 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skips = [self.stem(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        bottleneck = skips.pop()
        y = bottleneck
        for up in self.up:
            y = up(y, skips.pop())
        if self.restore is not None:
            y = self.restore(y)
        pooled = self.cls_pool(bottleneck)
        if self.joint:
            pooled = torch.cat([pooled, self.cls_pool(y)], dim=1)
        return self.seg_head(y), self.cls_head(pooled)


def load_model(state_dict_path: str, config: dict[str, Any]) -> UYNetVai:
    """The model with the exported weights (strict load), in eval mode on the CPU."""
    model = UYNetVai(config)
    # weights_only (torch >= 1.13): tensors and plain data only; unpickling anything else
    # could run code named by the file (a pickle's __reduce__ can call os.system)
    try:
        state = torch.load(state_dict_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or hostile file
        lines = [line.strip() for line in str(err).splitlines() if line.strip()] or [type(err).__name__]
        # torch's message opens with advice to load unsafely; the reason is the line naming what was refused
        reason = next((line for line in lines if "Unsupported" in line or "GLOBAL" in line), lines[0])
        raise ValueError(f"{state_dict_path}: not a loadable state_dict: {reason[:200]}") from err
    model.load_state_dict(state, strict=True)
    return model.eval()
