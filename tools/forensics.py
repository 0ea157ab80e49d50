"""How much low-level evidence do a corpus's fakes carry? ``python -m tools.forensics``.

A detector can only learn what the pixels show. This measures four forensic cues of
blending-based swaps on every valid fake crop (the mask stage found a visible change:
`dfmask.masks.stage`) and on its ORIGINAL's crop at the same frame and track
(pixel-aligned, `dfmask.faces`), inside the fake's region (below), which a real detector
would not even be given:

* ``noise_ratio``: high-frequency residual (grey minus its 3x3 median) inside the region
  over the same in a ring around it. A pasted face that lost the frame's sensor noise
  or resolution has a lower ratio than the real face at the same place.
* ``sharpness_ratio``: the same with the absolute Laplacian.
* ``colour_step``: the Lab colour difference between a band just inside the region's
  border and a band just outside it (a colour seam).
* ``seam``: the Lab gradient magnitude (Sobel) on the region's border (the first pixel
  on each side of it) over the same on the 3rd to (``width`` + 1)th pixels on each side. A hard
  paste leaves an edge exactly there; a natural face has no edge along an arbitrary
  contour. It needs the border to lie where the blend's edge is: with the true swap
  masks (``--region true``) it does; an SSIM region's border does not follow it.

The region is the true swap mask of the crop when the sample's ground truth is there
(``--region true``, the default ``auto`` picks it then) and the fake's SSIM mask otherwise
(``--region ssim``): the true mask is where the swap changed the pixels; the SSIM mask is
what a real corpus has.

For each cue the AUC of "fake vs its own original" is reported (0.5 = the cue carries
nothing; the direction that separates best is taken, so the AUC is >= 0.5 and an upper
bound for a detector that relies on that cue alone, with an oracle region). ``video_auc``
is the same for videos: each fake video's mean cue over its measured crops against each
original video's mean over the crops paired with its fakes, as the detector's video
score is compared with real videos; a cue that carries nothing reads a little above 0.5
there (about 0.55 for 55 fake and 44 original videos), since the better direction is
taken. ``combined`` (with videos) is what the cues reach together: a logistic regression
over the logs of all of them, fitted and scored in up to 5 folds grouped by the split
stage's identity group of the original (``group_id``: people, and their donors, are in
one group), so a fold is scored by a fit that has seen none of its people; its held-out
crop AUC and video AUC. Fakes whose face was generated at a lower resolution
and upscaled (as autoencoder swaps are) should score high on the noise/sharpness cues, a
hard paste on the seam; a corpus whose cue AUCs are all near 0.5 gives a from-scratch
detector little to learn beyond identity, which held-out-identity splits (rightly) do not
reward.

All of the above has two oracles a detector lacks: where the swap is, and the fake's own
original to compare with. ``fixed_region`` drops both: every crop's cues inside ONE
region, the mean-mask baseline of the train split's fakes (`dfmask.model.segeval`; their
true masks with ``--region true``, else their SSIM masks), each cue's direction taken on
train and a logistic regression over all four fitted on the train crops; per split, the
video AUC of each (a video's mean over its crops) against the split's real videos,
overall and per method. It is what a hand-made detector reaches on held-out people.

With the sample's ground truth (``<paths.sample>/ground_truth.parquet``, or ``--truth``)
every figure is also given per manipulation ``method`` (``by_method``): the model issue's
per-method targets compare the detector's AUC on a method with what that method's pixels
hold. A corpus without that table gets the pooled figures alone.

Output: ``reports/forensics.json`` (``region``; per cue: mean for reals and fakes, AUC and
video AUC, n; ``combined``; per method the same; ``fixed_region``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask import metrics
from dfmask.errors import DfmaskError
from dfmask.masks.ssim import to_grey
from dfmask.model.evaluate import ground_truth
from dfmask.params import CorpusParams, PathsParams, load_section
from dfmask.stage import run_stage
from dfmask.tables import write_json

CUES = ("noise_ratio", "sharpness_ratio", "colour_step", "seam")
REGIONS = ("auto", "ssim", "true")


def region_bands(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(inner core, outer ring, inside border band, outside border band) of a 0/1 mask."""
    m = (mask > 0).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(m, kernel).astype(bool)
    dilated = cv2.dilate(m, kernel).astype(bool)
    inside = m.astype(bool)
    return eroded, dilated & ~inside, inside & ~eroded, dilated & ~inside


def border_bands(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(the first pixel on each side of a 0/1 mask's border, the 3rd to (``width`` + 1)th
    pixels on each side of it)."""
    m = (mask > 0).astype(np.uint8)

    def within(radius: int) -> np.ndarray:
        kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
        return (cv2.dilate(m, kernel) > cv2.erode(m, kernel)).astype(bool)

    return within(1), within(width + 1) & ~within(2)


def lab_gradient(lab: np.ndarray) -> np.ndarray:
    """Per-pixel Sobel gradient magnitude over the three Lab channels (float32)."""
    total = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        total += cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1) ** 2
    return np.sqrt(total)


def cue_values(image: np.ndarray, mask: np.ndarray, width: int = 4) -> dict[str, float] | None:
    """The cues (`CUES`) of an RGB uint8 crop for a region ``mask``; None when a band is
    too small (< 30 px) to measure."""
    core, ring, band_in, band_out = region_bands(mask, width)
    border, near = border_bands(mask, width)
    if min(core.sum(), ring.sum(), band_in.sum(), band_out.sum(), border.sum(), near.sum()) < 30:
        return None
    grey = to_grey(image)
    residual = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32))
    laplacian = np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    gradient = lab_gradient(lab)
    return {
        "noise_ratio": float(residual[core].mean() / (residual[ring].mean() + 1e-6)),
        "sharpness_ratio": float(laplacian[core].mean() / (laplacian[ring].mean() + 1e-6)),
        "colour_step": float(np.linalg.norm(lab[band_in].mean(0) - lab[band_out].mean(0))),
        "seam": float(gradient[border].mean() / (gradient[near].mean() + 1e-6)),
    }


def separability(real: Sequence[float] | np.ndarray, fake: Sequence[float] | np.ndarray) -> float:
    """AUC of telling ``fake`` values from ``real`` ones in the better direction (>= 0.5)."""
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    auc = metrics.roc_auc(y, np.r_[np.asarray(real, float), np.asarray(fake, float)])
    return max(auc, 1.0 - auc)


def _video_means(ids: Sequence[str], values: Sequence[float] | np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct ``ids`` in first-seen order and each one's mean value
    (`dfmask.model.predict.video_scores`' mean rule, one track per video)."""
    from dfmask.model.predict import video_scores

    order = list(dict.fromkeys(ids))
    return order, video_scores(order, ids, np.asarray(values, np.float64))[0]


def _video_auc(kept: Sequence[tuple[dict[str, float], dict[str, float], tuple[str, str]]], cue: str) -> float | None:
    """`separability` of the fake videos' mean ``cue`` against the original videos' mean."""
    if not kept:
        return None
    _, fakes = _video_means([v[0] for _, _, v in kept], [b[cue] for _, b, _ in kept])
    _, reals = _video_means([v[1] for _, _, v in kept], [a[cue] for a, _, _ in kept])
    return separability(reals, fakes)


def _combined(
    kept: Sequence[tuple[dict[str, float], dict[str, float], tuple[str, str]]], pair_groups: Sequence[str]
) -> dict[str, Any] | None:
    """Crop and video AUC of a logistic regression over the logs of all cues, held out in
    (up to) 5 folds grouped by ``pair_groups`` (one per kept pair); None with fewer than 2
    groups."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    groups = np.array([g for g in pair_groups for _ in (0, 1)])
    folds = min(5, len(set(groups)))
    if folds < 2:
        return None
    x = np.log(np.array([[c[cue] for cue in CUES] for a, b, _ in kept for c in (a, b)]) + 1e-3)
    y = np.tile([0, 1], len(kept))
    videos = np.array([v[k] for _, _, v in kept for k in (1, 0)])  # (original, fake) per pair
    score = np.zeros(len(y))
    for train, test in GroupKFold(folds).split(x, y, groups):
        fit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x[train], y[train])
        score[test] = fit.decision_function(x[test])
    order, video_score = _video_means(list(videos), score)
    label = dict(zip(videos, y, strict=True))
    video_y = np.array([label[v] for v in order])
    return {
        "auc": float(metrics.roc_auc(y, score)),
        "video_auc": float(metrics.roc_auc(video_y, video_score)),
        "folds": folds,
        "groups": len(set(groups)),
    }


def _summary(
    cues: Sequence[tuple[dict[str, float], dict[str, float]] | None],
    videos: Sequence[tuple[str, str]] | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Pairs, skipped ones and per-cue means and AUC of (original cues, fake cues) or None;
    with ``videos`` ((fake video, original video) per pair) the video AUC and the combined
    cues too, their folds grouped by ``groups`` (one per pair; default: the original video)."""
    kept = [(k, c) for k, c in enumerate(cues) if c is not None]
    out: dict[str, Any] = {"pairs": len(kept), "skipped_small_region": len(cues) - len(kept)}
    for cue in CUES:
        real_v, fake_v = [a[cue] for _, (a, _) in kept], [b[cue] for _, (_, b) in kept]
        out[cue] = {
            "real_mean": float(np.mean(real_v)) if real_v else None,
            "fake_mean": float(np.mean(fake_v)) if fake_v else None,
            "auc": separability(real_v, fake_v) if real_v else None,
        }
    if videos is None:
        return out
    with_videos = [(a, b, videos[k]) for k, (a, b) in kept]
    out["fake_videos"] = len({v[0] for _, _, v in with_videos})
    out["original_videos"] = len({v[1] for _, _, v in with_videos})
    for cue in CUES:
        out[cue]["video_auc"] = _video_auc(with_videos, cue)
    own = groups if groups is not None else [v[1] for v in videos]
    out["combined"] = _combined(with_videos, [own[k] for k, _ in kept])
    return out


def measure(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    width: int = 4,
    methods: Sequence[str] | None = None,
    videos: Sequence[tuple[str, str]] | None = None,
    groups: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Cue statistics over ``(original crop, fake crop, fake's mask)`` triples; with
    ``methods`` (one per triple) the same per method under ``by_method``; with ``videos``
    ((fake video id, original video id) per triple) each cue's ``video_auc`` and the
    ``combined`` cues too, held out by ``groups`` (one per triple: whose people a fit must
    not have seen; default the original video)."""
    if groups is not None and videos is None:
        raise ValueError("measure: groups without videos")
    for name, given in (("methods", methods), ("videos", videos), ("groups", groups)):
        if given is not None and len(given) != len(pairs):
            raise ValueError(f"measure: {len(given)} {name} for {len(pairs)} pairs")
    cues: list[tuple[dict[str, float], dict[str, float]] | None] = []
    for real, fake, mask in pairs:
        a, b = cue_values(real, mask, width), cue_values(fake, mask, width)
        cues.append(None if a is None or b is None else (a, b))
    out = _summary(cues, videos, groups)
    if methods is not None:
        out["by_method"] = {}
        for m in sorted(set(methods)):
            sel = [k for k, own in enumerate(methods) if own == m]
            out["by_method"][m] = _summary(
                [cues[k] for k in sel],
                None if videos is None else [videos[k] for k in sel],
                None if groups is None else [groups[k] for k in sel],
            )
    return out


def corpus_pairs(
    index: Any, splits: Path, limit: int, seed: int, true_masks: Any | None = None
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[tuple[str, str]], list[str]]:
    """Up to ``limit`` (original crop, fake crop, region) triples of the valid fakes of the
    crop tables ``index`` (`dfmask.model.crop_index.read_crop_tables`), a seeded random
    subset (all of them when there are fewer, or ``limit`` is 0), each one's (fake video
    id, original video id), and the ``group_id`` of its original in the splits table
    ``splits``. The region is the fake's SSIM mask, or with ``true_masks`` (the sample's
    `dfmask.model.segeval.GroundTruthMasks`) its true swap mask cut through the crop box;
    a valid fake crop whose frame they lack is then an error, not a skipped pair."""
    from dfmask.model.segeval import original_rows
    from dfmask.schemas.splits import read_splits

    split_table = read_splits(splits, ["video_id", "group_id"]).to_pydict()
    group_of = dict(zip(split_table["video_id"], split_table["group_id"], strict=True))
    row_of = original_rows(index)
    candidates = [
        (int(i), row_of[key])
        for i in np.flatnonzero(index.is_fake & index.mask_valid)
        if (key := (str(index.original_id[i]), int(index.frame_idx[i]), int(index.track_id[i]))) in row_of
    ]
    if true_masks is not None:
        lacking = [i for i, _ in candidates if not true_masks.has(str(index.video_id[i]), int(index.frame_idx[i]))]
        if lacking:
            first = lacking[0]
            raise DfmaskError(
                f"forensics: {true_masks.path}: no true mask for {len(lacking)} valid fake crops, e.g. video "
                f"{index.video_id[first]} frame {int(index.frame_idx[first])} (is it this corpus's table?)"
            )
    rng = np.random.default_rng(seed)
    if 0 < limit < len(candidates):
        candidates = [candidates[k] for k in sorted(rng.choice(len(candidates), limit, replace=False))]
    out, videos, groups = [], [], []
    for fake_row, real_row in candidates:
        fake = index.crop(fake_row)
        video = str(index.video_id[fake_row])
        if true_masks is None:
            region = index.mask(fake_row, fake.shape[0])
        else:
            frame = int(index.frame_idx[fake_row])
            region = true_masks.crop_mask(video, frame, index.crop_box[fake_row], fake.shape[0])
        out.append((index.crop(real_row), fake, region))
        original = str(index.original_id[fake_row])
        videos.append((video, original))
        groups.append(str(group_of[original]))
    return out, videos, groups


def fixed_region(index: Any, true_masks: Any | None, size: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The region a detector without an oracle can use: the mean-mask baseline of the
    train split's fakes (`dfmask.model.segeval`: their true masks when ``true_masks`` is
    given, else their valid SSIM masks), thresholded at its own level; and what it is."""
    from dfmask.model.segeval import fit_mean_mask, fit_true_mean_mask

    train = index.rows("train")
    fakes = train[index.is_fake[train]]
    if true_masks is not None:
        (mean, level), masks = fit_true_mean_mask(index, fakes, true_masks, size)
    else:
        valid = fakes[index.mask_valid[fakes]]
        (mean, level), masks = fit_mean_mask(index, valid, size), len(valid)
    region = (mean >= level).astype(np.uint8)
    return region, {
        "masks": "true" if true_masks is not None else "ssim",
        "averaged": masks,
        "level": float(level),
        "share": float(region.mean()),
    }


def _video_group(video_y: np.ndarray, video_scores: dict[str, np.ndarray], sel: np.ndarray) -> dict[str, Any]:
    """Counts and the video AUC of every score over the videos ``sel`` picks."""
    return {
        "real_videos": int((~video_y[sel]).sum()),
        "fake_videos": int(video_y[sel].sum()),
        **{c: metrics.none_if_nan(metrics.roc_auc(video_y[sel], v[sel])) for c, v in video_scores.items()},
    }


def fixed_region_detector(
    index: Any, region: np.ndarray, methods: dict[str, str] | None, splits: Sequence[str] = ("train", "val", "test")
) -> dict[str, Any]:
    """What the cues give a detector WITHOUT the oracle: every crop's cues inside one fixed
    ``region``, each cue's direction taken on the train split, and a logistic regression
    over their logs fitted on the train crops; per split, the video AUC (each video's mean
    over its crops) of every cue and of the fit, overall and per method (the method's
    fakes against every real video of the split), with counts."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    size = region.shape[0]
    per_split: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in splits:
        kept: list[int] = []
        feats: list[list[float]] = []
        for i in index.rows(split):
            crop = index.crop(int(i))
            if crop.shape[0] != size:
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            cues = cue_values(crop, region)
            if cues is not None:
                kept.append(int(i))
                feats.append([float(np.log(cues[c] + 1e-3)) for c in CUES])
        per_split[split] = (np.asarray(kept, np.int64), np.asarray(feats, np.float64).reshape(-1, len(CUES)))
    train_rows, train_x = per_split["train"]
    if not len(train_rows):
        return {
            "reason": f"no train crop can be measured in the fixed region (it covers {region.mean():.3f} of the crop)"
        }
    train_y = index.is_fake[train_rows].astype(int)
    if len(set(train_y)) < 2:
        return {"reason": "the train split lacks real or fake crops"}
    signs = [1.0 if metrics.roc_auc(train_y, train_x[:, k]) >= 0.5 else -1.0 for k in range(len(CUES))]
    fit = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, class_weight="balanced"))
    fit.fit(train_x, train_y)
    out: dict[str, Any] = {
        "fake_direction": {c: ("higher" if sign > 0 else "lower") for c, sign in zip(CUES, signs, strict=True)}
    }
    for split, (rows, x) in per_split.items():
        scores = {c: signs[k] * x[:, k] for k, c in enumerate(CUES)}
        scores["combined"] = fit.decision_function(x) if len(x) else np.zeros(0)
        videos = [str(v) for v in index.video_id[rows]]
        order = list(dict.fromkeys(videos))
        label = dict(zip(videos, index.is_fake[rows], strict=True))
        video_y = np.array([bool(label[v]) for v in order], bool)
        video_scores = {c: _video_means(videos, s)[1] for c, s in scores.items()}

        entry = {"crops": len(rows), **_video_group(video_y, video_scores, np.ones(len(order), bool))}
        if methods is not None:
            of = np.array([methods.get(str(v), "unknown") for v in order], object)
            entry["by_method"] = {
                m: _video_group(video_y, video_scores, ~video_y | (of == m)) for m in sorted(set(of[video_y]))
            }
        out[split] = entry
    return out


def video_methods(truth: Path) -> dict[str, str]:
    """video_id → ``method`` of a ground-truth table (the sample's)."""
    from dfmask.schemas.ground_truth import read_ground_truth

    table = read_ground_truth(truth, ["video_id", "method"])
    return dict(zip(table["video_id"].to_pylist(), table["method"].to_pylist(), strict=True))


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", default="data/interim/faces")
    ap.add_argument("--masks", default="data/processed/masks")
    ap.add_argument("--splits", default="data/interim/splits.parquet")
    ap.add_argument(
        "--limit",
        type=int,
        default=0,
        help="fake/original pairs measured (a seeded subset; 0 = every pair); fixed_region measures every crop",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/forensics.json")
    ap.add_argument(
        "--truth",
        default=None,
        help="ground-truth table with a method per video, and the true masks --region true reads "
        "(default: the sample's, when corpus.root is the sample)",
    )
    ap.add_argument(
        "--region",
        choices=REGIONS,
        default="auto",
        help="where the cues look: the true swap masks (needs the ground truth), the SSIM masks, "
        "or auto (true when the ground truth is there)",
    )
    args = ap.parse_args()
    if args.limit < 0:
        raise DfmaskError(f"forensics: --limit {args.limit}: must be >= 0 (0 = every pair)")
    corpus = load_section(CorpusParams, "corpus", args.params)
    truth: Path | None
    if args.truth:
        truth = Path(args.truth)
        if not truth.is_file():
            raise DfmaskError(f"forensics: --truth {truth}: no such file")
    else:  # the sample's ground truth when corpus.root is the sample corpus, as evaluate finds it
        sample_truth = ground_truth(corpus.root, Path(load_section(PathsParams, "paths", args.params).sample))
        truth = sample_truth if sample_truth is not None and sample_truth.is_file() else None
    if args.region == "true" and truth is None:
        raise DfmaskError("forensics: --region true needs the ground truth (the sample's, or --truth)")
    region = "true" if args.region == "true" or (args.region == "auto" and truth is not None) else "ssim"
    from dfmask.model.crop_index import read_crop_tables
    from dfmask.model.segeval import GroundTruthMasks

    index = read_crop_tables(Path(args.faces), Path(args.masks), Path(args.splits), corpus.parts)
    true_masks = GroundTruthMasks(truth, {str(v) for v in index.video_id}) if region == "true" and truth else None
    pairs, videos, groups = corpus_pairs(index, Path(args.splits), args.limit, args.seed, true_masks)
    methods = None
    of: dict[str, str] | None = None
    if truth is not None:
        of = video_methods(truth)
        missing = sorted({v for v, _ in videos if v not in of})
        if missing:
            raise DfmaskError(f"forensics: {truth}: no method for {len(missing)} fake videos, e.g. {missing[0]}")
        methods = [of[v] for v, _ in videos]
    if not pairs:
        raise DfmaskError("forensics: no valid fake crop with its original's crop to measure")
    doc = {"region": region, **measure(pairs, methods=methods, videos=videos, groups=groups)}
    if truth is not None:
        doc["truth"] = str(truth)
    size = pairs[0][1].shape[0]  # the crops' side
    fixed, about = fixed_region(index, true_masks, size)
    doc["fixed_region"] = {**about, **fixed_region_detector(index, fixed, of)}
    write_json(args.out, doc)
    aucs = ", ".join(f"{c} AUC {doc[c]['auc']:.3f}" for c in CUES if doc[c]["auc"] is not None)
    test = doc["fixed_region"].get("test", {}).get("combined")
    without = f"; without the oracle, test video AUC {test:.3f}" if test is not None else ""
    return f"{doc['pairs']} fake/original pairs, {region} regions: {aucs}{without} (see {args.out})"


if __name__ == "__main__":
    run_stage("forensics", main)
