"""Calibration of video probabilities and the operating threshold, fitted on val.

The evaluate stage fits a map from the raw video score (`dfmask.model.predict.video_scores`)
to a calibrated probability of FAKE on the **val** videos, then picks the threshold
that maximises Youden's J (TPR − FPR) on the calibrated val probabilities, and applies
both unchanged to **test**. Both go to ``<reports>/eval/calibration.json``, the file the
inference path (``dfmask predict`` / ``dfmask serve``) reads (`Calibration.to_json`,
`Calibration.from_json`; docs/model.md describes the format).

Methods (``evaluate.calibration``):

* ``temperature``: p' = σ(logit(p) / T), one scalar T > 0 minimising the val log loss
  (p clipped to DFDC's [1e-15, 1 − 1e-15] before the logit). Monotone, so AUC and
  the ranking are unchanged; it can sharpen or soften scores but not move their centre.
* ``isotonic``: scikit-learn's ``IsotonicRegression`` (non-decreasing, clipped to
  [0, 1] and to the fitted range); stored as its breakpoints (``x``, ``y``), applied by linear
  interpolation (``numpy.interp``), which is what ``IsotonicRegression.predict`` does.
  It can fix an offset (every real scored 0.9) but overfits a small val split and can
  map scores to exactly 0 or 1, which log loss punishes (ln 10^15 ≈ 34.5 per miss).
* ``none``: identity.

A val split without both classes cannot be fitted: the method falls back to ``none``
(said in the report) and the threshold to ``evaluate.threshold``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_curve

from dfmask import metrics
from dfmask.errors import DfmaskError
from dfmask.tables import write_json

SCHEMA_VERSION = 1
Method = Literal["temperature", "isotonic", "none"]
METHODS: tuple[Method, ...] = ("temperature", "isotonic", "none")


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(np.asarray(p, np.float64), metrics.EPS, 1 - metrics.EPS)))


@dataclass(frozen=True)
class Calibration:
    """A fitted map raw video score → calibrated p(FAKE) (see module docstring)."""

    method: Method = "none"
    temperature: float = 1.0
    isotonic_x: tuple[float, ...] = field(default=())  # breakpoints: raw scores, increasing
    isotonic_y: tuple[float, ...] = field(default=())  # calibrated p at each breakpoint, non-decreasing

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of raw scores ``p`` (any shape, float64)."""
        p = np.asarray(p, np.float64)
        if self.method == "temperature":
            return np.asarray(expit(_logit(p) / self.temperature))
        if self.method == "isotonic":
            return np.interp(p, self.isotonic_x, self.isotonic_y)
        return p

    def to_json(self, threshold: float, aggregation: str) -> dict[str, Any]:
        """The ``calibration.json`` document (schema version 1)."""
        doc: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "method": self.method}
        if self.method == "temperature":
            doc["temperature"] = self.temperature
        if self.method == "isotonic":
            doc["x"] = list(self.isotonic_x)  # the keys `dfmask.inference.calibration` reads
            doc["y"] = list(self.isotonic_y)
        doc.update({"threshold": float(threshold), "aggregation": aggregation, "fitted_on": "val"})
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "calibration.json") -> Calibration:
        """Parse a ``calibration.json`` document; a wrong version or field is a `DfmaskError`."""
        if doc.get("schema_version") != SCHEMA_VERSION:
            raise DfmaskError(f"{source}: schema_version {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        method = doc.get("method")
        if method == "temperature":
            t = doc.get("temperature")
            if not isinstance(t, int | float) or not t > 0:
                raise DfmaskError(f"{source}: temperature must be a number > 0, got {t!r}")
            return cls("temperature", temperature=float(t))
        if method == "isotonic":
            x, y = doc.get("x"), doc.get("y")
            if not isinstance(x, list) or not isinstance(y, list) or len(x) != len(y) or not x:
                raise DfmaskError(f"{source}: isotonic x and y must be non-empty lists of one length")
            if np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0):
                raise DfmaskError(f"{source}: isotonic breakpoints must be non-decreasing")
            return cls("isotonic", isotonic_x=tuple(map(float, x)), isotonic_y=tuple(map(float, y)))
        if method == "none":
            return cls()
        raise DfmaskError(f"{source}: method must be one of {', '.join(METHODS)}, got {method!r}")


def fit_temperature(y_true: np.ndarray, p: np.ndarray) -> float:
    """The T > 0 minimising the log loss of σ(logit(p)/T) (searched over log T in [−5, 5];
    deterministic: bounded Brent)."""
    y = np.asarray(y_true, np.float64)
    z = _logit(p)

    def nll(log_t: float) -> float:
        return metrics.log_loss(y, expit(z / math.exp(log_t)))

    found = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded", options={"xatol": 1e-6})
    return float(math.exp(found.x))


def fit_isotonic(y_true: np.ndarray, p: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Breakpoints (x, y) of scikit-learn's isotonic fit of y on p (increasing, [0, 1])."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(np.asarray(p, np.float64), np.asarray(y_true, np.float64))
    return tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_))


def fit(method: Method, y_true: np.ndarray, p: np.ndarray) -> Calibration:
    """Fit ``method`` on (y_true, p); ``none`` when the data lack a class."""
    y = np.asarray(y_true, bool)
    if method == "none" or not (y.any() and not y.all()):
        return Calibration()
    if method == "temperature":
        return Calibration("temperature", temperature=fit_temperature(y, p))
    x, iso_y = fit_isotonic(y, p)
    return Calibration("isotonic", isotonic_x=x, isotonic_y=iso_y)


def youden_threshold(y_true: np.ndarray, p: np.ndarray) -> float | None:
    """The score t maximising Youden's J = TPR − FPR with ``p >= t`` ⇒ FAKE (scikit-learn's
    ROC points; the highest such t on a tie); None without both classes."""
    y = np.asarray(y_true, bool)
    if not (y.any() and not y.all()):
        return None
    fpr, tpr, thresholds = roc_curve(y.astype(int), np.asarray(p, np.float64), drop_intermediate=False)
    finite = np.isfinite(thresholds)
    j = np.where(finite, np.round(tpr - fpr, 12), -np.inf)  # rounded: 1 − 1/3 and 2/3 tie
    return float(thresholds[int(np.argmax(j))])  # thresholds decrease: argmax takes the highest


def rates_at(y_true: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    """False- and true-positive rates (``p >= threshold`` ⇒ FAKE) with their counts."""
    y = np.asarray(y_true, bool)
    called = np.asarray(p, np.float64) >= threshold
    n_real, n_fake = int((~y).sum()), int(y.sum())
    return {
        "threshold": float(threshold),
        "n_real": n_real,
        "n_fake": n_fake,
        "false_positive_rate": float(called[~y].mean()) if n_real else None,
        "true_positive_rate": float(called[y].mean()) if n_fake else None,
    }


def bootstrap_interval(
    y_true: np.ndarray, p: np.ndarray, n_bins: int, resamples: int, seed: int, level: float = 0.9
) -> list[float] | None:
    """Percentile bootstrap interval (``level``, default 90 %) of `metrics.equal_mass_ece`
    over ``resamples`` draws with replacement (numpy Generator seeded by ``seed``: the same
    inputs give the same interval). None when there is nothing to resample.

    ECE is biased upwards under resampling (duplicated items make bins purer), so the
    interval can lie above the point estimate on small sets; it shows the spread."""
    y, s = np.asarray(y_true, np.int64), np.asarray(p, np.float64)
    if not len(y) or resamples < 1:
        return None
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(y), size=(resamples, len(y)))
    values = np.array([metrics.equal_mass_ece(y[d], s[d], n_bins) for d in draws])
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def probability_report(y_true: np.ndarray, p: np.ndarray, n_bins: int, resamples: int, seed: int) -> dict[str, Any]:
    """Log loss (nats), Brier, ECE (equal mass, with its bootstrap 90 % interval)."""
    return {
        "log_loss": metrics.none_if_nan(metrics.log_loss(y_true, p)),
        "brier": metrics.none_if_nan(metrics.brier_score(y_true, p)),
        "ece_equal_mass": metrics.none_if_nan(metrics.equal_mass_ece(y_true, p, n_bins)),
        "ece_equal_mass_ci90": bootstrap_interval(y_true, p, n_bins, resamples, seed),
    }


def split_report(
    y: np.ndarray,
    raw: np.ndarray,
    fitted: Calibration,
    val: tuple[np.ndarray, np.ndarray] | None,
    n_bins: int,
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """A split's video probabilities before and after ``fitted`` (`probability_report`),
    and the test log loss / Brier of the other methods fitted on ``val`` (y, raw)."""
    report: dict[str, Any] = {
        "method": fitted.method,
        "video_before": probability_report(y, raw, n_bins, resamples, seed),
        "video_after": probability_report(y, fitted.apply(raw), n_bins, resamples, seed),
    }
    if val is not None:
        others = {}
        for method in METHODS:
            if method != fitted.method:
                alt = fit(method, val[0], val[1]).apply(raw)
                others[method] = {
                    "log_loss": metrics.none_if_nan(metrics.log_loss(y, alt)),
                    "brier": metrics.none_if_nan(metrics.brier_score(y, alt)),
                }
        report["other_methods_after"] = others
    return report


def write_calibration(path: Path, calibration: Calibration, threshold: float, aggregation: str) -> Path:
    """Write ``calibration.json`` (sorted keys, atomic: `dfmask.tables.write_json`)."""
    write_json(path, calibration.to_json(threshold, aggregation))
    return path


def read_calibration(path: Path) -> tuple[Calibration, dict[str, Any]]:
    """(the calibration, the whole document) of a ``calibration.json``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise DfmaskError(f"{path}: cannot read the calibration ({err})") from None
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: not a JSON object")
    cal = Calibration.from_json(doc, str(path))
    if not isinstance(doc.get("threshold"), int | float) or doc.get("aggregation") not in ("max", "mean"):
        raise DfmaskError(f"{path}: needs a numeric threshold and aggregation max|mean")
    return cal, doc
