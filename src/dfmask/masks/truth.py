"""The sample's fake crops with their true masks, and the per-crop scores of masks on them.

`load_items` pairs every fake crop that has a mask row with its original's crop, its
true mask cut into the crop, its video's method and CRF, its case and its split;
`crop_scores` scores masks on them (`dfmask.masks.scoring`) next to the train-fitted
baseline. Used by the report (`dfmask.masks.quality`), the sweep (`dfmask.masks.sweep`)
and the development tools (``tools/bench/masks_dev*.py``).

* **Truth in the crop.** The true full-frame mask (255 = manipulated) is cut with the
  crop's exact ``crop_box`` (zero outside the frame, as the crop's padding) and resized
  to the crop size exactly as faces made the crop (`dfmask.faces.crops`: area when
  shrinking, bilinear when growing) on the 0/1 float mask, then thresholded at 0.5.
* **Method, band, case.** Per video, the ground truth's ``method`` and ``crf`` (version 2
  of the table: every video has both; bands are `dfmask.corpus.groundtruth.CRF_BANDS`).
  Per crop, the case (`scoring.CASES`): in a fake where one of two or more faces kept
  its identity (``face_swap_kind`` none), the crop is matched to the true face whose box
  centre is nearest its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.faces.crops import mask_in_crop
from dfmask.masks import scoring
from dfmask.schemas.crops import crop_join, row_index
from dfmask.schemas.faces import read_faces
from dfmask.schemas.masks import read_masks
from dfmask.tables import decode_png

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


def read_split_of(path: Path | None) -> dict[str, str]:
    """video_id → split from the splits table (empty without one)."""
    if path is None:
        return {}
    from dfmask.schemas.splits import read_splits

    table = read_splits(path, ["video_id", "split"])
    return dict(zip(table.column("video_id").to_pylist(), table.column("split").to_pylist(), strict=True))
