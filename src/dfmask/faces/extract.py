"""Per-video face extraction: originals are detected and tracked, fakes reuse their boxes.

An original's sampled frames are decoded in one pass (`dfmask.video.iter_frames_at`),
rescaled and detected in batches as they come, linked into tracks and cropped (from the
kept frames, or from a second decode when the full-resolution frames would not fit
`KEEP_FRAMES_BYTES`). A fake is never detected: its
frames at the original's crop frame indices are cut at the original's ``crop_box``es
as they come out of the decoder (`dfmask.video.iter_frames_at`, no frame stack),
so a fake crop and its original's crop at the same (frame_idx, track_id) are
pixel-aligned. Each function returns a `VideoFaces`: the video's FACES rows plus its
status row (see `dfmask.schemas.faces` for the status values).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dfmask.errors import DfmaskError
from dfmask.faces.crops import crop_face, crop_window
from dfmask.faces.detect import DetectionRun, FaceDetector
from dfmask.faces.tracks import track_faces
from dfmask.params import FacesParams
from dfmask.schemas.faces import FACES
from dfmask.tables import encode_png
from dfmask.video import displayed_size, iter_frames_at, sample_indices

_STATUS_KEY = b"dfmask_faces_status"


@dataclass(frozen=True)
class VideoStatus:
    """One `FACE_VIDEOS` row (see `dfmask.schemas.faces`)."""

    part: int
    video_id: str
    original_id: str | None
    is_fake: bool
    status: str
    detail: str | None = None
    frames_sampled: int = 0
    frames_decoded: int = 0
    frames_with_faces: int = 0
    frames_beyond_end: int = 0
    tracks: int = 0
    crops: int = 0


@dataclass(frozen=True)
class VideoFaces:
    """A video's FACES rows and status; stored as one work item."""

    rows: pa.Table
    status: VideoStatus

    def to_item(self) -> pa.Table:
        """The rows with the status in the schema metadata (one file per work item)."""
        return self.rows.replace_schema_metadata({_STATUS_KEY: json.dumps(asdict(self.status)).encode()})

    @staticmethod
    def from_item(table: pa.Table) -> VideoFaces:
        meta = table.schema.metadata or {}
        status = VideoStatus(**json.loads(meta[_STATUS_KEY]))
        return VideoFaces(table.replace_schema_metadata(None), status)


def _video(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "part": int(row["part"]),
        "video_id": str(row["video_id"]),
        "original_id": row.get("original_id"),
        "is_fake": bool(row["is_fake"]),
    }


def _empty_rows() -> pa.Table:
    return FACES.schema.empty_table()


def _status(row: Mapping[str, Any], status: str, detail: str | None, counts: Mapping[str, Any]) -> VideoStatus:
    return dataclasses.replace(VideoStatus(**_video(row), status=status, detail=detail), **counts)


def _failed(row: Mapping[str, Any], status: str, detail: str, **counts: int) -> VideoFaces:
    return VideoFaces(_empty_rows(), _status(row, status, detail, counts))


def _decode_failed(row: Mapping[str, Any], path: Path, message: str, **counts: int) -> VideoFaces:
    """A ``decode_failed`` result whose detail names the video by its path relative to
    ``corpus.root`` (the ingest row's ``path``): the decoder's messages quote the path it
    opened, and where the corpus lies must not reach the status table (DESIGN: no
    absolute paths in outputs)."""
    return _failed(row, "decode_failed", message.replace(str(path), str(row["path"])), **counts)


def _rows_table(
    row: Mapping[str, Any],
    frame_idx: np.ndarray,
    track_id: np.ndarray,
    box: np.ndarray,
    crop_box: np.ndarray,
    landmarks: np.ndarray,
    prob: np.ndarray,
    crops: list[bytes],
) -> pa.Table:
    n = len(frame_idx)
    v = _video(row)
    prob_list = [None if np.isnan(p) else float(p) for p in prob]
    return pa.table(
        {
            "part": pa.array([v["part"]] * n, pa.int32()),
            "video_id": pa.array([v["video_id"]] * n, pa.string()),
            "original_id": pa.array([v["original_id"]] * n, pa.string()),
            "is_fake": pa.array([v["is_fake"]] * n, pa.bool_()),
            "frame_idx": pa.array(frame_idx.astype(np.int32), pa.int32()),
            "track_id": pa.array(track_id.astype(np.int32), pa.int32()),
            "box": pa.array(box.astype(np.float32).tolist(), FACES.schema.field("box").type),
            "crop_box": pa.array(crop_box.astype(np.float32).tolist(), FACES.schema.field("crop_box").type),
            "landmarks": pa.array(
                landmarks.reshape(n, 10).astype(np.float32).tolist(), FACES.schema.field("landmarks").type
            ),
            "prob": pa.array(prob_list, pa.float32()),
            "crop": pa.array(
                [
                    {"bytes": c, "path": f"{v['video_id']}/{int(f):05d}_{int(t)}.png"}
                    for c, f, t in zip(crops, frame_idx, track_id, strict=True)
                ],
                FACES.schema.field("crop").type,
            ),
        },
        schema=FACES.schema,
    )


#: The most bytes of full-resolution RGB frames an original keeps for cropping. The
#: sampled frames are rescaled for detection as they are decoded; when all of them fit
#: here (32 x 6.2 MB at 1080p) they are also kept and cut once the tracks are known;
#: when not (32 x 26.5 MB at 4096x2160), none is kept and the frames with faces are
#: decoded a second time and cut as they come (`_crop_again`): memory per worker is
#: then bounded by one full frame plus one batch of rescaled frames whatever the
#: resolution. Both ways cut the same decoded pixels (decoding is deterministic), so the
#: crops are byte-identical; the second pass costs a decode of the original.
KEEP_FRAMES_BYTES = 256 * 2**20


def _crop_again(
    path: Path, frame_idx: np.ndarray, windows: np.ndarray, shape: tuple[int, ...], params: FacesParams
) -> list[bytes] | str:
    """Decode the frames at ``frame_idx`` again and cut ``windows[r]`` from frame
    ``frame_idx[r]`` for every row r; the crops, or why the second pass failed."""
    rows_at: dict[int, list[int]] = {}
    for r, f in enumerate(frame_idx.tolist()):
        rows_at.setdefault(f, []).append(r)
    crops: list[bytes | None] = [None] * len(frame_idx)
    try:
        for f, frame in iter_frames_at(path, frame_idx, params.decode_threads):
            if frame.shape != shape:
                return f"{path}: frame {f} decodes at another size in the second pass"
            for r in rows_at.pop(f, []):
                crops[r] = encode_png(crop_face(frame, windows[r], params.size))
    except DfmaskError as err:
        return f"{path}: second decode pass: {err}"
    if rows_at:
        return f"{path}: second decode pass did not return frames {sorted(rows_at)[:5]}"
    return [c for c in crops if c is not None]


def process_original(
    row: Mapping[str, Any],
    corpus_root: Path,
    detector: FaceDetector,
    params: FacesParams,
    keep_bytes: int = KEEP_FRAMES_BYTES,
) -> VideoFaces:
    """Detect, track and crop the faces of one original video.

    The sampled frames are decoded once, in one pass (`dfmask.video.iter_frames_at`).
    When they all fit ``keep_bytes`` (`KEEP_FRAMES_BYTES`) they are kept, detected after
    the decode and cut from; otherwise each is rescaled and detected as it comes
    (`dfmask.faces.detect.DetectionRun`) and dropped, and `_crop_again` cuts the crops.
    """
    if row["status"] != "ok":
        return _failed(row, "ingest_failed", f"ingest status: {row['status']}")
    indices = sample_indices(int(row["frames"] or 0), params.frames)
    path = corpus_root / str(row["path"])
    kept: list[np.ndarray] | None = []
    got: list[int] = []
    run: DetectionRun | None = None
    shape: tuple[int, ...] = ()
    frames = iter_frames_at(path, indices, params.decode_threads)
    while True:
        try:  # only the decoder's errors are the video's; the detector's are the stage's
            item = next(frames, None)
        except DfmaskError as err:
            return _decode_failed(row, path, str(err), frames_sampled=len(indices))
        if item is None:
            break
        i, frame = item
        if run is None:
            shape = frame.shape
            run = detector.start(frame.shape[1], frame.shape[0])
            if frame.nbytes * len(indices) > keep_bytes:
                kept = None
        elif frame.shape != shape:
            return _failed(row, "decode_failed", "frame size changes within the video", frames_sampled=len(indices))
        got.append(i)
        if kept is not None:
            kept.append(frame)
        else:
            run.add(frame)
        del frame, item
    if run is None:
        return _decode_failed(
            row, path, f"{path}: no frame decoded at the sampled indices", frames_sampled=len(indices)
        )
    if kept is not None:  # detected once the decoder is closed: its buffers and a batch never coexist
        for frame in kept:
            run.add(frame)
    faces = run.finish()
    tracked = track_faces(faces, params.track_iou, params.track_max_gap, params.smooth_window)
    got_arr = np.asarray(got, np.int64)
    counts = {"frames_sampled": len(indices), "frames_decoded": len(got)}
    if len(tracked) == 0:
        return _failed(row, "no_faces", f"no face in {len(got)} sampled frames", **counts)
    windows = np.stack([crop_window(b, params.margin) for b in tracked.box])
    frame_idx = got_arr[tracked.pos]
    if kept is not None:
        crops = [encode_png(crop_face(kept[p], w, params.size)) for p, w in zip(tracked.pos, windows, strict=True)]
    else:
        again = _crop_again(path, frame_idx, windows, shape, params)
        if isinstance(again, str):
            return _decode_failed(row, path, again, **counts)
        crops = again
    rows = _rows_table(row, frame_idx, tracked.track_id, tracked.box, windows, tracked.landmarks, tracked.prob, crops)
    status = _status(
        row,
        "ok",
        None,
        {
            **counts,
            "frames_with_faces": len(np.unique(frame_idx)),
            "tracks": len(np.unique(tracked.track_id)),
            "crops": len(frame_idx),
        },
    )
    return VideoFaces(rows, status)


def process_fake(
    row: Mapping[str, Any],
    original_row: Mapping[str, Any] | None,
    original: VideoFaces | None,
    corpus_root: Path,
    params: FacesParams,
) -> VideoFaces:
    """Crop a fake at its original's crop windows and frame indices (no detection).

    Frames pair from the start: the original's frames past the fake's last decodable
    frame are counted in ``frames_beyond_end`` and get no fake crop.
    """
    if original_row is None or original is None:
        return _failed(row, "original_missing", f"original {row.get('original_id')!r} is not in this part")
    if original.status.status == "no_faces":
        return _failed(row, "original_no_faces", f"original {original_row['video_id']} has no faces")
    if original.status.status != "ok":
        return _failed(row, "original_failed", f"original {original_row['video_id']}: {original.status.status}")
    if row["status"] != "ok":
        return _failed(row, "ingest_failed", f"ingest status: {row['status']}")
    # displayed sizes: frames are decoded as displayed (ingest gave rotation_mismatch to a
    # fake turned otherwise than its original)
    size = displayed_size(row["width"], row["height"], row.get("rotation") or 0)
    osize = displayed_size(original_row["width"], original_row["height"], original_row.get("rotation") or 0)
    if size != osize:
        return _failed(row, "resolution_mismatch", f"fake is {size[0]}x{size[1]}, original {osize[0]}x{osize[1]}")
    orig = original.rows
    orig_idx = np.asarray(orig.column("frame_idx").to_numpy(), np.int64)
    wanted_all = np.unique(orig_idx)
    n_frames = int(row["frames"] or 0)
    wanted = wanted_all[wanted_all < n_frames]
    beyond = len(wanted_all) - len(wanted)
    counts = {"frames_sampled": len(wanted), "frames_beyond_end": beyond}
    # Crop each frame as it is decoded (no (N, H, W, 3) stack is ever held): the crops
    # of every original row at that frame, keyed by the row's position in ``orig``.
    boxes_all = np.array(orig.column("crop_box").to_pylist(), np.int64).reshape(-1, 4)
    rows_at: dict[int, list[int]] = {}
    for r, f in enumerate(orig_idx.tolist()):
        rows_at.setdefault(f, []).append(r)
    crop_of: dict[int, bytes] = {}
    got: list[int] = []
    path = corpus_root / str(row["path"])
    try:
        for f, frame in iter_frames_at(path, wanted, params.decode_threads):
            if frame.shape[:2] != (osize[1], osize[0]):
                return _failed(
                    row,
                    "resolution_mismatch",
                    f"fake decodes at {frame.shape[1]}x{frame.shape[0]}, original {osize[0]}x{osize[1]}",
                    **counts,
                )
            for r in rows_at[f]:
                crop_of[r] = encode_png(crop_face(frame, boxes_all[r], params.size))
            got.append(f)
    except DfmaskError as err:
        return _decode_failed(row, path, str(err), **counts)
    if not got:
        return _decode_failed(row, path, f"{path}: no frame decoded at the sampled indices", **counts)
    position = set(got)
    keep = np.array([f in position for f in orig_idx], bool)
    sel = orig.filter(pa.array(keep))
    crop_boxes = boxes_all[keep]
    frame_idx = np.asarray(sel.column("frame_idx").to_numpy(), np.int64)
    crops = [crop_of[r] for r in np.flatnonzero(keep).tolist()]
    prob = np.array([np.nan if p is None else p for p in sel.column("prob").to_pylist()], np.float32)
    rows = _rows_table(
        row,
        frame_idx,
        np.asarray(sel.column("track_id").to_numpy(), np.int64),
        np.array(sel.column("box").to_pylist(), np.float32).reshape(-1, 4),
        crop_boxes,
        np.array(sel.column("landmarks").to_pylist(), np.float32).reshape(-1, 10),
        prob,
        crops,
    )
    status = _status(
        row,
        "ok",
        None,
        {
            **counts,
            "frames_decoded": len(got),
            "frames_with_faces": len(np.unique(frame_idx)),
            "tracks": len(np.unique(sel.column("track_id").to_numpy())),
            "crops": len(frame_idx),
        },
    )
    return VideoFaces(rows, status)
