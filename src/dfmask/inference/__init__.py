"""Scoring videos with a trained model: `Detector` (library), ``dfmask predict`` and
``dfmask serve`` (see docs/predict.md)."""

from dfmask.inference.detector import Detector

__all__ = ["Detector"]
