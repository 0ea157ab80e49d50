"""The crop → model-input conversion shared by training, evaluation and deployment."""

from __future__ import annotations

import numpy as np

from dfmask.model.inputs import binary_mask, resize_crop


def test_binary_mask_area_rule() -> None:
    mask = np.zeros((4, 4), np.uint8)
    mask[:2, :2] = 255  # exactly the top-left quarter
    out = binary_mask(mask, 2)
    assert out.tolist() == [[1, 0], [0, 0]]


def test_resize_crop_averages_when_shrinking_and_keeps_the_right_size() -> None:
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 255  # 1-px checkerboard
    image = np.repeat(checker[..., None], 3, axis=2).astype(np.uint8)
    small = resize_crop(image, 4)
    assert small.shape == (4, 4, 3) and np.all(small == 128)  # area: each 2x2 block averages to grey
    assert resize_crop(image, 8) is image  # already the size: untouched
    assert resize_crop(small, 16).shape == (16, 16, 3)
