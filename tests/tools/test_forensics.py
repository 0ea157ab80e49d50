"""Forensic cue measurement: each cue detects the artefact it is meant for, and only that;
with methods, the same per method."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tools.forensics import cue_values, measure, separability


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
    for cue in ("noise_ratio", "sharpness_ratio", "colour_step"):
        assert doc[cue]["auc"] == pytest.approx(0.5)


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
    for cue in ("noise_ratio", "sharpness_ratio", "colour_step"):
        assert by["untouched"][cue]["auc"] == pytest.approx(0.5)
    # the pooled figures are those of all pairs together, not an average of the methods'
    assert doc == {**measure(pairs), "by_method": by}
    assert "by_method" not in measure(pairs)
    with pytest.raises(ValueError, match="2 methods for 36 pairs"):
        measure(pairs, methods=["a", "b"])
