"""The ``train`` stage: fit U-YNet on the train split, checkpoint the best on val.

Outputs (the stage owns both folders):
* ``models/train/uynet.ckpt`` — Lightning checkpoint of the last epoch
  (``train.checkpoint: last``, the default: the one-cycle schedule has annealed the LR to
  ~0 there) or of the best ``val/loss`` (``best_val_loss``; the last epoch when there is
  no val split), carrying the model config (`load_checkpoint`). Why ``last``: on the
  sample corpus, val/loss (78 videos, dominated by the cls BCE) picked epoch 1 of 3 for
  seed 1, whose seg head did not fire yet (val Dice 0.0, test Dice 0.0 vs 0.86–0.87 for
  the other seeds). The checkpoint holds no absolute path (`RelocatableCheckpoint`), so
  the same training writes the same bytes in any checkout.
* ``models/train/uynet_config.json`` — the same config as plain JSON, for tools that
  load a bare ``state_dict`` (the Vitis AI entry point).
* ``reports/train/`` — DVCLive metrics and plots (``dvcyaml=False``: dvc.yaml declares
  them by hand, so DVCLive never edits dvc.yaml) and ``train.json`` (data counts,
  throughput in crops/s, best score, device). DVCLive only removes its own files
  (``metrics.json``, ``params.yaml``, ``plots/*``) when it starts, so ``train.json`` is
  written after training.

Reproducibility: ``seed_everything(train.seed, workers=True)``; on CPU the Trainer runs
with ``deterministic=True`` (same params ⇒ same weights on one CPU type; across CPU types
they differ, docs/model.md "Two CPUs, one seed"). On a GPU the default precision
is AMP (``16-mixed``) and determinism is not enforced (speed).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

from dfmask.errors import DfmaskError
from dfmask.model.crop_index import CropIndex, read_crop_tables
from dfmask.model.data import CropDataModule
from dfmask.model.lightning import STEP_LOSS, LitUYNet
from dfmask.model.uynet import UYNetConfig, count_parameters, load_checkpoint
from dfmask.params import TrainParams
from dfmask.progress import Ticker, on_terminal
from dfmask.tables import write_json

CKPT_NAME = "uynet"
STEP_SERIES = frozenset({STEP_LOSS})  # logged per step: plot rows, not summary metrics


@dataclass(frozen=True)
class TrainPaths:
    """Inputs and outputs of the train stage."""

    faces: Path  # faces stage root: part=N/ shards
    masks: Path  # masks stage root: part=N/ shards
    splits: Path  # the splits table
    model_dir: Path  # models/train: uynet.ckpt, uynet_config.json
    report_dir: Path  # reports/train: DVCLive files and train.json

    @property
    def checkpoint(self) -> Path:
        return self.model_dir / f"{CKPT_NAME}.ckpt"


@dataclass(frozen=True)
class TrainReport:
    """The ``train.json`` document the stage wrote (the stage's `Report`)."""

    doc: dict[str, Any]
    paths: TrainPaths

    def summary(self) -> str:
        r = self.doc
        value = r["best_val_loss"] if r["best_val_loss"] is not None else r["last_val_loss"]
        loss = "n/a" if value is None else f"{value:.4f}"
        # crops actually seen (train.samples_per_epoch / limit_train_batches draw fewer than
        # the split holds), then the pool they were drawn from
        seen, epochs = r["train_crops_seen"], r["epochs"]
        return (
            f"{epochs} epoch{'' if epochs == 1 else 's'} on {seen} crops "
            f"({seen // max(epochs, 1)} per epoch, drawn from {r['train_crops']} train crops; "
            f"{r['parameters']:,} params, {r['device']}), "
            f"kept {r['monitor']} (val loss {loss}), {r['epoch_crops_per_s']} crops/s; {self.paths.checkpoint} "
            f"(see {self.paths.report_dir}/train.json)"
        )


def model_config(params: TrainParams) -> UYNetConfig:
    """The `UYNetConfig` selected by the ``train`` params."""
    return UYNetConfig(
        in_channels=3,
        base_width=params.base_width,
        depth=params.depth,
        activation=params.activation,
        upsample=params.upsample,
        input_size=params.input_size,
        stem_stride=params.stem_stride,
        cls_input=params.cls_input,
    )


class Throughput(Callback):
    """Training throughput: crops per second of wall time over the training batches.

    Counts from the start of a batch's forward to the end of its optimiser step
    (``step_crops_per_s``) and over whole epochs including data loading and
    augmentation (``epoch_crops_per_s``); validation time is excluded from both.
    """

    def __init__(self) -> None:
        self.crops = 0
        self.step_seconds = 0.0
        self.epoch_seconds = 0.0
        self._t_batch = 0.0
        self._t_epoch = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t_epoch = time.perf_counter()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._t_batch = time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.step_seconds += time.perf_counter() - self._t_batch
        self.crops += int(batch["image"].shape[0])

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epoch_seconds += time.perf_counter() - self._t_epoch

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.world_size > 1:  # DDP: the crops of every rank (rank 0's wall time)
            crops = torch.tensor(self.crops, device=pl_module.device)
            self.crops = int(trainer.strategy.reduce(crops, reduce_op="sum"))

    def report(self) -> dict[str, float | int]:
        return {
            "train_crops_seen": self.crops,
            "step_seconds": round(self.step_seconds, 3),
            "epoch_seconds": round(self.epoch_seconds, 3),
            "step_crops_per_s": round(self.crops / self.step_seconds, 2) if self.step_seconds else 0.0,
            "epoch_crops_per_s": round(self.crops / self.epoch_seconds, 2) if self.epoch_seconds else 0.0,
        }


class LineProgress(Callback):
    """Off a terminal, Lightning's bar is off: plain `Ticker` lines on stderr instead
    (``train: 480/3600 step (13%), 1m02s elapsed, ~6m50s left; epoch 2/10, train loss 1.234``),
    every 30 s or 10 % of the optimiser steps, and the val loss after each validation.
    """

    def __init__(self, **ticker: Any) -> None:
        self.ticker_args = ticker
        self.ticker: Ticker | None = None

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        steps = trainer.estimated_stepping_batches
        total = int(steps) if math.isfinite(steps) else None
        self.ticker = Ticker("train", total, "steps", **self.ticker_args)

    def _note(self, trainer: L.Trainer) -> str:
        epoch = trainer.current_epoch + 1
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            # at on_train_end Lightning (2.6.6, the lock's) has already counted the finished
            # epoch when the loop ended on max_epochs: the closing line said "epoch 3/2"
            epoch = min(epoch, trainer.max_epochs)
        note = f"epoch {epoch}/{trainer.max_epochs}"
        for name, label in (("train/loss_step", "train loss"), ("val/loss", "val loss")):
            value = trainer.callback_metrics.get(name)
            if value is not None:
                note += f", {label} {float(value):.4f}"
        return note

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.ticker is not None:
            self.ticker.update(1, self._note(trainer))

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.ticker is not None:
            self.ticker.close(self._note(trainer))


class RelocatableCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` whose state, saved inside every checkpoint, names files
    relative to the checkpoint's folder.

    Lightning records the callback's ``dirpath`` and its best/kth/last file paths in the
    checkpoint, resolved to absolute paths, so the same training in another checkout
    would write another ``uynet.ckpt`` (DESIGN: no absolute paths in outputs; dvc.lock
    holds the checkpoint's md5). Here ``dirpath`` is saved as ``"."`` and each path as
    its name within ``dirpath``; the running callback keeps its absolute paths. The key
    stays the one a plain `ModelCheckpoint` gets. Nothing of this is needed to load the
    model (`dfmask.model.uynet.load_checkpoint` reads the weights and hyper-parameters);
    a Lightning resume restores weights, optimiser and loops, and warns that ``dirpath``
    changed.
    """

    @property
    def state_key(self) -> str:
        return ModelCheckpoint.__qualname__ + super().state_key[len(type(self).__qualname__) :]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        root = self.dirpath

        def rel(path: str) -> str:
            return os.path.relpath(path, root) if path and root else path

        return state | {
            "dirpath": "." if root else root,
            "best_model_path": rel(state["best_model_path"]),
            "kth_best_model_path": rel(state["kth_best_model_path"]),
            "last_model_path": rel(state["last_model_path"]),
            "best_k_models": {rel(k): v for k, v in state["best_k_models"].items()},
        }


def _logger(report_dir: Path) -> Logger:
    """DVCLive's Lightning logger, writing ``report_dir`` (no dvc.yaml, no experiment),
    with the per-step series (`STEP_SERIES`) kept out of ``metrics.json``.

    A per-step value in the summary would be the noisy loss of the last batch, a
    column that changes on every run of ``dvc exp show``; the per-epoch means already
    are there. The series stays in ``plots/metrics/<name>.tsv`` for the training curve.
    A training step's call logs only that row: no ``epoch.tsv`` row per step, no rewrite
    of ``metrics.json``, and none of the stack inspection DVCLive's Lightning logger does
    on each call to decide whether to write it.
    """
    from dvclive.fabric import DVCLiveLogger as FabricLogger
    from dvclive.lightning import DVCLiveLogger

    class _Logger(DVCLiveLogger):
        @rank_zero_only  # under DDP the other ranks hold a dummy experiment (no summary)
        def log_metrics(self, metrics: Any, step: int | None = None, sync: bool | None = False) -> None:
            if step == 0:  # DVCLive takes step 0 as "no step given" and logs it as the next step
                self.experiment.step = -1
            series = STEP_SERIES.intersection(metrics)
            if series and set(metrics) <= series | {"epoch"}:
                FabricLogger.log_metrics(self, {k: metrics[k] for k in sorted(series)}, step, sync=False)
            else:
                super().log_metrics(metrics, step, sync)
            summary = self.experiment.summary
            for name in series:
                *parents, leaf = name.split("/")
                node = summary
                for key in parents:
                    node = node.get(key, {})
                node.pop(leaf, None)

    return _Logger(dir=str(report_dir), dvcyaml=False, save_dvc_exp=False, report=None)


def _device_settings(params: TrainParams) -> tuple[str, str, bool]:
    """(accelerator, precision, deterministic) for this machine and these params."""
    accelerator = params.accelerator
    on_gpu = torch.cuda.is_available() and accelerator in ("auto", "gpu", "cuda")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise DfmaskError("train.accelerator is 'gpu' but no CUDA device is visible; use 'auto' or 'cpu'")
    precision = params.precision
    if precision == "auto":
        precision = "16-mixed" if on_gpu else "32-true"
    if precision != "32-true" and not on_gpu:
        raise DfmaskError(f"train.precision={params.precision!r} needs a GPU; use 'auto' or '32-true' on CPU")
    return ("gpu" if on_gpu else "cpu"), precision, not on_gpu


def init_from_checkpoint(lit: LitUYNet, path: str) -> None:
    """Copy weights from a local checkpoint into ``lit.model`` (train.init_checkpoint)."""
    if not Path(path).exists():
        raise DfmaskError(
            f"train.init_checkpoint: {path} does not exist; give a local .ckpt path or set it to null "
            "(train from scratch)"
        )
    try:
        source, config = load_checkpoint(path)  # weights_only: the file's pickle runs nothing
    except DfmaskError as err:
        raise DfmaskError(f"train.init_checkpoint: {err}") from err
    if config.to_dict() | {"input_size": 0} != lit.model.config.to_dict() | {"input_size": 0}:
        raise DfmaskError(
            f"train.init_checkpoint: {path} has model config {config.to_dict()}, but train params ask for "
            f"{lit.model.config.to_dict()}; match base_width/depth/activation/upsample"
        )
    lit.model.load_state_dict(source.state_dict())


def fit(params: TrainParams, index: CropIndex, paths: TrainPaths) -> dict[str, Any]:
    """Train on ``index``'s train split, validate on its val split; return the run report."""
    for name in ("lightning.pytorch", "lightning.fabric"):  # no GPU/TPU/tip banners in stage logs
        logging.getLogger(name).setLevel(logging.WARNING)
    L.seed_everything(params.seed, workers=True, verbose=False)
    if params.threads > 0:
        torch.set_num_threads(params.threads)
    accelerator, precision, deterministic = _device_settings(params)
    config = model_config(params)
    data = CropDataModule(index, params, params.seed)
    lit = LitUYNet(
        config.to_dict(),
        lr=params.lr,
        weight_decay=params.weight_decay,
        w_cls=params.w_cls,
        w_seg=params.w_seg,
        real_area_weight=params.real_area_weight,
        cls_real_weight=params.cls_real_weight,
        channels_last=params.channels_last,
        video_ids=[str(v) for v in index.video_id],
    )
    if params.init_checkpoint is not None:
        init_from_checkpoint(lit, params.init_checkpoint)

    paths.model_dir.mkdir(parents=True, exist_ok=True)
    has_val = len(data.val_rows) > 0
    monitor = "val/loss" if has_val and params.checkpoint == "best_val_loss" else None
    checkpoint = RelocatableCheckpoint(
        dirpath=paths.model_dir,
        filename=CKPT_NAME,
        monitor=monitor,
        mode="min",
        save_top_k=1,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    throughput = Throughput()
    logger = _logger(paths.report_dir)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=params.devices,
        num_nodes=params.num_nodes,
        strategy=params.strategy,
        precision=precision,  # type: ignore[arg-type]
        deterministic=deterministic,
        max_epochs=params.max_epochs,
        limit_train_batches=params.limit_train_batches,
        limit_val_batches=params.limit_val_batches if has_val else 0,
        num_sanity_val_steps=0,
        logger=logger,
        callbacks=[checkpoint, throughput] + ([] if on_terminal() else [LineProgress()]),
        enable_progress_bar=on_terminal(),
        enable_model_summary=False,
        log_every_n_steps=1,
        default_root_dir=str(paths.model_dir),
    )
    t0 = time.perf_counter()
    trainer.fit(lit, datamodule=data)
    wall = time.perf_counter() - t0
    if not trainer.is_global_zero:
        # a DDP worker (train.strategy: ddp runs this command once more per extra device):
        # rank 0 saved the checkpoint and writes every report; this process is done
        raise SystemExit(0)
    if not paths.checkpoint.exists():
        raise DfmaskError(
            f"{paths.checkpoint}: training ended without a checkpoint (0 epochs?); check train.max_epochs"
        )
    (paths.model_dir / f"{CKPT_NAME}_config.json").write_text(
        json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n"
    )
    best = checkpoint.best_model_score
    return {
        "seed": params.seed,
        "device": accelerator,
        "precision": precision,
        "threads": torch.get_num_threads(),
        "model_config": config.to_dict(),
        "parameters": count_parameters(lit.model),
        "epochs": trainer.current_epoch,
        "train_crops": int((~data.train_blended).sum()),
        # real train crops that are also drawn as self-blended fakes (train.self_blend.frac)
        "self_blend_sources": int(data.train_blended.sum()),
        "self_blend_frac": params.self_blend.frac,
        "val_crops": len(data.val_rows),
        "monitor": monitor or "last epoch",
        "best_val_loss": float(best) if best is not None else None,
        "last_val_loss": _metric(trainer, "val/loss"),
        "fit_seconds": round(wall, 2),
        "data": index.counts,
        **throughput.report(),
    }


def _metric(trainer: L.Trainer, name: str) -> float | None:
    value = trainer.callback_metrics.get(name)
    return None if value is None else float(value)


def run(params: TrainParams, paths: TrainPaths, parts: tuple[int, ...]) -> TrainReport:
    """The train stage: read the tables of ``corpus.parts``, fit, write ``reports/train/train.json``."""
    index = read_crop_tables(paths.faces, paths.masks, paths.splits, parts)
    report = fit(params, index, paths)
    write_json(paths.report_dir / "train.json", report)
    return TrainReport(report, paths)
