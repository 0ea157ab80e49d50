"""The calibration file evaluate writes: read, validated, applied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dfmask.errors import DfmaskError
from dfmask.inference.calibration import UNCALIBRATED, read_calibration


def _write(tmp_path: Path, **doc: object) -> Path:
    base = {"schema_version": 1, "method": "none", "threshold": 0.5, "aggregation": "max", "fitted_on": "val"}
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(base | doc))
    return path


def test_temperature_scales_the_logit(tmp_path: Path) -> None:
    cal = read_calibration(_write(tmp_path, method="temperature", temperature=2.0, threshold=0.4, aggregation="mean"))
    p = np.array([0.1, 0.5, 0.9, 0.99])
    logit = np.log(p / (1 - p))
    np.testing.assert_allclose(cal.apply(p), 1 / (1 + np.exp(-logit / 2.0)), atol=1e-12)
    assert cal.threshold == 0.4 and cal.aggregation == "mean" and cal.fitted_on == "val"
    assert cal.describe()["temperature"] == 2.0
    # T > 1 pulls scores toward 0.5 and keeps their order
    out = cal.apply(p)
    assert np.all(np.abs(out - 0.5) <= np.abs(p - 0.5)) and np.all(np.diff(out) > 0)


def test_isotonic_interpolates_its_breakpoints(tmp_path: Path) -> None:
    cal = read_calibration(_write(tmp_path, method="isotonic", x=[0.0, 0.5, 1.0], y=[0.1, 0.2, 0.9]))
    np.testing.assert_allclose(cal.apply(np.array([0.0, 0.25, 0.5, 0.75, 1.0])), [0.1, 0.15, 0.2, 0.55, 0.9])


def test_none_is_identity_and_the_default_says_so(tmp_path: Path) -> None:
    cal = read_calibration(_write(tmp_path))
    np.testing.assert_array_equal(cal.apply(np.array([0.2, 0.7])), [0.2, 0.7])
    assert UNCALIBRATED.describe() == {"method": "none", "threshold": 0.5, "aggregation": "max", "fitted_on": None}


@pytest.mark.parametrize(
    ("doc", "names"),
    [
        ({"schema_version": 2}, "schema_version"),
        ({"method": "platt"}, "method"),
        ({"aggregation": "median"}, "aggregation"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": "high"}, "threshold"),
        ({"method": "temperature"}, "temperature"),
        ({"method": "temperature", "temperature": 0}, "temperature"),
        ({"method": "isotonic", "x": [0, 1], "y": [0.5]}, "isotonic"),
        ({"method": "isotonic", "x": [0, 1]}, "'y'"),
        ({"method": "isotonic", "x": [1, 0], "y": [0, 1]}, "x must be non-decreasing"),
        ({"method": "isotonic", "x": [0, 1], "y": [1, 0]}, "y must be non-decreasing"),
        ({"method": "isotonic", "x": [0, 2], "y": [0, 1]}, "x holds 2"),
    ],
)
def test_a_bad_file_is_one_line_naming_the_key(tmp_path: Path, doc: dict[str, object], names: str) -> None:
    path = _write(tmp_path, **doc)
    with pytest.raises(DfmaskError) as err:
        read_calibration(path)
    assert names in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DfmaskError, match="cannot read"):
        read_calibration(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DfmaskError, match="not a JSON"):
        read_calibration(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(DfmaskError, match="JSON object"):
        read_calibration(tmp_path / "list.json")
