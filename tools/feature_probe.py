"""What a U-YNet's features hold: *who* is in a crop, or *whether* it is fake?
``python -m tools.feature_probe`` → reports/feature_probe.json.

Issue 17's finding: the U-YNet leaves the real faces it trained on alone and calls real
faces of unseen people fake. This tool looks at the features behind that. For the crops of
each split (every ``--every``-th crop of each face track) it takes three sets of features
and fits two linear probes (a standardised logistic regression) on each, scoring every
probe only on crops it was not fitted on:

* ``trained``: the per-frame features the temporal head reads
  (`dfmask.model.predict.predict_rows_members` with ``features=True``: the pooled
  bottleneck the cls head reads, its logit, the seg head's soft and 0.5-thresholded areas);
* ``untrained``: the same from the same architecture freshly initialised (torch seed 0);
* ``colour``: 12 colour statistics of the crop (per RGB channel: mean, SD, mean of the
  border band an eighth of the side wide, mean of the central half).

The probes:

* **person**: which person a real crop shows, in folds held out by *video*, so the probe
  must recognise the person in a video it has not seen. A held-out crop whose person has
  no video in the fold's fit part cannot be right and is not scored (counted in
  ``person_crops_unscorable``). A crop's person is the split table's ``identity_id``,
  which names the person of a video's longest track: here the track with the most crops
  in the index, ties to the lowest id (the split stage counts embedding rows of tracks
  with an identity: the same track on the sample); crops of other tracks are left out,
  and a fake counts as its original's person. Only real crops: a fake's inner face is another person. What
  the probe reads is the person *or* the recording (light, camera, background): the
  ``colour`` features say how far the recording alone goes. ``person_majority`` is the
  commonest person's share of the real crops, a reference, not this design's null.
* **fake**: real vs fake per crop (crop AUC), in folds held out by the split stage's
  identity *group* (``group_id``: a fake, its original and its donor are in one group),
  so no person is on both sides of a fold, as target or as donor. The splits hold 2–3
  groups each: a fold's probe is fitted on the other groups' crops. The AUC is taken
  within each held-out group (``fake_auc_by_group``) and averaged: each group's scores
  come from one probe, and pooled over groups the level at which each fold's probe
  happens to sit would count against the ranking.

Read against it, on the same crops and groups: ``logit_auc``, the trained network's own
cls logit; and on val and test ``train_readout_auc``, a fake probe fitted on the train
split's crops of the same features (a new linear head, as a head trained on train would
be). On the train split the network has seen every crop, so its figures there are
in-sample for the network (not for the probes).

This is an experiment tool, not a stage; docs/model.md quotes its report.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from dfmask import metrics
from dfmask.errors import DfmaskError
from dfmask.model.crop_index import CropIndex, read_crop_tables
from dfmask.params import CorpusParams, load_section
from dfmask.schemas.splits import read_splits
from dfmask.stage import run_stage
from dfmask.tables import write_json

FOLDS = 5


def _probe() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))


def track_rows(index: CropIndex, rows: np.ndarray, every: int) -> np.ndarray:
    """Every ``every``-th crop (by frame) of each (video, track) among ``rows``, in ``rows``
    order: a two-face video keeps both tracks whatever the rows' order."""
    by_track: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i in rows:
        by_track[(str(index.video_id[i]), int(index.track_id[i]))].append(int(i))
    keep: set[int] = set()
    for own in by_track.values():
        own.sort(key=lambda i: (int(index.frame_idx[i]), i))
        keep.update(own[::every])
    return np.array([i for i in rows if int(i) in keep], np.int64)


def person_labels(index: CropIndex, rows: np.ndarray, identity_of_video: dict[str, str | None]) -> np.ndarray:
    """Per row: the person it shows (object array; None where unknown): the ``identity_id``
    of its person video (a real crop's own video, a fake's original), for crops of that
    video's longest track only (most crops in the whole index, ties: lowest track id)."""
    person_video = np.where(index.is_fake[rows], index.original_id[rows], index.video_id[rows])
    crops = Counter(zip(index.video_id.tolist(), index.track_id.tolist(), strict=True))
    longest: dict[str, int] = {}
    for (video, track), _ in sorted(crops.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
        longest.setdefault(video, int(track))  # per video: the most crops first, then the lowest id
    out = np.full(len(rows), None, object)
    for k, (video, track) in enumerate(zip(person_video, index.track_id[rows], strict=True)):
        if video is not None and longest.get(video) == int(track):
            out[k] = identity_of_video.get(video)
    return out


def colour_statistics(crop: np.ndarray) -> np.ndarray:
    """The ``colour`` features of one uint8 RGB crop (12 floats)."""
    x = crop.astype(np.float64)
    side = min(x.shape[:2])
    band = max(1, side // 8)
    border = np.ones(x.shape[:2], bool)
    border[band:-band, band:-band] = False
    h, w = x.shape[:2]
    centre = x[h // 4 : h - h // 4, w // 4 : w - w // 4]
    return np.concatenate([x.mean((0, 1)), x.std((0, 1)), x[border].mean(0), centre.mean((0, 1))]).astype(np.float32)


def grouped_auc(y: np.ndarray, scores: np.ndarray, group: np.ndarray) -> tuple[float | None, dict[str, float | None]]:
    """Crop AUC within each group (None where it holds one class) and the mean of the defined
    ones. Within a held-out group every score comes from one probe; pooled over groups, the
    level each fold's probe happens to sit at would count against the ranking."""
    by_group: dict[str, float | None] = {}
    for g in sorted(set(group.tolist())):
        sel = group == g
        by_group[str(g)] = metrics.none_if_nan(round(metrics.roc_auc(y[sel], scores[sel]), 4))
    defined = [v for v in by_group.values() if v is not None]
    return (round(float(np.mean(defined)), 4) if defined else None), by_group


def split_features(
    index: CropIndex, rows: np.ndarray, networks: dict[str, Any], input_size: int, batch_size: int = 64
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per feature set (each network's per-frame features, then ``colour``) the features of
    ``rows``, and the first network's cls logit; every crop decoded once, a batch at a time."""
    from dfmask.model.predict import FRAME_STATS, member_outputs

    parts: dict[str, list[np.ndarray]] = {name: [] for name in (*networks, "colour")}
    logits: list[np.ndarray] = []
    for start in range(0, len(rows), batch_size):
        crops = [index.crop(int(i)) for i in rows[start : start + batch_size]]
        for k, (name, network) in enumerate(networks.items()):
            z, _, f = member_outputs(network, crops, input_size, batch_size, features=True)
            assert f is not None
            parts[name].append(f)
            if k == 0:
                logits.append(z[0])
        parts["colour"].append(np.stack([colour_statistics(c) for c in crops]))
    width = {name: net.cls_head.in_channels + len(FRAME_STATS) for name, net in networks.items()} | {"colour": 12}
    features = {
        name: np.concatenate(chunks) if chunks else np.zeros((0, width[name]), np.float32)
        for name, chunks in parts.items()
    }
    return features, np.concatenate(logits) if logits else np.zeros(0)


def probe(
    features: np.ndarray,
    person: np.ndarray,
    is_fake: np.ndarray,
    video: np.ndarray,
    group: np.ndarray,
    logit: np.ndarray | None = None,
    readout: Any | None = None,
) -> dict[str, Any]:
    """The two probes of the module docstring on one split's crops (rows with no person are
    left out of both). With ``logit`` (the network's own cls logit per row) its AUC on the
    same crops and groups; with ``readout`` (a fake probe fitted elsewhere, e.g. on the train
    split) its AUC on these crops by group. A figure is None, with a reason, where its folds
    cannot be made."""
    known = np.array([p is not None for p in person], bool)
    f, person, y = features[known], person[known].astype(str), is_fake[known].astype(bool)
    video, group = video[known], group[known]
    real = ~y
    people, counts = np.unique(person[real], return_counts=True)
    out: dict[str, Any] = {
        "crops": int(known.sum()),
        "people": len(set(person)),
        "groups": len(set(group)),
        "person_majority": round(float(counts.max() / counts.sum()), 4) if counts.size else None,
        "person_crops_scored": 0,
        "person_crops_unscorable": 0,
        "person_acc_heldout_videos": None,
    }
    n_videos = len(set(video[real]))
    if len(people) < 2 or n_videos < 2:
        out["person_reason"] = f"{len(people)} people in {n_videos} real videos: nothing to tell apart"
    else:
        fr, pr, vr = f[real], person[real], video[real]
        hits = scored = unscorable = 0
        for fit, held in GroupKFold(min(FOLDS, n_videos)).split(fr, pr, vr):
            seen = np.isin(pr[held], pr[fit])
            unscorable += int((~seen).sum())
            if len(set(pr[fit].tolist())) < 2 or not seen.any():
                unscorable += int(seen.sum())  # one person to fit on: no probe for this fold
                continue
            model = _probe().fit(fr[fit], pr[fit])
            hits += int((model.predict(fr[held][seen]) == pr[held][seen]).sum())
            scored += int(seen.sum())
        out["person_crops_scored"], out["person_crops_unscorable"] = scored, unscorable
        if scored:
            out["person_acc_heldout_videos"] = round(hits / scored, 4)
        else:
            out["person_reason"] = "no held-out crop's person is in its fold's fit part"
    scores = np.full(len(y), np.nan)
    n_groups = len(set(group))
    if n_groups >= 2 and y.any() and real.any():
        for fit, held in GroupKFold(min(FOLDS, n_groups)).split(f, y, group):
            if len(set(y[fit].tolist())) < 2:
                continue  # one class in the fit part: its held-out crops stay unscored
            scores[held] = _probe().fit(f[fit], y[fit]).predict_proba(f[held])[:, 1]
    scored_fake = ~np.isnan(scores)
    out["fake_crops_scored"] = int(scored_fake.sum())
    sel = scored_fake
    out["fake_auc_heldout_groups"], out["fake_auc_by_group"] = grouped_auc(y[sel], scores[sel], group[sel])
    if logit is not None:
        out["logit_auc"], out["logit_auc_by_group"] = grouped_auc(y[sel], logit[known][sel], group[sel])
    if readout is not None:
        readout_scores = readout.predict_proba(f[sel])[:, 1] if sel.any() else np.zeros(0)
        out["train_readout_auc"], out["train_readout_auc_by_group"] = grouped_auc(y[sel], readout_scores, group[sel])
    if out["fake_auc_heldout_groups"] is None:
        out["fake_reason"] = (
            f"{n_groups} identity groups, {int(y.sum())} fake and {int(real.sum())} real crops: "
            "no fold had both classes to fit on and both to score"
        )
    return out


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="for corpus.parts")
    parser.add_argument("--checkpoint", default="models/train/uynet.ckpt")
    parser.add_argument("--faces", default="data/interim/faces")
    parser.add_argument("--masks", default="data/processed/masks")
    parser.add_argument("--splits", default="data/interim/splits.parquet")
    parser.add_argument("--split", action="append", choices=("train", "val", "test"), help="repeatable; default all")
    parser.add_argument("--every", type=int, default=2, help="every n-th crop of each face track (default 2)")
    parser.add_argument("--out", default="reports/feature_probe.json")
    args = parser.parse_args(argv)
    if args.every < 1:
        raise DfmaskError(f"--every must be >= 1, got {args.every}")
    import torch

    from dfmask.model.predict import load_models
    from dfmask.model.uynet import build_model

    models, config = load_models(Path(args.checkpoint))
    corpus = load_section(CorpusParams, "corpus", args.params)
    index = read_crop_tables(Path(args.faces), Path(args.masks), Path(args.splits), corpus.parts)
    table = read_splits(args.splits, ["video_id", "identity_id", "group_id"])
    videos = table["video_id"].to_pylist()
    identity_of_video = dict(zip(videos, table["identity_id"].to_pylist(), strict=True))
    group_of_video = dict(zip(videos, table["group_id"].to_pylist(), strict=True))
    torch.manual_seed(0)
    networks = {"trained": models[0], "untrained": build_model(config).eval()}
    doc: dict[str, Any] = {
        "what": (
            "linear probes, each scored on crops it was not fitted on: the person of a real crop in folds "
            "held out by video, real vs fake in folds held out by identity group (AUC within each held-out "
            "group, then the mean), beside the network's own logit and a fake probe fitted on the train "
            "split; on a checkpoint's per-frame features, the same architecture freshly initialised, and "
            "colour statistics (tools/feature_probe.py)"
        ),
        "checkpoint": args.checkpoint,
        "every": args.every,
        "splits": {},
    }
    wanted = set(args.split or ["train", "val", "test"])
    # the train split first, also when not asked for: its fake probes are the readouts
    # scored on the other splits
    readouts: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        if split not in wanted and split != "train":
            continue
        rows = track_rows(index, index.rows(split), args.every)
        person = person_labels(index, rows, identity_of_video)
        known = np.array([p is not None for p in person], bool)
        is_fake = index.is_fake[rows]
        vids = index.video_id[rows].astype(str)
        group = np.array([group_of_video[v] for v in vids], object)
        by_name, trained_logit = split_features(index, rows, networks, config.input_size)
        result: dict[str, Any] = {}
        for name, features in by_name.items():
            logit = trained_logit if name == "trained" else None
            if split in wanted:
                result[name] = probe(features, person, is_fake, vids, group, logit, readouts.get(name))
                if split != "train" and name not in readouts:
                    result[name]["train_readout_reason"] = "the train split has no labelled crops of both classes"
            if split == "train" and len(set(is_fake[known].tolist())) == 2:
                readouts[name] = _probe().fit(features[known], is_fake[known])
        if split not in wanted:
            continue
        doc["splits"][split] = result
        for name, figures in result.items():
            print(f"feature_probe: {split}, {name}: {figures}", file=sys.stderr, flush=True)
    write_json(Path(args.out), doc)
    return f"{args.out}: probes on {', '.join(doc['splits'])}"


if __name__ == "__main__":
    run_stage("feature_probe", main)
