"""Training under DDP (CPU, gloo): val batches per rank, gathered val metrics, one checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from model_synthetic import tiny_train_params, train_paths, write_synthetic_corpus
from torch.utils.data import DataLoader

from dfmask.model.crop_index import read_crop_tables
from dfmask.model.data import CropDataModule
from dfmask.model.distributed import ValBatchSampler, gather_records, rank_batches, weighted_mean
from dfmask.model.lightning import LitUYNet
from dfmask.model.uynet import load_checkpoint

HERE = Path(__file__).parent


@pytest.mark.parametrize(("n", "batch", "world"), [(16, 6, 2), (16, 8, 2), (5, 2, 3), (3, 4, 2), (20, 3, 4), (0, 4, 2)])
def test_rank_batches_cover_the_one_process_batches_once_with_equal_steps(n: int, batch: int, world: int) -> None:
    one = [list(b) for b in rank_batches(n, batch, 1, 0)]
    assert [i for b in one for i in b] == list(range(n))
    per_rank = [[list(b) for b in rank_batches(n, batch, world, r)] for r in range(world)]
    assert len({len(r) for r in per_rank}) == 1  # DDP needs the same number of steps everywhere
    seen = {tuple(b) for r in per_rank for b in r}
    assert seen == {tuple(b) for b in one}  # padding only repeats batches, never cuts new ones
    for r, batches in enumerate(per_rank):
        own = one[r::world]
        assert batches[: len(own)] == own and all(b == one[0] for b in batches[len(own) :])


def test_val_sampler_makes_the_loader_cut_the_same_batches() -> None:
    data = list(range(16))
    one = [b.tolist() for b in DataLoader(data, batch_size=6, shuffle=False)]
    for rank in range(2):
        sampler = ValBatchSampler(data, 6, num_replicas=2, rank=rank)
        got = [b.tolist() for b in DataLoader(data, batch_size=6, sampler=sampler)]
        assert got == [list(b) for b in rank_batches(16, 6, 2, rank)]
        assert all(b in one for b in got)


def test_gather_without_process_group_is_the_identity_and_mean_is_lightnings() -> None:
    records = [{"index": np.array([3, 4])}, {"index": np.array([0])}]
    assert gather_records(records, "index") is records
    values, sizes = [0.7, 0.2, 1.3], [6, 6, 4]
    expected = (torch.tensor(0.7) * 6 + torch.tensor(0.2) * 6 + torch.tensor(1.3) * 4) / 16
    assert weighted_mean(values, sizes) == float(expected)
    assert weighted_mean(values, sizes) == pytest.approx(np.average(values, weights=sizes), rel=1e-6)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root, videos_per_split=4, frames=2, size=32)
    return root


def _one_process_val(corpus: Path, checkpoint: Path, params: object) -> dict[str, float]:
    """The val metrics of ``checkpoint`` over the whole val set, in this one process."""
    model, config = load_checkpoint(checkpoint)  # weights_only
    index = read_crop_tables(corpus / "faces", corpus / "masks", corpus / "splits.parquet", (0, 1))
    lit = LitUYNet(config.to_dict(), video_ids=[str(v) for v in index.video_id])
    lit.model.load_state_dict(model.state_dict())
    trainer = L.Trainer(
        accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False
    )
    (out,) = trainer.validate(lit, datamodule=CropDataModule(index, params, 0), verbose=False)
    return {k: float(v) for k, v in out.items()}


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_logs_the_one_process_val_metrics(corpus: Path) -> None:
    # 16 val crops in batches of 6: rank 0 runs batches 0 and 2 (4 crops), rank 1 batch 1 and batch 0 again
    overrides = {"devices": 2, "strategy": "ddp", "accelerator": "cpu", "batch_size": 6, "max_epochs": 2}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, str(HERE / "ddp_train.py"), str(corpus), "ddp", json.dumps(overrides)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("epochs on") == 1, done.stdout  # only rank 0 reports
    paths = train_paths(corpus, "ddp")
    # one checkpoint, written by rank 0 (no versioned copy from a second writer)
    assert sorted(p.name for p in paths.model_dir.iterdir()) == ["uynet.ckpt", "uynet_config.json"]
    doc = json.loads((paths.report_dir / "train.json").read_text())
    assert doc["epochs"] == 2 and doc["val_crops"] == 16
    # 14 train crops drawn per epoch, 7 per rank → one batch of 6 on each rank per epoch
    assert doc["train_crops_seen"] == 2 * 2 * 6
    logged = json.loads((paths.report_dir / "metrics.json").read_text())["val"]
    # the last epoch's val figures were computed with the weights the last checkpoint holds
    one = _one_process_val(corpus, paths.checkpoint, tiny_train_params(**{**overrides, "devices": 1}))
    assert logged["frame_auc"] == one["val/frame_auc"]
    assert logged["video_auc"] == one["val/video_auc"]
    assert logged["frame_log_loss"] == one["val/frame_log_loss"]
    assert logged["seg_dice_ssim"] == one["val/seg_dice_ssim"]
    assert logged["loss"] == pytest.approx(one["val/loss"], rel=1e-6, abs=1e-7)
