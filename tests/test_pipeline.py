"""Integration: the real `dvc repro` in a temp git+DVC repo on the tiny ci corpus.

The session-scoped `pipeline_repo` fixture (tests/conftest.py) runs the full pipeline
once; these tests check its outputs against the sample's ground truth and DVC's view of
the repo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from repo_utils import FACES_CACHE, copy_repo, outputs_naming, run

from dfmask.corpus.groundtruth import load_ground_truth, videos
from dfmask.headline import HEADLINE, declared_count
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import read_table

pytestmark = pytest.mark.slow


def _ingest(repo: Path) -> pd.DataFrame:
    parts = sorted((repo / "data/interim/videos").glob("part=*.parquet"))
    assert parts, "ingest wrote no tables"
    return pd.concat([read_table(p, VIDEOS).to_pandas() for p in parts], ignore_index=True)


def test_ingest_matches_ground_truth(pipeline_repo: Path) -> None:
    table = _ingest(pipeline_repo).set_index("video_id")
    truth = videos(load_ground_truth(pipeline_repo / "data/sample/ground_truth.parquet")).set_index("video_id")
    # one row per video, nothing lost, nothing invented
    assert sorted(table.index) == sorted(truth.index)
    assert (table.status == "ok").all(), table[table.status != "ok"][["status", "status_detail"]]
    joined = table.join(truth, how="left", suffixes=("", "_true"))
    assert (joined.part == joined.part_true).all()
    assert (joined.label == joined.label_true).all()
    assert (joined.is_fake == joined.is_fake_true).all()
    fakes = joined[joined.is_fake]
    assert (fakes.original_id == fakes.original_id_true).all()
    assert joined[~joined.is_fake].original_id.isna().all()
    # the probe sees exactly what the generator encoded
    assert (joined.frames == joined.n_frames).all()
    assert (joined.width == joined.width_true).all() and (joined.height == joined.height_true).all()
    assert (joined.codec == "h264").all()
    assert (joined.fps.round() == joined.fps_true).all()
    # the landscape/portrait mix reached the table
    assert (joined.width > joined.height).any() and (joined.width < joined.height).any()


def test_reports_count_every_video(pipeline_repo: Path) -> None:
    table = _ingest(pipeline_repo)
    for part, rows in table.groupby("part"):
        report = json.loads((pipeline_repo / f"reports/ingest/part={part}.json").read_text())
        assert report["videos"] == len(rows)
        assert sum(report["by_status"].values()) == len(rows)


def test_masks_quality_stage_scores_the_ci_corpus_and_the_datasheet_quotes_it(pipeline_repo: Path) -> None:
    report = json.loads((pipeline_repo / "reports/masks_quality.json").read_text())
    masks = [json.loads(p.read_text()) for p in sorted((pipeline_repo / "reports/masks").glob("part=*.json"))]
    assert report["crops"] == sum(m["masks"] for m in masks) > 0  # every mask row is scored
    every = report["all_splits"]  # the ci corpus's test split is too small to decide targets
    assert every["all"]["valid_swapped"] == 1.0 and every["all"]["invalid_unswapped"] == 1.0
    assert every["all"]["mean_iou"] >= 0.6
    datasheet = (pipeline_repo / "data/release/DATASHEET.md").read_text()
    assert "reports/masks_quality.json" in datasheet


def test_no_output_names_the_folder_it_was_built_in(pipeline_repo: Path) -> None:
    """DESIGN: no absolute paths in outputs, so a fresh clone anywhere reproduces dvc.lock.
    `pipeline_repo` lies in a folder of its own under pytest's temp dir: no file under
    data/ (work items included), models/ or reports/ may name it, in its bytes, a zip
    member (the checkpoint) or a Parquet value or metadata; nor the face sources cache,
    which the test repo's params give as an absolute path. There are no exceptions: no
    stage of this (cpu) run writes a run log there."""
    needles = sorted({str(pipeline_repo.parent), str(pipeline_repo.resolve().parent), str(FACES_CACHE)})
    assert outputs_naming(pipeline_repo, needles) == {}


def test_second_repro_does_nothing_and_status_is_clean(pipeline_repo: Path) -> None:
    status = run(["dvc", "status", "--json"], pipeline_repo)
    assert json.loads(status.stdout or "{}") == {}
    again = run(["dvc", "repro"], pipeline_repo)
    assert "Running stage" not in again.stdout, again.stdout
    assert run(["git", "status", "--porcelain"], pipeline_repo).stdout.strip() == ""


def test_exp_run_with_set_param_is_an_experiment(pipeline_repo: Path, tmp_path: Path) -> None:
    """`dvc exp run -S train.lr=...` re-trains with the new value and shows up in
    `dvc exp show` next to the baseline, with its own metrics."""
    repo = copy_repo(pipeline_repo, tmp_path / "repo")
    run(["dvc", "exp", "run", "-S", "train.lr=0.01", "-n", "lr-high"], repo)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo).stdout)
    # baseline row + its experiments; find params and metrics per experiment name
    rows = {}
    for commit in shown:
        for exp in [commit, *[e for e in (commit.get("experiments") or [])]]:
            for rev in exp.get("revs", [exp]):
                data = rev.get("data") or {}
                rows[rev.get("name") or data.get("rev")] = data
    exp = rows["lr-high"]
    base = rows["main"]
    assert exp["params"]["params.yaml"]["data"]["train"]["lr"] == 0.01
    assert base["params"]["params.yaml"]["data"]["train"]["lr"] != 0.01
    # only the headline files are metrics (dfmask.headline): a short set of numbers
    assert sorted(exp["metrics"]) == sorted(f"reports/headline/{s}.json" for s in HEADLINE), sorted(exp["metrics"])
    numbers = [v for m in exp["metrics"].values() for v in m["data"].values()]
    assert len(numbers) == declared_count() <= 25
    assert all(v is None or isinstance(v, int | float) for v in numbers), numbers
    # a different learning rate trains a different model: its training metrics differ
    assert exp["metrics"]["reports/headline/train.json"] != base["metrics"]["reports/headline/train.json"]
    # and the README's comparison fits a 160-column terminal (rich writes "…" when it does not)
    env_cols = {"COLUMNS": "160"}
    table = run(["dvc", "exp", "show", "--only-changed", "--drop", ".*/", "--no-pager"], repo, env=env_cols).stdout
    assert "lr" in table and "…" not in table, table
