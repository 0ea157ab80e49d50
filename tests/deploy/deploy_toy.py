"""Fixtures for the deploy tests: the real U-YNet at a tiny size, trained on a learnable toy task.

The model is `dfmask.model.uynet.UYNet` with base_width 4 and depth 2 at 32×32, so
export/quantize/benchmark tests stay fast while exercising the real architecture.

The toy task: a crop is "fake" when it carries a bright textured square; the mask is
that square. A few hundred Adam steps learn it well enough that AUC and Dice are far
from chance, so parity figures (AUC drop, Dice drop) measure something real.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dfmask.model.uynet import build_model

SIZE = 32


TINY_CONFIG = {
    "in_channels": 3,
    "base_width": 4,
    "depth": 2,
    "activation": "relu",
    "upsample": "transpose",
    "input_size": SIZE,
}


def tiny_uynet(**overrides: object) -> nn.Module:
    """The real `dfmask.model.uynet.UYNet` at a tiny width/depth."""
    return build_model({**TINY_CONFIG, **overrides})


def toy_batch(n: int, seed: int, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(images N×3×S×S float32 in [0,1], masks N×S×S uint8, is_fake N bool)``."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.2, 0.6, (n, 3, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    is_fake = rng.random(n) < 0.5
    for i in np.flatnonzero(is_fake):
        side = int(rng.integers(size // 4, size // 2))
        y, x = rng.integers(0, size - side, 2)
        texture = rng.uniform(0.6, 1.0, (3, side, side))
        images[i, :, y : y + side, x : x + side] = texture
        masks[i, y : y + side, x : x + side] = 1
    return images, masks, is_fake


def train_tiny(steps: int = 200, seed: int = 0, **overrides: object) -> nn.Module:
    """`tiny_uynet` (with config ``overrides``, e.g. ``stem_stride=2``) trained on the toy task."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)
    model = tiny_uynet(**overrides)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    bce = nn.BCEWithLogitsLoss()
    seg_bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(3.0))
    for step in range(steps):
        images, masks, is_fake = toy_batch(8, seed=1000 + step)
        seg, cls = model(torch.from_numpy(images))
        loss = seg_bce(seg[:, 0], torch.from_numpy(masks).float()) + bce(cls, torch.from_numpy(is_fake).float())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
