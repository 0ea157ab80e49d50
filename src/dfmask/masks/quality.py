"""Quality of the SSIM masks against the sample corpus's true swap masks.

``dfmask quality masks`` → ``reports/masks_quality.json`` and
``reports/masks_preview.png`` (columns real | fake | 1 − SSIM | our mask | true mask);
``--sweep`` also writes ``reports/masks_sweep.md``. The ``masks_quality`` stage
(``stages/masks_quality.py``) runs `run` on every ``dvc repro``; the truth exists
only for the generated sample (``<paths.sample>/ground_truth.parquet``), so on a real
corpus (`dfmask.corpus.corpus_kind`) the stage writes a not-applicable report instead
(`not_applicable`). The sweep is a hand run (it re-computes every mask once per swept
value).

* **Crops and truth** (`dfmask.masks.truth`): every fake crop with a mask row, its
  original's crop, its true mask in the crop, method, CRF band, case and split.
* **Scores** (`dfmask.masks.scoring`): per method (pooled over bands), per band (pooled
  over methods), per method × band and per case, on the test split, next to the one
  mean-true-mask baseline fitted on train; targets pass / fail / insufficient.
* **Codec-noise pairs** (`codec_pair_areas`): each original of
  ``<paths.sample>/codec_pairs/codec_pairs.parquet`` re-encoded at another quality, cut
  with the original's crop boxes and masked against the original's crops like a fake:
  the mean mask area says how much codec noise alone leaks into masks.
* **Every split** (``all_splits``): the same cells over train, val and test together,
  for reading only (params are chosen on train/val, so these figures are partly
  in-sample); tiny corpora (the ``ci`` profile, tests) have too few test videos.
* **Preview** (`dfmask.masks.preview`) and **sweep** (`dfmask.masks.sweep`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask.corpus import corpus_kind, quoted_root, sample_truth
from dfmask.errors import DfmaskError
from dfmask.masks import scoring
from dfmask.masks.codecpairs import codec_pair_areas
from dfmask.masks.preview import write_preview
from dfmask.masks.sweep import write_sweep
from dfmask.masks.truth import KINDS, QualityItem, crop_scores, load_corpus_items, load_items, read_split_of
from dfmask.params import CorpusParams, MasksParams, to_dict
from dfmask.schemas.videos import read_corpus_videos
from dfmask.tables import write_json


def quality_report(
    items: Sequence[QualityItem], params: MasksParams, codec_pairs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report document: per method / band / method × band / case cells on the test
    split (val and every split for reading), the baseline, codec-noise pairs, targets."""
    masks, valid = [it.mask for it in items], [it.valid for it in items]
    scores, base = crop_scores(items, masks, valid)
    test = [s for s in scores if s.split == "test"]
    val = [s for s in scores if s.split == "val"]
    by_method, by_band, by_case = (scoring.cells(test, k) for k in ("method", "band", "case"))
    grid = {m: scoring.cells([s for s in test if s.method == m], "band") for m in sorted({s.method for s in test})}
    codec_pairs = codec_pairs or {"available": False}
    checks = scoring.targets(by_method, by_band, by_case, codec_pairs.get("mean_area"))
    overall = next(c for c in checks if c["name"].startswith("overall"))
    return {
        "crops": len(items),
        "crops_by_kind": {k: sum(1 for it in items if it.kind == k) for k in KINDS},
        "crops_by_split": {k: sum(1 for it in items if it.split == k) for k in ("train", "val", "test", "none")},
        "params": to_dict(params),
        "pooling": (
            f"cells on the test split; by_method pools every CRF band, by_band pools every method; "
            f"a cell decides a target only with >= {scoring.MIN_TEST_VIDEOS} test videos (pooled_enough), "
            "else the target reads 'insufficient'; by_method_and_band is for reading only"
        ),
        "baseline_mean_true_mask": base.describe() if base is not None else None,
        "test": {
            "by_method": by_method,
            "by_band": by_band,
            "by_case": by_case,
            "by_method_and_band": grid,
            "all": scoring.cell(test),
        },
        # val, for reading only (params are chosen on train/val): cases the test split lacks
        "val": {"all": scoring.cell(val), "by_case": scoring.cells(val, "case")},
        "codec_pairs": codec_pairs,
        # every split together, for reading only (partly in-sample: params are chosen on train/val)
        "all_splits": {
            "all": scoring.cell(scores),
            "by_case": scoring.cells(scores, "case"),
            "by_method": scoring.cells(scores, "method"),
        },
        "targets": {
            "overall_test_mean_iou": overall["ours"],
            "overall_test_baseline_mean_iou": overall["baseline"],
            "margin_over_best_baseline": None
            if overall["ours"] is None or overall["baseline"] is None
            else overall["ours"] - overall["baseline"],
            "met": all(c["status"] == "pass" for c in checks),
            "checks": checks,
            "summary": {k: sum(1 for c in checks if c["status"] == k) for k in ("pass", "fail", "insufficient")},
        },
        "truth_mapping": "crop_box cut (zero outside the frame) + resize like the crop "
        "(area shrinking / bilinear growing) on the 0/1 mask, threshold 0.5",
    }


# ----------------------------------------------------------------------------- the stage


@dataclass(frozen=True)
class MasksQualityPaths:
    """Where ``masks_quality`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    masks: Path  # paths.masks: part=N/ folders of masks shards
    faces: Path  # paths.faces: part=N/ folders of faces shards
    sample: Path  # paths.sample: its ground_truth.parquet (and codec_pairs/), when corpus.root is its corpus
    out: Path  # <paths.reports>/masks_quality.json
    preview: Path  # <paths.reports>/masks_preview.png
    splits: Path | None = None  # paths.splits: the split of each video (None: no test split to report)
    videos: Path | None = None  # paths.videos: a corpus's own true masks (mask_path), when it has them


@dataclass(frozen=True)
class MasksQuality:
    """What was written: the report document (``{"applicable": false, ...}`` on a corpus
    without truth), where it is, and how many fake crops it scored."""

    doc: dict[str, Any]
    path: Path
    crops: int = 0

    def summary(self) -> str:
        if self.doc.get("applicable") is False:
            return f"not applicable: {self.doc['reason']} (see {self.path})"
        t = self.doc["targets"]
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        return (
            f"{self.crops} fake crops: test IoU {fmt(t['overall_test_mean_iou'])} vs baseline "
            f"{fmt(t['overall_test_baseline_mean_iou'])}; targets {t['summary']['pass']} pass, "
            f"{t['summary']['fail']} fail, {t['summary']['insufficient']} insufficient (see {self.path})"
        )


def run(params: MasksParams, corpus: CorpusParams, paths: MasksQualityPaths) -> MasksQuality:
    """The ``masks_quality`` stage: `score_masks` of ``corpus.parts`` against the sample's
    truth; on another corpus, `score_corpus_masks` against the corpus's own masks when its
    videos table names any (FaceForensics++), else `not_applicable`."""
    if corpus_kind(corpus.root, paths.sample) != "sample":
        table = None if paths.videos is None else read_corpus_videos(paths.videos, corpus.parts, CORPUS_MASK_COLUMNS)
        videos = [] if table is None else [r for r in table.to_pylist() if r["mask_path"]]
        if videos:
            return score_corpus_masks(params, corpus, paths, videos)
        # a report names corpus.root only inside the repository (`quoted_root`)
        shown = quoted_root(corpus.root) or "(outside the repository)"
        return not_applicable(paths.out, paths.preview, f"corpus.root {shown} has no ground truth")
    return score_masks(
        params,
        corpus.parts,
        paths.masks,
        paths.faces,
        sample_truth(paths.sample),
        paths.out,
        paths.preview,
        splits=paths.splits,
        sample=paths.sample,
    )


def score_masks(
    params: MasksParams,
    parts: Sequence[int],
    masks_root: Path,
    faces_root: Path,
    ground_truth: Path,
    out: Path,
    preview: Path,
    sweep: Path | None = None,
    splits: Path | None = None,
    sample: Path | None = None,
) -> MasksQuality:
    """Score the stored masks of ``parts`` against the truth; write the report, the
    preview (and the sweep). ``sample``: the folder of the codec-noise fixture (default:
    the ground truth's folder)."""
    items = load_items(masks_root, faces_root, ground_truth, parts, read_split_of(splits))
    if not items:
        raise DfmaskError(f"{masks_root}: no fake crop with a mask row in parts {list(parts)}: nothing to score")
    codec = codec_pair_areas(sample or ground_truth.parent, faces_root, parts, params)
    report = quality_report(items, params, codec)
    write_json(out, report)
    write_preview(items, params, preview)
    if sweep is not None:
        write_sweep(items, params, sweep)
    return MasksQuality(report, out, len(items))


#: The ingest columns `score_corpus_masks` reads.
CORPUS_MASK_COLUMNS = ("video_id", "mask_path", "method", "quality", "width", "height", "rotation", "declared_frames")


def score_corpus_masks(
    params: MasksParams, corpus: CorpusParams, paths: MasksQualityPaths, videos: Sequence[dict[str, Any]]
) -> MasksQuality:
    """Score the stored masks against the corpus's own mask videos (`load_corpus_items`):
    the same report as on the sample, by the corpus's methods and qualities, with its
    ``truth`` section saying where the truth came from and what could not be scored.
    There are no codec-noise pairs (only the generated sample has them)."""
    items, counts = load_corpus_items(
        paths.masks, paths.faces, videos, corpus.root, corpus.parts, read_split_of(paths.splits)
    )
    if not items:
        raise DfmaskError(
            f"{paths.masks}: no fake crop of the {len(videos)} videos with a corpus mask could be scored "
            f"in parts {list(corpus.parts)} ({counts['skipped'] or 'none has a mask row'})"
        )
    report = quality_report(items, params, {"available": False, "reason": "only the generated sample has codec pairs"})
    report["truth"] = {
        "source": f"the corpus's own mask videos (corpus.kind {corpus.kind}, mask_path of the videos table)",
        "videos_with_masks": len(videos),
        **counts,
    }
    write_json(paths.out, report)
    write_preview(items, params, paths.preview)
    return MasksQuality(report, paths.out, len(items))


def not_applicable(out: Path, preview: Path, reason: str) -> MasksQuality:
    """The report of a corpus without ground truth: ``{"applicable": false, "reason"}``
    and a preview image that says so (both are declared DVC outputs of the stage)."""
    doc = {"applicable": False, "reason": reason}
    write_json(out, doc)
    image = np.zeros((40, 640, 3), np.uint8)
    cv2.putText(image, "no mask quality: " + reason[:60], (6, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
    preview.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(preview), image)
    return MasksQuality(doc, out)
