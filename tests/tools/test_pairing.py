"""The pairing experiment's sampler: each fake crop beside the real crop of the same frame."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from dfmask.model.crop_index import read_crop_tables
from tools.pairing import PairedDataModule, PairedSampler, partners

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from model_synthetic import tiny_train_params, write_synthetic_corpus  # the model tests' tables


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> object:
    root = Path(tmp_path_factory.mktemp("synthetic"))
    write_synthetic_corpus(root, videos_per_split=4, frames=2, size=32)
    return read_crop_tables(root / "faces", root / "masks", root / "splits.parquet", (0, 1))


def test_partners_pair_fakes_with_their_originals_frame_and_blends_with_their_source(index: object) -> None:
    data = PairedDataModule(index, tiny_train_params(), 0)  # type: ignore[arg-type]
    rows, blended = data.train_rows, data.train_blended
    assert blended.any() and (~blended & index.is_fake[rows]).any()  # type: ignore[attr-defined]
    got = partners(index, rows, blended)  # type: ignore[arg-type]
    ix = index  # a CropIndex
    for k, (i, j) in enumerate(zip(rows, got, strict=True)):
        if blended[k]:
            assert rows[j] == i and not blended[j]  # its own unblended source
        elif ix.is_fake[i]:  # type: ignore[attr-defined]
            r = rows[j]
            assert j >= 0 and not ix.is_fake[r]  # type: ignore[attr-defined]
            assert ix.video_id[r] == ix.original_id[i]  # type: ignore[attr-defined]
            assert (ix.frame_idx[r], ix.track_id[r]) == (ix.frame_idx[i], ix.track_id[i])  # type: ignore[attr-defined]
        else:
            assert j == -1
    assert (got[blended] >= 0).all() and (got[~blended & ix.is_fake[rows]] >= 0).all()  # type: ignore[attr-defined]


def test_paired_sampler_yields_each_drawn_fake_then_its_partner() -> None:
    partner = np.array([-1, 0, -1, 2, -1])
    is_fake = np.array([False, True, False, True, True])  # item 4 has no partner: never drawn
    weights = np.array([0.25, 0.25, 0.25, 0.25, 0.25])
    order = list(PairedSampler(weights, partner, is_fake, 9, seed=0))
    assert len(order) == 8
    for fake, real in zip(order[::2], order[1::2], strict=True):
        assert fake in (1, 3) and real == partner[fake]
    with pytest.raises(ValueError, match="no fake crop has a real partner"):
        PairedSampler(weights, np.full(5, -1), is_fake, 4, seed=0)


def test_the_train_loader_keeps_each_pair_inside_one_batch(index: object) -> None:
    """Even batches: item 2k is a fake (corpus or self-blended), item 2k + 1 the real crop
    of the same frame and track; an odd batch size is refused."""
    data = PairedDataModule(index, tiny_train_params(batch_size=8), 0)  # type: ignore[arg-type]
    ix = index
    batches = list(data.train_dataloader())
    assert batches and all(len(b["index"]) == 8 for b in batches)
    for batch in batches:
        fake, real = batch["is_fake"][::2], batch["is_fake"][1::2]
        assert (fake == 1).all() and (real == 0).all()
        for f, r, blended in zip(batch["index"][::2], batch["index"][1::2], batch["blended"][::2], strict=True):
            f, r = int(f), int(r)
            if blended:
                assert f == r  # the self-blend of that very crop
            else:
                assert ix.original_id[f] == ix.video_id[r]  # type: ignore[attr-defined]
                assert ix.frame_idx[f] == ix.frame_idx[r] and ix.track_id[f] == ix.track_id[r]  # type: ignore[attr-defined]
    odd = PairedDataModule(index, tiny_train_params(batch_size=7), 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="even train.batch_size"):
        odd.train_dataloader()
