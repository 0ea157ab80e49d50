"""U-YNet: a small UNet with a segmentation head and a classification head.

Stable API (other modules, e.g. ``dfmask.deploy``, build on it):

* `UYNetConfig` — the constructor config, a frozen dataclass of JSON-able scalars.
  ``UYNetConfig.from_dict(d)`` / ``config.to_dict()`` round-trip through JSON.
* `build_model(config)` — a `UYNet` from a `UYNetConfig` or a plain dict.
* `load_checkpoint(path)` — ``(model, config)`` from ``models/train/uynet.ckpt`` (a
  Lightning checkpoint) or from a plain ``state_dict`` file saved next to a config JSON;
  the model is returned in eval mode on the CPU.
* `preprocess(crops, input_size)` — uint8 RGB crops (N, H, W, 3) → float32 NCHW input.
* ``model(x)`` returns ``(seg_logits, cls_logits)``: ``seg_logits`` is (N, 1, H, W) at
  the input size, ``cls_logits`` is (N,). Both are LOGITS: sigmoid is applied outside
  the model (on the host), because a plain sigmoid is not a DPU op.

Why this shape: the DPU (DPUCVDX8H) runs conv, BN (folded), ReLU/LeakyReLU, max/avg
pool, transposed conv / nearest upsample, concat and add, so the network uses only
those. The classification head is global average pooling followed by a 1x1 conv
(an FC layer the DPU can run), on the bottleneck — the "Y" of U-YNet.

Input: RGB scaled to [0, 1] (``pixel / 255``), no mean/std normalisation (the first BN
absorbs it); this keeps INT8 calibration of the input trivial. The input side must be
a multiple of ``stem_stride * 2 ** depth``.

``stem_stride: 2`` makes the first conv stride 2: the network then runs at half the
input resolution (about the cost of a model at ``input_size / 2``) while that first
learned conv still sees every full-resolution pixel — swap artefacts (resampling blur,
blend seams) live in the high frequencies a fixed area-downsampling would remove. A
2x2 stride-2 transposed conv brings the decoder back to the input size before the seg
head, so the mask logits stay at the input size.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from dfmask.errors import DfmaskError


@dataclass(frozen=True)
class UYNetConfig:
    """Constructor config of `UYNet` (JSON-serialisable; stored in every checkpoint).

    Attributes:
        in_channels: input channels (3 for RGB).
        base_width: channels of the first encoder level; level i has
            ``base_width * 2**i`` channels.
        depth: number of 2x downsamplings; the bottleneck is ``input / 2**depth`` wide.
        activation: ``relu`` or ``leaky_relu`` (slope 0.1, a DPU-supported value).
        upsample: ``transpose`` (2x2 stride-2 transposed conv) or ``nearest``
            (nearest 2x upsample then 1x1 conv).
        input_size: crop side in px the model was trained at (metadata for
            preprocessing and export; the network itself is size-agnostic).
        stem_stride: 1 (plain UNet) or 2 (stride-2 stem, see module docstring).
        cls_input: what the classification head pools. ``bottleneck``: global
            average pooling of the bottleneck only (the original U-YNet). ``joint``:
            the pooled bottleneck concatenated with the pooled last decoder features
            (the map the seg head reads), so the class logit can use the same
            localised evidence as the mask; still GAP → concat → 1x1 conv, all DPU ops.
    """

    in_channels: int = 3
    base_width: int = 16
    depth: int = 3
    activation: Literal["relu", "leaky_relu"] = "relu"
    upsample: Literal["transpose", "nearest"] = "transpose"
    input_size: int = 96
    stem_stride: int = 1
    cls_input: Literal["bottleneck", "joint"] = "bottleneck"

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.base_width < 1 or self.depth < 1:
            raise DfmaskError(f"UYNetConfig: in_channels, base_width and depth must be >= 1, got {self}")
        if self.activation not in ("relu", "leaky_relu"):
            raise DfmaskError(f"UYNetConfig.activation: unknown {self.activation!r}")
        if self.upsample not in ("transpose", "nearest"):
            raise DfmaskError(f"UYNetConfig.upsample: unknown {self.upsample!r}")
        if self.stem_stride not in (1, 2):
            raise DfmaskError(f"UYNetConfig.stem_stride: must be 1 or 2, got {self.stem_stride}")
        if self.cls_input not in ("bottleneck", "joint"):
            raise DfmaskError(f"UYNetConfig.cls_input: unknown {self.cls_input!r} (bottleneck | joint)")
        factor = self.stem_stride * 2**self.depth
        if self.input_size % factor:
            raise DfmaskError(
                f"UYNetConfig: input_size {self.input_size} must be a multiple of "
                f"stem_stride * 2**depth = {factor}; change train.input_size, train.depth or train.stem_stride"
            )

    def widths(self) -> list[int]:
        """Channels per level, encoder top to bottleneck."""
        return [self.base_width * 2**i for i in range(self.depth + 1)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict; keys added after the first config version (``stem_stride``,
        ``cls_input``) are left out at their defaults, so a plain UNet's config has exactly
        the first version's keys (readers that pin the key set keep working)."""
        doc = dataclasses.asdict(self)
        for key, default in (("stem_stride", 1), ("cls_input", "bottleneck")):
            if doc[key] == default:
                del doc[key]
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> UYNetConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(doc) - names)
        if unknown:
            raise DfmaskError(f"UYNetConfig: unknown keys {unknown}; valid keys are {sorted(names)}")
        return cls(**doc)


def _act(kind: str) -> nn.Module:
    return nn.LeakyReLU(0.1, inplace=True) if kind == "leaky_relu" else nn.ReLU(inplace=True)


class DoubleConv(nn.Sequential):
    """(3x3 conv → BN → act) x 2; the convs have no bias (BN follows); the first may stride."""

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
    """2x upsample the deeper map, concat the skip, DoubleConv."""

    def __init__(self, cin: int, cout: int, mode: str, act: str) -> None:
        super().__init__()
        if mode == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        else:
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 1))
        self.conv = DoubleConv(2 * cout, cout, act)

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([self.up(deep), skip], dim=1))


class UYNet(nn.Module):
    """UNet encoder–decoder + seg head (1-channel logits) + cls head (GAP → 1x1 conv;
    ``cls_input: joint`` pools the last decoder features too)."""

    def __init__(self, config: UYNetConfig) -> None:
        super().__init__()
        self.config = config
        w = config.widths()
        act = config.activation
        self.stem = DoubleConv(config.in_channels, w[0], act, stride=config.stem_stride)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), DoubleConv(w[i], w[i + 1], act)) for i in range(config.depth)
        )
        self.up = nn.ModuleList(Up(w[i + 1], w[i], config.upsample, act) for i in reversed(range(config.depth)))
        self.restore: nn.Module | None = None  # no Identity module: nothing to export
        if config.stem_stride == 2:
            # no BN after the transposed conv: the ONNX exporter folds BN into Conv only,
            # and a stand-alone BatchNormalization is not a DPU op
            self.restore = nn.Sequential(nn.ConvTranspose2d(w[0], w[0], 2, stride=2), _act(act))
        self.seg_head = nn.Conv2d(w[0], 1, 1)
        self.cls_pool = nn.AdaptiveAvgPool2d(1)
        self.joint = config.cls_input == "joint"
        self.cls_head = nn.Conv2d(w[-1] + (w[0] if self.joint else 0), 1, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seg, cls, _ = self.forward_features(x)
        return seg, cls

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(seg logits, cls logits, the pooled features the cls head reads (N, C, 1, 1)):
        `forward` plus what the temporal head (`dfmask.model.temporal`) reads per frame."""
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
        # (N, 1, 1, 1) -> (N,): exports as one Reshape to [-1] (shape-only); indexing such as
        # flatten(1)[:, 0] would export as Gather and flatten() as Shape/Slice, none DPU ops
        cls_logits = self.cls_head(pooled).reshape(-1)
        return self.seg_head(y), cls_logits, pooled


def build_model(config: UYNetConfig | dict[str, Any]) -> UYNet:
    """A freshly initialised `UYNet` from a config object or its dict form."""
    if isinstance(config, dict):
        config = UYNetConfig.from_dict(config)
    return UYNet(config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


#: Key of the model config inside a Lightning checkpoint's ``hyper_parameters``.
CONFIG_KEY = "model_config"
#: Prefix of the model's parameters in the LightningModule's state_dict.
STATE_PREFIX = "model."


def model_state_from_checkpoint(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The `UYNet` state_dict inside a Lightning checkpoint (prefix stripped)."""
    state = ckpt["state_dict"]
    return {k[len(STATE_PREFIX) :]: v for k, v in state.items() if k.startswith(STATE_PREFIX)}


def _one_line(err: BaseException) -> str:
    """The gist of a torch/pickle load error on one line (torch's messages span many lines
    and, for a refused pickle, advise loading it unsafely: that advice is dropped)."""
    text = str(err)
    refused = re.search(r"GLOBAL (\S+)", text)
    if refused:
        return f"refused to import {refused.group(1)}: a checkpoint may hold only tensors and plain data"
    noise = ("Weights only load failed", "Please file an issue", "Check the documentation", "(1)", "(2)")
    lines = [
        line.strip().removeprefix("WeightsUnpickler error:").strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith(noise)
    ]
    lines = [line for line in lines if line]
    if isinstance(err, EOFError) or not lines:
        return "empty or truncated file" if isinstance(err, EOFError) else type(err).__name__
    gist = lines[0] + (" " + lines[1] if lines[0].endswith(":") and len(lines) > 1 else "")
    if len(gist) > 120 and ". " in gist:  # torch appends paragraphs of advice after the reason
        gist = gist[: gist.index(". ")]
    return gist if len(gist) <= 200 else gist[:197] + "..."


def load_torch_file(path: str | Path) -> Any:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers/scalars only.

    A checkpoint is a pickle, and unpickling an arbitrary pickle runs code (``__reduce__``
    can name ``os.system``); ``weights_only`` refuses every global outside torch's tensor
    allowlist. Everything dfmask saves (Lightning checkpoints of `LitUYNet`, exported
    ``state_dict`` files) is plain data and loads this way. Any failure (a refused global, a
    truncated or foreign file) is one-line `DfmaskError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DfmaskError(f"{path}: model checkpoint not found; run the train stage (dvc repro train)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a corrupt or hostile file
        raise DfmaskError(f"{path}: not a loadable torch checkpoint ({_one_line(err)})") from err


def _tensor_dict(obj: Any, path: Path, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise DfmaskError(f"{path}: {what} is not a dict of named tensors; not a dfmask U-YNet checkpoint")
    return obj


def _config(doc: Any, path: Path) -> UYNetConfig:
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: model config is a {type(doc).__name__}, not a dict")
    try:
        return UYNetConfig.from_dict(dict(doc))
    except (TypeError, ValueError) as err:
        raise DfmaskError(f"{path}: bad model config {doc}: {err}") from err


def load_checkpoint(path: str | Path, config_path: str | Path | None = None) -> tuple[UYNet, UYNetConfig]:
    """Load a trained model (eval mode, CPU).

    ``path`` is either a Lightning checkpoint (``models/train/uynet.ckpt``, which
    carries its config) or a plain ``state_dict`` file, in which case ``config_path``
    names the config JSON (``models/train/uynet_config.json``). Both are read with
    `load_torch_file` (``weights_only=True``: nothing in the file is executed).
    """
    path = Path(path)
    obj = load_torch_file(path)
    if isinstance(obj, dict) and "state_dict" in obj:
        hp = obj.get("hyper_parameters", {})
        if not isinstance(hp, dict) or CONFIG_KEY not in hp:
            raise DfmaskError(f"{path}: checkpoint has no '{CONFIG_KEY}' hyper-parameter; not a dfmask U-YNet")
        config = _config(hp[CONFIG_KEY], path)
        state = model_state_from_checkpoint({"state_dict": _tensor_dict(obj["state_dict"], path, "state_dict")})
    else:
        if config_path is None:
            raise DfmaskError(f"{path}: a plain state_dict needs its config JSON (config_path)")
        try:
            doc = json.loads(Path(config_path).read_text())
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise DfmaskError(f"{config_path}: not a readable model config JSON: {err}") from err
        config = _config(doc, Path(config_path))
        state = _tensor_dict(obj, path, "the file")
    model = build_model(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise DfmaskError(f"{path}: weights do not match config {config}: {_one_line(err)}") from err
    return model.eval(), config


def preprocess(crops: np.ndarray, input_size: int) -> torch.Tensor:
    """uint8 RGB crops (N, H, W, 3) → float32 (N, 3, S, S) in [0, 1], S = ``input_size``.

    Resizing uses area interpolation when shrinking and bilinear when growing, the
    same as the training data path (`dfmask.model.inputs.resize_crop`).
    """
    from dfmask.model.inputs import resize_crop

    out = np.stack([resize_crop(c, input_size) for c in crops]).astype(np.float32) / 255.0
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
