"""Tests of the landmark face swap: mask exactness, mouth confinement, warp geometry."""

from __future__ import annotations

import numpy as np
import pytest

from dfmask.corpus.plan import FAKE_METHODS
from dfmask.corpus.swap import (
    BLENDS,
    JAW,
    MOUTH,
    OUTER_LIPS,
    landmark_box,
    piecewise_affine_map,
    region_alpha,
    similarity,
    swap_face,
    transform_points,
    triangles,
)


def template_landmarks(cx: float, cy: float, size: float, open_mouth: float = 0.0) -> np.ndarray:
    """A plausible 68-point dlib layout (jaw, brows, nose, eyes, lips) of a frontal face
    of width ``size`` centred at (cx, cy)."""
    pts = []
    for t in np.linspace(np.pi, 0, 17):  # jaw: lower half ellipse, ear to ear
        pts.append((np.cos(t) * 0.5, -np.sin(t) * 0.62 * -1 + 0.05))
    for x in np.linspace(-0.42, -0.08, 5):  # left brow
        pts.append((x, -0.33 - 0.05 * np.cos((x + 0.25) * 6)))
    for x in np.linspace(0.08, 0.42, 5):  # right brow
        pts.append((x, -0.33 - 0.05 * np.cos((x - 0.25) * 6)))
    for y in np.linspace(-0.22, 0.05, 4):  # nose bridge
        pts.append((0.0, y))
    for x in np.linspace(-0.1, 0.1, 5):  # nostrils
        pts.append((x, 0.1 - 0.02 * (1 - abs(x) * 10)))
    for ex in (-0.2, 0.2):  # eyes: 6 points each
        for t in np.linspace(0, 2 * np.pi, 7)[:-1]:
            pts.append((ex + 0.09 * np.cos(np.pi - t), -0.18 + 0.035 * np.sin(t)))
    for t in np.linspace(0, 2 * np.pi, 13)[:-1]:  # outer lips: 12 points
        pts.append((0.2 * np.cos(np.pi - t), 0.32 + (0.07 + open_mouth) * np.sin(t)))
    for t in np.linspace(0, 2 * np.pi, 9)[:-1]:  # inner lips: 8 points
        pts.append((0.14 * np.cos(np.pi - t), 0.32 + (0.02 + open_mouth) * np.sin(t)))
    arr = np.array(pts, np.float64)
    assert arr.shape == (68, 2)
    return arr * size + (cx, cy)


@pytest.fixture()
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (200, 240, 3), dtype=np.uint8)
    donor = rng.integers(0, 256, (300, 280, 3), dtype=np.uint8)
    return frame, template_landmarks(120, 95, 90), donor, template_landmarks(140, 150, 150, 0.03)


@pytest.mark.parametrize("kind", ["full", "mouth", *BLENDS.values()])
def test_fake_equals_frame_exactly_outside_mask(scene, kind) -> None:
    frame, target, donor, donor_pts = scene
    fake, mask = swap_face(frame, target, donor, donor_pts, kind)
    assert fake.dtype == np.uint8 and fake.shape == frame.shape
    outside = mask == 0
    assert np.array_equal(fake[outside], frame[outside])
    # The mask is not a formality: most manipulated pixels really changed.
    changed = np.any(fake != frame, axis=2)
    assert changed[mask > 0].mean() > 0.8
    assert set(np.unique(mask)) <= {0, 255}


def test_full_mask_covers_the_face_hull(scene) -> None:
    frame, target, donor, donor_pts = scene
    _, mask = swap_face(frame, target, donor, donor_pts, "full")
    x0, y0, x1, y1 = landmark_box(target)
    box_area = (x1 - x0) * (y1 - y0)
    area = (mask > 0).sum()
    assert 0.4 * box_area < area < 1.2 * box_area
    # The nose tip and both eyes are inside the swap.
    for idx in (30, 39, 42):
        x, y = np.round(target[idx]).astype(int)
        assert mask[y, x] == 255


def test_mouth_mask_confined_to_mouth_region(scene) -> None:
    frame, target, donor, donor_pts = scene
    _, mouth = swap_face(frame, target, donor, donor_pts, "mouth")
    _, full = swap_face(frame, target, donor, donor_pts, "full")
    face_w = np.ptp(target[:17, 0])
    lx0, ly0, lx1, ly1 = landmark_box(target[OUTER_LIPS])
    margin = 0.3 * face_w  # dilation 0.12 w + feather (3 sigma = 0.15 w)
    ys, xs = np.nonzero(mouth)
    assert len(xs) > 0
    assert xs.min() >= lx0 - margin and xs.max() <= lx1 + margin
    assert ys.min() >= ly0 - margin and ys.max() <= ly1 + margin
    # Eyes untouched; mouth centre manipulated; much smaller than a full swap.
    for idx in (36, 45):
        x, y = np.round(target[idx]).astype(int)
        assert mouth[y, x] == 0
    cx, cy = np.round(target[MOUTH].mean(0)).astype(int)
    assert mouth[cy, cx] == 255
    assert (mouth > 0).sum() < 0.5 * (full > 0).sum()


def test_every_swapping_method_has_a_blend() -> None:
    assert set(BLENDS) == set(FAKE_METHODS) - {"no_change"}


def _ring(mask: np.ndarray, width: int) -> np.ndarray:
    """The pixels of ``mask`` (bool) within ``width`` px of its edge."""
    import cv2

    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * width + 1,) * 2, np.uint8)) > 0
    return mask & ~inner


def test_hard_paste_has_a_hard_edge_and_keeps_the_donor_colours() -> None:
    target = template_landmarks(120, 95, 90)
    alpha = region_alpha(target, BLENDS["hard_paste"], (200, 240))
    assert set(np.unique(alpha)) == {0.0, 1.0}  # no weight between: the edge is a step
    # the paste copies the warped donor as it is (no colour transfer): a flat donor
    # colour lands unchanged, up to the warp's interpolation of a flat image
    frame = np.full((200, 240, 3), 40, np.uint8)
    donor = np.full((300, 280, 3), (200, 120, 60), np.uint8)
    fake, mask = swap_face(frame, target, donor, template_landmarks(140, 150, 150), BLENDS["hard_paste"])
    inside = mask > 0
    assert inside.any() and np.array_equal(np.unique(fake[inside], axis=0), [[200, 120, 60]])
    # the classical blend ramps down at its edge instead
    soft = region_alpha(target, BLENDS["classical"], (200, 240))
    assert ((soft > 0) & (soft < 0.5)).sum() > 0.1 * (soft > 0).sum()


def test_feather_mask_holds_the_whole_feather() -> None:
    """A feathered blend changes pixels well past the face hull, with weights falling
    towards 0; the true mask (alpha > 0) holds all of them, and the pixels in its outer
    ring carry small weights (the feather), not a cut."""
    target = template_landmarks(120, 100, 90)
    shape = (220, 240)
    feather = region_alpha(target, BLENDS["feather"], shape)
    classical = region_alpha(target, BLENDS["classical"], shape)
    hard = region_alpha(target, BLENDS["hard_paste"], shape)
    assert (feather > 0).sum() > 1.3 * (classical > 0).sum()
    assert (feather > 0).sum() > 1.2 * (hard > 0).sum()
    assert ((classical > 0) <= (feather > 0)).all()  # the feather mask contains the classical one
    ring = _ring(feather > 0, 3)
    assert feather[ring].max() < 0.2 and feather[ring].min() > 0  # soft, non-zero weights at the edge
    assert feather.max() == pytest.approx(1.0, abs=0.01)  # the core is the donor
    # it reaches past the jaw line: below the chin
    chin_x, chin_y = np.round(target[JAW][8]).astype(int)
    assert feather[chin_y + 8, chin_x] > 0


def test_similarity_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (68, 2))
    angle, scale = 0.3, 1.7
    truth = np.array(
        [[scale * np.cos(angle), -scale * np.sin(angle), 12.0], [scale * np.sin(angle), scale * np.cos(angle), -5.0]]
    )
    dst = transform_points(truth, src)
    np.testing.assert_allclose(similarity(src, dst), truth, atol=1e-9)


def test_piecewise_map_sends_target_landmarks_to_donor_landmarks() -> None:
    donor_pts = template_landmarks(140, 150, 150, 0.03)
    target = np.round(template_landmarks(120, 95, 90))  # integer pixels: exact lookups
    map_x, map_y = piecewise_affine_map(donor_pts, target, (200, 240), np.arange(68))
    for i in range(60):  # triangulated points
        x, y = target[i].astype(int)
        assert abs(map_x[y, x] - donor_pts[i, 0]) < 1e-3 and abs(map_y[y, x] - donor_pts[i, 1]) < 1e-3
    assert triangles(donor_pts).max() < 60  # inner lips are not triangulated
