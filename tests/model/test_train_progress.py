"""train off a terminal: plain progress lines, and the per-step loss series of the training curve."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from model_synthetic import tiny_train_params, train_paths, write_synthetic_corpus

from dfmask.model import train

TINY = tiny_train_params(max_epochs=3, limit_val_batches=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, videos_per_split=4, frames=2, size=32)
    return root


_paths = train_paths


def test_train_off_a_terminal_prints_plain_progress_and_logs_the_loss_per_step(
    corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under pytest stderr is not a TTY, as under tee or a batch scheduler: Lightning's
    bar is off and LineProgress prints plain lines (the gap is 0 here: the run is short),
    at most one per tenth of the steps; Lightning's info chatter stays out."""
    from dfmask import progress

    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)
    params = TINY
    paths = _paths(corpus, "tee")
    capsys.readouterr()
    train.run(params, paths, (0, 1))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("train: ")]
    assert lines, err
    assert "\r" not in err and "\x1b" not in err and "GPU available" not in err
    assert len(lines) <= 11 and lines[-1].startswith("train: 3/3 steps (100%)")  # 1 batch x 3 epochs
    assert re.search(r"; epoch 3/3, train loss \d\.\d{4}, val loss \d\.\d{4}$", lines[-1]), lines[-1]
    # the training curve: every step's loss in a plot series, kept out of the metrics summary
    rows = (paths.report_dir / "plots/metrics/train/loss_step.tsv").read_text().splitlines()
    assert rows[0] == "step\tloss_step" and [r.split("\t")[0] for r in rows[1:]] == ["0", "1", "2"]
    summary = json.loads((paths.report_dir / "metrics.json").read_text())
    assert "loss_step" not in summary["train"] and "loss" in summary["train"]


def test_the_closing_progress_note_names_the_last_epoch_not_one_past_it() -> None:
    """When the loop ends on max_epochs, Lightning has already counted the finished epoch
    at on_train_end (current_epoch == max_epochs): the GPU machine's closing line said
    "epoch 3/2". Mid-run the epoch shown is current_epoch + 1."""
    from types import SimpleNamespace

    note = train.LineProgress()._note
    assert note(SimpleNamespace(current_epoch=2, max_epochs=2, callback_metrics={})) == "epoch 2/2"
    assert note(SimpleNamespace(current_epoch=0, max_epochs=2, callback_metrics={})) == "epoch 1/2"
    assert note(SimpleNamespace(current_epoch=4, max_epochs=-1, callback_metrics={})) == "epoch 5/-1"
