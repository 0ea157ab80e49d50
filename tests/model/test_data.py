"""Crop index join, dataset targets, balanced sampling, mask-aligned augmentation."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from dfmask.errors import DfmaskError
from dfmask.model.augment import augment_pair
from dfmask.model.crop_index import join_crops
from dfmask.model.data import CropDataModule, CropDataset, balanced_weights
from dfmask.params import AugmentParams, SelfBlendParams, TrainParams


def test_join_counts_and_targets(tables: dict[str, Any]) -> None:
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    assert len(index) == tables["faces"].num_rows
    assert index.counts["fake_crops"] == index.counts["real_crops"] == len(index) // 2
    # one failed fake per split, 3 frames each
    assert index.counts["fake_crops_invalid_mask"] == 9
    assert set(index.split) == {"train", "val", "test"}
    # reals: zero masks, seg target ok; invalid fakes: no seg target
    for i in range(len(index)):
        vid, frame = str(index.video_id[i]), int(index.frame_idx[i])
        m = index.mask(i, 32)
        if index.is_fake[i]:
            assert np.array_equal(m, tables["truth"][(vid, frame)])
            assert index.seg_ok[i] == bool(m.any())
        else:
            assert not m.any() and index.seg_ok[i]


def test_missing_mask_row_and_missing_split(tables: dict[str, Any]) -> None:
    masks = tables["masks"].slice(1)  # drop the first fake crop's mask row
    index = join_crops(tables["faces"], masks, tables["splits"])
    assert index.counts["fake_crops_without_mask_row"] == 1
    splits = tables["splits"].slice(1)
    with pytest.raises(DfmaskError, match="splits table has no row"):
        join_crops(tables["faces"], tables["masks"], splits)


def test_dataset_item_and_cls_on_invalid(tables: dict[str, Any]) -> None:
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    invalid = np.flatnonzero(index.is_fake & ~index.seg_ok)
    ds_keep = CropDataset(index, invalid, 16, None, cls_on_invalid=True)
    ds_drop = CropDataset(index, invalid, 16, None, cls_on_invalid=False)
    item = ds_keep[0]
    assert item["image"].shape == (3, 16, 16) and item["image"].dtype == torch.float32
    assert float(item["image"].min()) >= 0.0 and float(item["image"].max()) <= 1.0
    assert item["mask"].shape == (1, 16, 16)
    assert item["seg_w"] == 0 and item["cls_w"] == 1 and item["is_fake"] == 1
    assert ds_drop[0]["cls_w"] == 0


def test_balanced_weights_give_equal_class_mass() -> None:
    is_fake = np.array([True] * 10 + [False] * 2)
    w = balanced_weights(is_fake, np.ones(12, bool))
    assert w[is_fake].sum() == pytest.approx(0.5) and w[~is_fake].sum() == pytest.approx(0.5)


def test_sampler_draws_balanced_classes_from_imbalanced_data(tables: dict[str, Any]) -> None:
    faces = tables["faces"]
    # keep every fake but only the first real video of the train split: ~1:5 like DFDC
    keep = [not (r["video_id"].startswith("rtrain") and r["video_id"] != "rtrain00") for r in faces.to_pylist()]
    index = join_crops(faces.filter(pa.array(keep)), tables["masks"], tables["splits"])
    params = dataclasses.replace(TrainParams(), input_size=16, batch_size=8, samples_per_epoch=400)
    dm = CropDataModule(index, params, seed=0)
    sampler = dm.train_dataloader().sampler
    drawn = np.fromiter(iter(sampler), np.int64)  # type: ignore[arg-type]
    corpus_rows = ~dm.train_blended
    assert index.is_fake[dm.train_rows[corpus_rows]].mean() > 0.8
    is_real = ~index.is_fake[dm.train_rows[drawn]] & ~dm.train_blended[drawn]
    blended = dm.train_blended[drawn]
    assert 0.4 < is_real.mean() < 0.6
    # default train.self_blend.frac = 0.5: a quarter of the draws are self-blended reals
    assert params.self_blend.frac == 0.5 and 0.17 < blended.mean() < 0.33
    # without self-blending every draw is a corpus crop, still balanced
    plain = CropDataModule(index, dataclasses.replace(params, self_blend=SelfBlendParams(frac=0.0)), seed=0)
    drawn = np.fromiter(iter(plain.train_dataloader().sampler), np.int64)  # type: ignore[arg-type]
    assert not plain.train_blended.any()
    assert 0.4 < index.is_fake[plain.train_rows[drawn]].mean() < 0.6


def test_balanced_weights_split_the_fake_half_with_blended_rows() -> None:
    is_fake = np.array([False] * 4 + [True] * 6 + [False] * 4)
    blended = np.array([False] * 10 + [True] * 4)
    w = balanced_weights(is_fake, np.ones(14, bool), blended, 0.3)
    assert w[:4].sum() == pytest.approx(0.5)
    assert w[4:10].sum() == pytest.approx(0.35) and w[10:].sum() == pytest.approx(0.15)
    # no corpus fakes: the blended rows take the whole fake half
    w = balanced_weights(np.zeros(8, bool), np.ones(8, bool), np.r_[np.zeros(4, bool), np.ones(4, bool)], 0.3)
    assert w[4:].sum() == pytest.approx(0.5)
    # frac 1 (the SBI paper's setting): the corpus's fakes are never drawn
    w = balanced_weights(is_fake, np.ones(14, bool), blended, 1.0)
    assert w[4:10].sum() == 0.0 and w[10:].sum() == pytest.approx(0.5) and w[:4].sum() == pytest.approx(0.5)


def test_blended_item_is_a_fake_with_a_mask(tables: dict[str, Any]) -> None:
    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    reals = np.flatnonzero(~index.is_fake)[:4]
    ds = CropDataset(index, np.r_[reals, reals], 32, None, self_blend=SelfBlendParams(), blended=[0] * 4 + [1] * 4)
    torch.manual_seed(0)
    for k in range(4):
        plain, blended = ds[k], ds[k + 4]
        assert plain["is_fake"] == 0 and not plain["mask"].any() and not plain["blended"]
        assert blended["is_fake"] == 1 and blended["seg_w"] == 1 and blended["cls_w"] == 1 and blended["blended"]
        assert 0 < float(blended["mask"].mean()) < 1
        assert not torch.equal(plain["image"], blended["image"])
    fakes = np.flatnonzero(index.is_fake)[:1]
    with pytest.raises(ValueError, match="real rows only"):
        CropDataset(index, fakes, 32, None, self_blend=SelfBlendParams(), blended=[True])


def test_augment_keeps_mask_aligned_and_values_valid() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    mask[4:10, 2:8] = 1
    always = AugmentParams(hflip_p=1.0, jitter_p=1.0, downscale_p=1.0, blur_p=1.0, jpeg_p=1.0)
    out_img, out_mask = augment_pair(image, mask, always, np.random.default_rng(1))
    assert out_img.shape == image.shape and out_img.dtype == np.uint8
    assert np.array_equal(out_mask, mask[:, ::-1])  # flipped with the image, otherwise untouched
    # the flip moved the image content the same way: the flipped original is closer
    diff_flipped = np.abs(out_img.astype(int) - image[:, ::-1].astype(int)).mean()
    diff_plain = np.abs(out_img.astype(int) - image.astype(int)).mean()
    assert diff_flipped < diff_plain
    none = AugmentParams(hflip_p=0, jitter_p=0, downscale_p=0, blur_p=0, jpeg_p=0)
    same_img, same_mask = augment_pair(image, mask, none, np.random.default_rng(1))
    assert np.array_equal(same_img, image) and np.array_equal(same_mask, mask)


def test_spaced_rows_keeps_first_last_and_caps_per_video(tables: dict[str, Any]) -> None:
    from dfmask.model.data import spaced_rows

    index = join_crops(tables["faces"], tables["masks"], tables["splits"])
    rows = index.rows("val")
    picked = spaced_rows(index, rows, 2)
    videos = index.video_id[rows]
    assert len(picked) == 2 * len(set(videos))
    for vid in set(videos):
        own = rows[videos == vid]
        assert set(picked[index.video_id[picked] == vid]) == {own[0], own[-1]}
    assert np.array_equal(spaced_rows(index, rows, None), rows)
