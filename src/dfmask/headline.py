"""The headline metrics: the few figures `dvc exp show` compares between experiments.

Every stage writes a full JSON report (counts, per-kind breakdowns, confusion counts,
timings, checksums: hundreds of numbers). Declared as DVC metrics, they made
`dvc exp show` a table of a thousand columns, many of which change on every run
(throughputs, ``fit_seconds``) or are not numbers at all (sha256 strings). So the full
reports are plain outputs, and each stage that has figures worth comparing also writes
``<paths.reports>/headline/<stage>.json``: a flat object of the numbers below, the only
files dvc.yaml declares as ``metrics``.

The set, and why each figure is in it (``HEADLINE``; 19 numbers in all, whatever the
number of corpus parts: no per-part stage has a headline):

* split: videos, identities, identity leaks (must stay 0), test videos: does the data
  an experiment trains on differ?
* masks_quality: the SSIM masks' mean IoU against the sample's true masks on the test
  split (mean over methods with a non-empty truth), and the train-fitted mean-mask
  baseline's (null on a corpus without true masks: DFDC; FaceForensics++'s mask videos count).
* train: val loss of the kept checkpoint, val video AUC, epochs and crops actually seen.
* evaluate (test split, per video as DFDC scored): AUC, log loss (DFDC's metric), F1,
  expected calibration error; and the mask Dice against the SSIM masks (defined on any
  corpus; the Dice against the sample's true masks is in the full report).
* quantize: the AUC drop of each INT8 model (Quark XINT8, ORT int8) against fp32.
* benchmark: the model's cost (GOPs, parameters). Latency and throughput are left out:
  they measure the machine and its load more than the experiment (reports/bench/).

The names are short and unique across the files, so `dvc exp show` labels each column by
its name alone: a model experiment (`dvc exp run -S train.lr=3e-4`) changes 9 of them,
which fit 160 columns beside the experiment's name and the changed param.

A value is a number or null (a figure undefined for this run); a key missing from the
report gives null too, so a report that says ``{"applicable": false}`` writes nulls.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dfmask.errors import DfmaskError

#: stage → {headline key: (source, dotted path in that source's JSON)}. A stage script
#: passes its sources by name (`write`): most have one report ("report"); train also
#: reads DVCLive's summary ("dvclive").
HEADLINE: dict[str, dict[str, tuple[str, str]]] = {
    "split": {
        "videos": ("report", "videos"),
        "identities": ("report", "identities"),
        "leaks": ("report", "audit.leaks"),
        "test_videos": ("report", "splits.test.videos"),
    },
    "masks_quality": {
        "iou": ("report", "targets.overall_test_mean_iou"),
        "iou_baseline": ("report", "targets.overall_test_baseline_mean_iou"),
    },
    "train": {
        "val_loss": ("report", "best_val_loss|last_val_loss"),
        "val_auc": ("dvclive", "val.video_auc"),
        "epochs": ("report", "epochs"),
        "crops_seen": ("report", "train_crops_seen"),
    },
    "evaluate": {
        "auc": ("report", "test.video.auc"),
        "log_loss": ("report", "test.video.log_loss"),
        "f1": ("report", "test.video.f1"),
        "ece": ("report", "test.calibration.video_ece"),
        "dice": ("report", "test.seg_ssim.dice"),
    },
    "quantize": {
        "quark_drop": ("report", "int8.quark_xint8.auc_drop"),
        "ort_drop": ("report", "int8.ort_int8.auc_drop"),
    },
    "benchmark": {
        "gops": ("report", "model.gops"),
        "params": ("report", "model.params"),
    },
}

#: Decimal places kept: enough to tell runs apart, few enough for a narrow column.
DIGITS = 4


def _lookup(doc: Any, dotted: str) -> Any:
    node = doc
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _number(stage: str, key: str, value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None if value is None else int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, DIGITS)
    raise DfmaskError(f"headline {stage}.{key}: expected a number, got {type(value).__name__} {value!r}")


def extract(stage: str, sources: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The headline numbers of ``stage`` from its parsed report(s), in `HEADLINE` order.

    ``a|b`` in a path takes the first of ``a`` and ``b`` that is not null.
    """
    out: dict[str, float | int | None] = {}
    for key, (source, dotted) in HEADLINE[stage].items():
        value = None
        for alternative in dotted.split("|"):
            value = _lookup(sources.get(source), alternative)
            if value is not None:
                break
        out[key] = _number(stage, key, value)
    return out


def write(stage: str, sources: Mapping[str, Path], out: Path) -> dict[str, float | int | None]:
    """Read the stage's report files, write its headline JSON to ``out`` (atomically)."""
    docs: dict[str, Any] = {}
    for name, path in sources.items():
        try:
            docs[name] = json.loads(Path(path).read_text())
        except FileNotFoundError:
            docs[name] = None
    numbers = extract(stage, docs)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(numbers, indent=2) + "\n")
    os.replace(tmp, out)
    return numbers


def declared_count() -> int:
    """How many numbers the headline files hold in all (the `dvc exp show` budget)."""
    return sum(len(keys) for keys in HEADLINE.values())
