"""Crops: the stored window is exact, square, padded with zeros and maps back to the frame."""

from __future__ import annotations

import numpy as np

from dfmask.faces.crops import crop_face, crop_window, cut_window


def test_window_is_square_with_margin_and_centred() -> None:
    w = crop_window(np.array([100.0, 50.0, 160.0, 130.0]), margin=0.3)
    side = w[2] - w[0]
    assert side == w[3] - w[1] == 128  # ceil(80 * 1.6)
    assert abs((w[0] + w[2]) / 2 - 130) <= 0.5 and abs((w[1] + w[3]) / 2 - 90) <= 0.5


def test_cut_window_pads_with_zeros_like_numpy_pad() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(1, 256, (40, 60, 3), dtype=np.uint8)  # no zeros inside
    window = np.array([-7, -3, 25, 29])
    got = cut_window(frame, window)
    ref = np.pad(frame, ((10, 10), (10, 10), (0, 0)))[-3 + 10 : 29 + 10, -7 + 10 : 25 + 10]
    np.testing.assert_array_equal(got, ref)
    far = cut_window(frame, np.array([100, 100, 110, 110]))
    assert far.shape == (10, 10, 3) and not far.any()


def test_crop_pixel_maps_back_to_frame() -> None:
    # a bright dot at frame (x=73, y=41) must appear where the documented mapping says
    frame = np.zeros((120, 160, 3), np.uint8)
    frame[40:43, 72:75] = 255
    window = crop_window(np.array([50.0, 20.0, 100.0, 70.0]), margin=0.3)
    side = int(window[2] - window[0])
    size = 40
    crop = crop_face(frame, window, size)
    v, u = np.unravel_index(np.argmax(crop[:, :, 0]), crop.shape[:2])
    x = window[0] + (u + 0.5) * side / size - 0.5
    y = window[1] + (v + 0.5) * side / size - 0.5
    assert abs(x - 73) <= side / size and abs(y - 41) <= side / size
