"""The ``faces@part`` stage: every video of one part → FACES shards + status + report.

Resumable: each finished video is a work item in a `dfmask.workdir.WorkDir` keyed by
the params that shape crops, the schema version and the code (the folder), and by the
video's own ingest row, content hash included (the item's name; a fake's also follows
its original's row). A rerun after a crash (even ``kill -9``) reuses finished videos and
computes only the rest; a video whose bytes changed is recomputed, with its fakes, and
nothing else is.
The shards are always assembled from the work items, so a resumed run writes exactly
the bytes of an uninterrupted one. The report counts reused vs computed videos. `run`
is the stage; it writes the shards, the status table and the report.

Order: ``params.workers`` threads take every original first (detection), then the
fakes, each of which waits for its original's work item, so both cores are busy from
the first video to the last (docs/benchmarks.md, "faces"). With ``compute.executor:
ray`` the same jobs run on a Ray cluster (`dfmask.compute`, docs/cluster.md); the
results come back here and are written the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa

from dfmask.codedeps import source_files
from dfmask.compute import Job, executor_for
from dfmask.errors import DfmaskError
from dfmask.faces.detect import FaceDetector, resolve_device
from dfmask.faces.extract import VideoFaces, process_fake, process_original
from dfmask.params import ComputeParams, CorpusParams, FacesParams, to_dict
from dfmask.progress import progress
from dfmask.schemas.faces import FACE_VIDEOS, FACES, STATUS_PATH
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import read_table, sample_list, write_json, write_shards, write_table
from dfmask.workdir import WorkDir, code_and_libraries, item_name

STAGE = "faces"

#: Params that do not change a video's rows (only how they are packed or decoded).
_NOT_IN_KEY = ("shard_rows", "workers")
#: How the stage runs, not what it writes: left out of the shards' metadata and the report,
#: so outputs match across machines. With ``precision`` float64 no byte depends on threads
#: or workers; decode_threads (1 by default) changes the pixels of damaged streams only, so
#: it is in the work key and dvc.yaml's faces params, not in the written metadata.
_EXECUTION = ("threads", "decode_threads", "workers")


@dataclass(frozen=True)
class FacesPaths:
    """Where ``faces@N`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    videos: Path  # the part's ingest table: <paths.videos>/part=N.parquet
    out: Path  # the part's folder of shards: <paths.faces>/part=N
    report: Path  # <paths.reports>/faces/part=N.json
    work: Path  # paths.work: finished videos under <work>/faces/part=N/ (outside DVC's outs)


@dataclass(frozen=True)
class PartSummary:
    """What `run` did (its report is written), for the stage's one-line summary."""

    part: int
    videos: int
    crops: int
    status_counts: dict[str, int]
    reused: int
    computed: int
    shards: int
    report: Path  # where the report JSON was written

    def summary(self) -> str:
        no_face = self.status_counts.get("no_faces", 0)
        failed = self.videos - self.status_counts.get("ok", 0) - no_face
        return (
            f"part={self.part}: {self.videos:,} videos, {self.crops:,} crops, {no_face:,} video"
            f"{'' if no_face == 1 else 's'} without faces, {failed:,} failed "
            f"({self.reused:,} reused, {self.computed:,} computed; see {self.report})"
        )


def _original_row(row: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """A fake's original's ingest row, if it is a real video of this part."""
    orow = by_id.get(row["original_id"]) if row["is_fake"] and row.get("original_id") is not None else None
    return orow if orow is not None and not orow["is_fake"] else None


def item_for(row: dict[str, Any], original_row: dict[str, Any] | None) -> str:
    """The work-item name of one video: its `item_name` plus a digest of its ingest row
    (the file's sha256 included) and, for a fake, of its original's row. A video whose
    bytes change gets a new item; so do its fakes, which are cut at its windows."""
    doc = {"video": row, "original": original_row}
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return f"{item_name(str(row['video_id']))}_{digest}"


#: The source files that run in this stage (`dfmask.codedeps`, the list that
#: tests/test_codedeps.py holds dvc.yaml's faces deps to), named by path in dfmask.
_PACKAGE = Path(__file__).parents[1]
_CODE = tuple(source_files("dfmask.faces.stage"))


def written_params(params: FacesParams) -> dict[str, Any]:
    """The params recorded in the outputs: all but the `_EXECUTION` ones."""
    return {k: v for k, v in to_dict(params).items() if k not in _EXECUTION}


def detector_device(params: FacesParams, compute: ComputeParams) -> str:
    """The device the detector runs on: ``faces.device`` as this machine resolves it;
    with the Ray executor, ``auto`` is ``cuda`` when the detector actors get a GPU
    share (``compute.gpus_per_task`` > 0) and ``cpu`` otherwise, whatever the driver has."""
    if compute.executor != "ray":
        return resolve_device(params.device)
    if params.device == "cuda" and compute.gpus_per_task == 0:
        raise DfmaskError(
            "params: faces.device is 'cuda' but compute.gpus_per_task is 0: Ray gives the detector no GPU"
        )
    if params.device == "auto":
        return "cuda" if compute.gpus_per_task > 0 else "cpu"
    return params.device


def work_key(params: FacesParams, device: str | None = None) -> dict[str, Any]:
    """What shapes every video's rows: params, schema version, the device the detector
    runs on (``device``, default: what ``auto`` resolves to here; GPU and CPU boxes
    differ in the last bits), and the code and library
    versions: DVC re-runs the stage when the code changes, and items computed by the old
    code must not be reused then. Each video's own input is in its item name
    (`item_for`), so a changed video does not recompute the others."""
    p = {k: v for k, v in to_dict(params).items() if k not in _NOT_IN_KEY}
    return {
        "faces_version": FACES.version,
        "params": p,
        "device": device or resolve_device(params.device),
        **code_and_libraries(_CODE, _PACKAGE),
    }


def ordered_videos(videos: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Originals by id, each followed by its fakes (by id); orphan fakes at the end."""
    originals = sorted((v for v in videos if not v["is_fake"]), key=lambda v: v["video_id"])
    fakes_of: dict[str, list[dict[str, Any]]] = {}
    orphans = []
    ids = {v["video_id"] for v in originals}
    for v in sorted((v for v in videos if v["is_fake"]), key=lambda v: v["video_id"]):
        if v.get("original_id") in ids:
            fakes_of.setdefault(v["original_id"], []).append(v)
        else:
            orphans.append(v)
    out = []
    for o in originals:
        out.append(o)
        out.extend(fakes_of.get(o["video_id"], []))
    return out + orphans


def run(
    params: FacesParams, corpus: CorpusParams, paths: FacesPaths, part: int, compute: ComputeParams | None = None
) -> PartSummary:
    """The ``faces@part`` stage: extract the faces of part ``part`` of ``corpus.root``;
    write the shards, the status table and the report. ``compute`` says where the
    videos are processed (default: this machine's threads); it changes no byte."""
    compute = compute or ComputeParams()
    corpus_root, out_dir = Path(corpus.root), Path(paths.out)
    videos_table = read_table(Path(paths.videos), VIDEOS)  # the part's ingest table, version-checked
    videos = [dict(v) for v in videos_table.to_pylist() if int(v["part"]) == part]
    work = WorkDir(STAGE, f"part={part}", work_key(params, detector_device(params, compute)), paths.work)
    work.prune_stale()
    by_id = {v["video_id"]: v for v in videos}
    names = {v["video_id"]: item_for(v, _original_row(v, by_id)) for v in videos}
    done_before = {v["video_id"] for v in videos if work.done(names[v["video_id"]])}
    order = ordered_videos(videos)
    todo = [v for v in order if v["video_id"] not in done_before]
    originals = [v for v in todo if not v["is_fake"]]
    fakes = [v for v in todo if v["is_fake"]]
    # Every original first (detection), then the fakes, each of which takes its original's
    # work item: computed by this run, or loaded from an earlier run's. With the local
    # executor `params.workers` threads take them from one FIFO queue, so both cores
    # detect at the start and cut fakes at the end (the detector, decoding and OpenCV
    # release the GIL); with Ray, originals go to detector actors and fakes to CPU tasks
    # (`dfmask.compute`). Results come back here and are saved; each video's result
    # depends only on its inputs, so the bytes written depend on neither timing nor executor.
    device = detector_device(params, compute)
    setup = partial(FaceDetector, dataclasses.replace(params, device="cuda" if device == "cuda" else "cpu"))
    computing = {v["video_id"] for v in originals}
    jobs = [Job(v["video_id"], _original_job, (v, corpus_root, params), setup=setup) for v in originals]
    done: dict[str, Callable[[], pa.Table]] = {}
    for v in fakes:
        orow = _original_row(v, by_id)
        oid = orow["video_id"] if orow is not None else None
        if oid is not None and oid not in computing:
            done[oid] = partial(work.load, names[oid])
        if oid is None:  # no original to wait for: the fake gets its status
            jobs.append(Job(v["video_id"], _fake_job, (None, v, orow, corpus_root, params)))
        else:
            jobs.append(Job(v["video_id"], _fake_job, (v, orow, corpus_root, params), needs=oid))
    with executor_for(compute, params.workers, name="faces") as executor:
        for video_id, item in progress(
            executor.run(jobs, done), total=len(jobs), desc=f"faces part={part}", unit="video"
        ):
            work.save(names[video_id], item)
    statuses = _assemble(part, order, work, names, out_dir, params)
    _drop_other_items(work, set(names.values()))
    counts = Counter(s.status for s in statuses)
    reused = len(done_before)
    summary = PartSummary(
        part=part,
        videos=len(videos),
        crops=sum(s.crops for s in statuses),
        status_counts=dict(sorted(counts.items())),
        reused=reused,
        computed=len(videos) - reused,
        shards=len(list(out_dir.glob("faces-*.parquet"))),
        report=Path(paths.report),
    )
    write_json(paths.report, _report(summary, statuses, params))
    return summary


def _drop_other_items(work: WorkDir, keep: set[str]) -> None:
    """Delete the items of videos no longer in the part, or of their old bytes."""
    files = {item_name(name) for name in keep}  # the names WorkDir gives the files
    for path in work.path.glob("*.parquet"):
        if path.stem not in files:
            path.unlink()


def _original_job(detector: FaceDetector, row: dict[str, Any], corpus_root: Path, params: FacesParams) -> pa.Table:
    """Detect, track and crop one original: its work item (runs on a worker)."""
    return process_original(row, corpus_root, detector, params).to_item()


def _fake_job(
    original_item: pa.Table | None,
    row: dict[str, Any],
    original_row: dict[str, Any] | None,
    corpus_root: Path,
    params: FacesParams,
) -> pa.Table:
    """Cut one fake at its original's windows: its work item (runs on a worker).

    ``original_item`` is its original's work item (None when the original is not a
    real video of this part: the fake gets its status).
    """
    original = VideoFaces.from_item(original_item) if original_item is not None else None
    return process_fake(row, original_row, original, corpus_root, params).to_item()


def _video_tables(order: list[dict[str, Any]], work: WorkDir, names: dict[str, str]) -> Iterator[pa.Table]:
    """Each video's FACES rows from its work item, by video id; videos without rows skipped."""
    for v in sorted(order, key=lambda v: v["video_id"]):
        table = VideoFaces.from_item(work.load(names[v["video_id"]])).rows
        if table.num_rows:
            yield table


def _assemble(
    part: int, order: list[dict[str, Any]], work: WorkDir, names: dict[str, str], out_dir: Path, params: FacesParams
) -> list[Any]:
    """Write the FACES shards (at most ``shard_rows`` rows, cut at video boundaries; an
    empty part gets one empty shard carrying the schema) and the status table from the
    work items."""
    meta = written_params(params)
    units = _video_tables(order, work, names)
    write_shards(units, out_dir, "faces", FACES, max(1, params.shard_rows), STAGE, meta, {"part": part})
    statuses = [VideoFaces.from_item(work.load(names[v["video_id"]])).status for v in order]
    status_table = pa.Table.from_pylist([asdict(s) for s in statuses], schema=FACE_VIDEOS.schema)
    write_table(status_table, out_dir / STATUS_PATH, FACE_VIDEOS, STAGE, meta, {"part": part})
    return statuses


def _report(summary: PartSummary, statuses: list[Any], params: FacesParams) -> dict[str, Any]:
    originals = [s for s in statuses if not s.is_fake]
    fakes = [s for s in statuses if s.is_fake]

    def by_status(items: list[Any]) -> dict[str, int]:
        return dict(sorted(Counter(s.status for s in items).items()))

    def problems(items: list[Any]) -> dict[str, dict[str, Any]]:
        """Per status, a count and a sample of ids (the status table lists them all)."""
        out: dict[str, list[str]] = {}
        for s in items:
            if s.status != "ok":
                out.setdefault(s.status, []).append(s.video_id)
        return {status: sample_list(ids) for status, ids in sorted(out.items())}

    ok_originals = [s for s in originals if s.status == "ok"]
    return {
        "part": summary.part,
        "videos": summary.videos,
        "originals": len(originals),
        "fakes": len(fakes),
        "crops": summary.crops,
        "crops_real": sum(s.crops for s in originals),
        "crops_fake": sum(s.crops for s in fakes),
        "shards": summary.shards,
        "status": {"originals": by_status(originals), "fakes": by_status(fakes)},
        "videos_without_faces": sum(1 for s in originals if s.status == "no_faces"),
        "frames": {
            "sampled_originals": sum(s.frames_sampled for s in originals),
            "decoded_originals": sum(s.frames_decoded for s in originals),
            "originals_ok_frames_without_face": sum(s.frames_decoded - s.frames_with_faces for s in ok_originals),
            "fake_frames_beyond_end": sum(s.frames_beyond_end for s in fakes),
            "fake_frames_not_decoded": sum(s.frames_sampled - s.frames_decoded for s in fakes if s.status == "ok"),
        },
        "tracks_per_original": dict(sorted(Counter(str(s.tracks) for s in ok_originals).items())),
        "problem_videos": {
            "originals": problems(originals),
            "fakes": problems(fakes),
        },
        "resume": {"reused_videos": summary.reused, "computed_videos": summary.computed},
        "status_table": str(STATUS_PATH),
        "params": written_params(params),
    }
