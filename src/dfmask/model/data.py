"""Training data: a Dataset and a DataModule over the crop index (`dfmask.model.crop_index`).

Memory and workers: the index keeps crop and mask PNGs as pyarrow binary arrays (one
contiguous buffer each, no per-row Python objects), so forked DataLoader workers share
them copy-on-write without refcount churn, and PNGs are decoded lazily in
``__getitem__``. A crop table of a full DFDC run (~10^6 crops x ~20 kB) would need
~20 GB: for that scale, shard the index by part (one DataModule per part range).

Targets: a real crop's mask is all zeros (reals have no mask rows). A fake crop's
mask is its SSIM mask; if the mask row is missing or ``valid`` is false (no visible
manipulation), the crop gets no segmentation loss, and its classification loss is
kept or dropped by ``train.cls_on_invalid``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from dfmask.errors import DfmaskError
from dfmask.model.augment import augment_pair
from dfmask.model.crop_index import CropIndex
from dfmask.model.distributed import ValBatchSampler
from dfmask.model.inputs import resize_crop
from dfmask.model.selfblend import self_blend

# ----------------------------------------------------------------------------- dataset


class CropDataset(Dataset[dict[str, Any]]):
    """Crops of ``rows`` of a `CropIndex`, resized to ``input_size``, optionally augmented.

    Each item: ``image`` (3, S, S) float32 in [0, 1]; ``mask`` (1, S, S) float32 0/1;
    ``is_fake`` float32; ``seg_w`` / ``cls_w`` float32 0/1 loss weights; ``index`` int;
    ``blended`` bool.

    ``blended[k]`` (real rows only) turns item k into a self-blended fake of that real
    crop (`dfmask.model.selfblend`, settings ``self_blend``): label FAKE, the blend
    region as its mask, both losses on. Randomness (self-blend and augmentation) comes
    from torch's RNG, which Lightning seeds per worker (``seed_everything(workers=True)``),
    so runs are reproducible.
    """

    def __init__(
        self,
        index: CropIndex,
        rows: Sequence[int] | np.ndarray,
        input_size: int,
        augment: Any | None = None,
        cls_on_invalid: bool = True,
        self_blend: Any | None = None,
        blended: Sequence[bool] | np.ndarray | None = None,
    ) -> None:
        self.index = index
        self.rows = np.asarray(rows, np.int64)
        self.input_size = input_size
        self.augment = augment
        self.self_blend = self_blend
        self.blended = np.zeros(len(self.rows), bool) if blended is None else np.asarray(blended, bool)
        if len(self.blended) != len(self.rows):
            raise ValueError(f"CropDataset: {len(self.blended)} blended flags for {len(self.rows)} rows")
        if self.blended.any() and (self_blend is None or index.is_fake[self.rows[self.blended]].any()):
            raise ValueError("CropDataset: self-blending needs self_blend params and real rows only")
        self.seg_ok = index.seg_ok
        self.cls_ok = index.cls_ok(cls_on_invalid)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> dict[str, Any]:
        i = int(self.rows[k])
        blended = bool(self.blended[k])
        image = resize_crop(self.index.crop(i), self.input_size)
        rng = None
        if blended or self.augment is not None:
            rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        if blended:
            assert rng is not None
            box, landmarks = self.index.face_geometry(i, self.input_size)
            image, mask = self_blend(image, box, landmarks, self.self_blend, rng)
        else:
            mask = self.index.mask(i, self.input_size)
        if self.augment is not None:
            assert rng is not None
            image, mask = augment_pair(image, mask, self.augment, rng)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float() / 255.0,
            "mask": torch.from_numpy(mask[None].astype(np.float32)),
            "is_fake": torch.tensor(1.0 if blended else float(self.index.is_fake[i])),
            "seg_w": torch.tensor(1.0 if blended else float(self.seg_ok[i])),
            "cls_w": torch.tensor(1.0 if blended else float(self.cls_ok[i])),
            "index": i,
            "blended": blended,
        }


def spaced_rows(index: CropIndex, rows: np.ndarray, per_video: int | None) -> np.ndarray:
    """At most ``per_video`` rows of each video, evenly spaced over its (sorted) crops."""
    if per_video is None:
        return rows
    keep: list[int] = []
    videos = index.video_id[rows]
    for vid in dict.fromkeys(videos):
        own = rows[videos == vid]
        take = np.unique(np.linspace(0, len(own) - 1, min(per_video, len(own))).round().astype(int))
        keep.extend(own[take].tolist())
    return np.asarray(sorted(keep), np.int64)


def balanced_weights(
    is_fake: np.ndarray, usable: np.ndarray, blended: np.ndarray | None = None, blend_frac: float = 0.0
) -> np.ndarray:
    """Per-row sampling weights giving reals and fakes equal total mass (0 for unusable rows).

    With ``blended`` rows (self-blended fakes made from reals), the FAKE half is split:
    ``blend_frac`` of it goes to the blended rows, the rest to the corpus's fakes (all of
    it to whichever group is present when the other is empty).
    """
    w = np.zeros(len(is_fake), np.float64)
    blended = np.zeros(len(is_fake), bool) if blended is None else blended
    groups = [
        (~is_fake.astype(bool) & ~blended & usable, 0.5),
        (is_fake & ~blended & usable, 0.5 * (1.0 - blend_frac)),
        (blended & usable, 0.5 * blend_frac),
    ]
    if not groups[1][0].any() or not groups[2][0].any():
        groups[1] = (groups[1][0], 0.5)
        groups[2] = (groups[2][0], 0.5)
    for sel, mass in groups:
        if sel.any():
            w[sel] = mass / sel.sum()
    return w


class CropDataModule(L.LightningDataModule):
    """Train (balanced, augmented) and val loaders over a `CropIndex`."""

    def __init__(self, index: CropIndex, params: Any, seed: int) -> None:
        super().__init__()
        self.index = index
        self.params = params
        self.seed = seed
        train_rows = index.rows("train")
        if not len(train_rows):
            raise DfmaskError("splits: the train split has no face crops; check the split stage report")
        usable = index.seg_ok | index.cls_ok(params.cls_on_invalid)
        rows = train_rows[usable[train_rows]]
        frac = params.self_blend.frac  # in [0, 1], checked at load
        reals = rows[~index.is_fake[rows]] if frac > 0 else rows[:0]
        # self-blended fakes: a second entry for every real train crop, flagged ``blended``
        self.train_rows = np.concatenate([rows, reals])
        self.train_blended = np.r_[np.zeros(len(rows), bool), np.ones(len(reals), bool)]
        self.blend_frac = frac
        self.val_rows = spaced_rows(index, index.rows("val"), params.val_crops_per_video)
        self.train_set = CropDataset(
            index,
            self.train_rows,
            params.input_size,
            params.augment,
            params.cls_on_invalid,
            self_blend=params.self_blend,
            blended=self.train_blended,
        )
        self.val_set = CropDataset(index, self.val_rows, params.input_size, None, params.cls_on_invalid)

    def _loader_kwargs(self) -> dict[str, Any]:
        workers = self.params.num_workers
        return {
            "batch_size": self.params.batch_size,
            "num_workers": workers,
            "persistent_workers": False,
            "pin_memory": torch.cuda.is_available(),
        }

    def train_dataloader(self) -> DataLoader[dict[str, Any]]:
        n = self.params.samples_per_epoch or int((~self.train_blended).sum())
        generator = torch.Generator().manual_seed(self.seed)
        # drop a ragged last batch (BatchNorm needs > 1 sample) unless it is the only one
        drop_last = n > self.params.batch_size
        if self.params.balance:
            is_fake = self.index.is_fake[self.train_rows]
            weights = balanced_weights(is_fake, np.ones(len(is_fake), bool), self.train_blended, self.blend_frac)
            sampler: Any = WeightedRandomSampler(weights.tolist(), n, replacement=True, generator=generator)
            return DataLoader(self.train_set, sampler=sampler, drop_last=drop_last, **self._loader_kwargs())
        return DataLoader(
            self.train_set, shuffle=True, generator=generator, drop_last=drop_last, **self._loader_kwargs()
        )

    def val_dataloader(self) -> DataLoader[dict[str, Any]]:
        trainer = self.trainer
        if trainer is not None and trainer.world_size > 1:
            # DDP: whole batches of the one-process order per rank (dfmask.model.distributed)
            sampler = ValBatchSampler(self.val_set, self.params.batch_size, trainer.world_size, trainer.global_rank)
            return DataLoader(self.val_set, sampler=sampler, **self._loader_kwargs())
        return DataLoader(self.val_set, shuffle=False, **self._loader_kwargs())
