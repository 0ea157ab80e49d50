"""How a face crop becomes a model input and a mask a segmentation target.

Training (`dfmask.model.data`), evaluation and the deploy stages (`dfmask.deploy.calib`)
all resize with these two functions, so the quantizers calibrate on, and the parity
and benchmark reports score on, exactly the pixels the model was trained on. This
module imports neither Lightning nor the crop join: the deploy path loads it alone.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize an (H, W[, C]) uint8 image to size x size: area when shrinking, else bilinear."""
    if image.shape[0] == size and image.shape[1] == size:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def binary_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A grey mask (any value > 0 = manipulated) resized to size x size, as 0/1 uint8.

    Area-resize of the 0/1 mask then ``>= 0.5``: a pixel is manipulated when at least
    half of the area it covers is.
    """
    binary: np.ndarray = (mask > 0).astype(np.float32)
    if binary.shape[0] != size or binary.shape[1] != size:
        binary = cv2.resize(binary, (size, size), interpolation=cv2.INTER_AREA)
    return (binary >= 0.5).astype(np.uint8)
