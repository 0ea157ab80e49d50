"""`dvc exp show` fits a screen: dvc.yaml declares only the headline files as metrics.

The budget is counted from dvc.yaml itself (every ``metrics:`` entry, stage-level,
``foreach`` and top-level) and from the headline spec each declared file is written
from; the spec's paths are checked against the full reports committed in ``reports/``
(the last `dvc repro` of the default sample corpus).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from dfmask import headline
from dfmask.errors import DfmaskError

REPO = Path(__file__).resolve().parents[1]
#: The most numbers `dvc exp show` may get across the whole pipeline.
BUDGET = 25
#: The full report each headline is read from, in the committed default run.
SOURCES = {
    "split": {"report": "reports/split.json"},
    "masks_quality": {"report": "reports/masks_quality.json"},
    "train": {"report": "reports/train/train.json", "dvclive": "reports/train/metrics.json"},
    "evaluate": {"report": "reports/eval/metrics.json"},
    "quantize": {"report": "reports/quant.json"},
    "benchmark": {"report": "reports/bench/bench.json"},
}


def _declared_metrics() -> list[tuple[str, str, str]]:
    """(stage or '', metrics path as written, rendered cmd) of every metrics entry."""
    doc = yaml.safe_load((REPO / "dvc.yaml").read_text())
    found: list[tuple[str, str, str]] = []
    for entry in doc.get("metrics", []) or []:
        found.append(("", entry if isinstance(entry, str) else next(iter(entry)), ""))
    for name, stage in doc["stages"].items():
        body = stage.get("do", stage)
        for entry in body.get("metrics", []) or []:
            path = entry if isinstance(entry, str) else next(iter(entry))
            found.append((name + ("@N" if "foreach" in stage else ""), path, body["cmd"]))
    return found


def test_only_headline_files_are_metrics_and_they_fit_the_budget() -> None:
    declared = _declared_metrics()
    assert declared, "dvc.yaml declares no metrics"
    count = 0
    for stage, path, cmd in declared:
        assert stage and not stage.endswith("@N"), f"{path}: metrics only from whole-corpus stages ({stage!r})"
        assert path == f"${{paths.reports}}/headline/{stage}.json", f"{stage}: declares {path} as metrics"
        assert stage in headline.HEADLINE, f"{stage}: no headline spec in dfmask.headline"
        assert re.search(rf"--headline\s+{re.escape(path)}(\s|$)", cmd), f"{stage}: cmd does not write {path}"
        count += len(headline.HEADLINE[stage])
    assert {stage for stage, _, _ in declared} == set(headline.HEADLINE)
    # unique names: `dvc exp show` then heads each column by its bare name (a name two
    # files share becomes "reports/headline/<stage>.json:<name>")
    names = [name for keys in headline.HEADLINE.values() for name in keys]
    assert len(names) == len(set(names)), names
    assert count == headline.declared_count()
    assert count <= BUDGET, f"{count} metric numbers declared, over the budget of {BUDGET}"


def _load(stage: str) -> dict[str, Any]:
    return {name: json.loads((REPO / rel).read_text()) for name, rel in SOURCES[stage].items()}


@pytest.mark.parametrize("stage", sorted(headline.HEADLINE))
def test_headline_paths_exist_in_the_committed_reports(stage: str) -> None:
    if not all((REPO / rel).exists() for rel in SOURCES[stage].values()):
        pytest.skip(f"no committed {stage} report")
    numbers = headline.extract(stage, _load(stage))
    assert list(numbers) == list(headline.HEADLINE[stage])
    # the default sample run defines every figure: a null here is a path that went stale
    missing = [key for key, value in numbers.items() if value is None]
    assert not missing, f"{stage}: {missing} not found in {SOURCES[stage]}"
    assert all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers.values())


def test_committed_headline_files_match_their_reports() -> None:
    for stage in headline.HEADLINE:
        path = REPO / "reports" / "headline" / f"{stage}.json"
        if path.exists() and all((REPO / rel).exists() for rel in SOURCES[stage].values()):
            assert json.loads(path.read_text()) == headline.extract(stage, _load(stage)), stage


def test_extract_rounds_maps_missing_to_null_and_refuses_strings(tmp_path: Path) -> None:
    report = {"test": {"video": {"auc": 0.123456789, "log_loss": float("nan"), "f1": 1}}}
    numbers = headline.extract("evaluate", {"report": report})
    assert numbers["auc"] == 0.1235 and numbers["log_loss"] is None
    assert numbers["f1"] == 1 and numbers["dice"] is None  # absent: null
    # first non-null alternative: best val loss, else the last epoch's
    train = headline.extract("train", {"report": {"best_val_loss": None, "last_val_loss": 0.5}, "dvclive": None})
    assert train["val_loss"] == 0.5 and train["val_auc"] is None
    with pytest.raises(DfmaskError, match=r"headline split\.videos: expected a number, got str"):
        headline.extract("split", {"report": {"videos": "238"}})
    # write: a missing report file is nulls, not a crash (a real corpus has no truth)
    out = tmp_path / "h" / "masks_quality.json"
    written = headline.write("masks_quality", {"report": tmp_path / "absent.json"}, out)
    assert json.loads(out.read_text()) == written == {"iou": None, "iou_baseline": None}
