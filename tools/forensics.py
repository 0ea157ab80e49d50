"""How much low-level evidence do a corpus's fakes carry? ``python -m tools.forensics``.

A detector can only learn what the pixels show. This measures three classic forensic
cues of blending-based swaps on every valid fake crop and on its ORIGINAL's crop at the
same frame and track (pixel-aligned, `dfmask.faces`), inside the region the fake's SSIM
mask marks (`dfmask.masks.stage`), which a real detector would not even be given:

* ``noise_ratio``: high-frequency residual (grey minus its 3x3 median) inside the region
  over the same in a ring around it. A pasted face that lost the frame's sensor noise
  or resolution has a lower ratio than the real face at the same place.
* ``sharpness_ratio``: the same with the absolute Laplacian.
* ``colour_step``: the Lab colour difference between a band just inside the region's
  border and a band just outside it (a colour seam).

For each cue the AUC of "fake vs its own original" is reported (0.5 = the cue carries
nothing; the direction that separates best is taken, so the AUC is >= 0.5 and an upper
bound for a detector that relies on that cue alone, with an oracle region). Fakes whose
face was generated at a lower resolution and upscaled (as autoencoder swaps are) should
score high on the noise/sharpness cues (not measured here: no such corpus is available);
a corpus whose cue AUCs are all near 0.5 gives a from-scratch detector little to learn
beyond identity, which held-out-identity splits (rightly) do not reward.

With the sample's ground truth (``<paths.sample>/ground_truth.parquet``, or ``--truth``)
every figure is also given per manipulation ``method`` (``by_method``): the model issue's
per-method targets compare the detector's AUC on a method with what that method's pixels
hold. A corpus without that table gets the pooled figures alone.

Output: ``reports/forensics.json`` (per cue: mean for reals and fakes, AUC, n; per method
the same).
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

CUES = ("noise_ratio", "sharpness_ratio", "colour_step")


def region_bands(mask: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(inner core, outer ring, inside border band, outside border band) of a 0/1 mask."""
    m = (mask > 0).astype(np.uint8)
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(m, kernel).astype(bool)
    dilated = cv2.dilate(m, kernel).astype(bool)
    inside = m.astype(bool)
    return eroded, dilated & ~inside, inside & ~eroded, dilated & ~inside


def cue_values(image: np.ndarray, mask: np.ndarray, width: int = 4) -> dict[str, float] | None:
    """The three cues of an RGB uint8 crop for a region ``mask``; None when a band is
    too small (< 30 px) to measure."""
    core, ring, band_in, band_out = region_bands(mask, width)
    if min(core.sum(), ring.sum(), band_in.sum(), band_out.sum()) < 30:
        return None
    grey = to_grey(image)
    residual = np.abs(grey.astype(np.float32) - cv2.medianBlur(grey, 3).astype(np.float32))
    laplacian = np.abs(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F))
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    return {
        "noise_ratio": float(residual[core].mean() / (residual[ring].mean() + 1e-6)),
        "sharpness_ratio": float(laplacian[core].mean() / (laplacian[ring].mean() + 1e-6)),
        "colour_step": float(np.linalg.norm(lab[band_in].mean(0) - lab[band_out].mean(0))),
    }


def separability(real: Sequence[float], fake: Sequence[float]) -> float:
    """AUC of telling ``fake`` values from ``real`` ones in the better direction (>= 0.5)."""
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))]
    auc = metrics.roc_auc(y, np.r_[np.asarray(real, float), np.asarray(fake, float)])
    return max(auc, 1.0 - auc)


def _summary(cues: Sequence[tuple[dict[str, float], dict[str, float]] | None]) -> dict[str, Any]:
    """Pairs, skipped ones and per-cue means and AUC of (original cues, fake cues) or None."""
    kept = [c for c in cues if c is not None]
    out: dict[str, Any] = {"pairs": len(kept), "skipped_small_region": len(cues) - len(kept)}
    for cue in CUES:
        real_v, fake_v = [a[cue] for a, _ in kept], [b[cue] for _, b in kept]
        out[cue] = {
            "real_mean": float(np.mean(real_v)) if real_v else None,
            "fake_mean": float(np.mean(fake_v)) if fake_v else None,
            "auc": separability(real_v, fake_v) if real_v else None,
        }
    return out


def measure(
    pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    width: int = 4,
    methods: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Cue statistics over ``(original crop, fake crop, fake's mask)`` triples; with
    ``methods`` (one per triple) the same per method under ``by_method``."""
    cues: list[tuple[dict[str, float], dict[str, float]] | None] = []
    for real, fake, mask in pairs:
        a, b = cue_values(real, mask, width), cue_values(fake, mask, width)
        cues.append(None if a is None or b is None else (a, b))
    out = _summary(cues)
    if methods is not None:
        if len(methods) != len(pairs):
            raise ValueError(f"measure: {len(methods)} methods for {len(pairs)} pairs")
        out["by_method"] = {
            m: _summary([c for c, own in zip(cues, methods, strict=True) if own == m]) for m in sorted(set(methods))
        }
    return out


def corpus_pairs(
    faces_dir: Path, masks_dir: Path, splits: Path, parts: Sequence[int], limit: int, seed: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], list[str]]:
    """Up to ``limit`` (original crop, fake crop, SSIM mask) triples of valid fakes, a
    seeded random subset (all of them when there are fewer), and each fake's video id."""
    from dfmask.model.crop_index import read_crop_tables
    from dfmask.model.segeval import original_rows

    index = read_crop_tables(faces_dir, masks_dir, splits, parts)
    row_of = original_rows(index)
    candidates = [
        (int(i), row_of[key])
        for i in np.flatnonzero(index.is_fake & index.mask_valid)
        if (key := (str(index.original_id[i]), int(index.frame_idx[i]), int(index.track_id[i]))) in row_of
    ]
    rng = np.random.default_rng(seed)
    if len(candidates) > limit:
        candidates = [candidates[k] for k in sorted(rng.choice(len(candidates), limit, replace=False))]
    out, videos = [], []
    for fake_row, real_row in candidates:
        fake = index.crop(fake_row)
        out.append((index.crop(real_row), fake, index.mask(fake_row, fake.shape[0])))
        videos.append(str(index.video_id[fake_row]))
    return out, videos


def video_methods(truth: Path) -> dict[str, str]:
    """video_id → ``method`` of a ground-truth table (the sample's)."""
    import pyarrow.parquet as pq

    table = pq.read_table(truth, columns=["video_id", "method"])
    return dict(zip(table["video_id"].to_pylist(), table["method"].to_pylist(), strict=True))


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", default="data/interim/faces")
    ap.add_argument("--masks", default="data/processed/masks")
    ap.add_argument("--splits", default="data/interim/splits.parquet")
    ap.add_argument("--limit", type=int, default=2000, help="fake/original pairs measured (seeded subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="reports/forensics.json")
    ap.add_argument(
        "--truth",
        default=None,
        help="ground-truth table with a method per video (default: the sample's, when corpus.root is the sample)",
    )
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    pairs, videos = corpus_pairs(
        Path(args.faces), Path(args.masks), Path(args.splits), corpus.parts, args.limit, args.seed
    )
    if args.truth:
        truth: Path | None = Path(args.truth)
    else:  # the sample's ground truth when corpus.root is the sample corpus, as evaluate finds it
        sample_truth = ground_truth(corpus.root, Path(load_section(PathsParams, "paths", args.params).sample))
        truth = sample_truth if sample_truth is not None and sample_truth.is_file() else None
    methods = None
    if truth is not None:
        of = video_methods(truth)
        missing = sorted({v for v in videos if v not in of})
        if missing:
            raise DfmaskError(f"forensics: {truth}: no method for {len(missing)} fake videos, e.g. {missing[0]}")
        methods = [of[v] for v in videos]
    doc = measure(pairs, methods=methods)
    if truth is not None:
        doc["truth"] = str(truth)
    write_json(args.out, doc)
    aucs = ", ".join(f"{c} AUC {doc[c]['auc']:.3f}" for c in CUES if doc[c]["auc"] is not None)
    return f"{doc['pairs']} fake/original pairs: {aucs} (see {args.out})"


if __name__ == "__main__":
    run_stage("forensics", main)
