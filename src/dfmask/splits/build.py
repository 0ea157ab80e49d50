"""The split stage (`run`): videos + embeddings in, the splits table and report out."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dfmask.errors import DfmaskError
from dfmask.identity.cluster import track_means
from dfmask.params import BaseParams, CorpusParams, SplitParams, to_dict
from dfmask.schemas.embeddings import read_embeddings
from dfmask.schemas.splits import SPLITS
from dfmask.schemas.videos import VIDEOS, read_corpus_videos, read_sources, read_videos
from dfmask.splits.assign import SPLIT_NAMES, Assignment, Group, assign_groups, group_position
from dfmask.splits.audit import audit, compare_assignments
from dfmask.splits.groups import (
    DonorMatch,
    Identities,
    Video,
    build_identities,
    check_unique_names,
    group_videos,
    match_donors,
)
from dfmask.tables import part_path, read_table, to_table, write_json, write_table


def _stats(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values, np.float64)
    return {
        "min": round(float(arr.min()), 4),
        "median": round(float(np.median(arr)), 4),
        "max": round(float(arr.max()), 4),
    }


def build_splits(
    videos: Sequence[Video],
    embeddings: pa.Table,
    params: SplitParams,
    seed: int,
    copies: Sequence[tuple[str, str]] = (),
    official: Mapping[str, str] | None = None,
    known: Sequence[tuple[str, str, str]] = (),
    sources: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[tuple[str, str, str]]]:
    """The split rows, the report and the identity links (for the audit).

    ``copies`` are (video_id, corpus group) pairs from the ingest tables' ``group_id``
    column (FaceForensics++ c23 and c40 copies of one video): videos of one corpus group
    are always in one split group. ``official`` (``split.official``) maps video ids to the
    corpus's own split: those videos take it, the others keep dfmask's, and the report's
    ``official`` section counts both (the audit then measures what the official splits leak).
    ``known`` are (video_id, identity, role) from the ingest tables' ``identity`` (role
    ``target``) and ``donor_identity`` (``donor``) columns, the people a corpus names
    (`known_identities`): every video of a named target identity is in one split group,
    besides the embedding clusters; a named donor is audited but joins no group (on
    Celeb-DF, where every celebrity is swapped onto others, it would join them all).
    ``sources`` maps video ids to their ``corpus.sources`` name (a mixed run): the report
    counts each source's videos per split, and the groups holding a video of a source in
    ``params.holdout_sources`` are all test, the others assigned without them (`_holdout`).
    """
    check_unique_names(videos)
    tracks = track_means(embeddings)
    originals = tracks.select([not f for f in tracks.is_fake])
    fakes = tracks.select(tracks.is_fake)
    ids = build_identities(originals, params.distance_threshold, params.linkage)
    matches = match_donors(fakes, originals, ids, params.donor_min_cosine, params.donor_min_shift)

    by_id = {v.video_id: v for v in videos}
    track_rows = {(k[1], k[2]): n for k, n in zip(originals.keys, originals.rows, strict=True)}
    # target links: an original shows its tracks' identities, and so do its fakes
    own: dict[str, list[str]] = defaultdict(list)
    for (video_id, _track), identity in sorted(ids.track_identity.items()):
        own[video_id].append(identity)
    links: list[tuple[str, str, str]] = []
    for v in videos:
        source = v.original_id if v.is_fake else v.video_id
        links.extend((v.video_id, i, "target") for i in own.get(source or "", []))
    donor_of: dict[str, tuple[float, str]] = {}
    donor_links: list[tuple[str, str]] = []
    for m in matches:
        if m.status == "donor" and m.identity_id is not None and m.video_id in by_id:
            donor_links.append((m.video_id, m.identity_id))
            best = donor_of.get(m.video_id)
            if best is None or (-(m.cosine or 0.0), m.identity_id) < best:
                donor_of[m.video_id] = (-(m.cosine or 0.0), m.identity_id)
    links.extend(_donor_roles(donor_links, by_id, own, params.donor_min_fakes))
    grouping = [(v, i) for v, i, role in links if role == "target" or (role == "donor" and params.donor_aware)]
    grouping += [(v, "copies:" + g) for v, g in copies]
    weak_matches = sum(1 for _, _, role in links if role == "donor_weak")  # the embedding's
    named = [(v, "known:" + i, role) for v, i, role in known if v in by_id]
    grouping += [(v, i) for v, i, role in named if role == "target"]
    # the audit holds named targets like clustered ones; a named donor is a weak link
    links.extend((v, i, "target" if role == "target" else "donor_weak") for v, i, role in named)
    group_of = group_videos(videos, grouping)

    tracks_by_video: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for (vid, t), n in track_rows.items():
        if (vid, t) in ids.track_identity:
            tracks_by_video[vid].append((t, n))

    def main_identity(video_id: str | None) -> str | None:
        """The identity of the video's longest track (most face rows; ties: lowest id)."""
        candidates = tracks_by_video.get(video_id or "")
        if not candidates:
            return None
        t = min(candidates, key=lambda tn: (-tn[1], tn[0]))[0]
        return ids.track_identity[(video_id or "", t)]

    members: dict[str, list[Video]] = defaultdict(list)
    for v in videos:
        members[group_of[v.video_id]].append(v)
    groups = [
        Group(
            g,
            len(vs),
            sum(not v.is_fake for v in vs),
            sum(v.is_fake for v in vs),
            group_position(g[2:], seed),
        )
        for g, vs in sorted(members.items())
    ]
    held = _held_groups(members, sources or {}, params.holdout_sources)
    try:
        free = [g for g in groups if g.group_id not in held]
        assignment = assign_groups(free, params.ratios, params.min_groups_per_split)
    except DfmaskError as err:
        if not held:
            raise
        raise DfmaskError(
            f"split.holdout_sources {', '.join(params.holdout_sources)}: {len(held)} of {len(groups)} groups hold "
            f"their videos (all test), and the rest cannot fill train, val and test: {err}"
        ) from err
    assignment.split.update(dict.fromkeys(held, "test"))
    rows = []
    for v in sorted(videos, key=lambda v: (v.part, v.video_id)):
        donor = donor_of.get(v.video_id)
        rows.append(
            {
                "part": v.part,
                "video_id": v.video_id,
                "original_id": v.original_id,
                "is_fake": v.is_fake,
                "group_id": group_of[v.video_id],
                "identity_id": main_identity(v.original_id if v.is_fake else v.video_id),
                "donor_identity_id": donor[1] if donor else None,
                "split": assignment.split[group_of[v.video_id]],
            }
        )
    # a held-out source's groups stay test, whatever a corpus's own split says
    honoured = _honour_official(rows, official, held) if official is not None else None
    report = _report(videos, rows, groups, ids, matches, assignment, params)
    report["donor_matches"]["weak_links"] = weak_matches  # a corpus's named donors: known_identities
    if named:
        report["known_identities"] = {
            "source": "the corpus's identity / donor_identity columns (ingest tables)",
            "videos_with_target": len({v for v, _, role in named if role == "target"}),
            "targets": len({i for _, i, role in named if role == "target"}),
            "videos_with_donor": len({v for v, _, role in named if role == "donor"}),
            "donors": len({i for _, i, role in named if role == "donor"}),
            "grouped": "targets (every video of one named person in one split group); donors audited only",
        }
    if honoured is not None:
        report["official"] = honoured
    if sources:
        report["by_source"] = _by_source(rows, sources)
    if params.holdout_sources:
        report["holdout"] = _holdout(rows, sources or {}, params.holdout_sources, held)
    return rows, report, links


def _held_groups(
    members: Mapping[str, Sequence[Video]], sources: Mapping[str, str], holdout: Sequence[str]
) -> set[str]:
    """The groups holding a video of a held-out source (they go to test whole)."""
    out = set(holdout)
    return {g for g, vs in members.items() if any(sources.get(v.video_id) in out for v in vs)}


def _by_source(rows: Sequence[dict[str, Any]], sources: Mapping[str, str]) -> dict[str, Any]:
    """Each source's videos per split, and the groups that hold videos of several sources."""
    out: dict[str, Any] = {}
    for name in sorted(set(sources.values())):
        mine = [r for r in rows if sources.get(r["video_id"]) == name]
        out[name] = {s: sum(r["split"] == s for r in mine) for s in SPLIT_NAMES}
    spanning: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        spanning[r["group_id"]].add(sources.get(r["video_id"], "?"))
    return {"videos": out, "groups_across_sources": sum(len(v) > 1 for v in spanning.values())}


def _holdout(
    rows: Sequence[dict[str, Any]], sources: Mapping[str, str], holdout: Sequence[str], held: set[str]
) -> dict[str, Any]:
    """What holding sources out for test did: their videos, and the other sources' videos
    that went to test with them because they share a group (a person in both)."""
    out = set(holdout)
    pulled = [r for r in rows if r["group_id"] in held and sources.get(r["video_id"]) not in out]
    return {
        "sources": list(holdout),
        "meaning": "every video of these sources is test, and so is every group they share with another "
        "source; the other groups were split without them (cross-corpus evaluation)",
        "videos": sum(sources.get(r["video_id"]) in out for r in rows),
        "groups": len(held),
        "other_source_videos_moved_to_test": len(pulled),
        "examples": sorted(r["video_id"] for r in pulled)[:10],
    }


def _honour_official(
    rows: list[dict[str, Any]], official: Mapping[str, str], held: AbstractSet[str] = frozenset()
) -> dict[str, Any]:
    """Give each row its corpus's own split where it has one (in place), but for the rows
    of ``held`` groups (`split.holdout_sources`: test whatever); the counts."""
    taken = changed = kept_held = 0
    unknown: Counter[str] = Counter()
    for row in rows:
        split = official.get(row["video_id"])
        if row["group_id"] in held:
            kept_held += split is not None
            continue
        if split in SPLIT_NAMES:
            taken += 1
            changed += split != row["split"]
            row["split"] = split
        elif split is not None:
            unknown[str(split)] += 1
    out: dict[str, Any] = {
        "honoured": True,
        "videos_with_official_split": taken,
        "videos_moved_from_dfmask_split": changed,
        "videos_with_dfmask_split": len(rows) - taken - kept_held,
        "unknown_official_values": dict(sorted(unknown.items())),
    }
    if held:  # split.holdout_sources: counted only where there is one
        out["videos_held_out_despite_official_split"] = kept_held
    return out


def read_official(parts: Sequence[int], videos_dir: Path) -> dict[str, str]:
    """video_id → the corpus's own split, from the ingest tables: ``official_split`` (a
    corpus other than DFDC), DFDC's ``dfdc_split`` (metadata.json's ``split``)."""
    out: dict[str, str] = {}
    # dfdc_split is null outside DFDC; official_split exists only outside it
    for table in (
        read_videos(videos_dir, parts, ["video_id", "dfdc_split"]).rename_columns(["video_id", "split"]),
        read_corpus_videos(videos_dir, parts, ["video_id", "official_split"]),
    ):
        if table is not None:
            ids, splits = (c.to_pylist() for c in table.columns)
            out.update({v: s for v, s in zip(ids, splits, strict=True) if s is not None})
    return out


def _report(
    videos: Sequence[Video],
    rows: Sequence[dict[str, Any]],
    groups: Sequence[Group],
    ids: Identities,
    matches: Sequence[DonorMatch],
    assignment: Assignment,
    params: SplitParams,
) -> dict[str, Any]:
    originals = [r for r in rows if not r["is_fake"]]
    per_identity = Counter(r["identity_id"] for r in originals if r["identity_id"])
    per_split: dict[str, Any] = {}
    for s in SPLIT_NAMES:
        in_s = [r for r in rows if r["split"] == s]
        per_split[s] = {
            "videos": len(in_s),
            "real": sum(not r["is_fake"] for r in in_s),
            "fake": sum(bool(r["is_fake"]) for r in in_s),
            "groups": len({r["group_id"] for r in in_s}),
            "identities": len({r["identity_id"] for r in in_s if r["identity_id"]}),
            "share": round(len(in_s) / max(len(rows), 1), 4),
        }
    status_counts = Counter(m.status for m in matches)
    cosines: dict[str, list[float]] = defaultdict(list)
    shifts: dict[str, list[float]] = defaultdict(list)
    distances: dict[str, list[float]] = defaultdict(list)
    for m in matches:
        if m.distance is not None:
            distances[m.status].append(m.distance)
        if m.cosine is not None:
            cosines[m.status].append(m.cosine)
        if m.shift is not None:
            shifts[m.status].append(m.shift)
    sizes = sorted((g.videos for g in groups), reverse=True)
    return {
        "videos": len(rows),
        "parts": sorted({v.part for v in videos}),
        "real": len(originals),
        "fake": len(rows) - len(originals),
        "groups": len(groups),
        "group_sizes": {"largest": sizes[:10], **(_stats(sizes) or {})},
        "identities": len(ids.centroids),
        "originals_with_identity": sum(1 for r in originals if r["identity_id"]),
        "originals_without_faces": sum(1 for r in originals if not r["identity_id"]),
        "originals_merged_by_identity": sum(n for n in per_identity.values() if n > 1),
        "target_ratios": dict(zip(SPLIT_NAMES, params.ratios, strict=True)),
        "splits": per_split,
        "min_groups_per_split": assignment.min_groups,
        "repairs": assignment.repairs,
        "donor_matches": {
            "fake_tracks": len(matches),
            "matched": status_counts.get("donor", 0),
            "unchanged": status_counts.get("unchanged", 0),
            "unmatched": sum(status_counts.get(s, 0) for s in ("unmatched", "no_original_track", "no_identities")),
            "statuses": dict(sorted(status_counts.items())),
            "best_cosine": {s: _stats(c) for s, c in sorted(cosines.items())},
            "shift": {s: _stats(d) for s, d in sorted(shifts.items())},
            "distance_to_identity": {s: _stats(d) for s, d in sorted(distances.items())},
            "fakes_with_donor": sum(1 for r in rows if r["donor_identity_id"]),
            "donor_min_fakes": params.donor_min_fakes,
            "donor_aware": params.donor_aware,
        },
    }


def _donor_roles(
    donor_links: Sequence[tuple[str, str]],
    by_id: dict[str, Video],
    own: dict[str, list[str]],
    min_fakes: int,
) -> list[tuple[str, str, str]]:
    """(video_id, donor identity, role) of each donor match: ``donor`` when at least
    ``min_fakes`` fake videos show that donor on the same target identities, else
    ``donor_weak``.

    Groups are connected components, so ONE false donor match merges two whole groups:
    on the 9-group default sample of Dec 2026, 4 wrong matches of 242 merged four donor
    groups (227 of 476 videos) into one. A donor swapped onto a target in one fake only is rare in real
    corpora (DFDC made several fakes per pair); a weak link is kept out of the groups
    and reported (``donor_matches.weak_links``, the audit's ``donor_crossings``)."""
    support: dict[tuple[tuple[str, ...], str], set[str]] = defaultdict(set)
    key_of: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {}
    for video_id, identity in donor_links:
        targets = tuple(sorted(set(own.get(by_id[video_id].original_id or "", []))))
        key_of[(video_id, identity)] = (targets, identity)
        support[(targets, identity)].add(video_id)
    return [(v, i, "donor" if len(support[key_of[(v, i)]]) >= min_fakes else "donor_weak") for v, i in donor_links]


#: Ingest rows that never enter the splits table, and why (counted in the report).
EXCLUDED = {
    "unknown_label": "no REAL/FAKE label (unlisted file, bad or duplicate entry): an unknown label is not REAL",
    "duplicate_name": "another file of the part has the same video id (ingest status duplicate_name)",
}


def _read_videos(
    parts: Sequence[int], videos_dir: Path
) -> tuple[list[Video], dict[int, str], Counter[str], list[tuple[str, str]], list[tuple[str, str, str]]]:
    """The videos to split, their tables by part, the excluded rows by reason, the
    (video_id, corpus group) pairs of groups with several copies, and the identities the
    corpus names, (video_id, identity, ``target`` | ``donor``) (`build_splits`)."""
    videos: list[Video] = []
    sources: dict[int, str] = {}
    excluded: Counter[str] = Counter()
    members: dict[str, list[str]] = defaultdict(list)
    known: list[tuple[str, str, str]] = []
    for part in parts:
        path = part_path(videos_dir, part, ".parquet")
        sources[part] = str(path)
        cols = read_table(path, VIDEOS, ["part", "video_id", "original_id", "is_fake", "status"]).to_pydict()
        if "group_id" in pq.read_schema(path).names:  # a corpus other than DFDC (VIDEOS plus ADAPTER_FIELDS)
            columns = ["video_id", "group_id", "identity", "donor_identity", "is_fake", "status"]
            for row in pq.read_table(path, columns=columns).to_pylist():
                if row["status"] == "duplicate_name" or row["is_fake"] is None:
                    continue
                if row["group_id"]:
                    members[row["group_id"]].append(row["video_id"])
                if row["identity"]:
                    known.append((row["video_id"], row["identity"], "target"))
                if row["donor_identity"]:
                    known.append((row["video_id"], row["donor_identity"], "donor"))
        for p, v, o, f, status in zip(
            cols["part"], cols["video_id"], cols["original_id"], cols["is_fake"], cols["status"], strict=True
        ):
            if status == "duplicate_name":
                excluded["duplicate_name"] += 1
            elif f is None:
                excluded["unknown_label"] += 1
            else:
                videos.append(Video(int(p), v, o, bool(f)))
    check_unique_names(videos, sources)
    copies = sorted((v, g) for g, vs in members.items() if len(vs) > 1 for v in vs)
    return videos, sources, excluded, copies, sorted(known)


@dataclass(frozen=True)
class SplitPaths:
    """Where ``split`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    videos: Path  # paths.videos: the ingest tables, part=N.parquet
    embeddings: Path  # paths.embeddings: the embed tables, part=N.parquet
    out: Path  # paths.splits: the splits table
    report: Path  # <paths.reports>/split.json
    work: Path  # paths.work: the last assignment and its moves are kept in <work>/split/ (outside DVC's outs)


@dataclass(frozen=True)
class SplitReport:
    """What `run` wrote: the report document and where it is, and the moves against the
    last run on this machine (`compare_assignments`; also in ``<work>/split/moves.json``,
    never in the report: an output must not depend on what ran before)."""

    doc: dict[str, Any]
    path: Path
    moves: dict[str, Any]

    def summary(self) -> str:
        s = self.doc["splits"]
        audit_doc = self.doc["audit"]
        moves = self.moves
        moved = (
            f"; against the last run here {moves['moved']} moved, {moves['added']} added, {moves['removed']} removed"
            if moves.get("previous")
            else ""
        )
        return (
            f"{self.doc['videos']} videos in {self.doc['groups']} groups, {self.doc['identities']} "
            f"identities → train {s['train']['videos']} / val {s['val']['videos']} / test "
            f"{s['test']['videos']}; audit {'ok' if audit_doc['ok'] else 'FAILED'} "
            f"({audit_doc['leaks']} leaks{', from the official splits' if 'official' in self.doc else ''}){moved}"
        )


def run(params: SplitParams, corpus: CorpusParams, base: BaseParams, paths: SplitPaths) -> SplitReport:
    """The ``split`` stage over ``corpus.parts``. Raises `DfmaskError` on duplicate names
    or a failed audit.

    ``<paths.work>/split/`` keeps a copy of the last written splits table (outside DVC's
    outs, which DVC deletes before a run) so that moves can be reported: in the summary
    and ``<paths.work>/split/moves.json``, not in the report, whose bytes depend on the
    inputs and params alone (a fresh clone's run and a machine's tenth write the same).
    """
    parts, seed, out, report_path = corpus.parts, base.seed, paths.out, paths.report
    last, moves_path = Path(paths.work) / "split" / "splits.parquet", Path(paths.work) / "split" / "moves.json"
    moves_path.unlink(missing_ok=True)  # a run that stops before it writes leaves no older run's moves
    videos, _, excluded, copies, known = _read_videos(parts, Path(paths.videos))
    embeddings = read_embeddings(paths.embeddings, parts)
    official = read_official(parts, Path(paths.videos)) if params.official else None
    sources = read_sources(paths.videos, parts)
    names = set((sources or {}).values())
    unknown = sorted(set(params.holdout_sources) - names)
    if unknown:
        raise DfmaskError(
            f"split.holdout_sources: {unknown[0]} is not a source of the ingest tables (they hold: "
            f"{', '.join(sorted(names)) or 'one corpus, corpus.kind is not mixed'})"
        )
    rows, report, links = build_splits(videos, embeddings, params, seed, copies, official, known, sources)
    if official is not None:
        empty = [s for s in SPLIT_NAMES if not any(r["split"] == s for r in rows)]
        if empty:
            raise DfmaskError(
                f"split.official: the corpus's own splits (and dfmask's for videos without one) leave "
                f"{' and '.join(empty)} empty ({report['official']['videos_with_official_split']} of {len(rows)} "
                "videos have an official split; DFDC's metadata.json says 'train' for every training video); "
                "set split.official: false"
            )
    report["excluded"] = {
        "videos": sum(excluded.values()),
        "by_reason": {k: excluded[k] for k in EXCLUDED},
        "reason_meaning": EXCLUDED,
    }
    result = audit(rows, links, donors_count=params.donor_aware)
    report["audit"] = result
    if official is not None:  # the corpus's own splits may leak: reported, not refused
        result["source"] = "split.official: what the corpus's own splits leak (not a dfmask bug)"
    elif not result["ok"]:
        raise DfmaskError(
            f"split: leak audit failed ({result['leaks']} leaks): "
            + "; ".join(result["examples"])
            + f". This is a bug in dfmask.splits; please report it with {report_path}"
        )
    previous = pq.read_table(last).to_pylist() if last.exists() else None
    moves = compare_assignments(previous, rows)
    table = to_table(SPLITS, rows)
    recorded = to_dict(params)
    if not params.holdout_sources:  # a run without a held-out source keeps its table's bytes
        del recorded["holdout_sources"]
    stage_params = {"split": recorded, "base.seed": seed, "corpus.parts": list(parts)}
    extra = {"scikit-learn": importlib.metadata.version("scikit-learn")}
    write_table(table, out, SPLITS, stage="split", params=stage_params, extra=extra)
    write_json(report_path, report)
    last.parent.mkdir(parents=True, exist_ok=True)
    tmp = last.with_suffix(".tmp")
    shutil.copyfile(out, tmp)
    os.replace(tmp, last)
    write_json(moves_path, moves)
    return SplitReport(report, Path(report_path), moves)
