"""Batched inference and video-level aggregation.

`predict_rows` / `predict_images` run the model without augmentation and return
p(FAKE) per crop (sigmoid of the cls logit, applied here on the host) and the
predicted manipulation probability map at the model's input size.

**Ensembles.** Every function that runs the model takes one `UYNet` or a sequence of
them (e.g. the ``evaluate.seeds`` runs): the members' logits (cls and seg) are averaged
before the sigmoid. `member_logits` also returns each member's cls logits, so a report
can set single models beside the ensemble.

`video_scores` turns frame probabilities into one score per video of a split, in two
steps: each face **track** (``track_id``) gets the mean of its frames, or the DFDC 1st
place's "confident" rule; the video gets the **max** over its tracks (or their mean), so
one swapped face beside an untouched one is not averaged away. A video with no face
crop gets 0.5 (the uninformative score) and is counted, never dropped, so a detector
that misses faces is charged for it in log loss and AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from dfmask.errors import DfmaskError
from dfmask.model.crop_index import CropIndex
from dfmask.model.inputs import resize_crop
from dfmask.model.uynet import UYNet, UYNetConfig, load_checkpoint

NO_FACE_SCORE = 0.5


Models = UYNet | Sequence[UYNet]


def _members(model: Models) -> list[UYNet]:
    return [model] if isinstance(model, UYNet) else list(model)


#: per member, after its pooled bottleneck: cls logit, mean seg prob, share of pixels >= 0.5
FRAME_STATS = ("cls_logit", "seg_mean", "seg_area")


@torch.no_grad()
def member_outputs(
    model: Models, images: Sequence[np.ndarray], input_size: int, batch_size: int = 64, features: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(cls logits (M, N) float64 per member, seg prob (N, S, S) float16 of the mean seg
    logit over members, and with ``features`` the per-frame features the temporal head
    reads (N, M × (C + 3)) float32: per member its pooled bottleneck and `FRAME_STATS`,
    members side by side, else None) for uint8 RGB crops of any size. One forward pass
    gives all three."""
    members = _members(model)
    logits: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        chunk = [resize_crop(im, input_size) for im in images[start : start + batch_size]]
        seg_sum, cls, per_member = None, [], []
        for net in members:
            device = next(net.parameters()).device
            x = torch.from_numpy(np.stack(chunk)).to(device).permute(0, 3, 1, 2).float() / 255.0
            seg_logits, cls_logits, pooled = net.forward_features(x)
            cls.append(cls_logits.float().reshape(-1).cpu().numpy().astype(np.float64))
            seg = seg_logits.float()[:, 0].cpu()
            seg_sum = seg if seg_sum is None else seg_sum + seg
            if features:
                prob = torch.sigmoid(seg)
                stats = (cls_logits.float().cpu(), prob.mean(dim=(1, 2)), (prob >= 0.5).float().mean(dim=(1, 2)))
                per_member.append(
                    torch.cat([pooled.float().cpu().reshape(len(chunk), -1), *(v.reshape(-1, 1) for v in stats)], 1)
                    .numpy()
                    .astype(np.float32)
                )
        logits.append(np.stack(cls))
        assert seg_sum is not None
        maps.append(torch.sigmoid(seg_sum / len(members)).numpy().astype(np.float16))
        if features:
            feats.append(np.concatenate(per_member, axis=1))
    width = sum(net.cls_head.in_channels + len(FRAME_STATS) for net in members)
    if not logits:
        empty = np.zeros((0, width), np.float32) if features else None
        return np.zeros((len(members), 0)), np.zeros((0, input_size, input_size), np.float16), empty
    return np.concatenate(logits, axis=1), np.concatenate(maps), np.concatenate(feats) if features else None


def member_logits(
    model: Models, images: Sequence[np.ndarray], input_size: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(cls logits (M, N) float64 per member, seg prob (N, S, S) float16 of the mean seg
    logit over members) for uint8 RGB crops of any size (`member_outputs` without features)."""
    logits, maps, _ = member_outputs(model, images, input_size, batch_size)
    return logits, maps


def load_models(checkpoint: Path, extra: Sequence[Path] = ()) -> tuple[list[UYNet], UYNetConfig]:
    """A checkpoint and any extra ensemble members (eval mode, CPU); all must share the
    input size (a `DfmaskError` naming the odd one otherwise)."""
    model, config = load_checkpoint(checkpoint)
    models = [model]
    for path in extra:
        member, member_config = load_checkpoint(path)
        if member_config.input_size != config.input_size:
            raise DfmaskError(
                f"{path}: input_size {member_config.input_size} differs from {checkpoint}'s "
                f"{config.input_size}; an ensemble's members must share it"
            )
        models.append(member)
    return models, config


def ensemble_p(logits: np.ndarray) -> np.ndarray:
    """p(FAKE) of the mean logit over members (axis 0), float64."""
    return np.asarray(torch.sigmoid(torch.from_numpy(np.asarray(logits, np.float64).mean(axis=0))).numpy())


def predict_images(
    model: Models, images: Sequence[np.ndarray], input_size: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(p_fake (N,), seg_prob (N, S, S) float16) for uint8 RGB crops of any size; an
    ensemble's members' logits are averaged (see module docstring)."""
    logits, maps = member_logits(model, images, input_size, batch_size)
    return ensemble_p(logits), maps


def predict_rows_members(
    model: Models, index: CropIndex, rows: np.ndarray, input_size: int, batch_size: int = 64, features: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """`member_outputs` over rows of a `CropIndex` (decoding one batch at a time)."""
    logits: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    for start in range(0, len(rows), batch_size):
        crops = [index.crop(int(i)) for i in rows[start : start + batch_size]]
        z, m, f = member_outputs(model, crops, input_size, batch_size, features)
        logits.append(z)
        maps.append(m)
        if f is not None:
            feats.append(f)
    if not logits:
        return member_outputs(model, [], input_size, batch_size, features)
    return np.concatenate(logits, axis=1), np.concatenate(maps), np.concatenate(feats) if features else None


def predict_rows(
    model: Models, index: CropIndex, rows: np.ndarray, input_size: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """`predict_images` over rows of a `CropIndex` (decoding one batch at a time)."""
    logits, maps, _ = predict_rows_members(model, index, rows, input_size, batch_size)
    return ensemble_p(logits), maps


def confident_score(p: np.ndarray, threshold: float = 0.8, min_frac: float = 0.4) -> float:
    """The DFDC 1st place's "confident" aggregation of one video's frame probabilities.

    If more than ``min_frac`` of the frames are confident fakes (p > threshold), the
    score is their mean; else if more than 90 % are confident reals (p < 1 − threshold),
    their mean; else the plain mean. (The original used a 40 % share and at least 11 of
    32 frames; the frame count is a fraction here because our videos have fewer frames.)
    """
    p = np.asarray(p, np.float64)
    if not p.size:
        return NO_FACE_SCORE
    fake = p > threshold
    if fake.sum() > min_frac * p.size:
        return float(p[fake].mean())
    real = p < 1.0 - threshold
    if real.sum() > 0.9 * p.size:
        return float(p[real].mean())
    return float(p.mean())


def video_scores(
    video_ids: Sequence[str],
    crop_video_ids: Sequence[str],
    p: np.ndarray,
    method: Literal["mean", "confident"] = "mean",
    threshold: float = 0.8,
    min_frac: float = 0.4,
    crop_track_ids: Sequence[int] | None = None,
    over_tracks: Literal["max", "mean"] = "max",
) -> tuple[np.ndarray, np.ndarray]:
    """(score per video in ``video_ids`` order, crops per video); no crops ⇒ 0.5, 0 crops.

    Each track of a video (``crop_track_ids``; None = one track per video) is scored by
    ``method`` over its frames, the video by ``over_tracks`` over its tracks.
    """
    tracks = [0] * len(crop_video_ids) if crop_track_ids is None else crop_track_ids
    by_video: dict[str, dict[int, list[float]]] = {}
    for vid, track, prob in zip(crop_video_ids, tracks, p, strict=True):
        by_video.setdefault(str(vid), {}).setdefault(int(track), []).append(float(prob))
    scores = np.full(len(video_ids), NO_FACE_SCORE)
    counts = np.zeros(len(video_ids), np.int64)
    for k, vid in enumerate(video_ids):
        per_track = by_video.get(str(vid), {})
        counts[k] = sum(len(v) for v in per_track.values())
        if not per_track:
            continue
        track_scores = [
            float(np.mean(v)) if method == "mean" else confident_score(np.asarray(v), threshold, min_frac)
            for _, v in sorted(per_track.items())
        ]
        scores[k] = max(track_scores) if over_tracks == "max" else float(np.mean(track_scores))
    return scores, counts
