"""The temporal head (`dfmask.model.temporal`): tracks built in frame order, a video's score
the max over its tracks, a head that learns what only the order of frames shows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dfmask import metrics
from dfmask.model import temporal
from dfmask.params import TemporalParams


def test_build_tracks_orders_frames_pads_and_skips_videos_without_crops() -> None:
    feats = np.arange(12, dtype=np.float32).reshape(6, 2)
    tracks = temporal.build_tracks(
        feats,
        ["b", "a", "a", "b", "a", "zz"],  # "zz" is not among the videos asked for
        [0, 1, 0, 0, 0, 0],
        [5, 2, 3, 1, 0, 0],
        ["a", "b", "c"],
    )
    assert tracks.video.tolist() == [0, 0, 1]  # (a, 0), (a, 1), (b, 0); c has none
    assert tracks.x.shape == (3, 2, 2)
    # (a, track 0): rows 4 (frame 0) then 2 (frame 3)
    assert tracks.x[0].T.tolist() == [feats[4].tolist(), feats[2].tolist()]
    assert tracks.mask.tolist() == [[True, True], [True, False], [True, True]]
    assert tracks.x[1, :, 1].tolist() == [0.0, 0.0]  # padding
    # (b, 0): frame 1 (row 3) before frame 5 (row 0)
    assert tracks.x[2].T.tolist() == [feats[3].tolist(), feats[0].tolist()]


def test_video_logit_is_the_max_over_its_tracks_and_zero_without_one() -> None:
    z = torch.tensor([-2.0, 3.0, 1.0])
    out = temporal.video_logits(z, torch.tensor([0, 0, 2]), 3)
    assert out.tolist() == [3.0, 0.0, 1.0]


def _flicker_tracks(n_videos: int, seed: int) -> tuple[temporal.Tracks, np.ndarray]:
    """Videos whose first feature takes the same values, frame for frame, in real and fake
    tracks (a ramp from -1 to 1): a real track shows them in order, a fake one in an
    alternating high/low order (flicker). Any per-frame statistic (mean, max, |x|) is the
    same for both; only the order of frames tells. Every video has two tracks; a fake's
    second one is real-looking (one swapped face of two)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n_videos) % 2 == 1
    feats, vids, tids, frames, ids = [], [], [], [], []
    for v in range(n_videos):
        ids.append(f"v{v}")
        for t in range(2):
            length = int(rng.integers(6, 12))
            ramp = np.linspace(-1, 1, length)
            if rng.random() < 0.5:
                ramp = ramp[::-1]
            zigzag = np.array([ramp[k // 2] if k % 2 == 0 else ramp[length - 1 - k // 2] for k in range(length)])
            first = zigzag if (y[v] and t == 0) else ramp
            for f in range(length):
                feats.append([first[f], rng.normal(0, 1)])
                vids.append(f"v{v}")
                tids.append(t)
                frames.append(f)
    tracks = temporal.build_tracks(np.asarray(feats, np.float32), vids, tids, frames, ids)
    return tracks, y


def test_head_learns_what_only_the_frame_order_shows() -> None:
    train, y_train = _flicker_tracks(40, 0)
    test, y_test = _flicker_tracks(30, 1)
    # same values per track: sorted, the real and the fake tracks' first features agree
    first = [np.sort(test.x[k, 0][test.mask[k]]) for k in range(len(test.x))]
    assert all(np.allclose(f, np.linspace(-1, 1, len(f)), atol=1e-6) for f in first)
    params = TemporalParams(hidden=8, dropout=0.0, steps=300, lr=0.01)
    head = temporal.fit_head(train, y_train, params)
    assert metrics.roc_auc(y_test, head.predict(test)) > 0.95
    assert head.losses[-1] < head.losses[0]
    # a head that sees one frame at a time cannot tell the order: near chance
    blind = temporal.fit_head(train, y_train, TemporalParams(hidden=8, kernel=1, dropout=0.0, steps=300, lr=0.01))
    assert metrics.roc_auc(y_test, blind.predict(test)) < 0.75


def test_a_tracks_logit_does_not_depend_on_its_padding() -> None:
    torch.manual_seed(0)
    head = temporal.TemporalHead(2, 4, 5, 0.0).eval()
    x = torch.randn(1, 2, 5)
    alone = head(x, torch.ones(1, 5, dtype=torch.bool))
    padded = torch.randn(2, 2, 9)  # padding holds values: the mask alone must hide them
    padded[0, :, :5] = x[0]
    mask = torch.zeros(2, 9, dtype=torch.bool)
    mask[0, :5] = True
    mask[1] = True
    assert torch.allclose(head(padded, mask)[0], alone[0], atol=1e-6)
    with pytest.raises(ValueError, match="must be odd"):
        temporal.TemporalHead(2, 4, 4, 0.0)


def test_head_is_deterministic_and_refuses_one_class() -> None:
    tracks, y = _flicker_tracks(10, 0)
    params = TemporalParams(steps=20)
    a, b = temporal.fit_head(tracks, y, params), temporal.fit_head(tracks, y, params)
    assert a.losses == b.losses
    assert np.array_equal(a.predict(tracks), b.predict(tracks))
    with pytest.raises(ValueError, match="real and fake"):
        temporal.fit_head(tracks, np.ones(10, bool), params)
    # the real videos have no track (no face found): no real video to learn from
    keep = y[tracks.video]
    fakes_only = temporal.Tracks(tracks.x[keep], tracks.mask[keep], tracks.video[keep], tracks.video_ids)
    with pytest.raises(ValueError, match="real and fake"):
        temporal.fit_head(fakes_only, y, params)
