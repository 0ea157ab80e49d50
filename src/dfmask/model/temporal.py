"""A temporal head over a face track's frames (``evaluate.temporal``; issue 17, item 4).

The frame model scores each crop on its own; a track's score is then a fixed rule over
its frames (``mean``, or DFDC's 1st place's ``confident``). This head learns that rule
instead: a small 1-D convolution over the per-frame features of one track, trained after
the frame model (which stays frozen) on the **train** split's tracks.

Per-frame features (`dfmask.model.predict.member_outputs` with ``features``, from the same
forward pass as the frame scores): the U-YNet's pooled bottleneck (what its cls head
reads), the cls logit, and two statistics of the seg head's mask (mean probability, share
of pixels at or above 0.5); an ensemble's members' features side by side. They are
standardised with the train split's mean and sd.

The head (`TemporalHead`): ``Conv1d(k) → ReLU → Conv1d(k) → ReLU``, then the masked mean
and the masked max over the track's frames, concatenated, and a linear layer → one logit.
It runs on the host (not a DPU graph). A video's logit is the **max over its tracks'**
logits (multiple-instance: a two-face fake with one untouched face is FAKE through its
swapped face; a track alone carries no label of its own), and the loss is a class-balanced
BCE on videos. Training is full-batch AdamW with input dropout and weight decay, seeded:
the same features and thread count give the same head on one machine.

The frame model was fit on the train split, so its train features are more confident
than those of unseen people; the head is trained on them anyway (the only labelled data
the pipeline may learn from) and judged on **val**: issue 17 keeps it on only if its val
video log loss beats the better of the ``mean`` and ``confident`` rules by ≥ 0.02,
outside the seed spread. `evaluate` reports it beside those rules (``metrics.json``:
``temporal``); the headline video score, the calibration and the scoring path keep the
frame rule (``evaluate.aggregation``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Tracks:
    """Padded per-track sequences of one split: ``x`` (T tracks, F, L), ``mask`` (T, L)
    True on real frames, ``video`` (T,) the track's video position in ``video_ids``."""

    x: np.ndarray
    mask: np.ndarray
    video: np.ndarray
    video_ids: list[str]


def build_tracks(
    features: np.ndarray,
    crop_video_ids: Sequence[str],
    crop_track_ids: Sequence[int],
    crop_frames: Sequence[int],
    video_ids: Sequence[str],
) -> Tracks:
    """Group per-crop ``features`` into tracks ordered by frame, padded to the longest.
    Videos of ``video_ids`` without a crop have no track (scored 0.5 by `video_logits`)."""
    pos = {str(v): k for k, v in enumerate(video_ids)}
    groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for i, (vid, track, frame) in enumerate(zip(crop_video_ids, crop_track_ids, crop_frames, strict=True)):
        if str(vid) in pos:
            groups.setdefault((pos[str(vid)], int(track)), []).append((int(frame), i))
    keys = sorted(groups)
    length = max((len(groups[k]) for k in keys), default=1)
    x = np.zeros((len(keys), features.shape[1], length), np.float32)
    mask = np.zeros((len(keys), length), bool)
    for t, key in enumerate(keys):
        rows = [i for _, i in sorted(groups[key])]
        x[t, :, : len(rows)] = features[rows].T
        mask[t, : len(rows)] = True
    return Tracks(x, mask, np.array([k[0] for k in keys], np.int64), [str(v) for v in video_ids])


class TemporalHead(nn.Module):
    """Two 1-D convs over a track's frames, masked mean + max pooling, a linear logit."""

    def __init__(self, n_features: int, hidden: int, kernel: int, dropout: float) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"temporal head: kernel {kernel} must be odd (it keeps a track's length)")
        self.drop = nn.Dropout(dropout)
        self.conv1 = nn.Conv1d(n_features, hidden, kernel, padding=kernel // 2)
        self.conv2 = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2)
        self.out = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Track logits (T,) of ``x`` (T, F, L) with ``mask`` (T, L). Padded frames are
        zeroed after every layer, so a track's logit does not depend on how much padding
        its batch gave it (a conv would otherwise carry its bias into the real frames)."""
        m = mask[:, None, :].to(x.dtype)
        h = torch.relu(self.conv1(self.drop(x) * m)) * m
        h = torch.relu(self.conv2(h)) * m
        mean = h.sum(-1) / m.sum(-1).clamp(min=1.0)
        peak = h.amax(-1)  # h >= 0 after the ReLU and 0 on padding: the max over real frames
        return self.out(torch.cat([mean, peak], dim=1)).reshape(-1)


def video_logits(track_logits: torch.Tensor, video: torch.Tensor, n_videos: int) -> torch.Tensor:
    """Max over each video's track logits; a video without a track gets logit 0 (p 0.5)."""
    out = torch.full((n_videos,), float("-inf"), dtype=track_logits.dtype)
    out = out.scatter_reduce(0, video, track_logits, reduce="amax")
    return torch.where(torch.isinf(out), torch.zeros_like(out), out)


@dataclass
class FittedHead:
    """A trained head and the train split's feature standardisation."""

    head: TemporalHead
    mean: np.ndarray  # (F,)
    sd: np.ndarray  # (F,)
    losses: list[float]

    @torch.no_grad()
    def predict(self, tracks: Tracks) -> np.ndarray:
        """p(FAKE) per video of ``tracks.video_ids`` (0.5 for a video without a track)."""
        self.head.eval()
        if not len(tracks.x):
            return np.full(len(tracks.video_ids), 0.5)
        z = self.head(_standardised(tracks, self.mean, self.sd), torch.from_numpy(tracks.mask))
        v = video_logits(z, torch.from_numpy(tracks.video), len(tracks.video_ids))
        return np.asarray(torch.sigmoid(v.double()).numpy())


def _standardised(tracks: Tracks, mean: np.ndarray, sd: np.ndarray) -> torch.Tensor:
    """``tracks.x`` standardised per feature (padding too: `TemporalHead` masks it out)."""
    return torch.from_numpy((tracks.x - mean[None, :, None]) / sd[None, :, None])


def fit_head(tracks: Tracks, y: np.ndarray, params: Any) -> FittedHead:
    """Train a `TemporalHead` on ``tracks`` with video labels ``y`` (``evaluate.temporal``:
    ``hidden``, ``kernel``, ``dropout``, ``steps``, ``lr``, ``weight_decay``, ``seed``)."""
    y = np.asarray(y, bool)
    has_track = np.zeros(len(y), bool)
    has_track[tracks.video] = True
    if not y[has_track].any() or y[has_track].all():
        raise ValueError("temporal head: the train split needs tracks of real and fake videos")
    # standardise over real frames only (padding excluded)
    frames = tracks.x.transpose(0, 2, 1)[tracks.mask]
    mean = frames.mean(0).astype(np.float32)
    sd = (frames.std(0) + 1e-6).astype(np.float32)
    torch.manual_seed(params.seed)
    head = TemporalHead(tracks.x.shape[1], params.hidden, params.kernel, params.dropout)
    x = _standardised(tracks, mean, sd)
    mask = torch.from_numpy(tracks.mask)
    video = torch.from_numpy(tracks.video)
    target = torch.from_numpy(y.astype(np.float32))
    # class-balanced: reals and fakes weigh the same in total (DFDC is ~1:5 real:fake)
    n_fake, n_real = float(y[has_track].sum()), float((~y[has_track]).sum())
    weight = torch.from_numpy(np.where(y, 0.5 / n_fake, 0.5 / n_real).astype(np.float32) * has_track)
    opt = torch.optim.AdamW(head.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    losses: list[float] = []
    head.train()
    for _ in range(params.steps):
        opt.zero_grad()
        v = video_logits(head(x, mask), video, len(y))
        loss = (nn.functional.binary_cross_entropy_with_logits(v, target, reduction="none") * weight).sum()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return FittedHead(head, mean, sd, losses)

