"""Quality of the SSIM masks against the sample corpus's true swap masks.

``dfmask quality masks`` → ``reports/masks_quality.json`` and
``reports/masks_preview.png`` (columns real | fake | 1 − SSIM | our mask | true mask);
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
* **Method, band, case.** Per video, the ground truth's ``method`` and ``crf`` (version 2
  of the table: every video has both; bands are `dfmask.corpus.groundtruth.CRF_BANDS`).
  Per crop, the case (`scoring.CASES`):
  in a fake where one of two or more faces kept its identity (``face_swap_kind`` none),
  the crop is matched to the true face whose box centre is nearest its own.
* **Scores** (`dfmask.masks.scoring`): per method (pooled over bands), per band (pooled
  over methods), per method × band and per case, on the test split, next to the one
  mean-true-mask baseline fitted on train; targets pass / fail / insufficient.
* **Codec-noise pairs** (`codec_pair_areas`): each original of
  ``<paths.sample>/codec_pairs/codec_pairs.parquet`` re-encoded at another quality, cut
  with the original's crop boxes and masked against the original's crops like a fake:
  the mean mask area says how much codec noise alone leaks into masks.
* **Legacy block.** ``ours`` (IoU/Dice over valid crops of every split, valid
  agreement, failed swaps flagged valid) keeps the keys earlier reports had.
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
from dfmask.masks import scoring
from dfmask.masks.codecpairs import codec_pair_areas
from dfmask.masks.compute import mask_from_dissimilarity, ssim_config, temporal_means
from dfmask.masks.ssim import ssim_map
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
    method: str = ""  # ground truth's method; its swap_kind when the table has none
    crf: int | None = None  # the video's x264 CRF (None: unknown)
    case: str = ""  # scoring.CASES
    split: str = "none"  # train | val | test | none (not in the splits table)

    def __post_init__(self) -> None:
        self.method = self.method or self.kind
        if not self.case:
            self.case = {"full": "full", "mouth": "mouth"}.get(self.kind, "failed_or_no_change")


# ----------------------------------------------------------------------------- loading


def _case(kind: str, method: str, faces: list[tuple[list[float], str]], crop_box: Sequence[float]) -> str:
    """The crop's case: see `scoring.CASES`; ``faces`` = (true box, face_swap_kind) of the frame."""
    if kind == "failed" or method == "no_change" or kind not in ("full", "mouth"):
        return "failed_or_no_change"
    if len(faces) >= 2 and any(k == "none" for _, k in faces):
        cx, cy = (crop_box[0] + crop_box[2]) / 2, (crop_box[1] + crop_box[3]) / 2

        def distance(face: tuple[list[float], str]) -> float:
            box = face[0]
            return ((box[0] + box[2]) / 2 - cx) ** 2 + ((box[1] + box[3]) / 2 - cy) ** 2

        face_kind = min(faces, key=distance)[1]
        return "two_faces_unswapped" if face_kind == "none" else "two_faces_swapped"
    return kind


def load_items(
    masks_root: Path,
    faces_root: Path,
    ground_truth: Path,
    parts: Iterable[int],
    split_of: dict[str, str] | None = None,
) -> list[QualityItem]:
    """Every fake crop with a mask row, its crops, truth, method, CRF, case and split.

    Crops and mask rows are paired by the catalogue's join (`dfmask.schemas.crops`),
    without a splits table: masks never depend on the split (``split_of`` maps video ids
    to splits for the report only). Items come in crop-key order; a mask row without its
    fake crop, or a fake crop without its original's crop, is a `DfmaskError`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from dfmask.schemas.ground_truth import read_ground_truth

    if not ground_truth.exists():
        raise DfmaskError(
            f"{ground_truth}: no ground truth; mask quality needs the generated sample corpus (dvc repro sample)"
        )
    gt = read_ground_truth(
        ground_truth,
        ["video_id", "frame_idx", "is_fake", "swap_kind", "face_swap_kind", "box", "mask", "method", "crf"],
    )
    gt = gt.filter(pc.field("is_fake"))
    kind_of: dict[str, str] = {}
    method_of: dict[str, str] = {}
    crf_of: dict[str, int | None] = {}
    truth_png: dict[tuple[str, int], bytes] = {}
    faces_at: dict[tuple[str, int], list[tuple[list[float], str]]] = {}
    columns = {c: gt.column(c).to_pylist() for c in gt.column_names}
    for i, video_id in enumerate(columns["video_id"]):
        frame = int(columns["frame_idx"][i])
        kind_of[video_id] = columns["swap_kind"][i]
        method_of[video_id] = columns["method"][i]
        crf_of[video_id] = int(columns["crf"][i])
        cell = columns["mask"][i]
        if cell is not None:
            truth_png.setdefault((video_id, frame), cell["bytes"])
        if columns["box"][i] is not None:
            faces_at.setdefault((video_id, frame), []).append((columns["box"][i], columns["face_swap_kind"][i]))
    split_of = split_of or {}
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
            items.append(
                QualityItem(
                    v,
                    f,
                    t,
                    kind_of[v],
                    real_png,
                    fake_png,
                    truth,
                    binary,
                    bool(valid),
                    method=method_of[v],
                    crf=crf_of[v],
                    case=_case(kind_of[v], method_of[v], faces_at.get((v, f), []), box),
                    split=split_of.get(v, "none"),
                )
            )
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


def recompute(items: Sequence[QualityItem], params: MasksParams) -> tuple[list[np.ndarray], list[bool]]:
    """Masks and valid flags of ``items`` under other params (for the sweep), as the
    masks stage makes them: the temporal mean runs along each (video, track) in frame order."""
    maps: dict[int, np.ndarray] = {}
    for i, it in enumerate(items):
        result = ssim_map(decode_png(it.real_png), decode_png(it.fake_png), ssim_config(params), np.dtype(params.dtype))
        maps[i] = 1.0 - result.ssim
    tracks: dict[tuple[str, int], list[int]] = {}
    for i, it in enumerate(items):
        tracks.setdefault((it.video_id, it.track_id), []).append(i)
    masks: list[np.ndarray] = [np.zeros(0, np.uint8)] * len(items)
    valid = [False] * len(items)
    for members in tracks.values():
        members.sort(key=lambda i: items[i].frame_idx)
        for i, d in zip(members, temporal_means([maps[i] for i in members], params.temporal_frames), strict=True):
            masks[i], valid[i], _ = mask_from_dissimilarity(d, params)
    return masks, valid


def crop_scores(
    items: Sequence[QualityItem], masks: Sequence[np.ndarray], valid: Sequence[bool]
) -> tuple[list[scoring.CropScore], scoring.Baseline | None]:
    """Per-crop figures of ``items`` (ours and the train-fitted baseline's)."""
    base = scoring.fit_baseline([it.truth for it in items if it.split == "train"])
    scores = [
        scoring.score_crop(
            it.truth,
            m,
            ok,
            base,
            video_id=it.video_id,
            method=it.method,
            band=scoring.band_of(it.crf),
            case=it.case,
            split=it.split,
        )
        for it, m, ok in zip(items, masks, valid, strict=True)
    ]
    return scores, base


def quality_report(
    items: Sequence[QualityItem], params: MasksParams, codec_pairs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The report document: per method / band / method × band / case cells on the test
    split (val overall too), the baseline, codec-noise pairs, targets, and the legacy
    ``ours`` block."""
    masks, valid = [it.mask for it in items], [it.valid for it in items]
    scores, base = crop_scores(items, masks, valid)
    test = [s for s in scores if s.split == "test"]
    val = [s for s in scores if s.split == "val"]
    by_method, by_band, by_case = (scoring.cells(test, k) for k in ("method", "band", "case"))
    grid = {m: scoring.cells([s for s in test if s.method == m], "band") for m in sorted({s.method for s in test})}
    codec_pairs = codec_pairs or {"available": False}
    checks = scoring.targets(by_method, by_band, by_case, codec_pairs.get("mean_area"))
    overall = next(c for c in checks if c["name"].startswith("overall"))
    ours = score(items, masks, valid)
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
        "ours": ours,
        "targets": {
            "mean_iou": ours["mean_iou_full_and_mouth"],
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


#: Preview columns, left to right.
PREVIEW_COLUMNS = ("real", "fake", "1 - SSIM", "our mask", "true mask")
#: Preview header height and the caption strip at the top of each row, px.
HEADER_PX = 16
CAPTION_PX = 14


def _text(image: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int]) -> None:
    cv2.putText(image, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1, cv2.LINE_AA)


def write_preview(items: Sequence[QualityItem], params: MasksParams, path: Path, per_kind: int = 2) -> Path:
    """A header row naming the columns (`PREVIEW_COLUMNS`), then ``per_kind`` crops of
    each case (`scoring.CASES`), each captioned with case, method, CRF and crop; rows of
    failed / no-change fakes are captioned ``FAILED / NO CHANGE`` in red."""
    from dfmask.masks.compute import ssim_config
    from dfmask.masks.ssim import diff8, ssim_map

    chosen: list[QualityItem] = []
    for case in scoring.CASES:
        of_case = [it for it in items if it.case == case]
        step = max(1, len(of_case) // per_kind)
        chosen += of_case[::step][:per_kind]
    rows = []
    for it in chosen:
        real, fake = decode_png(it.real_png), decode_png(it.fake_png)
        diff = diff8(ssim_map(real, fake, ssim_config(params), dtype=np.dtype(params.dtype)).ssim)  # the stage's
        grey = [np.repeat(g[:, :, None], 3, axis=2) for g in (diff, it.mask * 255, it.truth * 255)]
        row = np.hstack([real, fake, *grey]).astype(np.uint8)
        row[:CAPTION_PX] //= 3  # a dark strip keeps the caption readable
        failed = it.case == "failed_or_no_change"
        label = "FAILED / NO CHANGE" if failed else it.case
        crf = "?" if it.crf is None else str(it.crf)
        colour = (255, 80, 80) if failed else (255, 255, 0)
        caption = f"{label} | {it.method} crf {crf} | {it.video_id}:{it.frame_idx} valid={int(it.valid)}"
        _text(row, caption, 3, 10, colour)
        rows.append(row)
    side = rows[0].shape[1] // len(PREVIEW_COLUMNS) if rows else 64
    header = np.zeros((HEADER_PX, side * len(PREVIEW_COLUMNS), 3), np.uint8)
    for k, name in enumerate(PREVIEW_COLUMNS):
        _text(header, name, k * side + 3, HEADER_PX - 4, (255, 255, 255))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([header, *rows])[:, :, ::-1])
    return path


SWEEP: dict[str, tuple[Any, ...]] = {
    "threshold": (0.03, 0.05, 0.08, 0.12),
    "noise_factor": (0.0, 1.5, 2.0, 3.0),
    "temporal_frames": (1, 3, 5),
    "dilate_px": (9, 13, 17),
    "fill_hull": (False, True),
    "colour": (True, False),
}


def write_sweep(items: Sequence[QualityItem], params: MasksParams, path: Path) -> Path:
    """A one-at-a-time sweep of the key params around the defaults on the train and val
    crops only (params are chosen there; test is for the report), as Markdown."""
    chosen = [it for it in items if it.split in ("train", "val")]
    lines = [
        "# masks: parameter sweep",
        "",
        f"{len(chosen)} train/val fake crops of the sample corpus; each row changes ONE param from the "
        "defaults (params.yaml `masks`). IoU: mean over crops with a non-empty true mask; "
        "unswapped: crops with an empty true mask (failed / no-change fakes, the unswapped face). "
        "Generated by `dfmask quality masks --sweep`.",
        "",
        "| param | value | IoU full | IoU mouth | IoU two faces (swapped) | valid swapped "
        "| unswapped area | unswapped invalid |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    for name, values in SWEEP.items():
        for value in values:
            variant = dataclasses.replace(params, **{name: value})
            if name == "noise_factor" and value and not variant.noise_ring:
                variant = dataclasses.replace(variant, noise_ring=0.1)
            masks, valid = recompute(chosen, variant)
            scores, _ = crop_scores(chosen, masks, valid)
            by_case = scoring.cells(scores, "case")
            every = scoring.cell(scores)
            iou = {c: fmt(by_case[c]["mean_iou"]) if c in by_case else "–" for c in scoring.CASES}
            mark = " (default)" if value == getattr(params, name) else ""
            lines.append(
                f"| {name} | {value}{mark} | {iou['full']} | {iou['mouth']} | {iou['two_faces_swapped']} | "
                f"{fmt(every['valid_swapped'])} | {fmt(every['mean_area_unswapped'])} | "
                f"{fmt(every['invalid_unswapped'])} |"
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


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


def read_split_of(path: Path | None) -> dict[str, str]:
    """video_id → split from the splits table (empty without one)."""
    if path is None:
        return {}
    from dfmask.schemas.splits import read_splits

    table = read_splits(path, ["video_id", "split"])
    return dict(zip(table.column("video_id").to_pylist(), table.column("split").to_pylist(), strict=True))


def run(params: MasksParams, corpus: CorpusParams, paths: MasksQualityPaths) -> MasksQuality:
    """The ``masks_quality`` stage: `score_masks` of ``corpus.parts`` against the sample's
    truth, or `not_applicable` when ``corpus.root`` is not the sample (`corpus_kind`)."""
    if corpus_kind(corpus.root, paths.sample) != "sample":
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
