"""Video aggregation (mean / confident, over tracks, no-face videos), ensembles and mask evaluation helpers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from dfmask import metrics
from dfmask.faces.crops import crop_face, mask_in_crop
from dfmask.masks.scoring import fit_baseline
from dfmask.model.crop_index import join_crops
from dfmask.model.inputs import resize_crop
from dfmask.model.predict import (
    FRAME_STATS,
    NO_FACE_SCORE,
    confident_score,
    ensemble_p,
    member_logits,
    member_outputs,
    predict_images,
    video_scores,
)
from dfmask.model.segeval import counterfactual, fit_mean_mask, mean_mask_baseline, seg_vs_masks
from dfmask.model.uynet import UYNetConfig, build_model


def test_video_without_faces_scores_half_and_is_counted() -> None:
    scores, counts = video_scores(["a", "b", "c"], ["a", "a", "c"], np.array([0.9, 0.7, 0.1]))
    assert scores.tolist() == pytest.approx([0.8, NO_FACE_SCORE, 0.1])
    assert counts.tolist() == [2, 0, 1]


def test_confident_rule() -> None:
    # > 40 % confident fakes: their mean, not the plain mean
    p = np.array([0.95, 0.9, 0.85, 0.1, 0.1, 0.1])
    assert confident_score(p) == pytest.approx(0.9)
    # > 90 % confident reals: their mean
    p = np.r_[np.full(19, 0.05), 0.6]
    assert confident_score(p) == pytest.approx(0.05)
    # neither: plain mean
    p = np.array([0.5, 0.6, 0.4, 0.9])
    assert confident_score(p) == pytest.approx(p.mean())
    assert confident_score(np.array([])) == NO_FACE_SCORE


def test_mask_in_crop_matches_the_crop_geometry() -> None:
    """A frame mask cut through crop_box lands where crop_face puts the same pixels."""
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[10:30, 50:70] = 255  # a white square
    mask = (frame[..., 0] > 0).astype(np.uint8) * 255
    window = np.array([40, -10, 90, 40])  # extends past the right and top borders
    crop = crop_face(frame, window, 25)
    true = mask_in_crop(mask, window.astype(np.float32), 25)
    assert np.array_equal(true.astype(bool), crop[..., 0] >= 128)
    # entirely outside the frame: empty
    assert not mask_in_crop(mask, np.array([200, 200, 230, 230]), 10).any()


def test_mean_mask_baseline_and_seg_scores(tables: dict[str, Any]) -> None:
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    rows = np.flatnonzero(index.is_fake & index.seg_ok & (index.split == "train"))
    mean, t = fit_mean_mask(index, rows, 32)
    assert mean.shape == (32, 32) and 0 < t < 1
    truth = [index.mask(int(i), 32) for i in rows]
    # a perfect predictor scores Dice 1 and beats the baseline
    perfect = np.stack(truth).astype(np.float32)
    out = seg_vs_masks(perfect, truth, mean, t, 0.5)
    assert out["dice"] == pytest.approx(1.0) and out["iou"] == pytest.approx(1.0)
    assert out["baseline_dice"] < 1.0 and out["dice_gain"] > 0


def test_counterfactual_with_full_mask_recovers_the_original(tables: dict[str, Any]) -> None:
    """Fake = original outside the mask, so pasting inside it gives the original crop:
    the re-scored probability must equal the model's probability on the original."""
    torch.manual_seed(0)
    model = build_model(UYNetConfig(base_width=4, depth=2, input_size=32)).eval()
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    rows = np.flatnonzero(index.is_fake & index.seg_ok & (index.split == "test"))
    masks = [index.mask(int(i), 32) for i in rows]
    p_fake, _ = predict_images(model, [index.crop(int(i)) for i in rows], 32)
    out = counterfactual(model, index, rows, masks, p_fake, 32, 0.5, 16)
    originals = [
        np.flatnonzero((index.video_id == index.original_id[i]) & (index.frame_idx == index.frame_idx[i]))[0]
        for i in rows
    ]
    p_orig, _ = predict_images(model, [index.crop(int(i)) for i in originals], 32)
    assert out["n"] == len(rows)
    assert out["p_fake_after"] == pytest.approx(float(p_orig.mean()), abs=1e-6)
    assert out["drop_mean"] == pytest.approx(float((p_fake - p_orig).mean()), abs=1e-6)


def test_video_score_over_tracks_keeps_one_swapped_face() -> None:
    """Two faces, one swapped: the max over tracks keeps the swap; the mean halves it."""
    vids = ["v", "v", "v", "v", "w", "w"]
    tracks = [0, 0, 1, 1, 0, 0]
    p = np.array([0.1, 0.1, 0.9, 0.7, 0.3, 0.5])
    high, counts = video_scores(["v", "w"], vids, p, crop_track_ids=tracks, over_tracks="max")
    assert high.tolist() == pytest.approx([0.8, 0.4]) and counts.tolist() == [4, 2]
    mean, _ = video_scores(["v", "w"], vids, p, crop_track_ids=tracks, over_tracks="mean")
    assert mean.tolist() == pytest.approx([0.45, 0.4])
    # no track ids: one track per video, as before (the pooled frame mean)
    pooled, _ = video_scores(["v", "w"], vids, p)
    assert pooled.tolist() == pytest.approx([0.45, 0.4])
    # the frame→track rule applies per track: track 1's confident frames alone
    conf, _ = video_scores(["v"], vids[:4], p[:4], "confident", 0.8, 0.4, tracks[:4], "max")
    assert conf.tolist() == pytest.approx([0.9])  # track 1: 0.9 > 0.8 is 1 of 2 frames (> 40 %): its mean


def test_ensemble_averages_logits(tables: dict[str, Any]) -> None:
    config = UYNetConfig(base_width=4, depth=2, input_size=32)
    torch.manual_seed(0)
    a = build_model(config).eval()
    torch.manual_seed(1)
    b = build_model(config).eval()
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    crops = [index.crop(i) for i in range(6)]
    logits, maps = member_logits([a, b], crops, 32, batch_size=4)
    assert logits.shape == (2, 6) and maps.shape == (6, 32, 32)
    p_a, maps_a = predict_images(a, crops, 32)
    p_b, _ = predict_images(b, crops, 32)
    assert torch.sigmoid(torch.from_numpy(logits[0])).numpy() == pytest.approx(p_a, abs=1e-6)
    p_ens, _ = predict_images([a, b], crops, 32)
    mean_logit = (np.log(p_a / (1 - p_a)) + np.log(p_b / (1 - p_b))) / 2
    assert p_ens == pytest.approx(1 / (1 + np.exp(-mean_logit)), abs=1e-5)
    # not the mean of the probabilities (unless the members agree)
    assert not np.allclose(p_ens, (p_a + p_b) / 2, atol=1e-7) or np.allclose(p_a, p_b)
    # a one-member ensemble is the model
    p_one, maps_one = predict_images([a], crops, 32)
    assert np.array_equal(p_one, p_a) and np.array_equal(maps_one, maps_a)
    assert ensemble_p(logits).shape == (6,)


def test_mean_mask_baseline_picks_the_best_threshold() -> None:
    """Three masks: a shared 2x2 core plus one pixel of their own. The mean is 1 on the
    core and 1/3 on the three extra pixels. Keeping them (t <= 1/3) gives IoU 5/7 per
    mask, the core alone 4/5: the best grid level is the lowest above 1/3, 0.35. It is
    the masks_quality baseline (`dfmask.masks.scoring.fit_baseline`)."""
    masks = []
    for extra in ((0, 0), (0, 3), (3, 3)):
        m = np.zeros((4, 4), np.uint8)
        m[1:3, 1:3] = 1
        m[extra] = 1
        masks.append(m)
    mean, t = mean_mask_baseline(masks, 4)
    np.testing.assert_allclose(mean, np.mean(np.stack(masks), axis=0))
    assert t == 0.35
    assert np.mean([metrics.iou(mean >= t, m) for m in masks]) == pytest.approx(4 / 5)
    fitted = fit_baseline(masks)
    assert fitted is not None and fitted.threshold == t and np.array_equal(fitted.mean_mask, mean)
    # empty masks do not count: the mean is over the non-empty ones
    mean_with_empty, t_with_empty = mean_mask_baseline([*masks, np.zeros((4, 4), np.uint8)], 4)
    assert np.array_equal(mean_with_empty, mean) and t_with_empty == t
    empty, t0 = mean_mask_baseline([], 8)
    assert empty.shape == (8, 8) and not empty.any() and t0 == 0.5


def test_frame_features_are_what_the_cls_head_reads() -> None:
    """`member_outputs` with ``features``: the temporal head's per-frame inputs, from the
    same forward pass as the scores (which do not change with it)."""
    torch.manual_seed(0)
    net = build_model(UYNetConfig(input_size=32, base_width=4, depth=2)).eval()
    images = [np.random.default_rng(k).integers(0, 256, (40, 40, 3), np.uint8) for k in range(3)]
    logits, maps, feats = member_outputs([net], images, 32, features=True)
    assert feats is not None
    assert feats.shape == (3, net.cls_head.in_channels + len(FRAME_STATS))
    plain = member_logits([net], images, 32)
    assert np.array_equal(logits, plain[0]) and np.array_equal(maps, plain[1])
    assert member_outputs([net], images, 32)[2] is None
    x = torch.from_numpy(np.stack([resize_crop(im, 32) for im in images])).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        seg, cls = net(x)
        pooled = torch.from_numpy(feats[:, :-3]).reshape(3, -1, 1, 1)
        assert torch.allclose(net.cls_head(pooled).reshape(-1), cls, atol=1e-5)
    assert np.allclose(feats[:, -3], cls.numpy(), atol=1e-5)
    assert np.allclose(feats[:, -2], torch.sigmoid(seg[:, 0]).mean(dim=(1, 2)).numpy(), atol=1e-5)
    # an ensemble's members side by side, in order (their channels do not correspond: not averaged)
    torch.manual_seed(1)
    other = build_model(UYNetConfig(input_size=32, base_width=4, depth=2)).eval()
    both = member_outputs([net, other], images, 32, features=True)[2]
    alone = member_outputs([other], images, 32, features=True)[2]
    assert both is not None and alone is not None
    assert np.allclose(both, np.concatenate([feats, alone], 1), atol=1e-6)
    empty = member_outputs([net, other], [], 32, features=True)[2]
    assert empty is not None and empty.shape == (0, both.shape[1])
