"""Self-blended fakes: a real crop blended with a transformed copy of itself.

Why: on a corpus with few identities, a from-scratch classifier learns *who* is in a
fake (this hair with that face) instead of *how* it was made, and is at chance on
held-out people (measured: train cls loss 0.08, test video AUC 0.52–0.60). A
self-blended image (SBI; Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended
Images", CVPR 2022) shows the SAME person as its real source, so identity carries no
label; what separates it from the real crop are the traces every blending-based swap
leaves: a colour/sharpness mismatch inside a face-shaped region, a slightly misaligned
seam, a feathered boundary. Training on them (as extra fakes, next to the corpus's own
fakes) teaches those traces.

Recipe (after SBI, adapted to the 5 MTCNN landmarks the faces table stores):

1. **Source / target.** Both start as the crop. One of them (chosen at random) gets a
   colour change (RGB shift, hue/saturation/value shift, brightness/contrast) and a
   frequency change (downscale-and-back, or sharpening); the source is then scaled and
   shifted by a few per cent, so the blended region is slightly misaligned.
2. **Mask.** A face-shaped region in crop coordinates: an ellipse in the face box
   (whole-face swaps), the landmark hull grown around its centroid (inner face), or an
   ellipse around the mouth corners (mouth-only edits). It is deformed by a smooth
   random displacement field and feathered with a random Gaussian blur; the blend
   ratio is the feathered region (peak 1) times a random factor from ``ratios``.
3. **Blend.** ``image = source * m + target * (1 - m)``; the segmentation target is
   ``region >= mask_threshold`` (the pixels taken from the source, however weakly),
   the label is FAKE.

Every random draw comes from the ``rng`` argument, so a seeded generator reproduces the
sample exactly. Settings: ``train.self_blend`` (`dfmask.params.SelfBlendParams`).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: mask region kinds, in the order of ``SelfBlendParams.region_p``
REGIONS = ("face", "inner", "mouth")


def region_mask(kind: str, box: np.ndarray, landmarks: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A filled 0/1 float32 mask (size, size) of one region ``kind`` (see `REGIONS`).

    ``box`` = face box (x0, y0, x1, y1) and ``landmarks`` = (5, 2) points (left eye,
    right eye, nose, left and right mouth corner), both in crop pixels.
    """
    mask = np.zeros((size, size), np.float32)
    bx0, by0, bx1, by1 = (float(v) for v in box)
    bw, bh = max(bx1 - bx0, 2.0), max(by1 - by0, 2.0)
    if kind == "face":
        centre = (0.5 * (bx0 + bx1) + rng.uniform(-0.04, 0.04) * bw, 0.5 * (by0 + by1) + rng.uniform(0.0, 0.08) * bh)
        axes = (rng.uniform(0.36, 0.5) * bw, rng.uniform(0.4, 0.55) * bh)
        cv2.ellipse(mask, _pt(centre), _pt(axes), 0.0, 0.0, 360.0, 1.0, thickness=-1)
    elif kind == "inner":
        centroid = landmarks.mean(axis=0)
        grown = centroid + (landmarks - centroid) * rng.uniform(1.4, 2.2)
        hull = cv2.convexHull(np.round(grown).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1.0)
    elif kind == "mouth":
        left, right = landmarks[3], landmarks[4]
        centre = 0.5 * (left + right)
        half = max(0.5 * float(np.linalg.norm(right - left)), 2.0)
        axes = (half * rng.uniform(1.3, 1.8), half * rng.uniform(0.7, 1.2))
        angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
        cv2.ellipse(mask, _pt(centre), _pt(axes), angle, 0.0, 360.0, 1.0, thickness=-1)
    else:
        raise ValueError(f"self_blend: unknown region kind {kind!r} (expected one of {REGIONS})")
    return mask


def _pt(xy: Any) -> tuple[int, int]:
    return (round(float(xy[0])), round(float(xy[1])))


def deform(mask: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Warp ``mask`` by a smooth random displacement field of up to ``amount`` px."""
    if amount <= 0:
        return mask
    size = mask.shape[0]
    coarse = rng.uniform(-1.0, 1.0, size=(2, 4, 4)).astype(np.float32) * amount
    dx = cv2.resize(coarse[0], (size, size), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(coarse[1], (size, size), interpolation=cv2.INTER_CUBIC)
    grid = np.arange(size, dtype=np.float32)
    map_x = grid[None, :] + dx
    map_y = grid[:, None] + dy
    return cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


def colour_shift(image: np.ndarray, rng: np.random.Generator, params: Any) -> np.ndarray:
    """RGB shift, hue/saturation/value shift, then brightness/contrast (uint8 in/out)."""
    x = image.astype(np.float32) + rng.uniform(-params.rgb_shift, params.rgb_shift, size=3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-params.hue_shift, params.hue_shift) * 180.0) % 180.0
    hsv[..., 1] *= 1.0 + rng.uniform(-params.sat_shift, params.sat_shift)
    hsv[..., 2] *= 1.0 + rng.uniform(-params.val_shift, params.val_shift)
    x = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    mean = x.mean()
    x = (x - mean) * (1.0 + rng.uniform(-params.contrast, params.contrast)) + mean
    x *= 1.0 + rng.uniform(-params.brightness, params.brightness)
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def frequency_shift(image: np.ndarray, rng: np.random.Generator, params: Any) -> np.ndarray:
    """Half the time downscale-and-back (loses detail), else unsharp-mask sharpening."""
    size = image.shape[0]
    if rng.random() < 0.5:
        factor = rng.uniform(*params.downscale)
        small = max(4, round(size * factor))
        down = cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA)
        return cv2.resize(down, (size, size), interpolation=cv2.INTER_LINEAR)
    amount = rng.uniform(*params.sharpen)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=1.0)
    return cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0.0)


def misalign(image: np.ndarray, rng: np.random.Generator, params: Any) -> np.ndarray:
    """Scale by 1 ± U(scale) about the centre and shift by ± U(shift) of the side."""
    size = image.shape[0]
    s = 1.0 + rng.uniform(-params.scale, params.scale)
    tx, ty = rng.uniform(-params.shift, params.shift, size=2) * size
    c = (size - 1) / 2.0
    matrix = np.array([[s, 0.0, (1 - s) * c + tx], [0.0, s, (1 - s) * c + ty]], np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def self_blend(
    image: np.ndarray, box: np.ndarray, landmarks: np.ndarray | None, params: Any, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A self-blended fake of the RGB uint8 crop ``image`` (S, S, 3) and its 0/1 mask.

    ``box`` and ``landmarks`` are the face box and 5 landmarks in crop pixels (see
    `dfmask.faces.crops.to_crop_coords`); without landmarks the region is always the face ellipse.
    Returns ``(blended uint8 (S, S, 3), mask uint8 (S, S))``.
    """
    size = image.shape[0]
    source, target = image.copy(), image.copy()
    changed = colour_shift(image, rng, params)
    if rng.random() < params.frequency_p:
        changed = frequency_shift(changed, rng, params)
    if rng.random() < 0.5:
        source = changed
    else:
        target = changed
    source = misalign(source, rng, params)

    kind = REGIONS[int(rng.choice(len(REGIONS), p=np.asarray(params.region_p, np.float64) / sum(params.region_p)))]
    if landmarks is None:
        kind, landmarks = "face", np.zeros((5, 2))
    mask = region_mask(kind, box, landmarks, size, rng)
    mask = deform(mask, float(rng.uniform(0.0, params.deform)) * size, rng)
    sigma = float(rng.uniform(*params.feather)) * size
    if sigma > 0:
        mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma)
    peak = float(mask.max())
    if peak <= 0:  # a region entirely outside the crop: blend the face box instead
        mask = region_mask("face", box, landmarks, size, rng)
        peak = 1.0
    region = mask / peak
    m = (region * float(rng.choice(np.asarray(params.ratios, np.float64))))[..., None]
    blended = source.astype(np.float32) * m + target.astype(np.float32) * (1.0 - m)
    out = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return out, (region >= params.mask_threshold).astype(np.uint8)
