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

from collections.abc import Callable, Iterable, Iterator, Sequence
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
    band: str = ""  # the report's quality band; from ``crf`` (`scoring.band_of`) when empty

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


@dataclass(frozen=True)
class FakeCrop:
    """A fake crop with a mask row: its key, crop box, both crops and the stored mask."""

    video_id: str
    frame_idx: int
    track_id: int
    crop_box: list[float]
    real_png: bytes
    fake_png: bytes
    mask: np.ndarray  # (S, S) uint8 0/1
    valid: bool


def fake_crops(masks_root: Path, faces_root: Path, part: int, wanted: Callable[[str, int], bool]) -> Iterator[FakeCrop]:
    """Part ``part``'s fake crops that have a mask row and that ``wanted(video_id,
    frame_idx)`` keeps, in crop-key order, each with its original's crop (the pair the
    mask was made from). Crops and mask rows are paired by the catalogue's join
    (`dfmask.schemas.crops`), without a splits table: masks never depend on the split.
    A mask row without its fake crop, or a kept fake crop without its original's crop,
    is a `DfmaskError`."""
    import pyarrow as pa

    crop_key = ["video_id", "frame_idx", "track_id"]
    faces = read_faces(faces_root, [part], ["part", *crop_key, "crop_box", "crop"])
    masks = read_masks(masks_root, [part], ["part", "original_id", *crop_key, "mask", "valid"])
    joined = crop_join(faces, masks)  # no splits table: every crop is kept
    if not joined.masks_matched.all():
        orphan = masks["video_id"][int(np.flatnonzero(~joined.masks_matched)[0])]
        raise DfmaskError(f"{masks_root}: part {part}: mask rows without a face crop (e.g. {orphan}); re-run masks")
    fakes = np.flatnonzero(joined.mask_row >= 0)  # fake crops with a mask row, in key order
    fake = joined.faces.take(pa.array(fakes, pa.int64()))
    mask = masks.take(pa.array(joined.mask_row[fakes], pa.int64()))
    pairs = pa.table({"original_id": mask["original_id"], "frame_idx": fake["frame_idx"], "track_id": fake["track_id"]})
    original_row = row_index(pairs, joined.faces, crop_key, "faces", left_on=["original_id", *crop_key[1:]])
    for k, (v, f, t, box, valid) in enumerate(
        zip(*(fake[c].to_pylist() for c in (*crop_key, "crop_box")), mask["valid"].to_pylist(), strict=True)
    ):
        if not wanted(v, f):
            continue
        if original_row[k] < 0:
            raise DfmaskError(f"{faces_root}: part {part}: {v} frame {f} track {t} has no original crop")
        binary = (decode_png(mask["mask"][k]["bytes"].as_py(), grey=True) > 0).astype(np.uint8)
        yield FakeCrop(
            v,
            f,
            t,
            box,
            joined.faces["crop"][int(original_row[k])]["bytes"].as_py(),
            fake["crop"][k]["bytes"].as_py(),
            binary,
            bool(valid),
        )


def load_items(
    masks_root: Path,
    faces_root: Path,
    ground_truth: Path,
    parts: Iterable[int],
    split_of: dict[str, str] | None = None,
) -> list[QualityItem]:
    """Every fake crop of the sample with a mask row, its crops, truth, method, CRF, case
    and split (`fake_crops`; ``split_of`` maps video ids to splits for the report only).
    Items come in crop-key order."""
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
    for part in parts:
        decoded_truth: dict[tuple[str, int], np.ndarray] = {}
        for c in fake_crops(masks_root, faces_root, part, lambda v, f: v in kind_of and (v, f) in truth_png):
            v, f = c.video_id, c.frame_idx
            if (v, f) not in decoded_truth:
                decoded_truth = {(v, f): decode_png(truth_png[(v, f)], grey=True) > 0}
            truth = mask_in_crop(decoded_truth[(v, f)], c.crop_box, c.mask.shape[0])
            items.append(
                QualityItem(
                    v,
                    f,
                    c.track_id,
                    kind_of[v],
                    c.real_png,
                    c.fake_png,
                    truth,
                    c.mask,
                    c.valid,
                    method=method_of[v],
                    crf=crf_of[v],
                    case=_case(kind_of[v], method_of[v], faces_at.get((v, f), []), c.crop_box),
                    split=split_of.get(v, "none"),
                )
            )
    if not items:
        raise DfmaskError(f"{masks_root}: no mask rows of sample fakes found for parts {list(parts)}")
    return items


#: Why a fake crop of a corpus with its own masks is not scored (counted in the report).
CORPUS_SKIPS = {
    "mask_unreadable": "its mask video cannot be decoded",
    "mask_frames_missing": "its mask video has fewer frames than the crop's frame index",
    "mask_size_mismatch": "its mask video's frame size is not the video's",
    "mask_length_mismatch": "its mask video declares another frame count than the fake: frames cannot be matched",
}


def load_corpus_items(
    masks_root: Path,
    faces_root: Path,
    videos: Sequence[dict[str, object]],
    corpus_root: str | Path,
    parts: Iterable[int],
    split_of: dict[str, str] | None = None,
) -> tuple[list[QualityItem], dict[str, object]]:
    """Every fake crop with a mask row whose video names a corpus mask video
    (``mask_path``, e.g. FaceForensics++'s ``masks/videos/``), scored against that mask.

    ``videos`` are ingest rows with a ``mask_path`` (and ``video_id``, ``method``,
    ``quality``, ``width``, ``height``, ``rotation``, ``declared_frames``). Each mask video
    is decoded once per part, for the frames its crops need (`dfmask.corpus.truemasks.corpus_masks`: FF++'s
    c23 and c40 copies share one), and cut into each crop as the sample's truth is
    (`mask_in_crop`). The item's method is the corpus's, its band the corpus's quality
    (FF++ ``c23``), its case ``full``. Crops that cannot be scored are counted by reason
    (`CORPUS_SKIPS`) with one example each, never dropped silently.
    """
    from dfmask.corpus.truemasks import corpus_masks

    by_id = {str(r["video_id"]): r for r in videos}
    split_of = split_of or {}
    items: list[QualityItem] = []
    skipped: dict[str, int] = {}
    examples: dict[str, str] = {}

    def skip(reason: str, detail: str, n: int) -> None:
        assert reason in CORPUS_SKIPS, reason
        skipped[reason] = skipped.get(reason, 0) + n
        examples.setdefault(reason, detail)

    for part in parts:
        crops: dict[tuple[str, int], list[FakeCrop]] = {}
        needed: dict[str, set[int]] = {}
        for c in fake_crops(masks_root, faces_root, part, lambda v, f: v in by_id):
            crops.setdefault((c.video_id, c.frame_idx), []).append(c)
            needed.setdefault(c.video_id, set()).add(c.frame_idx)
        for video_id, frame, seen, why, example in corpus_masks(corpus_root, [by_id[v] for v in needed], needed):
            its = crops[(video_id, frame)]
            if seen is None:
                skip(str(why), example, len(its))  # counted per crop
                continue
            row = by_id[video_id]
            for c in its:
                truth = mask_in_crop(seen, c.crop_box, c.mask.shape[0])
                items.append(
                    QualityItem(
                        video_id,
                        c.frame_idx,
                        c.track_id,
                        "full",
                        c.real_png,
                        c.fake_png,
                        truth,
                        c.mask,
                        c.valid,
                        method=str(row.get("method") or "unknown"),
                        case="full",
                        split=split_of.get(video_id, "none"),
                        band=str(row.get("quality") or "unknown"),
                    )
                )
    return items, {
        "skipped": dict(sorted(skipped.items())),
        "skipped_examples": dict(sorted(examples.items())),
        "skip_reasons": CORPUS_SKIPS,
    }


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
            band=it.band or scoring.band_of(it.crf),
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
