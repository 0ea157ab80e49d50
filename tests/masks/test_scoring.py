"""Mask scores per method, band and case, the train-fitted baseline and the targets."""

from __future__ import annotations

import numpy as np

from dfmask.masks import scoring
from dfmask.masks.truth import QualityItem, _case


def _square(size: int, lo: int, hi: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[lo:hi, lo:hi] = 1
    return mask


def test_band_of_names_the_issue_bands():
    assert [scoring.band_of(c) for c in (18, 22, 23, 26, 27, 29, 30, 32)] == [
        "18-22", "18-22", "23-26", "23-26", "27-29", "27-29", "30-32", "30-32",
    ]  # fmt: skip
    assert scoring.band_of(17) == "other" and scoring.band_of(40) == "other" and scoring.band_of(None) == "unknown"


def test_baseline_is_fitted_on_non_empty_train_masks_only():
    # three train truths: two squares 8..24 and one 12..28; empty truths are ignored
    truths = [_square(32, 8, 24), _square(32, 8, 24), _square(32, 12, 28), np.zeros((32, 32), np.uint8)]
    base = scoring.fit_baseline(truths)
    assert base is not None and base.train_crops == 3
    # the majority square wins: the pixels covered by >= 2/3 of the truths
    assert np.array_equal(base.predict(32), (base.mean_mask >= base.threshold).astype(np.uint8))
    assert base.predict(32)[8:24, 8:24].all() and base.threshold > 0.34
    assert base.predict(16).shape == (16, 16)  # other crop sizes get a resized constant
    assert scoring.fit_baseline([np.zeros((8, 8), np.uint8)]) is None


def _scores(videos: int, ours_iou_mask: np.ndarray, method: str = "autoencoder", band: str = "27-29"):
    truth = _square(32, 8, 24)
    base = scoring.fit_baseline([_square(32, 10, 26)])
    return [
        scoring.score_crop(
            truth, ours_iou_mask, True, base, video_id=f"v{v}", method=method, band=band, case="full", split="test"
        )
        for v in range(videos)
    ]


def test_targets_need_eight_test_videos_per_pooled_cell():
    good = _square(32, 8, 24)  # ours exact, baseline shifted by 2 px
    for videos, expected in ((8, "pass"), (7, "insufficient")):
        scores = _scores(videos, good)
        checks = scoring.targets(
            scoring.cells(scores, "method"), scoring.cells(scores, "band"), scoring.cells(scores, "case"), None
        )
        by_name = {c["name"]: c for c in checks}
        assert by_name["method autoencoder: IoU >= baseline - 0.01"]["status"] == expected
        assert by_name["band 27-29: IoU >= baseline - 0.01"]["status"] == expected
        assert by_name["overall: mean over methods with non-empty truth"]["status"] == expected
        assert by_name["codec-noise pairs: mean mask area"]["status"] == "insufficient"  # no fixture
        # cases without test crops are listed, undecided
        assert by_name["two faces: unswapped face"]["status"] == "insufficient"
        assert by_name["two faces: unswapped face"]["videos"] == 0
    # a mask 2.25x too large loses to the constant: fail, with the figures beside it
    scores = _scores(8, _square(32, 4, 28))
    method = scoring.cells(scores, "method")["autoencoder"]
    assert method["mean_iou"] < method["baseline_mean_iou"] - 0.01
    checks = scoring.targets(scoring.cells(scores, "method"), {}, {}, 0.004)
    assert checks[0]["status"] == "fail" and checks[0]["ours"] == method["mean_iou"]
    assert checks[-1]["status"] == "pass" and checks[-1]["figure"] == 0.004


def test_unswapped_crops_score_area_and_invalid_share():
    empty = np.zeros((32, 32), np.uint8)
    blob = _square(32, 0, 4)  # 16 px of 1024
    scores = [
        scoring.score_crop(empty, m, ok, None, video_id=f"v{i}", method="m", band="b", case="c", split="test")
        for i, (m, ok) in enumerate([(empty, False), (blob, True)])
    ]
    c = scoring.cell(scores)
    assert c["swapped_crops"] == 0 and c["mean_iou"] is None
    assert c["invalid_unswapped"] == 0.5 and c["mean_area_unswapped"] == 16 / 1024 / 2


def test_case_matches_the_crop_to_the_nearest_true_face():
    faces = [([10.0, 10.0, 50.0, 50.0], "full"), ([110.0, 10.0, 150.0, 50.0], "none")]
    assert _case("full", "classical", faces, [0, 0, 60, 60]) == "two_faces_swapped"
    assert _case("full", "classical", faces, [100, 0, 160, 60]) == "two_faces_unswapped"
    assert _case("mouth", "mouth", faces[:1], [0, 0, 60, 60]) == "mouth"
    assert _case("full", "no_change", faces[:1], [0, 0, 60, 60]) == "failed_or_no_change"
    assert _case("failed", "failed", faces, [0, 0, 60, 60]) == "failed_or_no_change"
    # without a ground-truth method the item's method and case follow its swap kind
    zero = np.zeros((4, 4), np.uint8)
    item = QualityItem("v", 0, 0, "failed", b"", b"", zero, zero, False)
    assert item.method == "failed" and item.case == "failed_or_no_change"
