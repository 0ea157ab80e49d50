"""``calibration.json``: the one reader (`dfmask.model.calibration.read_calibration`) that
evaluate's tests and the scoring path share: parsed, validated, applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dfmask.errors import DfmaskError
from dfmask.model import calibration as cal
from dfmask.model.calibration import UNCALIBRATED, read_calibration


def _write(tmp_path: Path, **doc: object) -> Path:
    base = {"schema_version": 1, "method": "none", "threshold": 0.5, "aggregation": "max", "fitted_on": "val"}
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(base | doc))
    return path


def test_temperature_scales_the_logit(tmp_path: Path) -> None:
    point = read_calibration(_write(tmp_path, method="temperature", temperature=2.0, threshold=0.4, aggregation="mean"))
    p = np.array([0.1, 0.5, 0.9, 0.99])
    logit = np.log(p / (1 - p))
    np.testing.assert_allclose(point.apply(p), 1 / (1 + np.exp(-logit / 2.0)), atol=1e-12)
    assert point.threshold == 0.4 and point.aggregation == "mean" and point.fitted_on == "val"
    assert point.describe()["temperature"] == 2.0 and point.source == str(tmp_path / "calibration.json")
    # T > 1 pulls scores toward 0.5 and keeps their order
    out = point.apply(p)
    assert np.all(np.abs(out - 0.5) <= np.abs(p - 0.5)) and np.all(np.diff(out) > 0)


def test_isotonic_interpolates_its_breakpoints(tmp_path: Path) -> None:
    point = read_calibration(_write(tmp_path, method="isotonic", x=[0.0, 0.5, 1.0], y=[0.1, 0.2, 0.9]))
    np.testing.assert_allclose(point.apply(np.array([0.0, 0.25, 0.5, 0.75, 1.0])), [0.1, 0.15, 0.2, 0.55, 0.9])


def test_none_is_identity_and_the_default_says_so(tmp_path: Path) -> None:
    point = read_calibration(_write(tmp_path))
    np.testing.assert_array_equal(point.apply(np.array([0.2, 0.7])), [0.2, 0.7])
    assert UNCALIBRATED.describe() == {
        "method": "none",
        "threshold": 0.5,
        "aggregation": "max",
        "frame_aggregation": "mean",
        "fitted_on": None,
    }


def test_a_file_without_the_frame_rule_means_mean(tmp_path: Path) -> None:
    old = read_calibration(_write(tmp_path))  # written before frame_aggregation was recorded
    assert old.frame_aggregation == "mean" and old == cal.OperatingPoint(fitted_on="val")
    new = read_calibration(
        _write(tmp_path, frame_aggregation="confident", confident_threshold=0.7, confident_min_frac=0.25)
    )
    assert (new.frame_aggregation, new.confident_threshold, new.confident_min_frac) == ("confident", 0.7, 0.25)
    assert new.describe()["confident_min_frac"] == 0.25


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"method": "platt"}, "method"),
        ({"aggregation": "median"}, "aggregation"),
        ({"frame_aggregation": "median"}, "frame_aggregation"),
        ({"frame_aggregation": "confident"}, "confident_threshold"),
        ({"frame_aggregation": "confident", "confident_threshold": 0.8}, "confident_min_frac"),
        ({"confident_min_frac": 1.5}, "confident_min_frac"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"threshold": True}, "threshold"),  # a boolean is not a number here
        ({"threshold": float("nan")}, "threshold"),  # json writes and reads NaN
        ({"fitted_on": 3}, "fitted_on"),
        ({"method": "temperature"}, "temperature"),
        ({"method": "temperature", "temperature": 0}, "temperature"),
        ({"method": "temperature", "temperature": float("inf")}, "temperature"),
        ({"method": "isotonic", "x": [0, 1], "y": [0.5]}, "'y'"),
        ({"method": "isotonic", "x": [0, 0.5, 1], "y": [0, 1]}, "differ in length"),
        ({"method": "isotonic", "x": [0.5], "y": [0.5]}, "at least 2"),
        ({"method": "isotonic", "x": [0, 1]}, "'y'"),
        ({"method": "isotonic", "x": [1, 0], "y": [0, 1]}, "x must be non-decreasing"),
        ({"method": "isotonic", "x": [0, 1], "y": [1, 0]}, "y must be non-decreasing"),
        ({"method": "isotonic", "x": [0, 2], "y": [0, 1]}, "x holds 2"),
        ({"method": "isotonic", "x": [0, 1], "y": [False, True]}, "y holds False"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, doc: dict[str, object], names: str) -> None:
    path = _write(tmp_path, **doc)
    with pytest.raises(DfmaskError) as err:
        read_calibration(path)
    assert names in str(err.value) and str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="cannot read"):
        read_calibration(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DfmaskError, match="not a JSON"):
        read_calibration(tmp_path / "bad.json")
    (tmp_path / "latin1.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(DfmaskError, match="not a JSON"):
        read_calibration(tmp_path / "latin1.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DfmaskError, match="JSON object"):
        read_calibration(tmp_path / "list.json")


def test_isotonic_on_equal_scores_falls_back_to_none(tmp_path: Path) -> None:
    """Both classes but one distinct score (e.g. no val video has a face: all 0.5):
    scikit-learn keeps one breakpoint, which the reader refuses; the fit says none."""
    y, p = np.array([0, 1, 0, 1]), np.full(4, 0.5)
    assert len(cal.fit_isotonic(y, p)[0]) == 1
    fitted = cal.fit("isotonic", y, p)
    assert fitted == cal.Calibration()
    path = cal.write_calibration(tmp_path / "calibration.json", cal.OperatingPoint(fitted, 0.5, fitted_on="val"))
    assert read_calibration(path).calibration == fitted
