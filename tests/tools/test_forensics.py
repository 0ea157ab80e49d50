"""The forensic measure (`tools.forensics`): its cues see what a swap changed, pooled and per method."""

from __future__ import annotations

import numpy as np
import pytest

from tools.forensics import measure


def _pairs(n: int, smooth: bool, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` (original, fake, mask) triples of noisy 64-px crops; the fake's region is the
    original's blurred (lost sensor noise) when ``smooth``, else the original untouched."""
    import cv2

    rng = np.random.default_rng(seed)
    mask = np.zeros((64, 64), np.uint8)
    cv2.ellipse(mask, (32, 32), (16, 20), 0, 0, 360, 1, -1)
    out = []
    for _ in range(n):
        real = np.clip(128 + rng.normal(0, 12, (64, 64, 3)), 0, 255).astype(np.uint8)
        fake = real.copy()
        if smooth:
            fake[mask > 0] = cv2.GaussianBlur(real, (5, 5), 1.5)[mask > 0]
        out.append((real, fake, mask))
    return out


def test_measure_separates_a_method_that_changes_pixels_from_one_that_does_not() -> None:
    pairs = _pairs(20, True, 0) + _pairs(20, False, 1)
    doc = measure(pairs, methods=["blurred"] * 20 + ["untouched"] * 20)
    by = doc["by_method"]
    assert by["blurred"]["pairs"] == by["untouched"]["pairs"] == 20
    assert by["blurred"]["noise_ratio"]["auc"] == pytest.approx(1.0)
    assert by["blurred"]["noise_ratio"]["fake_mean"] < by["blurred"]["noise_ratio"]["real_mean"]
    # identical crops: every cue ties, AUC 0.5
    assert by["untouched"]["noise_ratio"]["auc"] == pytest.approx(0.5)
    # pooled: between the two
    assert 0.5 < doc["noise_ratio"]["auc"] < 1.0
    assert doc["pairs"] == 40


def test_measure_without_methods_has_no_breakdown_and_counts_skipped_regions() -> None:
    pairs = _pairs(3, True, 0)
    tiny = np.zeros((64, 64), np.uint8)
    tiny[30:32, 30:32] = 1
    pairs.append((pairs[0][0], pairs[0][1], tiny))
    doc = measure(pairs)
    assert "by_method" not in doc
    assert (doc["pairs"], doc["skipped_small_region"]) == (3, 1)
    with pytest.raises(ValueError, match="2 methods for 4 pairs"):
        measure(pairs, methods=["a", "b"])
