"""Quality of the SSIM masks against the sample corpus's true swap masks.

``dfmask quality masks`` → ``reports/masks_quality.json`` and
``reports/masks_preview.png`` (real | fake | diff | our mask | true mask);
``--sweep`` also writes ``reports/masks_sweep.md``. The ``masks_quality`` stage
(``stages/masks_quality.py``) runs `run` on every ``dvc repro``; the truth exists
only for the generated sample (``<paths.sample>/ground_truth.parquet``), so on a real
corpus (`dfmask.corpus.corpus_kind`) the stage writes a not-applicable report instead
(`not_applicable`). The sweep is a hand run (it re-computes every mask once per swept
value).

* **Truth in the crop.** The true full-frame mask (255 = manipulated) is cut with the
  crop's exact ``crop_box`` (zero outside the frame, as the crop's padding) and resized
  to the crop size exactly as faces made the crop (`dfmask.faces.crops`: area when
  shrinking, bilinear when growing) on the 0/1 float mask, then thresholded at 0.5.
* **Scores.** IoU and Dice (`dfmask.metrics`) per fake crop, averaged over *valid*
  fakes, separately for ``full`` and ``mouth`` swaps (the video's ``swap_kind``).
  "Swap really happened" is "the true mask has a pixel inside the crop"; the report
  gives how often ``valid`` agrees with it, and how many crops of failed swaps came
  out valid (should be 0).
* **Baseline.** The average true crop mask over all scored fake crops, thresholded at
  0.5 and at the in-sample best threshold (a grid of 0.05 steps; the best is the
  harder, optimistic baseline, and the one the margin is measured against).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfmask import metrics
from dfmask.corpus import corpus_kind, quoted_root, sample_truth
from dfmask.errors import DfmaskError
from dfmask.faces.crops import mask_in_crop
from dfmask.masks.compute import mask_pair
from dfmask.params import CorpusParams, MasksParams, to_dict
from dfmask.schemas.crops import crop_join, row_index
from dfmask.schemas.faces import read_faces
from dfmask.schemas.masks import read_masks
from dfmask.tables import decode_png, write_json

KINDS = ("full", "mouth", "failed")


@dataclass
class QualityItem:
    """One fake crop with everything the scores need."""

    video_id: str
    frame_idx: int
    track_id: int
    kind: str  # the fake video's swap_kind: full | mouth | failed
    real_png: bytes
    fake_png: bytes
    truth: np.ndarray  # (S, S) uint8 0/1: the true mask in the crop
    mask: np.ndarray  # (S, S) uint8 0/1: the stage's stored mask
    valid: bool  # the stage's stored valid flag


# ----------------------------------------------------------------------------- loading


def load_items(masks_root: Path, faces_root: Path, ground_truth: Path, parts: Iterable[int]) -> list[QualityItem]:
    """Every fake crop with a mask row, its crops, truth and kind, over ``parts``.

    Crops and mask rows are paired by the catalogue's join (`dfmask.schemas.crops`),
    without a splits table: masks never depend on the split. Items come in crop-key
    order; a mask row without its fake crop, or a fake crop without its original's
    crop, is a `DfmaskError` (the masks stage pairs exactly those).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from dfmask.schemas.ground_truth import read_ground_truth

    if not ground_truth.exists():
        raise DfmaskError(
            f"{ground_truth}: no ground truth; mask quality needs the generated sample corpus (dvc repro sample)"
        )
    gt = read_ground_truth(ground_truth, ["video_id", "frame_idx", "is_fake", "swap_kind", "mask"])
    gt = gt.filter(pc.field("is_fake"))
    kind_of: dict[str, str] = {}
    truth_png: dict[tuple[str, int], bytes] = {}
    for video_id, frame_idx, kind, cell in zip(
        gt.column("video_id").to_pylist(),
        gt.column("frame_idx").to_pylist(),
        gt.column("swap_kind").to_pylist(),
        gt.column("mask").to_pylist(),
        strict=True,
    ):
        kind_of[video_id] = kind
        if cell is not None:
            truth_png.setdefault((video_id, int(frame_idx)), cell["bytes"])
    items: list[QualityItem] = []
    crop_key = ["video_id", "frame_idx", "track_id"]
    for part in parts:
        faces = read_faces(faces_root, [part], ["part", *crop_key, "crop_box", "crop"])
        masks = read_masks(masks_root, [part], ["part", "original_id", *crop_key, "mask", "valid"])
        joined = crop_join(faces, masks)  # no splits table: every crop is kept
        if not joined.masks_matched.all():
            orphan = masks["video_id"][int(np.flatnonzero(~joined.masks_matched)[0])]
            raise DfmaskError(f"{masks_root}: part {part}: mask rows without a face crop (e.g. {orphan}); re-run masks")
        fakes = np.flatnonzero(joined.mask_row >= 0)  # fake crops with a mask row, in key order
        fake = joined.faces.take(pa.array(fakes, pa.int64()))
        mask = masks.take(pa.array(joined.mask_row[fakes], pa.int64()))
        # the original's crop at the fake's frame and track: the pair the mask was made from
        pairs = pa.table(
            {"original_id": mask["original_id"], "frame_idx": fake["frame_idx"], "track_id": fake["track_id"]}
        )
        original_row = row_index(pairs, joined.faces, crop_key, "faces", left_on=["original_id", *crop_key[1:]])
        decoded_truth: dict[tuple[str, int], np.ndarray] = {}
        for k, (v, f, t, box, valid) in enumerate(
            zip(*(fake[c].to_pylist() for c in (*crop_key, "crop_box")), mask["valid"].to_pylist(), strict=True)
        ):
            if v not in kind_of or (v, f) not in truth_png:
                continue  # not a sample fake (a real corpus has no truth)
            if original_row[k] < 0:
                raise DfmaskError(f"{faces_root}: part {part}: {v} frame {f} track {t} has no original crop")
            fake_png = fake["crop"][k]["bytes"].as_py()
            real_png = joined.faces["crop"][int(original_row[k])]["bytes"].as_py()
            cell = mask["mask"][k]["bytes"].as_py()
            binary = (decode_png(cell, grey=True) > 0).astype(np.uint8)
            if (v, f) not in decoded_truth:
                decoded_truth = {(v, f): decode_png(truth_png[(v, f)], grey=True) > 0}
            truth = mask_in_crop(decoded_truth[(v, f)], box, binary.shape[0])
            items.append(QualityItem(v, f, t, kind_of[v], real_png, fake_png, truth, binary, bool(valid)))
    if not items:
        raise DfmaskError(f"{masks_root}: no mask rows of sample fakes found for parts {list(parts)}")
    return items


# ----------------------------------------------------------------------------- scoring


def score(items: Sequence[QualityItem], masks: Sequence[np.ndarray], valid: Sequence[bool]) -> dict[str, Any]:
    """Mean IoU/Dice over valid fakes per kind, and valid-vs-truth agreement."""
    out: dict[str, Any] = {}
    scored = [
        (it.kind, metrics.iou(m, it.truth), metrics.dice(m, it.truth))
        for it, m, ok in zip(items, masks, valid, strict=True)
        if ok and it.kind in ("full", "mouth")
    ]
    for kind in ("full", "mouth"):
        of_kind = [(iou, dice) for k, iou, dice in scored if k == kind]
        out[kind] = {
            "crops_valid": len(of_kind),
            "crops_total": sum(1 for it in items if it.kind == kind),
            "mean_iou": metrics.mean_or_none([iou for iou, _ in of_kind]),
            "mean_dice": metrics.mean_or_none([dice for _, dice in of_kind]),
        }
    out["mean_iou_full_and_mouth"] = metrics.mean_or_none([iou for _, iou, _ in scored])
    happened = np.array([bool(it.truth.any()) for it in items])
    flagged = np.asarray(valid, bool)
    out["valid_agreement"] = {
        "rate": float((happened == flagged).mean()),
        "valid_and_swapped": int((flagged & happened).sum()),
        "valid_not_swapped": int((flagged & ~happened).sum()),
        "invalid_but_swapped": int((~flagged & happened).sum()),
        "invalid_not_swapped": int((~flagged & ~happened).sum()),
    }
    failed = [ok for it, ok in zip(items, valid, strict=True) if it.kind == "failed"]
    out["failed_swap_crops"] = len(failed)
    out["failed_swap_crops_valid"] = int(sum(failed))
    return out


def baseline(items: Sequence[QualityItem], valid: Sequence[bool]) -> dict[str, Any]:
    """The average-true-mask baseline at threshold 0.5 and at the in-sample best."""
    size = items[0].truth.shape[0]
    truths = [
        it.truth if it.truth.shape[0] == size else cv2.resize(it.truth, (size, size), interpolation=cv2.INTER_NEAREST)
        for it in items
    ]
    mean_mask = np.mean(np.stack(truths).astype(np.float32), axis=0)
    scored = [(it, ok) for it, ok in zip(items, valid, strict=True)]

    def at(threshold: float) -> dict[str, Any]:
        pred = (mean_mask >= threshold).astype(np.uint8)
        masks = [
            pred
            if it.truth.shape == pred.shape
            else cv2.resize(pred, it.truth.shape[::-1], interpolation=cv2.INTER_NEAREST)
            for it, _ in scored
        ]
        result = score(items, masks, valid)
        return {"threshold": threshold, **{k: result[k] for k in ("full", "mouth", "mean_iou_full_and_mouth")}}

    grid = [round(t, 2) for t in np.arange(0.05, 1.0, 0.05)]
    results = [at(t) for t in grid]
    best = max(results, key=lambda r: r["mean_iou_full_and_mouth"] or 0.0)
    return {"at_0.5": at(0.5), "best": best, "note": "best threshold chosen in-sample on the same crops"}


def recompute(items: Sequence[QualityItem], params: MasksParams) -> tuple[list[np.ndarray], list[bool]]:
    """Masks and valid flags of ``items`` under other params (for the sweep)."""
    masks, valid = [], []
    for it in items:
        pm = mask_pair(decode_png(it.real_png), decode_png(it.fake_png), params)
        masks.append(pm.mask)
        valid.append(pm.valid)
    return masks, valid


def quality_report(items: Sequence[QualityItem], params: MasksParams) -> dict[str, Any]:
    ours = score(items, [it.mask for it in items], [it.valid for it in items])
    base = baseline(items, [it.valid for it in items])
    ours_iou = ours["mean_iou_full_and_mouth"] or 0.0
    base_iou = base["best"]["mean_iou_full_and_mouth"] or 0.0
    return {
        "crops": len(items),
        "crops_by_kind": {k: sum(1 for it in items if it.kind == k) for k in KINDS},
        "params": to_dict(params),
        "ours": ours,
        "baseline_mean_true_mask": base,
        "targets": {
            "mean_iou_min": 0.6,
            "margin_over_baseline_min": 0.15,
            "mean_iou": ours_iou,
            "margin_over_best_baseline": ours_iou - base_iou,
            "met": ours_iou >= 0.6 and ours_iou - base_iou >= 0.15 and ours["failed_swap_crops_valid"] == 0,
        },
        "truth_mapping": "crop_box cut (zero outside the frame) + resize like the crop "
        "(area shrinking / bilinear growing) on the 0/1 mask, threshold 0.5",
    }


def write_preview(items: Sequence[QualityItem], params: MasksParams, path: Path, per_kind: int = 2) -> Path:
    """real | fake | diff | our mask | true mask rows for a few crops of each kind."""
    from dfmask.masks.compute import ssim_config
    from dfmask.masks.ssim import diff8, ssim_map

    chosen: list[QualityItem] = []
    for kind in KINDS:
        of_kind = [it for it in items if it.kind == kind]
        step = max(1, len(of_kind) // per_kind)
        chosen += of_kind[::step][:per_kind]
    rows = []
    for it in chosen:
        real, fake = decode_png(it.real_png), decode_png(it.fake_png)
        diff = diff8(ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype)).ssim)  # the stage's
        grey = [np.repeat(g[:, :, None], 3, axis=2) for g in (diff, it.mask * 255, it.truth * 255)]
        row = np.hstack([real, fake, *grey]).astype(np.uint8)
        cv2.putText(
            row,
            f"{it.kind} {it.video_id}:{it.frame_idx}",
            (3, 12),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 0),
            1,
            cv2.LINE_AA,
        )
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows)[:, :, ::-1])
    return path


SWEEP: dict[str, tuple[Any, ...]] = {
    "threshold": (0.03, 0.05, 0.1, 0.2),
    "dilate_px": (0, 9, 13, 17, 21),
    "fill_hull": (False, True),
    "colour": (True, False),
}


def write_sweep(items: Sequence[QualityItem], params: MasksParams, path: Path) -> Path:
    """A one-at-a-time sweep of the key params around the defaults, as Markdown."""
    lines = [
        "# masks: parameter sweep",
        "",
        f"{len(items)} fake crops of the sample corpus; each row changes ONE param from the "
        "defaults (params.yaml `masks`). IoU/Dice: mean over valid fakes; agreement: valid "
        "vs. the true mask having a pixel in the crop. Generated by "
        "`dfmask quality masks --sweep`.",
        "",
        "| param | value | IoU full | IoU mouth | IoU both | Dice both | valid agreement | failed valid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, values in SWEEP.items():
        for value in values:
            variant = dataclasses.replace(params, **{name: value})
            masks, valid = recompute(items, variant)
            s = score(items, masks, valid)
            dice = [
                metrics.dice(m, it.truth)
                for it, m, ok in zip(items, masks, valid, strict=True)
                if ok and it.kind in ("full", "mouth")
            ]
            mark = " (default)" if value == getattr(params, name) else ""
            fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
            lines.append(
                f"| {name} | {value}{mark} | {fmt(s['full']['mean_iou'])} | {fmt(s['mouth']['mean_iou'])} | "
                f"{fmt(s['mean_iou_full_and_mouth'])} | {fmt(float(np.mean(dice)) if dice else None)} | "
                f"{s['valid_agreement']['rate']:.3f} | {s['failed_swap_crops_valid']} |"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class MasksQualityPaths:
    """Where ``masks_quality`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    masks: Path  # paths.masks: part=N/ folders of masks shards
    faces: Path  # paths.faces: part=N/ folders of faces shards
    sample: Path  # paths.sample: its ground_truth.parquet, when corpus.root is its corpus
    out: Path  # <paths.reports>/masks_quality.json
    preview: Path  # <paths.reports>/masks_preview.png


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
        ours = self.doc["ours"]
        return (
            f"{self.crops} fake crops: mean IoU {t['mean_iou']:.3f} (baseline margin "
            f"{t['margin_over_best_baseline']:+.3f}), valid agreement "
            f"{ours['valid_agreement']['rate']:.3f}, failed swaps valid "
            f"{ours['failed_swap_crops_valid']} (see {self.path})"
        )


def run(params: MasksParams, corpus: CorpusParams, paths: MasksQualityPaths) -> MasksQuality:
    """The ``masks_quality`` stage: `score_masks` of ``corpus.parts`` against the sample's
    truth, or `not_applicable` when ``corpus.root`` is not the sample (`corpus_kind`)."""
    if corpus_kind(corpus.root, paths.sample) != "sample":
        # a report names corpus.root only inside the repository (`quoted_root`)
        shown = quoted_root(corpus.root) or "(outside the repository)"
        return not_applicable(paths.out, paths.preview, f"corpus.root {shown} has no ground truth")
    return score_masks(
        params, corpus.parts, paths.masks, paths.faces, sample_truth(paths.sample), paths.out, paths.preview
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
) -> MasksQuality:
    """Score the stored masks of ``parts`` against the truth; write the report, the
    preview (and the sweep)."""
    items = load_items(masks_root, faces_root, ground_truth, parts)
    if not items:
        raise DfmaskError(f"{masks_root}: no fake crop with a mask row in parts {list(parts)}: nothing to score")
    report = quality_report(items, params)
    write_json(out, report)
    write_preview(items, params, preview)
    if sweep is not None:
        write_sweep(items, params, sweep)
    return MasksQuality(report, out, len(items))



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
