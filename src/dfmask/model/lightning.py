"""LightningModule for U-YNet: the joint loss, the optimiser and validation metrics.

Loss = ``w_cls`` · BCE(cls logit, is_fake) + ``w_seg`` · (BCE + soft Dice)(seg logits, mask)
+ ``real_area_weight`` · (mean predicted mask area on real crops).
* The cls term is averaged over crops with ``cls_w = 1`` (all crops, or only reals and
  valid fakes when ``train.cls_on_invalid`` is false); a real crop's BCE counts
  ``cls_real_weight`` times (a weighted mean: the inverse of a BCE ``pos_weight``), so
  calling a real face FAKE costs more than missing a fake.
* The seg term is averaged over crops with ``seg_w = 1``: reals (all-zero masks, which
  teaches the seg head not to fire on real faces) and fakes with a valid SSIM mask.
  Dice is computed over the whole batch of such crops (one ratio), smoothed by 1 px,
  so a batch of only reals still gives a finite loss that punishes false positives.
* The real-area term is the soft false-positive area of the seg head on real crops:
  the mean of sigmoid(seg logit) over each real crop's pixels (a fraction of the crop,
  the quantity `evaluate` reports as ``seg_real_fp.mean_area`` once thresholded),
  averaged over the real crops of the batch (0 when there are none). Why: in the
  per-pixel BCE a real crop is a few of the batch's pixels and the batch Dice barely
  sees it, so a seg head that cannot tell real from fake paints the average fake
  region on every face; this term makes an empty mask on a real face worth more.
  Self-blended crops are FAKE, so they are not in it.

Training logs the loss parts per epoch (``train/*``) and the loss of every step
(``train/loss_step``). Validation logs frame-level AUC and log loss, video-level AUC (mean of frame
probabilities) and the Dice of predicted vs SSIM masks on valid fakes. ``val/loss`` is
the monitored quantity when ``train.checkpoint: best_val_loss``. Under DDP
(``train.devices`` × ``train.num_nodes`` > 1) every figure is computed over the val
batches of all ranks, as one process would (`dfmask.model.distributed`).
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from dfmask import metrics
from dfmask.model.distributed import gather_records, weighted_mean
from dfmask.model.uynet import UYNetConfig, build_model

STEP_LOSS = "train/loss_step"  # logged every training step (plots/metrics/train/loss_step.tsv)


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """1 − (2 Σ p·t + s) / (Σ p + Σ t + s) over all pixels of the batch (p = sigmoid)."""
    p = torch.sigmoid(logits.float())
    inter = (p * target).sum()
    return 1.0 - (2.0 * inter + smooth) / (p.sum() + target.sum() + smooth)


def joint_loss(
    seg_logits: torch.Tensor,
    cls_logits: torch.Tensor,
    batch: dict[str, torch.Tensor],
    w_cls: float,
    w_seg: float,
    real_area_weight: float = 0.0,
    cls_real_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """The U-YNet loss and its parts (see module docstring); empty parts are 0."""
    zero = cls_logits.sum() * 0.0
    is_real = batch["is_fake"] < 0.5
    # per-crop cls weight: 0 (no cls loss), 1 (fake) or cls_real_weight (real)
    cls_w = batch["cls_w"] * torch.where(is_real, cls_real_weight, 1.0)
    if cls_w.sum() > 0:
        per = F.binary_cross_entropy_with_logits(cls_logits.float(), batch["is_fake"], reduction="none")
        cls_loss = (per * cls_w).sum() / cls_w.sum()
    else:
        cls_loss = zero
    seg_sel = batch["seg_w"] > 0
    if seg_sel.any():
        logits, target = seg_logits[seg_sel].float(), batch["mask"][seg_sel]
        seg_bce = F.binary_cross_entropy_with_logits(logits, target)
        seg_dice = soft_dice_loss(logits, target)
    else:
        seg_bce = seg_dice = zero
    real_area = torch.sigmoid(seg_logits[is_real].float()).mean() if is_real.any() else zero
    loss = w_cls * cls_loss + w_seg * (seg_bce + seg_dice) + real_area_weight * real_area
    return {"loss": loss, "cls_loss": cls_loss, "seg_bce": seg_bce, "seg_dice": seg_dice, "real_area": real_area}


class LitUYNet(L.LightningModule):
    """U-YNet + loss + AdamW with a one-cycle LR schedule."""

    def __init__(
        self,
        model_config: dict[str, Any],
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        w_cls: float = 1.0,
        w_seg: float = 1.0,
        real_area_weight: float = 0.0,
        cls_real_weight: float = 1.0,
        channels_last: bool = False,
        video_ids: list[str] | None = None,
    ) -> None:
        super().__init__()
        # model_config lands in the checkpoint's hyper_parameters (uynet.CONFIG_KEY), which is
        # how dfmask.model.uynet.load_checkpoint rebuilds the network.
        self.save_hyperparameters(ignore=["video_ids"])
        self.model = build_model(UYNetConfig.from_dict(model_config))
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.video_ids = video_ids  # index → video_id, for the video-level val metric
        self._val: list[dict[str, np.ndarray]] = []

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.hparams["channels_last"]:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def _step(self, batch: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        seg_logits, cls_logits = self(batch["image"])
        h = self.hparams
        parts = joint_loss(
            seg_logits, cls_logits, batch, h["w_cls"], h["w_seg"], h["real_area_weight"], h["cls_real_weight"]
        )
        return parts, seg_logits, cls_logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        parts, _, _ = self._step(batch)
        n = batch["image"].shape[0]
        # sync_dist: under DDP the epoch means are over every rank's crops (no-op in one process)
        self.log_dict(
            {f"train/{k}": v for k, v in parts.items()}, on_step=False, on_epoch=True, batch_size=n, sync_dist=True
        )
        # the loss of every optimiser step, for the training curve (a plot series only:
        # dfmask.model.train keeps it out of the metrics summary, STEP_SERIES)
        self.log(STEP_LOSS, parts["loss"], on_step=True, on_epoch=False, batch_size=n)
        return parts["loss"]

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        parts, seg_logits, cls_logits = self._step(batch)
        n = batch["image"].shape[0]
        if self.trainer.world_size == 1:
            self.log("val/loss", parts["loss"], on_step=False, on_epoch=True, batch_size=n)
        pred = (seg_logits > 0).cpu().numpy()[:, 0]
        true = batch["mask"].cpu().numpy()[:, 0] > 0.5
        fake_valid = ((batch["is_fake"] > 0.5) & (batch["seg_w"] > 0)).cpu().numpy()
        self._val.append(
            {
                "p": torch.sigmoid(cls_logits.float()).cpu().numpy(),
                "y": batch["is_fake"].cpu().numpy(),
                "index": batch["index"].cpu().numpy(),
                "dice": np.array(
                    [metrics.dice(pr, tr) for pr, tr, ok in zip(pred, true, fake_valid, strict=True) if ok]
                ),
                "loss": np.asarray(parts["loss"].item(), np.float32),
            }
        )

    def on_validation_epoch_end(self) -> None:
        # under DDP: every rank's batches, in the one-process order (dfmask.model.distributed)
        records = gather_records(self._val, "index")
        if not records:
            return
        p = np.concatenate([v["p"] for v in records])
        y = np.concatenate([v["y"] for v in records])
        dice = np.concatenate([v["dice"] for v in records])
        out = {"val/frame_auc": metrics.roc_auc(y, p), "val/frame_log_loss": metrics.log_loss(y, p)}
        if self.video_ids is not None:
            index = np.concatenate([v["index"] for v in records])
            vids = np.asarray(self.video_ids, object)[index]
            _, inv = np.unique(vids, return_inverse=True)
            vp = np.bincount(inv, weights=p) / np.bincount(inv)
            vy = np.bincount(inv, weights=y) / np.bincount(inv)
            out["val/video_auc"] = metrics.roc_auc(vy > 0.5, vp)
        out["val/seg_dice_ssim"] = float(dice.mean()) if dice.size else math.nan
        if self.trainer.world_size > 1:
            # one process logs val/loss per batch (validation_step); here the same epoch mean
            out["val/loss"] = weighted_mean([float(v["loss"]) for v in records], [len(v["p"]) for v in records])
        # AUC is undefined with one class (tiny CI val splits): skip rather than log a fake 0
        self.log_dict({k: v for k, v in out.items() if not math.isnan(v)})

    def configure_optimizers(self) -> Any:
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"])
        total = int(self.trainer.estimated_stepping_batches)
        if total < 2:
            return opt
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.hparams["lr"], total_steps=total, pct_start=0.2)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
