"""Face-detection quality against ground-truth boxes, and a real/fake preview sheet.

Recall is measured where the stage looks: on the sampled frames of ORIGINAL videos
(``sample_indices(n_frames, faces.frames)``; fakes reuse those boxes). Per frame, true
faces and our boxes (clipped to the frame, as the truth is) are matched one-to-one,
best IoU first; a true face counts as found when its match has IoU >= ``min_iou``
(0.5). Unmatched boxes of ours are reported as extra boxes (false positives or faces
the truth does not list).

Box conventions differ: the sample truth is the tight box of the 68 dlib landmarks
(eyebrows to chin), MTCNN's box also covers part of the forehead. Their IoU on a
well-found face is typically 0.6-0.8, so 0.5 is a fair "found" bound, not a lenient one.

`measure` writes ``reports/faces_quality.json`` and ``reports/faces_preview.png``;
run it with ``dfmask quality faces`` (part of ``make eval-sample``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa

from dfmask.errors import DfmaskError
from dfmask.faces.tracks import iou_matrix
from dfmask.schemas.faces import FACES, faces_shards
from dfmask.tables import decode_png, read_tables, write_json
from dfmask.video import sample_indices


def match_frame(truth: np.ndarray, found: np.ndarray, min_iou: float) -> tuple[int, int]:
    """Greedy one-to-one matching of (T, 4) true boxes to (F, 4) found boxes.

    Returns ``(matched, extra)``: true boxes matched with IoU >= ``min_iou``, and
    found boxes left unmatched.
    """
    if len(truth) == 0 or len(found) == 0:
        return 0, len(found)
    ious = iou_matrix(truth, found)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for flat in np.argsort(-ious, axis=None, kind="stable"):
        ti, fi = divmod(int(flat), ious.shape[1])
        if ious[ti, fi] < min_iou:
            break
        if ti in used_t or fi in used_f:
            continue
        used_t.add(ti)
        used_f.add(fi)
    return len(used_t), len(found) - len(used_f)


def face_recall(faces: pd.DataFrame, truth: pd.DataFrame, n_samples: int, min_iou: float = 0.5) -> dict[str, Any]:
    """Recall of true faces on the sampled frames of the originals.

    Args:
        faces: FACES rows (at least video_id, is_fake, frame_idx, box).
        truth: ground truth rows (video_id, is_fake, frame_idx, n_frames, width,
            height, box; a null box = a frame without a face).
        n_samples: ``faces.frames``, the frames sampled per original.
    """
    real_truth = truth[~truth["is_fake"].astype(bool)]
    ours = faces[~faces["is_fake"].astype(bool)]
    ours_by = {k: g for k, g in ours.groupby(["video_id", "frame_idx"])}
    total = matched = extra = 0
    per_video: dict[str, dict[str, float]] = {}
    for vid, vt in real_truth.groupby("video_id", sort=True):
        n_frames = int(vt["n_frames"].iloc[0])
        width, height = int(vt["width"].iloc[0]), int(vt["height"].iloc[0])
        sampled = set(sample_indices(n_frames, n_samples).tolist())
        v_total = v_matched = v_extra = 0
        for fidx, ft in vt[vt["frame_idx"].isin(sampled)].groupby("frame_idx"):
            boxes = [b for b in ft["box"] if b is not None]
            tb = np.array([list(b) for b in boxes], np.float64).reshape(-1, 4)
            g = ours_by.get((vid, fidx))
            fb = np.zeros((0, 4))
            if g is not None:
                fb = np.array([list(b) for b in g["box"]], np.float64).reshape(-1, 4)
                fb[:, [0, 2]] = fb[:, [0, 2]].clip(0, width)
                fb[:, [1, 3]] = fb[:, [1, 3]].clip(0, height)
            m, e = match_frame(tb, fb, min_iou)
            v_total += len(tb)
            v_matched += m
            v_extra += e
        per_video[str(vid)] = {
            "true_faces": v_total,
            "found": v_matched,
            "recall": v_matched / v_total if v_total else 1.0,
            "extra_boxes": v_extra,
        }
        total, matched, extra = total + v_total, matched + v_matched, extra + v_extra
    worst = sorted(per_video.items(), key=lambda kv: (kv[1]["recall"], kv[0]))[:10]
    return {
        "min_iou": min_iou,
        "frames_per_original": n_samples,
        "originals": len(per_video),
        "true_faces": total,
        "found": matched,
        "recall": matched / total if total else 1.0,
        "extra_boxes": extra,
        "worst_videos": {k: v for k, v in worst if v["recall"] < 1.0},
    }


def pairing(faces: pd.DataFrame) -> dict[str, Any]:
    """How many original crops of fake-bearing originals have a fake crop at the same
    (frame_idx, track_id), and whether the fake's crop window is the original's."""
    reals = faces[~faces["is_fake"].astype(bool)]
    windows = {
        (r.video_id, r.frame_idx, r.track_id): np.asarray(r.crop_box).tolist() for r in reals.itertuples(index=False)
    }
    fakes = faces[faces["is_fake"].astype(bool)]
    same = sum(
        1
        for r in fakes.itertuples(index=False)
        if windows.get((r.original_id, r.frame_idx, r.track_id)) == np.asarray(r.crop_box).tolist()
    )
    return {"fake_crops": len(fakes), "fake_crops_with_same_window_as_original": same}


_BAND = (40, 40, 40)  # dark grey text band: white text reads on it whatever the crops are
_HEADERS = ("original (real)", "fake", "4x |real - fake|")


def _band(width: int, texts: Sequence[tuple[int, str]], height: int = 18) -> np.ndarray:
    """A dark band ``height`` px high with white text at each (x, text)."""
    band = np.full((height, width, 3), _BAND, np.uint8)
    for x, text in texts:
        cv2.putText(band, text, (x, height - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return band


def preview_sheet(faces: pd.DataFrame, pairs: int = 12, columns: int = 3, seed: int = 0) -> np.ndarray:
    """A contact sheet of real | fake | 4x|difference| crop triplets (RGB uint8).

    One triplet per fake video (a deterministic random choice of ``pairs`` fakes),
    at the middle sampled frame of track 0. A header row names the three crops of each
    triplet; each triplet's band names ``original_id | fake video_id | frame``. Text is
    white on a dark band, never drawn over the crops.
    """
    fakes = faces[faces["is_fake"].astype(bool) & (faces["track_id"] == 0)]
    reals = faces[~faces["is_fake"].astype(bool)].set_index(["video_id", "frame_idx", "track_id"])
    ids = sorted(fakes["video_id"].unique())
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(ids, size=min(pairs, len(ids)), replace=False)) if ids else []
    tiles = []
    crop_w = 0
    for vid in chosen:
        rows = fakes[fakes["video_id"] == vid].sort_values("frame_idx")
        row = rows.iloc[len(rows) // 2]
        key = (row["original_id"], row["frame_idx"], 0)
        if key not in reals.index:
            continue
        real = decode_png(reals.loc[key, "crop"]["bytes"])
        fake = decode_png(row["crop"]["bytes"])
        diff = np.clip(np.abs(real.astype(np.int16) - fake.astype(np.int16)) * 4, 0, 255).astype(np.uint8)
        tile = np.concatenate([real, fake, diff], axis=1)
        crop_w = real.shape[1]
        label = _band(tile.shape[1], [(3, f"{row['original_id']} | {vid} | f{row['frame_idx']}")])
        tiles.append(np.concatenate([label, tile], axis=0))
    if not tiles:
        raise DfmaskError("no real/fake crop pairs to preview: run the faces stage on a corpus with fakes")
    th, tw = tiles[0].shape[:2]
    gap = 4
    rows_n = -(-len(tiles) // columns)
    header = _band(
        columns * (tw + gap),
        [(c * (tw + gap) + k * crop_w + 3, h) for c in range(min(columns, len(tiles))) for k, h in enumerate(_HEADERS)],
        height=20,
    )
    sheet = np.full((rows_n * (th + gap), columns * (tw + gap), 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * (th + gap) : r * (th + gap) + th, c * (tw + gap) : c * (tw + gap) + tw] = t
    return np.concatenate([header, sheet], axis=0)


def load_faces(folders: Iterable[Path], with_crops: bool = False) -> pd.DataFrame:
    """FACES rows of several part folders as a DataFrame (crops optional: they are big)."""
    cols = [n for n in FACES.schema.names if with_crops or n != "crop"]
    paths = [p for f in folders for p in faces_shards(f)]
    table: pa.Table = read_tables(paths, FACES, cols)
    return table.to_pandas()


def measure(faces_root: Path, ground_truth: Path, parts: Sequence[int], frames: int, out: Path, preview: Path) -> str:
    """Face recall and real/fake pairing of the crops of ``parts`` against the truth.

    Writes the report (``out``, JSON: `face_recall` plus ``pairing``) and the preview
    sheet (``preview``, PNG); returns a one-line summary.

    Args:
        faces_root: the faces stage's folder of ``part=N/`` shard folders.
        ground_truth: the sample corpus's ``ground_truth.parquet``.
        frames: ``faces.frames``, the frames the stage sampled per original.
    """
    from dfmask.corpus.groundtruth import load_ground_truth

    folders = [Path(faces_root) / f"part={n}" for n in parts]
    for folder in folders:
        if not folder.is_dir():
            raise DfmaskError(f"{folder}: no faces folder for part {folder.name[5:]}; run `dvc repro faces`")
    faces = load_faces(folders, with_crops=True)
    truth = load_ground_truth(ground_truth)
    truth = truth[truth["part"].isin(list(parts))]
    doc = face_recall(faces, truth, frames)
    doc["pairing"] = pairing(faces)
    write_json(out, doc)
    sheet = preview_sheet(faces)
    preview = Path(preview)
    ok, encoded = cv2.imencode(preview.suffix or ".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DfmaskError(f"{preview}: OpenCV cannot write this image type")
    preview.parent.mkdir(parents=True, exist_ok=True)
    tmp = preview.with_name(f".{preview.name}.tmp")
    tmp.write_bytes(encoded.tobytes())
    tmp.replace(preview)  # atomic: never a half-written sheet
    return (
        f"recall {doc['recall']:.4f} ({doc['found']}/{doc['true_faces']} true faces, "
        f"IoU >= {doc['min_iou']}) on {doc['originals']} originals x {frames} frames; "
        f"{doc['extra_boxes']} extra boxes; {doc['pairing']['fake_crops']} fake crops "
        f"-> {out}, {preview}"
    )
