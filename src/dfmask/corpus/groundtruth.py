"""Helpers for the consumers of the sample corpus's ground truth table.

The table (GROUND_TRUTH), what it covers and its box and mask conventions are described
once, in the catalogue: `dfmask.schemas.ground_truth`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from dfmask.schemas.ground_truth import FAKE_METHODS, GROUND_TRUTH, read_codec_pairs, read_ground_truth
from dfmask.tables import decode_png

SWAP_KINDS = ("none", "full", "mouth", "failed")
#: The ``method`` column's values: ``none`` for reals, then the fakes' methods.
METHODS = ("none", *FAKE_METHODS)
#: CRF bands for reporting per compression level, inclusive (label, lo, hi); a CRF
#: outside every band is ``other``.
CRF_BANDS = (("18-22", 18, 22), ("23-26", 23, 26), ("27-29", 27, 29), ("30-32", 30, 32))


def crf_band(crf: int) -> str:
    """The `CRF_BANDS` label of ``crf`` (``other`` outside them)."""
    return next((label for label, lo, hi in CRF_BANDS if lo <= crf <= hi), "other")


def load_ground_truth(path: str | os.PathLike[str], masks: bool = False) -> pd.DataFrame:
    """The ground truth as a DataFrame (one row per video, frame and face).

    Args:
        masks: also load the ``mask`` column (PNG cells; larger). Without it,
            `true_mask` reads masks from ``path`` lazily.
    """
    columns = None if masks else [n for n in GROUND_TRUTH.schema.names if n != "mask"]
    frame = read_ground_truth(path, columns).to_pandas()
    frame.attrs["path"] = str(path)
    return frame


def videos(gt: pd.DataFrame) -> pd.DataFrame:
    """One row per video: part, video_id, label, is_fake, original_id, swap_kind, method,
    crf, preset, encode_differs, size, n_frames, source, ``actor_ids`` (sorted tuple of
    target actors) and ``donor_actor_ids`` (sorted tuple of swapped-in actors; empty for
    reals/failed)."""
    keys = [
        "part",
        "video_id",
        "label",
        "is_fake",
        "original_id",
        "swap_kind",
        "method",
        "crf",
        "preset",
        "encode_differs",
        "width",
        "height",
        "fps",
        "n_frames",
        "source",
    ]
    base = gt.drop_duplicates("video_id")[keys].set_index("video_id")
    targets = _ids_per_video(gt, "actor_id")
    donors = _ids_per_video(gt, "donor_actor_id")
    base["actor_ids"] = [targets.get(v, ()) for v in base.index]
    base["donor_actor_ids"] = [donors.get(v, ()) for v in base.index]
    return base.reset_index().sort_values(["part", "video_id"]).reset_index(drop=True)


def load_codec_pairs(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The codec-noise fixture's manifest (`dfmask.schemas.ground_truth.CODEC_PAIRS`) as a
    DataFrame; ``path`` values are relative to the folder holding ``codec_pairs/``."""
    return read_codec_pairs(path).to_pandas()


def _ids_per_video(gt: pd.DataFrame, column: str) -> dict[str, tuple[str, ...]]:
    out: dict[str, set[str]] = {}
    for video_id, actor in zip(gt.video_id, gt[column], strict=True):
        if actor is not None and actor == actor:  # skip None / NaN
            out.setdefault(str(video_id), set()).add(str(actor))
    return {v: tuple(sorted(a)) for v, a in out.items()}


def video_actors(gt: pd.DataFrame) -> dict[str, frozenset[str]]:
    """video_id → every identity visible in the video (targets and donors). Use it for
    identity-leak checks: a fake shows its donor's face as well as its target's."""
    table = videos(gt)
    return {
        v: frozenset(a) | frozenset(d)
        for v, a, d in zip(table.video_id, table.actor_ids, table.donor_actor_ids, strict=True)
    }


def face_boxes(gt: pd.DataFrame, video_id: str) -> dict[int, list[tuple[str, np.ndarray]]]:
    """frame_idx → [(actor_id, box (4,) float)] of one video; [] on frames with no face."""
    rows = gt[gt.video_id == video_id]
    out: dict[int, list[tuple[str, np.ndarray]]] = {}
    for frame_idx, actor, box in zip(rows.frame_idx, rows.actor_id, rows.box, strict=True):
        faces = out.setdefault(int(frame_idx), [])
        if actor is not None and box is not None:
            faces.append((str(actor), np.asarray(box, np.float64)))
    return out


def true_mask(gt: pd.DataFrame, video_id: str, frame_idx: int) -> np.ndarray:
    """The true swap mask of one frame: bool (H, W), True = manipulated (all False for a
    real, a failed fake or a frame where nothing was swapped)."""
    rows = gt[(gt.video_id == video_id) & (gt.frame_idx == frame_idx)]
    if rows.empty:
        raise KeyError(f"no ground truth for video {video_id!r} frame {frame_idx}")
    height, width = int(rows.height.iloc[0]), int(rows.width.iloc[0])
    if not bool(rows.is_fake.iloc[0]):
        return np.zeros((height, width), bool)
    cell: Mapping[str, Any] | None = rows["mask"].iloc[0] if "mask" in rows else None
    if cell is None:
        cell = _read_mask_cell(gt.attrs.get("path"), video_id, frame_idx)
    return decode_png(cell["bytes"], grey=True) > 0


def _read_mask_cell(path: str | None, video_id: str, frame_idx: int) -> Mapping[str, Any]:
    if path is None:
        raise ValueError("ground truth loaded without masks and without a path; use masks=True")
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(
        path,
        columns=["mask"],
        filters=(pc.field("video_id") == video_id) & (pc.field("frame_idx") == frame_idx),
    )
    return dict(table.column("mask")[0].as_py())
