"""Forensic cue measurement: each cue detects the artefact it is meant for, and only that;
with methods, the same per method."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tools.forensics import CUES, border_bands, cue_values, measure, separability


def _pairs(kind: str, n: int = 24) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(real, fake, mask) triples; ``kind`` = what the fake's region got: blur, colour or nothing."""
    out = []
    for seed in range(n):
        rng = np.random.default_rng(seed)
        real = np.clip(rng.normal(128, 25, (64, 64, 3)), 0, 255).astype(np.uint8)
        mask = np.zeros((64, 64), np.uint8)
        cv2.circle(mask, (32, 32), 16, 1, -1)
        fake = real.copy()
        if kind == "blur":  # pasted face without the frame's noise
            fake[mask > 0] = cv2.GaussianBlur(real, (0, 0), 1.5)[mask > 0]
        elif kind == "colour":  # pasted face with a colour seam
            seam = np.array([30, -10, 5])
            fake[mask > 0] = np.clip(real[mask > 0].astype(int) + seam, 0, 255).astype(np.uint8)
        elif kind in ("hard", "feathered"):  # a smooth face with a brighter donor pasted in
            real = np.clip(rng.normal(128, 3, (64, 64, 3)), 0, 255).astype(np.uint8)
            alpha = mask.astype(np.float32)
            if kind == "feathered":
                alpha = cv2.GaussianBlur(alpha, (0, 0), 4.0)
            donor = np.clip(real.astype(np.float32) + np.array([25.0, 20.0, 10.0]), 0, 255)
            fake = np.round(donor * alpha[..., None] + real * (1 - alpha[..., None])).astype(np.uint8)
        out.append((real, fake, mask))
    return out


def test_blur_shows_in_noise_and_sharpness_not_in_colour() -> None:
    doc = measure(_pairs("blur"))
    assert doc["pairs"] == 24 and doc["skipped_small_region"] == 0
    assert doc["noise_ratio"]["auc"] > 0.95 and doc["sharpness_ratio"]["auc"] > 0.95
    assert doc["noise_ratio"]["fake_mean"] < doc["noise_ratio"]["real_mean"]
    assert doc["colour_step"]["auc"] < 0.8


def test_colour_seam_shows_in_colour_step() -> None:
    doc = measure(_pairs("colour"))
    assert doc["colour_step"]["auc"] > 0.95
    assert doc["colour_step"]["fake_mean"] > doc["colour_step"]["real_mean"]


def test_identical_fakes_carry_nothing() -> None:
    doc = measure(_pairs("none"))
    for cue in CUES:
        assert doc[cue]["auc"] == pytest.approx(0.5)


def test_a_hard_paste_shows_in_the_seam_a_feathered_one_does_not() -> None:
    hard, feathered = measure(_pairs("hard")), measure(_pairs("feathered"))
    assert hard["seam"]["auc"] > 0.95 and hard["seam"]["fake_mean"] > 2 * hard["seam"]["real_mean"]
    # the same colour change faded out over ~4 px leaves no edge on the border itself
    assert feathered["seam"]["fake_mean"] < 0.5 * hard["seam"]["fake_mean"]
    assert feathered["colour_step"]["auc"] > 0.95  # ... though the colours still differ


def test_border_bands_lie_on_and_beside_the_border() -> None:
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    border, near = border_bands(mask, 4)
    # rows 9 | 10 meet at the top border: the first pixel on each side is the border ...
    assert [r for r in range(40) if border[r, 20]] == [9, 10, 29, 30]
    # ... the 3rd to 5th pixels on each side are its neighbourhood
    assert [r for r in range(20) if near[r, 20]] == [5, 6, 7, 12, 13, 14]
    assert not (border & near).any()


def test_video_auc_compares_videos_not_crops() -> None:
    # two fake videos, each of one original; crop 0 of each fake is blurred, the rest not
    pairs = _pairs("blur", 4)[:1] + _pairs("none", 4)[1:2] + _pairs("blur", 4)[2:3] + _pairs("none", 4)[3:]
    videos = [("f1", "o1"), ("f1", "o1"), ("f2", "o2"), ("f2", "o2")]
    doc = measure(pairs, videos=videos)
    assert doc["fake_videos"] == 2 and doc["original_videos"] == 2
    assert doc["noise_ratio"]["video_auc"] == pytest.approx(
        separability(
            [np.mean([cue_values(r, m)["noise_ratio"] for r, _, m in pairs[k : k + 2]]) for k in (0, 2)],
            [np.mean([cue_values(f, m)["noise_ratio"] for _, f, m in pairs[k : k + 2]]) for k in (0, 2)],
        )
    )
    assert "video_auc" not in measure(pairs)["noise_ratio"]
    with pytest.raises(ValueError, match="1 videos for 4 pairs"):
        measure(pairs, videos=videos[:1])


def test_tiny_regions_are_skipped_and_counted() -> None:
    real = np.full((32, 32, 3), 100, np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[10:12, 10:12] = 1
    assert cue_values(real, mask) is None
    assert measure([(real, real, mask)])["skipped_small_region"] == 1


def test_separability_takes_the_better_direction() -> None:
    assert separability([3.0, 4.0], [1.0, 2.0]) == pytest.approx(1.0)
    assert separability([1.0, 2.0], [3.0, 4.0]) == pytest.approx(1.0)


def test_measure_per_method_keeps_each_methods_own_evidence() -> None:
    pairs = _pairs("blur", 12) + _pairs("colour", 12) + _pairs("none", 12)
    methods = ["blurred"] * 12 + ["seamed"] * 12 + ["untouched"] * 12
    doc = measure(pairs, methods=methods)
    by = doc["by_method"]
    assert sorted(by) == ["blurred", "seamed", "untouched"]
    assert all(by[m]["pairs"] == 12 for m in by) and doc["pairs"] == 36
    assert by["blurred"]["noise_ratio"]["auc"] > 0.95 and by["blurred"]["colour_step"]["auc"] < 0.8
    assert by["seamed"]["colour_step"]["auc"] > 0.95
    for cue in CUES:
        assert by["untouched"][cue]["auc"] == pytest.approx(0.5)
    # the pooled figures are those of all pairs together, not an average of the methods'
    assert doc == {**measure(pairs), "by_method": by}
    assert "by_method" not in measure(pairs)
    with pytest.raises(ValueError, match="2 methods for 36 pairs"):
        measure(pairs, methods=["a", "b"])
    videos = [(f"f{k // 2}", f"o{k // 4}") for k in range(36)]
    with_videos = measure(pairs, methods=methods, videos=videos)["by_method"]
    assert with_videos["blurred"]["fake_videos"] == 6 and with_videos["blurred"]["original_videos"] == 3
    assert with_videos["blurred"]["noise_ratio"]["video_auc"] == pytest.approx(1.0)


def test_combined_cues_are_scored_on_held_out_people() -> None:
    # blurred fakes of 12 originals and seamed ones of 12 others: no single cue separates
    # both, the combination does, scored on folds of originals the fit has not seen
    pairs = _pairs("blur", 12) + _pairs("colour", 12)
    videos = [(f"fake{k}", f"orig{k}") for k in range(24)]
    doc = measure(pairs, videos=videos)
    assert doc["combined"]["folds"] == 5
    assert doc["combined"]["auc"] > 0.95 and doc["combined"]["video_auc"] > 0.95
    assert max(doc[c]["auc"] for c in CUES) < doc["combined"]["auc"]
    untouched = measure(_pairs("none", 12), videos=videos[:12])["combined"]
    assert untouched["auc"] < 0.7
    assert measure(pairs, videos=[("f", "o")] * 24)["combined"] is None  # one original: no held-out fold
    assert "combined" not in measure(pairs)
