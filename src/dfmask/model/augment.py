"""Training augmentations that keep the mask aligned with the crop.

Only the horizontal flip moves pixels, and it is applied to the crop and the mask
together; every other transform (colour jitter, JPEG recompression, blur, downscale)
changes pixel values only, so the mask is untouched by construction. These mimic what
differs between DFDC videos (codec quality, resolution, lighting) so the classifier
cannot latch onto one capture condition. Hand-written with OpenCV (no extra package).

Probabilities are per crop; ranges are inclusive ``(low, high)``. The settings come from
``train.augment`` (`dfmask.params.AugmentParams`).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np


def colour_jitter(
    image: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float, saturation: float
) -> np.ndarray:
    """Scale brightness, contrast (around the mean grey) and saturation by 1 ± U(amount)."""
    x = image.astype(np.float32)
    if brightness > 0:
        x *= 1.0 + rng.uniform(-brightness, brightness)
    if contrast > 0:
        grey_mean = x.mean()
        x = (x - grey_mean) * (1.0 + rng.uniform(-contrast, contrast)) + grey_mean
    if saturation > 0:
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = (x - grey[..., None]) * (1.0 + rng.uniform(-saturation, saturation)) + grey[..., None]
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def jpeg_recompress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at ``quality`` (0–100) and decode again (RGB in, RGB out)."""
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a JPEG")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:
        raise RuntimeError("cv2.imdecode failed to decode a JPEG it just encoded")
    return np.ascontiguousarray(decoded[:, :, ::-1])


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with std ``sigma`` px (kernel size from the sigma)."""
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma)


def downscale(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by ``factor`` (< 1, area) and enlarge back (bilinear): loses fine detail."""
    h, w = image.shape[:2]
    small = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(cv2.resize(image, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)


def augment_pair(
    image: np.ndarray, mask: np.ndarray, params: Any, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Augment an RGB uint8 crop (S, S, 3) and its 0/1 mask (S, S) consistently."""
    if rng.random() < params.hflip_p:
        image, mask = image[:, ::-1], mask[:, ::-1]
    if rng.random() < params.jitter_p:
        image = colour_jitter(image, rng, params.brightness, params.contrast, params.saturation)
    if rng.random() < params.downscale_p:
        image = downscale(image, float(rng.uniform(*params.downscale)))
    if rng.random() < params.blur_p:
        image = gaussian_blur(image, float(rng.uniform(*params.blur_sigma)))
    if rng.random() < params.jpeg_p:
        image = jpeg_recompress(image, int(rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1)))
    return np.ascontiguousarray(image), np.ascontiguousarray(mask)
