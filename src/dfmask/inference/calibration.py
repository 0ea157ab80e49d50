"""The calibration `evaluate` fits on val, read back for scoring.

``<reports>/eval/calibration.json`` (written by the evaluate stage)::

    {"schema_version": 1,
     "method": "temperature" | "isotonic" | "none",
     "temperature": 1.7,                        # temperature only: p = sigmoid(logit(p_raw) / T)
     "x": [...], "y": [...],                    # isotonic only: breakpoints, p = interp(p_raw, x, y)
     "threshold": 0.42,                         # on the CALIBRATED probability: >= threshold => FAKE
     "aggregation": "max" | "mean",             # over a video's face tracks
     "fitted_on": "val"}

The map is applied to a probability (a video's aggregated score, and each frame's
score so the per-frame chart is on the same scale). Without a file the score is the
model's raw probability, the threshold 0.5 and the aggregation ``max`` over tracks
(`UNCALIBRATED`), and every prediction says so (``calibration: "none"``).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.errors import DfmaskError

SCHEMA_VERSION = 1
METHODS = ("temperature", "isotonic", "none")
AGGREGATIONS = ("max", "mean")


@dataclass(frozen=True)
class Calibration:
    """A probability map plus the decision threshold and the track aggregation.

    Attributes:
        method: ``temperature``, ``isotonic`` or ``none``.
        temperature: T > 0 (temperature only).
        x, y: isotonic breakpoints (x increasing in [0, 1], y non-decreasing in [0, 1]).
        threshold: p_fake >= threshold => FAKE, on the calibrated probability.
        aggregation: ``max`` or ``mean`` of the per-track mean probabilities.
        source: the file it was read from (None: the built-in default).
    """

    method: str = "none"
    threshold: float = 0.5
    aggregation: str = "max"
    temperature: float = 1.0
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    fitted_on: str | None = None
    source: str | None = field(default=None, compare=False)

    def apply(self, p: np.ndarray | float) -> np.ndarray:
        """Calibrated probabilities of raw probabilities ``p`` (float64, same shape)."""
        p = np.asarray(p, np.float64)
        if self.method == "temperature":
            q = np.clip(p, 1e-12, 1 - 1e-12)
            logit = np.log(q) - np.log1p(-q)
            return 1.0 / (1.0 + np.exp(-logit / self.temperature))
        if self.method == "isotonic":
            return np.interp(p, self.x, self.y)
        return p

    def describe(self) -> dict[str, Any]:
        """What a prediction reports about how its score was made."""
        doc: dict[str, Any] = {"method": self.method, "threshold": self.threshold, "aggregation": self.aggregation}
        if self.method == "temperature":
            doc["temperature"] = self.temperature
        doc["fitted_on"] = self.fitted_on
        return doc


#: No calibration file: the raw probability, threshold 0.5, max over tracks.
UNCALIBRATED = Calibration()


def _number(doc: dict[str, Any], key: str, path: Path, low: float, high: float) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DfmaskError(f"{path}: {key} must be a number, got {value!r}")
    if not low <= value <= high:
        raise DfmaskError(f"{path}: {key} must be in [{low}, {high}], got {value}")
    return float(value)


def _points(doc: dict[str, Any], key: str, path: Path) -> tuple[float, ...]:
    value = doc.get(key)
    if not isinstance(value, list) or len(value) < 2:
        raise DfmaskError(f"{path}: isotonic needs a list {key!r} of at least 2 numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            raise DfmaskError(f"{path}: {key} holds {v!r}; every breakpoint must be a number in [0, 1]")
        out.append(float(v))
    return tuple(out)


def read_calibration(path: str | Path) -> Calibration:
    """Read and validate a calibration file; every problem is one line naming the key."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as err:
        raise DfmaskError(f"{path}: cannot read the calibration file ({err.strerror})") from err
    except (UnicodeDecodeError, ValueError) as err:
        raise DfmaskError(f"{path}: not a JSON calibration file ({err})") from err
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise DfmaskError(f"{path}: schema_version {doc.get('schema_version')!r}, this dfmask reads {SCHEMA_VERSION}")
    method = doc.get("method")
    if method not in METHODS:
        raise DfmaskError(f"{path}: method must be one of {' | '.join(METHODS)}, got {method!r}")
    aggregation = doc.get("aggregation", "max")
    if aggregation not in AGGREGATIONS:
        raise DfmaskError(f"{path}: aggregation must be max | mean, got {aggregation!r}")
    threshold = _number(doc, "threshold", path, 0.0, 1.0)
    fitted_on = doc.get("fitted_on")
    kwargs: dict[str, Any] = {}
    if method == "temperature":
        kwargs["temperature"] = _number(doc, "temperature", path, 1e-6, 1e6)
        if kwargs["temperature"] <= 0:
            raise DfmaskError(f"{path}: temperature must be > 0")
    elif method == "isotonic":
        x, y = _points(doc, "x", path), _points(doc, "y", path)
        if len(x) != len(y):
            raise DfmaskError(f"{path}: isotonic x and y differ in length ({len(x)} vs {len(y)})")
        if any(b < a for a, b in itertools.pairwise(x)):
            raise DfmaskError(f"{path}: isotonic x must be non-decreasing")
        if any(b < a for a, b in itertools.pairwise(y)):
            raise DfmaskError(f"{path}: isotonic y must be non-decreasing (a monotone map)")
        kwargs.update(x=x, y=y)
    return Calibration(
        method=method,
        threshold=threshold,
        aggregation=aggregation,
        fitted_on=None if fitted_on is None else str(fitted_on),
        source=str(path),
        **kwargs,
    )
