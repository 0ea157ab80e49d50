"""Ingest one corpus part: the layout's records plus a PyAV probe of every video.

`run` is the stage (`ingest_part`, then its table and report). The corpus layout is read
by the adapter that ``corpus.kind`` names (`dfmask.corpus.adapters`), in the inventory
stage: ``ingest@N`` depends on part N's inventory only, so adding a part re-runs only
that part, whatever the layout. Every
listed or present video gets exactly one row, with ``status == "ok"`` or a reason;
nothing is dropped and nothing crashes on a bad video. `check_corpus` runs where all
parts meet (the split stage): duplicate names across parts, and fakes whose original
lives in another part.

The part's records and each file's sha256 come from the part's inventory
(`dfmask.corpus.inventory`, the stage before), so ingest reads the corpus once more only
to probe it. The probe of each video (a PyAV open, optionally a full decode) is a
`dfmask.compute.Job` run where ``compute.executor`` says: with ``local`` one after the
other in this process, as ever (a one-worker pool runs in the caller); with ``ray`` as
tasks on the cluster. Probes come back to the driver, which fills the rows in the
layout's order, so the table never depends on the executor or on completion order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from dfmask.compute import Job, executor_for
from dfmask.corpus.adapters import Adapter, adapter_from, source_of
from dfmask.corpus.adapters.dfdc import DfdcAdapter
from dfmask.corpus.inventory import NOT_READ, PartInventory, list_part
from dfmask.errors import DfmaskError
from dfmask.params import ComputeParams, CorpusParams, IngestParams, to_dict
from dfmask.progress import progress
from dfmask.schemas.videos import spec_for
from dfmask.tables import sample_list, write_json, write_table
from dfmask.video import Probe, probe


@dataclass(frozen=True)
class IngestResult:
    table: pa.Table
    report: dict[str, Any]


def _probe_status(error: str) -> str:
    if error.startswith("empty file"):
        return "empty"
    if error.startswith("truncated") or error.startswith("decode failed"):
        return "truncated"
    return "corrupt"


def _probe_job(file: str, probe_decode: bool) -> Probe:
    """One video's probe (a job: runs wherever the executor sends it)."""
    return probe(file, decode=probe_decode)


def ingest_part(
    root: str | Path,
    part: int,
    probe_decode: bool = True,
    adapter: Adapter | None = None,
    compute: ComputeParams | None = None,
    inventory: PartInventory | None = None,
) -> IngestResult:
    """Validate and probe every video of part ``part`` of the corpus at ``root``.

    Args:
        root: corpus root (``corpus.root``).
        part: the part number N.
        probe_decode: decode every frame to count decodable frames, so truncated files
            are caught here rather than by the faces stage (about 1 s per DFDC clip).
        adapter: the corpus layout (`dfmask.corpus.adapters.adapter_for`); DFDC's
            ``dfdc_train_part_N/`` when None.
        compute: where the probes run (module docstring); this process when None.
        inventory: the part's inventory (the stage's way in); listed and hashed here,
            through ``adapter``, when None.

    Raises:
        DfmaskError: the part, or a file the layout requires (DFDC's metadata.json), is
            missing or malformed; a file's size is not its inventory's.
    """
    if inventory is None:
        inventory = list_part(adapter if adapter is not None else DfdcAdapter(root), root, part)
    elif inventory.part != part:
        raise DfmaskError(f"the inventory given for part {part} is part {inventory.part}'s")
    kind = inventory.kind
    records = inventory.records
    rows: list[dict[str, Any]] = []
    # each file to probe, once (named by its path relative to corpus.root: a failure names it)
    jobs: dict[str, Job] = {}
    to_fill: list[tuple[dict[str, Any], str]] = []  # (row, its file's path) of each probed row
    for rec in records:
        row: dict[str, Any] = {
            "part": part,
            "video_id": rec.video_id,
            "filename": rec.filename,
            "path": rec.path,
            "label": rec.label,
            "is_fake": rec.label == "FAKE" if rec.label in ("REAL", "FAKE") else None,
            "original_id": rec.original_id,
            "dfdc_split": rec.dfdc_split,
            "status": rec.status,
            "status_detail": rec.detail or None,
            "corpus": kind,
            "source": inventory.source,
            "method": rec.method,
            "identity": rec.identity,
            "donor_identity": rec.donor_identity,
            "official_split": rec.official_split,
            "mask_path": rec.mask_path,
            "quality": rec.quality,
            "group_id": rec.group_id or rec.video_id,
        }
        # links were checked against the resolved corpus.root by the adapter (data often
        # lives on another disk); errors name the path as configured
        path = rec.path
        if path is not None and rec.status not in NOT_READ and path in inventory.files:
            if path not in jobs:
                _check_unchanged(Path(root), path, inventory.files[path].bytes)
                jobs[path] = Job(path, _probe_job, (str(Path(root) / path), probe_decode))
            to_fill.append((row, path))
        rows.append(row)
    with executor_for(compute or ComputeParams(), 1, processes=True, name="ingest") as executor:
        done = executor.run(list(jobs.values()))
        probed = dict(progress(done, desc=f"ingest part={part}", total=len(jobs), unit="video"))
    for row, path in to_fill:
        p, sha256 = probed[path], inventory.files[path].sha256
        row.update(
            frames=p.frames,
            declared_frames=p.declared_frames,
            fps=p.fps,
            width=p.width,
            height=p.height,
            duration=p.duration,
            codec=p.codec,
            bytes=p.bytes,
            rotation=p.rotation,
            sha256=sha256,
        )
        if p.error and row["status"] == "ok":
            row["status"] = _probe_status(p.error)
            # PyAV quotes the path it opened: name the file relative to corpus.root
            row["status_detail"] = p.error.replace(str(Path(root) / path), path)
    _unique_ids(rows)
    _mark_unusable_originals(rows)
    _mark_rotation_mismatch(rows)
    # a mixed run's part (source set) has the adapter columns whatever its layout
    table = pa.Table.from_pylist(rows, schema=spec_for("mixed" if inventory.source else kind).schema)
    report = _report(part, rows)
    if kind != "dfdc" or inventory.source:  # DFDC's report keeps its keys
        report["corpus"] = kind
        report["by_method"] = dict(sorted(Counter(r["method"] or "real" for r in rows if r["status"] == "ok").items()))
    if inventory.source:
        report["source"] = inventory.source
    return IngestResult(table, report)


def _check_unchanged(root: Path, path: str, size: int) -> None:
    """Stop when a file is gone or has another size than its inventory says (its sha256
    would be wrong): the corpus changed after the inventory stage ran."""
    try:
        now = (root / path).stat().st_size
    except OSError as err:
        raise DfmaskError(
            f"{path}: listed by the inventory but not readable now ({err.strerror}); re-run dvc repro"
        ) from err
    if now != size:
        raise DfmaskError(f"{path}: {now:,} bytes, but {size:,} when inventoried; the corpus changed, re-run dvc repro")


def _unique_ids(rows: list[dict[str, Any]]) -> None:
    """Keep ``video_id`` unique within the part, as the table promises.

    Rows that share a video id (``duplicate_name``, found by `validate_part`) carry
    their full file name as id instead, which is unique in a folder; a row whose id then
    equals such a name (``x.mp4.mp4`` next to ``x``/``x.mp4``) joins them, until none
    clash. Downstream stages skip these rows like any non-ok status.
    """
    while True:
        count = Counter(r["video_id"] for r in rows)
        clash = [
            r
            for r in rows
            if r["video_id"] != r["filename"] and (count[r["video_id"]] > 1 or r["status"] == "duplicate_name")
        ]
        if not clash:
            return
        for row in clash:
            if row["status"] not in ("bad_name", "duplicate_name"):
                row["status"] = "duplicate_name"
                row["status_detail"] = f"its video id {row['video_id']!r} is another file's name in this part"
            row["video_id"] = row["filename"]


def _mark_unusable_originals(rows: list[dict[str, Any]]) -> None:
    """A fake whose original failed its probe cannot be paired: give it a status."""
    by_id = {r["video_id"]: r for r in rows}
    for row in rows:
        if row["status"] == "ok" and row["is_fake"]:
            orig = by_id.get(row["original_id"])
            if orig is None:  # its original became a duplicate_name row (`_unique_ids`)
                row["status"] = "original_unusable"
                row["status_detail"] = f"original {row['original_id']}.mp4 has status duplicate_name"
            elif orig["status"] != "ok":
                row["status"] = "original_unusable"
                row["status_detail"] = f"original {orig['filename']} has status {orig['status']}"


def _mark_rotation_mismatch(rows: list[dict[str, Any]]) -> None:
    """A fake displayed at another rotation than its original (a 180° fake of a 0°
    original): its crops would be cut at windows of a differently turned picture, so it
    gets ``rotation_mismatch`` instead of being paired. (Frames are decoded as displayed,
    `dfmask.video.displayed_rgb`; with equal rotations a coded-size difference is a
    displayed-size difference, which faces reports as ``resolution_mismatch``.)"""
    by_id = {r["video_id"]: r for r in rows}
    for row in rows:
        orig = by_id.get(row["original_id"]) if row["status"] == "ok" and row["is_fake"] else None
        if orig is None or orig["status"] != "ok":
            continue
        rot, orig_rot = int(row.get("rotation") or 0), int(orig.get("rotation") or 0)
        if rot != orig_rot:
            row["status"] = "rotation_mismatch"
            row["status_detail"] = f"fake is displayed rotated {rot}°, its original {orig['filename']} {orig_rot}°"


def _report(part: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    status = Counter(r["status"] for r in rows)
    ok = [r for r in rows if r["status"] == "ok"]
    problems = [
        {"filename": r["filename"], "status": r["status"], "detail": r["status_detail"]}
        for r in rows
        if r["status"] != "ok"
    ]
    # a count and a sample: the table has a row per video, with its status and detail
    return {
        "part": part,
        "videos": len(rows),
        "ok": len(ok),
        "ok_real": sum(1 for r in ok if not r["is_fake"]),
        "ok_fake": sum(1 for r in ok if r["is_fake"]),
        "by_status": dict(sorted(status.items())),
        "problems": sample_list(problems),
        "frames_ok": int(sum(r.get("frames") or 0 for r in ok)),
    }


@dataclass(frozen=True)
class IngestPaths:
    """Where ``ingest@N`` writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    out: Path  # the part's table: <paths.videos>/part=N.parquet
    report: Path  # the part's report: <paths.reports>/ingest/part=N.json
    inventory: Path | None = None  # the part's inventory: <paths.inventory>/part=N.json


@dataclass(frozen=True)
class IngestReport:
    """What `run` wrote: the report document and where it is."""

    doc: dict[str, Any]
    path: Path

    def summary(self) -> str:
        r = self.doc
        bad = r["videos"] - r["ok"]
        return (
            f"part={r['part']}: {r['videos']} videos, {r['ok']} ok ({r['ok_real']} real, "
            f"{r['ok_fake']} fake), {bad} with problems (see {self.path})"
        )


def run(
    params: IngestParams, corpus: CorpusParams, paths: IngestPaths, part: int, compute: ComputeParams | None = None
) -> IngestReport:
    """The ``ingest@part`` stage: `ingest_part` of ``corpus.root``, then its table and report.
    ``compute`` says where the probes run (never recorded: it changes no byte). With
    ``paths.inventory`` (the stage) the part's records and hashes come from there; without
    it the part is listed and hashed here."""
    source = source_of(corpus.sources, part)[0] if corpus.kind == "mixed" else None
    if paths.inventory is not None:
        inventory = PartInventory.read(paths.inventory)
        kind, name = (source.kind, source.name) if source is not None else (corpus.kind, None)
        if (inventory.kind, inventory.source) != (kind, name):
            raise DfmaskError(
                f"{paths.inventory} lists a {inventory.kind} corpus"
                f"{f' (source {inventory.source})' if inventory.source else ''} but the params give part {part} "
                f"to {f'source {name}, a {kind} corpus' if name else f'a {kind} corpus'}; re-run dvc repro"
            )
    else:
        inventory = list_part(adapter_from(corpus), corpus.root, part)
    result = ingest_part(corpus.root, part, probe_decode=params.probe_decode, compute=compute, inventory=inventory)
    # not corpus.root: where the corpus lives does not shape the table (no paths in data);
    # not corpus.parts: the other parts do not shape this part's table, and ingest@N does
    # not re-run when a part is added, so recording them would make a table built before
    # the addition differ from a fresh machine's
    recorded: dict[str, Any] = {}
    if source is not None:  # what the inventory says of this part only (ingest@N's deps)
        recorded.update(kind="mixed", source=inventory.source, source_kind=inventory.kind)
    elif corpus.kind != "dfdc":
        recorded.update(
            kind=corpus.kind,
            qualities=list(corpus.qualities),
            label_policy=corpus.label_policy,
            originals_root=corpus.originals_root,
        )
    write_table(
        result.table,
        paths.out,
        spec_for(corpus.kind),
        stage=f"ingest@{part}",
        params={"corpus": recorded, "ingest": to_dict(params)},
    )
    write_json(paths.report, result.report)
    return IngestReport(result.report, paths.report)


def check_corpus(tables: Mapping[int, pa.Table] | Iterable[pa.Table]) -> dict[str, Any]:
    """Whole-corpus checks on the ingest tables of all parts.

    Raises:
        DfmaskError: a video name occurs in two parts (ids must be unique corpus-wide).

    Returns:
        A report with, for fakes whose original is not in their own part, where it is
        (``original_in_other_part``) or that it exists nowhere (``original_missing``).
    """
    items = list(tables.values()) if isinstance(tables, Mapping) else list(tables)
    seen: dict[str, int] = {}
    for table in items:
        for vid, part in zip(table.column("video_id").to_pylist(), table.column("part").to_pylist(), strict=True):
            if vid in seen and seen[vid] != part:
                raise DfmaskError(
                    f"video name {vid}.mp4 appears in both dfdc_train_part_{seen[vid]} and "
                    f"dfdc_train_part_{part}; video names must be unique across the corpus"
                )
            seen[vid] = part
    cross: list[dict[str, Any]] = []
    for table in items:
        for row in table.to_pylist():
            if row["status"] == "original_not_in_part":
                where = seen.get(row["original_id"])
                cross.append(
                    {
                        "video_id": row["video_id"],
                        "part": row["part"],
                        "original_id": row["original_id"],
                        "status": "original_in_other_part" if where is not None else "original_missing",
                        "original_part": where,
                    }
                )
    return {"videos": len(seen), "cross_part_originals": cross}
