"""Self-blended fakes: geometry, blend structure, reproducibility."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dfmask.model.selfblend import REGIONS, region_mask, self_blend
from dfmask.params import SelfBlendParams

SIZE = 64
BOX = np.array([12.0, 12.0, 52.0, 52.0])
#: left eye, right eye, nose, left / right mouth corner
LANDMARKS = np.array([[24.0, 26.0], [40.0, 26.0], [32.0, 34.0], [26.0, 42.0], [38.0, 42.0]])


def _image(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 216, (8, 8, 3)).astype(np.uint8)
    return np.kron(base, np.ones((SIZE // 8, SIZE // 8, 1), np.uint8))


@pytest.mark.parametrize("kind", REGIONS)
def test_region_masks_sit_where_their_kind_says(kind: str) -> None:
    mask = region_mask(kind, BOX, LANDMARKS, SIZE, np.random.default_rng(0))
    ys, xs = np.nonzero(mask)
    assert mask.dtype == np.float32 and set(np.unique(mask)) == {0.0, 1.0}
    inside_box = ((xs >= BOX[0]) & (xs <= BOX[2]) & (ys >= BOX[1]) & (ys <= BOX[3])).mean()
    assert inside_box > 0.9
    if kind == "mouth":
        mouth = LANDMARKS[3:].mean(axis=0)
        assert np.hypot(xs.mean() - mouth[0], ys.mean() - mouth[1]) < 3
        assert mask.mean() < 0.1
    else:  # whole face / inner face cover every landmark
        assert all(mask[int(y), int(x)] == 1 for x, y in LANDMARKS)
    with pytest.raises(ValueError, match="unknown region"):
        region_mask("ear", BOX, LANDMARKS, SIZE, np.random.default_rng(0))


def test_blend_takes_source_inside_and_target_outside() -> None:
    # no feather, full ratio, no misalignment: inside the region the output is the source,
    # outside the target; exactly one of the two is the untouched crop
    params = SelfBlendParams(ratios=(1.0,), feather=(0.0, 0.0), deform=0.0, scale=0.0, shift=0.0, frequency_p=0.0)
    image = _image()
    seen = set()
    for seed in range(8):
        out, mask = self_blend(image, BOX, LANDMARKS, params, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8 and mask.dtype == np.uint8
        inside, outside = mask == 1, mask == 0
        assert inside.sum() > 20 and outside.sum() > 20
        same_in = np.array_equal(out[inside], image[inside])
        same_out = np.array_equal(out[outside], image[outside])
        assert same_in != same_out
        seen.add(same_in)
    assert seen == {True, False}  # both roles (changed source, changed target) occur


def test_self_blend_is_reproducible_and_varies_with_the_seed() -> None:
    params = SelfBlendParams()
    image = _image(1)
    a = self_blend(image, BOX, LANDMARKS, params, np.random.default_rng(5))
    b = self_blend(image, BOX, LANDMARKS, params, np.random.default_rng(5))
    c = self_blend(image, BOX, LANDMARKS, params, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_without_landmarks_the_region_is_the_face_ellipse() -> None:
    mouth_only = SelfBlendParams(region_p=(0.0, 0.0, 1.0), feather=(0.0, 0.0), deform=0.0)
    _, with_points = self_blend(_image(), BOX, LANDMARKS, mouth_only, np.random.default_rng(0))
    _, without = self_blend(_image(), BOX, None, mouth_only, np.random.default_rng(0))
    assert with_points.mean() < 0.1 < without.mean()


def test_weak_blend_ratio_keeps_the_whole_region_as_target() -> None:
    # the seg target marks the region taken from the source, however weakly it is blended
    strong = dataclasses.replace(SelfBlendParams(), ratios=(1.0,))
    weak = dataclasses.replace(SelfBlendParams(), ratios=(0.25,))
    img = _image()
    out_s, m_s = self_blend(img, BOX, LANDMARKS, strong, np.random.default_rng(3))
    out_w, m_w = self_blend(img, BOX, LANDMARKS, weak, np.random.default_rng(3))
    assert np.array_equal(m_s, m_w) and m_s.any()
    assert np.abs(out_w.astype(int) - img).mean() < np.abs(out_s.astype(int) - img).mean()
