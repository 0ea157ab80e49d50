"""Tracks: IoU linking keeps identities apart, gaps are interpolated, smoothing helps."""

from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from dfmask.faces.detect import FrameFaces
from dfmask.faces.tracks import iou_matrix, link_tracks, smooth_boxes, track_faces


def _frame(*boxes: tuple[float, float, float, float]) -> FrameFaces:
    b = np.array(boxes, np.float32).reshape(-1, 4)
    lm = np.repeat(((b[:, :2] + b[:, 2:]) / 2)[:, None, :], 5, axis=1)
    return FrameFaces(b, np.full(len(b), 0.99, np.float32), lm)


def test_iou_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, (20, 2))
    a = np.concatenate([xy, xy + rng.uniform(1, 50, (20, 2))], 1)
    xy = rng.uniform(0, 100, (15, 2))
    b = np.concatenate([xy, xy + rng.uniform(1, 50, (15, 2))], 1)
    ref = box_iou(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(iou_matrix(a, b), ref, atol=1e-12)


def test_two_faces_crossing_paths_keep_their_tracks() -> None:
    # face A moves right, face B moves left; they never overlap with each other's
    # previous box more than with their own, so ids must not swap.
    frames = []
    for t in range(10):
        frames.append(_frame((10 + 8 * t, 50, 60 + 8 * t, 100), (200 - 8 * t, 40, 250 - 8 * t, 90)))
    tracks = link_tracks(frames, min_iou=0.3, max_gap=2)
    assert len(tracks) == 2
    for hits in tracks:
        assert sorted(hits) == list(range(10))
        first = frames[0].boxes[hits[0]][0]
        direction = np.sign(frames[9].boxes[hits[9]][0] - first)
        xs = [frames[p].boxes[d][0] for p, d in sorted(hits.items())]
        assert np.all(np.sign(np.diff(xs)) == direction)  # monotone: never jumped to the other face


def test_gap_is_interpolated_and_marked() -> None:
    frames = [_frame((10 + 5 * t, 10, 60 + 5 * t, 60)) for t in range(6)]
    frames[2] = FrameFaces.empty()
    frames[3] = FrameFaces.empty()
    tr = track_faces(frames, min_iou=0.3, max_gap=2, smooth_window=1)
    assert tr.pos.tolist() == [0, 1, 2, 3, 4, 5]
    assert set(tr.track_id.tolist()) == {0}
    np.testing.assert_allclose(tr.box[2], [20, 10, 70, 60], atol=1e-4)  # linear between 1 and 4
    np.testing.assert_allclose(tr.box[3], [25, 10, 75, 60], atol=1e-4)
    assert np.isnan(tr.prob[2]) and np.isnan(tr.prob[3]) and not np.isnan(tr.prob[4])


def test_gap_longer_than_max_gap_starts_a_new_track() -> None:
    frames = [_frame((10, 10, 60, 60)), *[FrameFaces.empty()] * 3, _frame((10, 10, 60, 60))]
    assert len(link_tracks(frames, 0.3, max_gap=2)) == 2
    assert len(link_tracks(frames, 0.3, max_gap=3)) == 1


def test_track_order_main_face_first_and_every_detection_kept() -> None:
    frames = []
    for t in range(8):
        boxes = [(100, 100, 200, 200)]  # main face, every frame
        if t in (2, 3):
            boxes.append((10, 10, 30, 30))  # a small face for two frames
        frames.append(_frame(*boxes))
    tr = track_faces(frames, smooth_window=3)
    assert len(tr) == 10  # 8 + 2: nothing dropped
    assert (tr.box[tr.track_id == 0][:, 0] == 100).all()
    assert sorted(tr.pos[tr.track_id == 1].tolist()) == [2, 3]


def test_smoothing_reduces_jitter_without_lag() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(32, dtype=np.float64)
    truth = np.stack([100 + 3 * t, 80 + t, 180 + 3 * t, 160 + t], 1)  # linear motion
    noisy = truth + rng.normal(0, 4, truth.shape)
    smooth = smooth_boxes(noisy, 5)
    err_noisy = np.abs(noisy - truth).mean()
    err_smooth = np.abs(smooth - truth).mean()
    assert err_smooth < 0.7 * err_noisy
    # no lag on linear motion: a centred window leaves a clean line untouched
    np.testing.assert_allclose(smooth_boxes(truth, 5), truth, atol=1e-9)
