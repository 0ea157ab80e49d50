"""Tests of dfmask.splits on synthetic embeddings: grouping, donors, stable and
stratified assignment, the leak audit, moves, and the stage's I/O."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dfmask.errors import DfmaskError
from dfmask.params import BaseParams, CorpusParams, SplitParams
from dfmask.schemas.embeddings import EMBEDDINGS
from dfmask.schemas.videos import VIDEOS
from dfmask.splits import (
    SPLIT_NAMES,
    Group,
    Video,
    assign_groups,
    audit,
    build_splits,
    check_unique_names,
    group_position,
    group_videos,
)
from dfmask.splits.audit import compare_assignments
from dfmask.splits.build import SplitPaths, run
from dfmask.tables import read_table, write_table

# ------------------------------------------------------------------------ a synthetic corpus

DIM = 128


class Corpus:
    """Actors with a face vector each; originals (one face track) and fakes.

    A fake of actor A's original with donor D shows D's face: its embeddings sit near
    D's vector. Actors come in donor pairs (closed under swapping), like the sample.
    """

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.faces: dict[str, np.ndarray] = {}
        self.videos: list[Video] = []
        self.actor: dict[str, str] = {}  # video → target actor
        self.donor: dict[str, str] = {}  # fake → donor actor
        self.emb_rows: list[dict] = []
        self.frames: dict[str, np.ndarray] = {}  # original → its crops' embeddings

    def face(self, actor: str) -> np.ndarray:
        if actor not in self.faces:
            v = self.rng.normal(size=DIM)
            self.faces[actor] = 0.75 * v / np.linalg.norm(v)  # actors ~1.06 apart
        return self.faces[actor]

    def _rows(self, part: int, video: str, original: str | None, vecs: np.ndarray) -> None:
        for frame, vec in enumerate(vecs):
            self.emb_rows.append(
                {
                    "part": part,
                    "video_id": video,
                    "original_id": original,
                    "is_fake": original is not None,
                    "track_id": 0,
                    "frame_idx": frame * 10,
                    "track_rows": 30,
                    "prob": 0.99,
                    "status": "ok",
                    "embedding": vec.astype(np.float32).tolist(),
                }
            )

    def original(self, part: int, video: str, actor: str, faces: bool = True) -> None:
        self.videos.append(Video(part, video, None, False))
        self.actor[video] = actor
        if faces:
            noise = self.rng.normal(scale=0.12 / np.sqrt(DIM), size=(3, DIM))
            self.frames[video] = self.face(actor) + noise
            self._rows(part, video, None, self.frames[video])

    def fake(self, part: int, video: str, original: str, donor: str, strength: float = 0.6) -> None:
        """A swap on the original's own frames: its embeddings move ``strength`` of the
        way from the target's face towards the donor's (a blend keeps the head)."""
        self.videos.append(Video(part, video, original, True))
        self.actor[video] = self.actor[original]
        self.donor[video] = donor
        move = strength * (self.face(donor) - self.face(self.actor[original]))
        noise = self.rng.normal(scale=0.02 / np.sqrt(DIM), size=(3, DIM))
        self._rows(part, video, original, self.frames[original] + move + noise)

    def add_pairs(self, part: int, n_pairs: int, prefix: str, originals: int = 2) -> None:
        """``n_pairs`` donor pairs (a, b): each actor has ``originals`` originals, each
        original one fake with the partner's face."""
        for p in range(n_pairs):
            a, b = f"{prefix}{p}a", f"{prefix}{p}b"
            for actor, partner in ((a, b), (b, a)):
                for k in range(originals):
                    vid = f"{actor}_o{k}"
                    self.original(part, vid, actor)
                    self.fake(part, f"{actor}_f{k}", vid, partner)

    def embeddings(self, parts: set[int] | None = None) -> pa.Table:
        rows = [r for r in self.emb_rows if parts is None or r["part"] in parts]
        return pa.Table.from_pylist(rows, schema=EMBEDDINGS.schema)

    def subset(self, parts: set[int]) -> list[Video]:
        return [v for v in self.videos if v.part in parts]


def true_leaks(corpus: Corpus, rows: list[dict]) -> int:
    """Actors (target or donor) whose faces appear in two splits, by TRUE identity."""
    splits: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        splits[corpus.actor[r["video_id"]]].add(r["split"])
        if r["video_id"] in corpus.donor:
            splits[corpus.donor[r["video_id"]]].add(r["split"])
    return sum(len(s) > 1 for s in splits.values())


# ------------------------------------------------------------------------ grouping


def test_group_videos_union_find() -> None:
    videos = [
        Video(0, "b_orig", None, False),
        Video(0, "z_fake", "b_orig", True),
        Video(0, "a_orig", None, False),
        Video(0, "c_orig", None, False),
        Video(0, "y_fake", "missing", True),  # original absent: its own group
    ]
    groups = group_videos(videos, [("b_orig", "id1"), ("c_orig", "id1")])
    assert groups == {
        "a_orig": "g-a_orig",
        "b_orig": "g-b_orig",
        "c_orig": "g-b_orig",  # same identity as b_orig
        "z_fake": "g-b_orig",  # follows its original
        "y_fake": "g-y_fake",
    }


def test_duplicate_video_names_across_parts_fail_clearly() -> None:
    videos = [Video(0, "abc", None, False), Video(3, "abc", None, False)]
    with pytest.raises(DfmaskError, match=r"'abc' appears in part 0 and part 3 \(p0.parquet and p3"):
        check_unique_names(videos, {0: "p0.parquet", 3: "p3.parquet"})


def test_build_splits_no_true_leaks_and_donors_matched() -> None:
    """14 actors in donor pairs, two originals each: identities are recovered, every
    fake's donor is matched, and no TRUE actor (target or donor) spans two splits."""
    corpus = Corpus()
    corpus.add_pairs(0, 7, "p")
    rows, report, links = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), seed=0)
    assert report["identities"] == 14
    assert report["originals_merged_by_identity"] == 28
    assert report["groups"] == 7  # one per donor pair
    dm = report["donor_matches"]
    assert dm["matched"] == 28 and dm["unmatched"] == 0 and dm["unchanged"] == 0
    for r in rows:
        if r["is_fake"]:
            donor_actor = corpus.donor[r["video_id"]]
            assert r["donor_identity_id"] == f"id-{donor_actor}_o0-t0"
            assert r["identity_id"] == f"id-{corpus.actor[r['video_id']]}_o0-t0"
    assert true_leaks(corpus, rows) == 0
    assert audit(rows, links)["ok"]
    for s in SPLIT_NAMES:
        got = report["splits"][s]
        assert got["real"] > 0 and got["fake"] > 0 and got["groups"] >= 2


def test_donor_unaware_groups_leak_donors_and_audit_says_so() -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 7, "p")
    params = SplitParams(donor_aware=False)
    rows, report, links = build_splits(corpus.videos, corpus.embeddings(), params, seed=0)
    assert report["groups"] == 14  # one per actor
    result = audit(rows, links, donors_count=False)
    assert result["ok"] and result["donor_crossings"] == true_leaks(corpus, rows) > 0
    assert not audit(rows, links, donors_count=True)["ok"]


def test_unmatched_and_target_like_fakes() -> None:
    """A donor without originals in the corpus is unmatched; a failed swap (the face
    did not change) is unchanged; neither gets a donor."""
    corpus = Corpus()
    corpus.add_pairs(0, 3, "p")
    corpus.original(0, "solo_o0", "solo")
    corpus.fake(0, "solo_f0", "solo_o0", "stranger")
    corpus.fake(0, "solo_f1", "solo_o0", "solo")
    rows, report, _ = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), seed=0)
    dm = report["donor_matches"]
    assert (dm["unmatched"], dm["unchanged"], dm["matched"]) == (1, 1, 12)
    donor = {r["video_id"]: r["donor_identity_id"] for r in rows}
    assert donor["solo_f0"] is None and donor["solo_f1"] is None


def test_videos_without_faces_follow_their_group() -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 4, "p")
    corpus.original(0, "noface_o", "ghost", faces=False)
    corpus.videos.append(Video(0, "noface_f", "noface_o", True))
    corpus.actor["noface_f"] = "ghost"
    corpus.add_pairs(0, 2, "q")  # enough fake groups for three splits
    rows, report, _ = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), seed=0)
    by = {r["video_id"]: r for r in rows}
    assert by["noface_o"]["identity_id"] is None and by["noface_f"]["group_id"] == "g-noface_f"
    assert by["noface_f"]["split"] == by["noface_o"]["split"]
    assert report["originals_without_faces"] == 1 and len(rows) == len(corpus.videos)


# ------------------------------------------------------------------------ assignment


def _groups(n: int, prefix: str = "g", fakes: bool = True) -> list[Group]:
    return [Group(f"{prefix}{i:04d}", 4, 2, 2 if fakes else 0, group_position(f"{prefix}{i:04d}", 0)) for i in range(n)]


def test_assignment_is_stable_when_groups_are_added() -> None:
    before = assign_groups(_groups(60), (0.7, 0.15, 0.15), 2)
    after = assign_groups(_groups(60) + _groups(200, "new"), (0.7, 0.15, 0.15), 2)
    assert before.repairs == [] and after.repairs == []
    assert all(after.split[g] == s for g, s in before.split.items())


def test_assignment_ratios_with_many_groups() -> None:
    result = assign_groups(_groups(3000), (0.7, 0.15, 0.15), 2)
    shares = np.array([sum(s == name for s in result.split.values()) for name in SPLIT_NAMES]) / 3000
    np.testing.assert_allclose(shares, [0.7, 0.15, 0.15], atol=0.025)


def test_assignment_repairs_stratification_with_few_groups() -> None:
    """With 7 groups, only 3 of which hold fakes, every split still gets REAL and FAKE
    videos and >= 2 groups; the repairs are few and reported."""
    groups = _groups(3, "f") + _groups(4, "r", fakes=False)
    for seed in range(20):
        groups = [Group(g.group_id, g.videos, g.reals, g.fakes, group_position(g.group_id, seed)) for g in groups]
        result = assign_groups(groups, (0.7, 0.15, 0.15), 2)
        for s in SPLIT_NAMES:
            members = [g for g in groups if result.split[g.group_id] == s]
            assert any(g.fakes for g in members) and any(g.reals for g in members)
            assert len(members) >= 2
        assert len(result.repairs) <= 5


def test_assignment_fails_clearly_when_impossible() -> None:
    groups = _groups(2) + _groups(5, "r", fakes=False)
    with pytest.raises(DfmaskError, match="only 7 with real and 2 with fake"):
        assign_groups(groups, (0.7, 0.15, 0.15), 2)
    # (split.ratios that do not sum to 1 fail at load: tests/test_params.py)


def test_adding_a_part_moves_no_unchanged_group() -> None:
    """Part 1 brings new actors: every part-0 group keeps its id, and keeps its split
    unless a stratification repair (reported) moved it in either run."""
    corpus = Corpus()
    corpus.add_pairs(0, 12, "p")
    corpus.add_pairs(1, 12, "q")
    params = SplitParams()
    rows0, rep0, _ = build_splits(corpus.subset({0}), corpus.embeddings({0}), params, 0)
    rows01, rep01, _ = build_splits(corpus.videos, corpus.embeddings(), params, 0)
    repaired = {r["group_id"] for r in rep0["repairs"] + rep01["repairs"]}
    after = {r["video_id"]: (r["split"], r["group_id"]) for r in rows01}
    assert all(after[r["video_id"]][1] == r["group_id"] for r in rows0)
    unchanged = [r for r in rows0 if r["group_id"] not in repaired]
    assert len(unchanged) >= len(rows0) // 2
    assert all(after[r["video_id"]][0] == r["split"] for r in unchanged)
    moves = compare_assignments(rows0, rows01)
    assert moves["moved_group_changed"] == 0 and moves["moved"] == moves["moved_rebalanced"]
    assert moves["moved"] == sum(after[r["video_id"]][0] != r["split"] for r in rows0)
    assert moves["added"] == len(corpus.subset({1})) and moves["removed"] == 0


def test_moves_report_group_changes() -> None:
    prev = [
        {"video_id": "a", "split": "train", "group_id": "g-a"},
        {"video_id": "b", "split": "val", "group_id": "g-b"},
    ]
    cur = [{"video_id": "a", "split": "val", "group_id": "g-0"}, {"video_id": "b", "split": "test", "group_id": "g-b"}]
    moves = compare_assignments(prev, cur)
    assert (moves["moved"], moves["moved_group_changed"], moves["moved_rebalanced"]) == (2, 1, 1)
    assert compare_assignments(None, cur) == {"previous": False}


# ------------------------------------------------------------------------ audit


def test_audit_catches_planted_leaks() -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 7, "p")
    rows, _, links = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), seed=0)
    assert audit(rows, links) == {
        "ok": True,
        "leaks": 0,
        "group_leaks": 0,
        "fake_original_leaks": 0,
        "identity_leaks": 0,
        "donor_crossings": 0,
        "examples": [],
    }
    # 1. move one fake away from its original (and so from its group)
    planted = [dict(r) for r in rows]
    fake = next(r for r in planted if r["is_fake"])
    fake["split"] = next(s for s in SPLIT_NAMES if s != fake["split"])
    result = audit(planted, links)
    assert not result["ok"] and result["group_leaks"] == 1 and result["fake_original_leaks"] == 1
    # 2. a second original of one identity in another group and split
    planted = [dict(r) for r in rows]
    orig = next(r for r in planted if not r["is_fake"])
    twin = {**orig, "video_id": "twin", "group_id": "g-twin"}
    twin["split"] = next(s for s in SPLIT_NAMES if s != orig["split"])
    result = audit([*planted, twin], [*links, ("twin", orig["identity_id"], "target")])
    assert not result["ok"] and result["identity_leaks"] == 1 and result["group_leaks"] == 0
    # 3. a donor link into another split
    other = next(r for r in rows if r["split"] != orig["split"])
    result = audit(rows, [*links, (other["video_id"], orig["identity_id"], "donor")])
    assert not result["ok"] and result["identity_leaks"] == 1


# ------------------------------------------------------------------------ stage I/O


def _write_inputs(corpus: Corpus, root: Path, parts: list[int]) -> None:
    for part in parts:
        rows = [
            {
                "part": v.part,
                "video_id": v.video_id,
                "filename": v.video_id + ".mp4",
                "path": f"dfdc_train_part_{part}/{v.video_id}.mp4",
                "label": "FAKE" if v.is_fake else "REAL",
                "is_fake": v.is_fake,
                "original_id": v.original_id,
                "status": "ok",
            }
            for v in corpus.subset({part})
        ]
        write_table(
            pa.Table.from_pylist(rows, schema=VIDEOS.schema), root / "videos" / f"part={part}.parquet", VIDEOS, "test"
        )
        write_table(corpus.embeddings({part}), root / "emb" / f"part={part}.parquet", EMBEDDINGS, "test")


def run_split(
    parts: list[int],
    videos: Path,
    embeddings: Path,
    out: Path,
    report: Path,
    params: SplitParams,
    seed: int,
    work: Path,
) -> dict:
    """The split stage over ``parts``; its report document (checked against the file and the
    summary) with the moves against the last run (kept outside the report) under ``moves``."""
    paths = SplitPaths(videos, embeddings, out, report, work)
    written = run(params, CorpusParams(parts=tuple(parts)), BaseParams(seed=seed), paths)
    assert json.loads(report.read_text()) == written.doc and "moves" not in written.doc
    assert json.loads((work / "split" / "moves.json").read_text()) == written.moves
    assert written.summary().startswith(f"{written.doc['videos']} videos in {written.doc['groups']} groups, ")
    if written.moves["previous"]:
        assert f"{written.moves['moved']} moved, {written.moves['added']} added" in written.summary()
    return {**written.doc, "moves": written.moves}


def test_run_split_is_deterministic_and_reports_moves(tmp_path: Path) -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 8, "p")
    corpus.add_pairs(1, 8, "q")
    _write_inputs(corpus, tmp_path, [0, 1])
    args = (tmp_path / "videos", tmp_path / "emb")
    state = tmp_path / "state"
    rep = run_split([0], *args, tmp_path / "a.parquet", tmp_path / "a.json", SplitParams(), 0, state)
    assert rep["moves"] == {"previous": False} and rep["audit"]["ok"]
    rep = run_split([0, 1], *args, tmp_path / "b.parquet", tmp_path / "b.json", SplitParams(), 0, state)
    assert rep["moves"]["previous"] and rep["moves"]["added"] == len(corpus.subset({1}))
    # part 1 holds new actors only: no part-0 group changed, so only a stratification
    # repair could have moved anything, and each such move is reported as one
    assert rep["moves"]["moved_group_changed"] == 0
    assert rep["moves"]["moved"] == rep["moves"]["moved_rebalanced"]
    run_split([0, 1], *args, tmp_path / "c.parquet", tmp_path / "c.json", SplitParams(), 0, state)
    assert (tmp_path / "b.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    # the report does not depend on what ran before: a first run writes the same bytes
    run_split([0, 1], *args, tmp_path / "d.parquet", tmp_path / "d.json", SplitParams(), 0, tmp_path / "fresh")
    assert (tmp_path / "d.json").read_bytes() == (tmp_path / "c.json").read_bytes()
    assert (tmp_path / "d.parquet").read_bytes() == (tmp_path / "c.parquet").read_bytes()
    # a run that stops before writing leaves no moves of the run before it behind
    assert (state / "split" / "moves.json").exists()
    with pytest.raises(DfmaskError, match="split.holdout_sources: nope"):
        run_split(
            [0, 1], *args, tmp_path / "e.parquet", tmp_path / "e.json", SplitParams(holdout_sources=("nope",)), 0, state
        )
    assert not (state / "split" / "moves.json").exists()
    table = pq.read_table(tmp_path / "c.parquet")
    assert table.num_rows == len(corpus.videos) and table.column_names == [f.name for f in table.schema]


def test_run_split_duplicate_names_across_parts(tmp_path: Path) -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 4, "p")
    corpus.add_pairs(1, 4, "q")
    corpus.videos.append(Video(1, "p0a_o0", None, False))
    _write_inputs(corpus, tmp_path, [0, 1])
    with pytest.raises(
        DfmaskError, match=r"'p0a_o0' appears in part 0 and part 1 .*part=0.parquet and .*part=1.parquet"
    ):
        run_split(
            [0, 1],
            tmp_path / "videos",
            tmp_path / "emb",
            tmp_path / "o.parquet",
            tmp_path / "o.json",
            SplitParams(),
            0,
            tmp_path / "s",
        )


def test_no_faces_anywhere_groups_by_original_only() -> None:
    """Without any embedding, groups are fake→original links; identities are null."""
    corpus = Corpus()
    for i in range(9):
        corpus.original(0, f"o{i}", f"actor{i}", faces=False)
        corpus.videos.append(Video(0, f"f{i}", f"o{i}", True))
    empty = pa.Table.from_pylist([], schema=EMBEDDINGS.schema)
    rows, report, links = build_splits(corpus.videos, empty, SplitParams(), seed=0)
    assert report["groups"] == 9 and report["identities"] == 0 and links == []
    assert all(r["identity_id"] is None and r["donor_identity_id"] is None for r in rows)
    split = {r["video_id"]: r["split"] for r in rows}
    assert all(split[f"f{i}"] == split[f"o{i}"] for i in range(9))


def test_unknown_label_and_duplicate_names_never_enter_the_split(tmp_path: Path) -> None:
    """An unlisted file's null label is not REAL; two files of one id are not one video."""
    corpus = Corpus()
    corpus.add_pairs(0, 4, "p")
    _write_inputs(corpus, tmp_path, [0])
    path = tmp_path / "videos" / "part=0.parquet"
    extra = [
        {"part": 0, "video_id": "forgot", "filename": "forgot.mp4", "status": "unlisted_file", "is_fake": None},
        {"part": 0, "video_id": "twin", "filename": "twin.mp4", "status": "duplicate_name", "is_fake": False},
        {"part": 0, "video_id": "twin", "filename": "twin.MP4", "status": "duplicate_name", "is_fake": True},
    ]
    table = pa.concat_tables([read_table(path, VIDEOS), pa.Table.from_pylist(extra, schema=VIDEOS.schema)])
    write_table(table, path, VIDEOS, "test")
    report = run_split(
        [0], tmp_path / "videos", tmp_path / "emb", tmp_path / "s.parquet", tmp_path / "s.json", SplitParams(), 0,
        tmp_path / "state",
    )
    ids = pq.read_table(tmp_path / "s.parquet").column("video_id").to_pylist()
    assert "forgot" not in ids and "twin" not in ids and len(ids) == len(corpus.videos)
    assert report["excluded"]["by_reason"] == {"unknown_label": 1, "duplicate_name": 2}
    assert report["excluded"]["videos"] == 3 and report["videos"] == len(corpus.videos)


def test_a_lone_donor_match_does_not_merge_groups() -> None:
    """One fake whose face matches a donor of another group (a false match, or a pair
    swapped once) stays out of the groups with split.donor_min_fakes 2: it is reported
    as a weak link and a donor crossing, never a leak; with 1 it merges the two groups."""
    corpus = Corpus()
    corpus.add_pairs(0, 7, "p")
    corpus.fake(0, "p0a_fx", "p0a_o0", "p3a")  # the one fake of p0a showing p3a
    rows, report, links = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), seed=0)
    assert report["groups"] == 7
    assert report["donor_matches"]["weak_links"] == 1 and report["donor_matches"]["donor_min_fakes"] == 2
    assert [(v, role) for v, _, role in links if role == "donor_weak"] == [("p0a_fx", "donor_weak")]
    result = audit(rows, links)
    assert result["ok"] and result["leaks"] == 0
    group = {r["video_id"]: r["group_id"] for r in rows}
    split = {r["video_id"]: r["split"] for r in rows}
    assert result["donor_crossings"] == int(split["p0a_fx"] != split["p3a_o0"])
    assert group["p0a_fx"] != group["p3a_o0"]
    rows1, report1, links1 = build_splits(
        corpus.videos, corpus.embeddings(), SplitParams(donor_min_fakes=1), seed=0
    )
    assert report1["groups"] == 6 and report1["donor_matches"]["weak_links"] == 0
    assert {r["video_id"]: r["group_id"] for r in rows1}["p0a_fx"] == {
        r["video_id"]: r["group_id"] for r in rows1
    }["p3a_o0"]
    assert audit(rows1, links1)["ok"]


def _write_official(corpus: Corpus, root: Path, official: dict[str, str]) -> None:
    """The ingest table of part 0 with DFDC's metadata split (``dfdc_split``) per video."""
    _write_inputs(corpus, root, [0])
    path = root / "videos" / "part=0.parquet"
    rows = pq.read_table(path).to_pylist()
    for row in rows:
        row["dfdc_split"] = official.get(row["video_id"])
    write_table(pa.Table.from_pylist(rows, schema=VIDEOS.schema), path, VIDEOS, "test")


def test_official_splits_are_honoured_and_what_they_leak_is_reported(tmp_path: Path) -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 8, "p")
    names = [v.video_id for v in corpus.videos]
    # an official split by position: it ignores who is in the videos, so groups leak
    official = {v: SPLIT_NAMES[k % 3] for k, v in enumerate(names[:-4])}
    _write_official(corpus, tmp_path, official)
    args = (tmp_path / "videos", tmp_path / "emb")
    own = run_split([0], *args, tmp_path / "a.parquet", tmp_path / "a.json", SplitParams(), 0, tmp_path / "s1")
    assert own["audit"]["ok"] and "official" not in own  # off by default: metadata's split is ignored
    rep = run_split(
        [0], *args, tmp_path / "b.parquet", tmp_path / "b.json", SplitParams(official=True), 0, tmp_path / "s2"
    )
    rows = {r["video_id"]: r["split"] for r in pq.read_table(tmp_path / "b.parquet").to_pylist()}
    assert all(rows[v] == s for v, s in official.items())
    dfmask_split = {r["video_id"]: r["split"] for r in pq.read_table(tmp_path / "a.parquet").to_pylist()}
    assert all(rows[v] == dfmask_split[v] for v in names[-4:])  # no official split: dfmask's
    assert rep["official"]["videos_with_official_split"] == len(official)
    assert rep["official"]["videos_with_dfmask_split"] == 4
    assert rep["official"]["videos_moved_from_dfmask_split"] == sum(dfmask_split[v] != s for v, s in official.items())
    assert not rep["audit"]["ok"] and rep["audit"]["leaks"] > 0 and "official" in rep["audit"]["source"]
    assert sum(rep["splits"][s]["videos"] for s in SPLIT_NAMES) == len(names)


def test_official_splits_that_leave_a_split_empty_are_refused(tmp_path: Path) -> None:
    corpus = Corpus()
    corpus.add_pairs(0, 4, "p")
    _write_official(corpus, tmp_path, {v.video_id: "train" for v in corpus.videos})  # DFDC's training set
    with pytest.raises(DfmaskError, match=r"split.official: .* leave val and test empty"):
        run_split(
            [0], tmp_path / "videos", tmp_path / "emb", tmp_path / "a.parquet", tmp_path / "a.json",
            SplitParams(official=True), 0, tmp_path / "s",
        )  # fmt: skip


def test_people_the_corpus_names_join_one_group_and_named_donors_join_none() -> None:
    """No embeddings at all: only the corpus's names link videos. Two originals of one
    named person share a group (and so a split); a named donor is audited as a weak
    link and merges nothing; the report counts both, apart from the embedding's matches."""
    corpus = Corpus()
    for i in range(9):
        corpus.original(0, f"o{i}", f"actor{i}", faces=False)
        corpus.videos.append(Video(0, f"f{i}", f"o{i}", True))
    known = [
        ("o0", "ffpp:x", "target"),
        ("o1", "ffpp:x", "target"),
        ("f0", "ffpp:x", "target"),
        ("f0", "ffpp:y", "donor"),
        ("o2", "ffpp:y", "target"),
        ("nowhere", "ffpp:z", "target"),  # not a listed video: ignored
    ]
    empty = pa.Table.from_pylist([], schema=EMBEDDINGS.schema)
    rows, report, links = build_splits(corpus.videos, empty, SplitParams(), seed=0, known=known)
    group = {r["video_id"]: r["group_id"] for r in rows}
    assert group["o0"] == group["o1"] == group["f0"] == group["f1"]  # the name, and fakes follow
    assert group["o2"] != group["o0"]  # o2 is f0's named donor: no merge
    assert report["groups"] == 8
    assert ("f0", "known:ffpp:y", "donor_weak") in links and ("o1", "known:ffpp:x", "target") in links
    assert report["known_identities"]["targets"] == 2 and report["known_identities"]["donors"] == 1
    assert report["donor_matches"]["weak_links"] == 0
    without = build_splits(corpus.videos, empty, SplitParams(), seed=0)[1]
    assert without["groups"] == 9 and "known_identities" not in without


# ------------------------------------------------------------------------ cross-corpus holdout


def _two_sources() -> tuple[Corpus, dict[str, str]]:
    """Source ``a``: 7 donor pairs in part 0; source ``b``: 4 pairs in part 100, plus one
    original of a's actor a0a (the same person filmed for both corpora)."""
    corpus = Corpus()
    corpus.add_pairs(0, 7, "a")
    corpus.add_pairs(100, 4, "b")
    corpus.original(100, "b-a0a_extra", "a0a")
    sources = {v.video_id: "b" if v.part == 100 else "a" for v in corpus.videos}
    return corpus, sources


def test_a_held_out_source_is_all_test_with_the_groups_it_shares() -> None:
    corpus, sources = _two_sources()
    params = SplitParams(holdout_sources=("b",))
    rows, report, links = build_splits(corpus.videos, corpus.embeddings(), params, 0, sources=sources)
    split = {r["video_id"]: r["split"] for r in rows}
    assert all(split[v] == "test" for v, s in sources.items() if s == "b")
    shared = {r["group_id"] for r in rows if r["video_id"] == "b-a0a_extra"}
    pulled = [r["video_id"] for r in rows if r["group_id"] in shared and sources[r["video_id"]] == "a"]
    assert pulled and all(split[v] == "test" for v in pulled)  # a0a's own videos went with it
    assert true_leaks(corpus, rows) == 0 and audit(rows, links)["ok"]
    held = report["holdout"]
    assert held["sources"] == ["b"] and held["videos"] == sum(s == "b" for s in sources.values())
    assert held["other_source_videos_moved_to_test"] == len(pulled) and set(held["examples"]) <= set(pulled)
    by = report["by_source"]["videos"]
    assert by["b"] == {"train": 0, "val": 0, "test": held["videos"]}
    assert by["a"]["train"] > 0 and by["a"]["val"] > 0 and by["a"]["test"] > 0
    assert report["by_source"]["groups_across_sources"] == 1
    for s in ("train", "val"):  # the training source still fills train and val
        assert report["splits"][s]["real"] > 0 and report["splits"][s]["fake"] > 0
    # the groups of a alone sit where their hash puts them, as without the holdout
    free_rows, free_report, _ = build_splits(corpus.videos, corpus.embeddings(), SplitParams(), 0, sources=sources)
    with_b = {r["group_id"] for r in rows if sources[r["video_id"]] == "b"}
    repaired = {x["group_id"] for x in report["repairs"] + free_report["repairs"]}  # moved off their hash
    before = {r["video_id"]: r["split"] for r in free_rows}
    kept = [r for r in rows if r["group_id"] not in with_b | repaired]
    assert len({r["group_id"] for r in kept}) >= 2 and all(split[r["video_id"]] == before[r["video_id"]] for r in kept)
    assert "holdout" not in free_report


def test_holding_out_every_source_is_one_clear_error() -> None:
    corpus, sources = _two_sources()
    with pytest.raises(DfmaskError, match=r"split.holdout_sources a, b: 11 of 11 groups hold their videos"):
        build_splits(corpus.videos, corpus.embeddings(), SplitParams(holdout_sources=("a", "b")), 0, sources=sources)


def test_adding_a_corpus_of_other_people_moves_no_group_of_the_first() -> None:
    """A DFDC run (source ``a``, its ids kept: ``namespace: false``) gains a second corpus
    of other people (``b-`` ids): every group of ``a`` keeps its key, so its hash place,
    and stays in its split unless a stratification repair moved it (reported)."""
    alone = Corpus()
    alone.add_pairs(0, 7, "a")
    before, first, _ = build_splits(alone.videos, alone.embeddings(), SplitParams(), 0)
    both, sources = _two_sources()
    both.videos = [v for v in both.videos if v.video_id != "b-a0a_extra"]  # no shared person
    both.emb_rows = [r for r in both.emb_rows if r["video_id"] != "b-a0a_extra"]
    after, second, _ = build_splits(both.videos, both.embeddings(), SplitParams(), 0, sources=sources)
    old = {r["video_id"]: r for r in before}
    repaired = {x["group_id"] for x in first["repairs"] + second["repairs"]}
    mine = [r for r in after if r["video_id"] in old]
    assert len(mine) == len(old)
    assert all(r["group_id"] == old[r["video_id"]]["group_id"] for r in mine)  # same keys
    kept = [r for r in mine if r["group_id"] not in repaired]
    assert kept and all(r["split"] == old[r["video_id"]]["split"] for r in kept)
    assert second["by_source"]["groups_across_sources"] == 0


def test_a_held_out_source_stays_test_over_its_official_split_and_is_counted() -> None:
    corpus, sources = _two_sources()
    official = {v.video_id: "train" for v in corpus.videos}  # a corpus that says train for all
    params = SplitParams(holdout_sources=("b",), official=True)
    rows, report, _ = build_splits(corpus.videos, corpus.embeddings(), params, 0, official=official, sources=sources)
    split = {r["video_id"]: r["split"] for r in rows}
    held_groups = {r["group_id"] for r in rows if sources[r["video_id"]] == "b"}
    held = [r["video_id"] for r in rows if r["group_id"] in held_groups]
    assert all(split[v] == "test" for v in held)
    assert all(split[v] == "train" for v in split if v not in held)
    counts = report["official"]
    assert counts["videos_held_out_despite_official_split"] == len(held)
    assert counts["videos_with_official_split"] == len(rows) - len(held)
    assert counts["videos_with_dfmask_split"] == 0
