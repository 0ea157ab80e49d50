"""Calibration of video probabilities and the operating point, fitted on val.

The evaluate stage fits a map from the raw video score (`dfmask.model.predict.video_scores`)
to a calibrated probability of FAKE on the **val** videos, then picks the threshold
that maximises Youden's J (TPR − FPR) on the calibrated val probabilities, and applies
both unchanged to **test**. Both go to ``<reports>/eval/calibration.json`` with the
rules that made the raw score (`OperatingPoint`); the scoring path (``dfmask predict`` /
``dfmask serve``, `dfmask.Detector`) reads the same file through this module
(`read_calibration`), so a score means the same thing in both. The file::

    {"schema_version": 1,
     "method": "temperature" | "isotonic" | "none",
     "temperature": 1.7,                    # temperature only
     "x": [...], "y": [...],                # isotonic only: >= 2 breakpoints in [0, 1]
     "threshold": 0.42,                     # on the CALIBRATED probability: >= threshold => FAKE
     "frame_aggregation": "mean" | "confident",   # a face track's score from its frames
     "confident_threshold": 0.8, "confident_min_frac": 0.4,   # the "confident" rule's params
     "aggregation": "max" | "mean",         # a video's score from its tracks' scores
     "fitted_on": "val"}

A file without ``frame_aggregation`` (written before it was recorded) means ``mean``.

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
(said in the report) and the threshold to ``evaluate.threshold``. So does isotonic on
val scores that are all equal (e.g. no val video has a face): its single breakpoint
would map every score to one constant, erasing the ranking.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

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
FrameRule = Literal["mean", "confident"]  # `dfmask.model.predict.video_scores` ``method``
TrackRule = Literal["max", "mean"]  # ... and ``over_tracks``
FRAME_AGGREGATIONS: tuple[FrameRule, ...] = ("mean", "confident")
TRACK_AGGREGATIONS: tuple[TrackRule, ...] = ("max", "mean")
T = TypeVar("T", bound=str)


def _logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(logit(np.clip(np.asarray(p, np.float64), metrics.EPS, 1 - metrics.EPS)))


def _number(doc: dict[str, Any], key: str, source: str, low: float, high: float) -> float:
    """``doc[key]`` as a finite number in [low, high] (a boolean is not a number here)."""
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DfmaskError(f"{source}: {key} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise DfmaskError(f"{source}: {key} must be in [{low}, {high}], got {value}")
    return float(value)


def _points(doc: dict[str, Any], key: str, source: str) -> tuple[float, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or len(value) < 2:
        raise DfmaskError(f"{source}: isotonic needs a list {key!r} of at least 2 numbers, got {value!r}")
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            raise DfmaskError(f"{source}: {key} holds {v!r}; every breakpoint must be a number in [0, 1]")
    return tuple(map(float, value))


def _choice(doc: dict[str, Any], key: str, source: str, choices: tuple[T, ...], default: T) -> T:
    value = doc.get(key, default)
    for choice in choices:
        if value == choice:
            return choice
    raise DfmaskError(f"{source}: {key} must be {' | '.join(choices)}, got {value!r}")


@dataclass(frozen=True)
class Calibration:
    """A fitted map raw video score → calibrated p(FAKE) (see module docstring)."""

    method: Method = "none"
    temperature: float = 1.0
    isotonic_x: tuple[float, ...] = field(default=())  # breakpoints: raw scores, increasing
    isotonic_y: tuple[float, ...] = field(default=())  # calibrated p at each breakpoint, non-decreasing

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities of raw scores ``p`` (any shape, float64)."""
        p = np.asarray(p, np.float64)
        if self.method == "temperature":
            return np.asarray(expit(_logit(p) / self.temperature))
        if self.method == "isotonic":
            return np.interp(p, self.isotonic_x, self.isotonic_y)
        return p

    def to_json(self) -> dict[str, Any]:
        """The map's keys of ``calibration.json``."""
        doc: dict[str, Any] = {"method": self.method}
        if self.method == "temperature":
            doc["temperature"] = self.temperature
        if self.method == "isotonic":
            doc["x"], doc["y"] = list(self.isotonic_x), list(self.isotonic_y)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], source: str = "calibration.json") -> Calibration:
        """The map of a ``calibration.json`` document; every problem is a one-line
        `DfmaskError` naming ``source`` and the key."""
        method = doc.get("method")
        if method == "temperature":
            return cls("temperature", temperature=_number(doc, "temperature", source, 1e-6, 1e6))
        if method == "isotonic":
            x, y = _points(doc, "x", source), _points(doc, "y", source)
            if len(x) != len(y):
                raise DfmaskError(f"{source}: isotonic x and y differ in length ({len(x)} vs {len(y)})")
            if any(b < a for a, b in itertools.pairwise(x)):
                raise DfmaskError(f"{source}: isotonic x must be non-decreasing")
            if any(b < a for a, b in itertools.pairwise(y)):
                raise DfmaskError(f"{source}: isotonic y must be non-decreasing (a monotone map)")
            return cls("isotonic", isotonic_x=x, isotonic_y=y)
        if method == "none":
            return cls()
        raise DfmaskError(f"{source}: method must be one of {' | '.join(METHODS)}, got {method!r}")


@dataclass(frozen=True)
class OperatingPoint:
    """Everything ``calibration.json`` holds: how a video's raw score is made from its
    frames' p(FAKE) (``frame_aggregation`` with the confident rule's params, then
    ``aggregation`` over tracks: `dfmask.model.predict.video_scores`), the map to a
    calibrated probability, and the threshold on it (>= threshold ⇒ FAKE).

    ``source`` is the file it was read from (None: built here, e.g. `UNCALIBRATED`).
    """

    calibration: Calibration = Calibration()
    threshold: float = 0.5
    aggregation: TrackRule = "max"
    frame_aggregation: FrameRule = "mean"
    confident_threshold: float = 0.8
    confident_min_frac: float = 0.4
    fitted_on: str | None = None
    source: str | None = field(default=None, compare=False)

    @property
    def method(self) -> str:
        return self.calibration.method

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """`Calibration.apply` of the map."""
        return self.calibration.apply(p)

    def to_json(self) -> dict[str, Any]:
        """The ``calibration.json`` document (schema version 1)."""
        return {
            "schema_version": SCHEMA_VERSION,
            **self.calibration.to_json(),
            "threshold": float(self.threshold),
            "aggregation": self.aggregation,
            "frame_aggregation": self.frame_aggregation,
            "confident_threshold": float(self.confident_threshold),
            "confident_min_frac": float(self.confident_min_frac),
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_json(cls, doc: Any, source: str = "calibration.json") -> OperatingPoint:
        """Parse and validate a ``calibration.json`` document (one-line `DfmaskError`s
        naming ``source`` and the key). ``aggregation`` absent: ``max``;
        ``frame_aggregation`` absent: ``mean`` (files older than the key)."""
        if not isinstance(doc, dict):
            raise DfmaskError(f"{source}: expected a JSON object, got {type(doc).__name__}")
        if doc.get("schema_version") != SCHEMA_VERSION:
            version = doc.get("schema_version")
            raise DfmaskError(f"{source}: schema_version {version!r}, this dfmask reads {SCHEMA_VERSION}")
        frame = _choice(doc, "frame_aggregation", source, FRAME_AGGREGATIONS, "mean")
        confident = {"confident_threshold": 0.8, "confident_min_frac": 0.4}
        for key in confident:
            if key in doc or frame == "confident":
                confident[key] = _number(doc, key, source, 0.0, 1.0)
        fitted_on = doc.get("fitted_on")
        if fitted_on is not None and not isinstance(fitted_on, str):
            raise DfmaskError(f"{source}: fitted_on must be a split name, got {fitted_on!r}")
        return cls(
            Calibration.from_json(doc, source),
            threshold=_number(doc, "threshold", source, 0.0, 1.0),
            aggregation=_choice(doc, "aggregation", source, TRACK_AGGREGATIONS, "max"),
            frame_aggregation=frame,
            fitted_on=fitted_on,
            source=source,
            **confident,
        )

    def describe(self) -> dict[str, Any]:
        """What a prediction reports about how its score was made."""
        doc: dict[str, Any] = {
            "method": self.method,
            "threshold": self.threshold,
            "aggregation": self.aggregation,
            "frame_aggregation": self.frame_aggregation,
        }
        if self.frame_aggregation == "confident":
            doc.update(confident_threshold=self.confident_threshold, confident_min_frac=self.confident_min_frac)
        if self.method == "temperature":
            doc["temperature"] = self.calibration.temperature
        doc["fitted_on"] = self.fitted_on
        return doc


#: No calibration file: the raw probability, threshold 0.5, mean per track, max over tracks.
UNCALIBRATED = OperatingPoint()


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
    """Fit ``method`` on (y_true, p); ``none`` when the data lack a class (or, for
    isotonic, hold a single distinct score)."""
    y = np.asarray(y_true, bool)
    if method == "none" or not (y.any() and not y.all()):
        return Calibration()
    if method == "temperature":
        return Calibration("temperature", temperature=fit_temperature(y, p))
    x, iso_y = fit_isotonic(y, p)
    if len(x) < 2:  # all scores equal: a constant map would erase the ranking (module docstring)
        return Calibration()
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


def write_calibration(path: Path, point: OperatingPoint) -> Path:
    """Write ``calibration.json`` (sorted keys, atomic: `dfmask.tables.write_json`)."""
    write_json(path, point.to_json())
    return path


def read_calibration(path: str | Path) -> OperatingPoint:
    """Read and validate a ``calibration.json`` (`OperatingPoint.from_json`)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise DfmaskError(f"{path}: cannot read the calibration file ({err.strerror})") from None
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise DfmaskError(f"{path}: not a JSON calibration file ({err})") from None
    return OperatingPoint.from_json(doc, str(path))
