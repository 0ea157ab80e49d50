"""The ``embed@part`` stage: embeddings of a few face crops per track, per corpus part.

Reads one part's faces shards (`dfmask.schemas.faces.FACES`), picks a few crops per track
(`select_crops`), embeds them with the model `dfmask.identity.encoders.make_encoder` builds and
writes `dfmask.schemas.embeddings.EMBEDDINGS` (one row per selected crop, with a status) plus a report (`run`).
ORIGINAL tracks give the identities; FAKE tracks show the donor's face, which
`dfmask.splits` matches to those identities.

Each video's selected crops are one `dfmask.compute.Job` (`embed_video`), run where
``compute.executor`` says: with ``local`` one after the other in this process, with the
encoder the stage loaded, as ever; with ``ray`` as tasks on the cluster, each worker
process loading the encoder once (`encoder_for`). Results come back to the driver,
which writes the rows in the faces table's order, so the table never depends on the
executor. (facenet: set ``embed.threads``, since Ray gives a task one torch thread by
default and facenet's last bits depend on the thread count.)
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from dfmask.compute import Executor, Job, executor_for
from dfmask.errors import DfmaskError
from dfmask.faces.crops import to_crop_coords
from dfmask.identity.encoders import STATUSES, Encoder, FaceCrop, make_encoder
from dfmask.params import ComputeParams, EmbedParams, to_dict
from dfmask.schemas.embeddings import EMBEDDINGS
from dfmask.schemas.faces import FACES, faces_shards
from dfmask.tables import decode_png, read_tables, write_json, write_table


def select_crops(faces: pa.Table, per_original_track: int, per_fake_track: int) -> list[int]:
    """Row indices of the crops to embed: a few per track, spread over its frames.

    Picks ``k`` rows evenly spaced (linspace) over each (video, track)'s rows in frame
    order, so the embeddings see the track's range of pose and light. Rows whose box
    was interpolated (no landmarks) are only used when a track has no other rows, and
    then end as ``no_landmarks``. Deterministic.
    """
    cols = faces.select(["video_id", "is_fake", "track_id", "frame_idx"]).to_pydict()
    has_landmarks = faces["landmarks"].is_valid().to_pylist()
    tracks: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(zip(cols["video_id"], cols["track_id"], strict=True)):
        tracks.setdefault(key, []).append(i)
    chosen: list[int] = []
    for rows in tracks.values():
        k = per_fake_track if cols["is_fake"][rows[0]] else per_original_track
        usable = [i for i in rows if has_landmarks[i]] or rows
        usable.sort(key=lambda i: cols["frame_idx"][i])
        if k <= 0:
            continue
        picks = np.unique(np.round(np.linspace(0, len(usable) - 1, min(k, len(usable)))).astype(int))
        chosen.extend(usable[p] for p in picks)
    return sorted(chosen)


#: One selected crop as a job receives it: PNG bytes, face box and landmarks (frame px,
#: flat), crop box (the crop's window in the frame).
CropCell = tuple[bytes, list[float], list[float], list[float] | None]

_ENCODERS: dict[tuple[Any, ...], Encoder] = {}


def encoder_for(params: EmbedParams) -> Encoder:
    """This process's encoder for ``params``, loaded once (`make_encoder`) and kept
    until the params or the weights file change: the stage's driver and each Ray worker
    load it once, not once per video."""
    weights = params.weights_path
    stat = os.stat(weights) if params.model == "facenet" and weights and os.path.isfile(weights) else None
    key = (params, None if stat is None else (stat.st_size, stat.st_mtime_ns))
    if key not in _ENCODERS:
        _ENCODERS.clear()  # one at a time: a model is tens of MB
        _ENCODERS[key] = make_encoder(params)
    return _ENCODERS[key]


def embed_video(encoder: Encoder, crops: Sequence[CropCell]) -> list[tuple[str, np.ndarray | None]]:
    """(status, embedding or None) of each of one video's selected crops, in order."""
    out: list[tuple[str, np.ndarray | None]] = []
    for png, box_frame, crop_box, lm in crops:
        try:
            image = decode_png(png)
        except DfmaskError:
            out.append(("bad_crop", None))
            continue
        size = image.shape[0]
        box = to_crop_coords(np.reshape(box_frame, (2, 2)), crop_box, size).reshape(4)
        landmarks = None if lm is None else to_crop_coords(np.reshape(lm, (5, 2)), crop_box, size)
        out.extend(encoder.embed([FaceCrop(image, box, landmarks)]))  # one crop at a time, as ever
    return out


def _embed_job(params: EmbedParams, crops: Sequence[CropCell]) -> list[tuple[str, np.ndarray | None]]:
    """A video's job: `embed_video` with this process's encoder."""
    return embed_video(encoder_for(params), crops)


def embed_faces(
    faces: pa.Table,
    encoder: Encoder,
    params: EmbedParams,
    desc: str = "embed",
    executor: Executor | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Embed the selected crops of one faces table; the embeddings table and a report.

    ``faces`` has the faces-table columns (part, video_id, original_id, is_fake,
    frame_idx, track_id, box, crop_box, landmarks, prob, crop). Every selected crop
    gets a row, with a status; only ``ok`` rows carry an embedding. Each video's crops
    are one job on ``executor`` (which loads its own encoder for ``params``,
    `encoder_for`); without one, they run here with ``encoder``.
    """
    from dfmask.progress import progress

    picked = select_crops(faces, params.crops_per_track, params.fake_crops_per_track)
    meta = faces.select(["part", "video_id", "original_id", "is_fake", "track_id", "frame_idx"])
    vid_track = list(zip(meta["video_id"].to_pylist(), meta["track_id"].to_pylist(), strict=True))
    track_rows: dict[tuple[str, int], int] = {}
    for key in vid_track:
        track_rows[key] = track_rows.get(key, 0) + 1
    rows = faces.take(pa.array(picked, pa.int64())).to_pylist() if picked else []
    by_video: dict[str, list[CropCell]] = {}
    for row in rows:
        by_video.setdefault(row["video_id"], []).append(
            (row["crop"]["bytes"], row["box"], row["crop_box"], row["landmarks"])
        )
    results: Iterator[tuple[str, list[tuple[str, np.ndarray | None]]]]
    if executor is None:
        results = ((vid, embed_video(encoder, crops)) for vid, crops in by_video.items())
    else:
        results = executor.run([Job(vid, _embed_job, (params, crops)) for vid, crops in by_video.items()])
    done = dict(progress(results, desc=desc, total=len(by_video), unit="video"))
    by_video.clear()
    # rows in the faces table's order, whatever order the videos finished in
    taken = {vid: iter(res) for vid, res in done.items()}
    out: list[dict[str, Any]] = []
    for row in rows:
        status, vec = next(taken[row["video_id"]])
        out.append(
            {
                "part": row["part"],
                "video_id": row["video_id"],
                "original_id": row["original_id"],
                "is_fake": row["is_fake"],
                "track_id": row["track_id"],
                "frame_idx": row["frame_idx"],
                "track_rows": track_rows[(row["video_id"], row["track_id"])],
                "prob": row["prob"],
                "status": status,
                "embedding": None if vec is None else vec.astype(np.float32).tolist(),
            }
        )
    table = pa.Table.from_pylist(out, schema=EMBEDDINGS.schema)
    statuses = {s: 0 for s in STATUSES}
    for r in out:
        statuses[r["status"]] += 1
    fakes = [r for r in out if r["is_fake"]]
    report = {
        "model": encoder.name,
        "dim": encoder.dim,
        "faces_rows": faces.num_rows,
        "videos": len(set(meta["video_id"].to_pylist())),
        "tracks": len(track_rows),
        "crops_embedded": statuses["ok"],
        "crops_selected": len(out),
        "original_crops": len(out) - len(fakes),
        "fake_crops": len(fakes),
        "statuses": statuses,
        "status_meaning": {s: m for s, m in STATUSES.items() if statuses[s]},
    }
    return table, report


def _merge_reports(reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum the per-shard reports of `embed_faces` (videos never span shards)."""
    out = dict(reports[0])
    for r in reports[1:]:
        for key, value in r.items():
            if key == "statuses":
                out[key] = {s: out[key][s] + value[s] for s in STATUSES}
            elif key == "status_meaning":
                out[key] = {**out[key], **value}
            elif isinstance(value, int) and key != "dim":
                out[key] += value
    out["shards"] = len(reports)
    return out


#: Params only the facenet encoder reads (`dfmask.identity.encoders.FacenetEncoder`): with
#: dlib they change no byte, so they are left out of the table's metadata (a machine's
#: thread count, or a stray local file path, must not make the table differ). With
#: facenet both stay: its embeddings differ in the last bits between 1 and 2 torch
#: threads (measured), and the weights file is its model.
_FACENET_ONLY = ("threads", "weights_path")


def written_params(params: EmbedParams) -> dict[str, Any]:
    """The ``embed`` params recorded in the table: those that can change its bytes."""
    doc = to_dict(params)
    return doc if params.model == "facenet" else {k: v for k, v in doc.items() if k not in _FACENET_ONLY}


def _model_versions() -> dict[str, str]:
    """Versions of the packages that ship the face models (recorded in the table)."""
    out = {}
    for lib in ("face_recognition_models", "dlib-bin", "facenet-pytorch"):
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


@dataclass(frozen=True)
class EmbedPaths:
    """Where ``embed@N`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    faces: Path  # the part's faces folder: <paths.faces>/part=N
    out: Path  # the part's embeddings table: <paths.embeddings>/part=N.parquet
    report: Path  # <paths.reports>/embed/part=N.json


@dataclass(frozen=True)
class EmbedReport:
    """What `run` wrote: the report document and where it is."""

    doc: dict[str, Any]
    path: Path

    def summary(self) -> str:
        r = self.doc
        failed = r["crops_selected"] - r["crops_embedded"]
        return (
            f"part={r['part']}: {r['crops_embedded']:,} crops embedded ({r['original_crops']:,} original, "
            f"{r['fake_crops']:,} fake) from {r['tracks']:,} tracks of {r['videos']:,} videos, "
            f"{failed:,} failed (see {self.path})"
        )


def run(params: EmbedParams, paths: EmbedPaths, part: int, compute: ComputeParams | None = None) -> EmbedReport:
    """The ``embed@part`` stage: faces shards of one part in, embeddings table + report out.
    ``compute`` says where each video's crops are embedded (never recorded: it changes no byte)."""
    faces_dir, out, report_path = paths.faces, paths.out, paths.report
    if not Path(faces_dir).is_dir():
        raise DfmaskError(f"{faces_dir}: no faces output for part {part}; run `dvc repro faces@{part}`")
    # no shards: no face in the whole part; that still gives an (empty) table
    shards: list[Path | None] = [*faces_shards(faces_dir)] or [None]
    # loaded here whatever the executor: a model that cannot load fails the stage at once, in
    # one line; the local executor's jobs, run in this process, use this very encoder
    encoder = encoder_for(params)
    tables: list[pa.Table] = []
    reports: list[dict[str, Any]] = []
    try:
        with executor_for(compute or ComputeParams(), 1, processes=True, name="embed") as executor:
            for shard in shards:  # one shard at a time: a video never spans two shards
                faces = read_tables([shard], FACES) if shard else FACES.schema.empty_table()
                name = shard.name if shard else "(no faces)"
                desc = f"embed part={part} {name}"
                table, shard_report = embed_faces(faces, encoder, params, desc=desc, executor=executor)
                tables.append(table)
                reports.append(shard_report)
    finally:
        _ENCODERS.clear()  # the driver keeps no model once the stage is done
    table = pa.concat_tables(tables)
    report = _merge_reports(reports)
    report = {"part": part, **report}
    write_table(
        table,
        out,
        EMBEDDINGS,
        stage=f"embed@{part}",
        params={"embed": written_params(params)},
        extra={"model": encoder.name, "dim": encoder.dim, "model_files": _model_versions()},
    )
    write_json(report_path, report)
    return EmbedReport(report, Path(report_path))
