"""Several corpora in one run (``corpus.kind: mixed``): the mixed adapter against the
single adapters it wraps, on the generated sample in DFDC layout and an FF++ tree made
from it (`layout_trees`), each in its own folder under one root, one of them a link."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from layout_trees import write_ffpp

from dfmask.corpus import sources
from dfmask.corpus.adapters import MixedAdapter, adapter_for, adapter_from, namespaced, source_of
from dfmask.corpus.ingest import IngestPaths
from dfmask.corpus.ingest import run as run_ingest
from dfmask.corpus.inventory import PartInventory, list_part, part_path
from dfmask.corpus.inventory import run as run_inventory
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams, IngestParams, SourceParams, from_dict
from dfmask.schemas.faces import read_face_videos

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", Path(__file__).parents[2] / ".cache" / "faces"))

DFDC = SourceParams(name="dfdc", kind="dfdc", dir="dfdc", part_offset=0, namespace=False)
FFPP = SourceParams(name="ffpp", kind="ffpp", dir="ff", part_offset=100)


def _mixed(root: Path, *srcs: SourceParams, parts: tuple[int, ...] = (0, 1, 100)) -> CorpusParams:
    return CorpusParams(root=str(root), parts=parts, kind="mixed", sources=srcs)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``<root>/dfdc``: a link to the sample's DFDC-layout corpus; ``<root>/ff``: an FF++
    tree written from the same sample."""
    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    from test_sample import generate, tiny_params

    base = tmp_path_factory.mktemp("mixed")
    sample = base / "sample"
    assert generate(tiny_params(), sample, str(sample / "corpus"), 7, sample / "preview.png").generated
    out = base / "corpora"
    out.mkdir()
    os.symlink(sample / "corpus", out / "dfdc")  # a link to a download elsewhere is followed
    write_ffpp(sample, out / "ff", qualities=("c23",))
    return out


def test_sources_keep_their_records_renumbered_and_renamed(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mixed = adapter_from(_mixed(root, DFDC, FFPP))
    assert isinstance(mixed, MixedAdapter)
    assert mixed.parts() == [0, 1, 100]
    warned = capsys.readouterr().err  # the linked source is named once, with the remedy
    assert warned.count("corpus.sources dfdc: dfdc is a link") == 1 and "dvc repro -f inventory" in warned
    assert "ffpp" not in warned
    for source, parts in ((DFDC, (0, 1)), (FFPP, (0,))):
        single = adapter_for(source.kind, root / source.dir)
        for own in parts:
            part = source.part_offset + own
            assert mixed.source(part).name == source.name and mixed.source(part).kind == source.kind
            got = {r.video_id: r for r in mixed.videos(part)}
            want = single.videos(own)
            assert len(got) == len(want) > 0
            for r in want:
                m = got[namespaced(source, r.video_id)]
                assert m.part == part and m.label == r.label and m.status == r.status
                assert m.path == (f"{source.dir}/{r.path}" if r.path else None)
                assert m.mask_path == (f"{source.dir}/{r.mask_path}" if r.mask_path else None)
                assert m.original_id == (namespaced(source, r.original_id) if r.original_id else None)
                assert m.identity == r.identity  # people keep their corpus-wide names
                assert (root / m.path).is_file()  # paths stay relative to corpus.root
    ids = [r.video_id for p in mixed.parts() for r in mixed.videos(p)]
    assert len(ids) == len(set(ids))
    assert sum(v.startswith("ffpp-") for v in ids) == len(adapter_for("ffpp", root / "ff").videos(0))
    # the DFDC source keeps its ids (namespace: false): a DFDC run's groups do not move
    assert {r.video_id for r in mixed.videos(0)} == {r.video_id for r in adapter_for("dfdc", root / "dfdc").videos(0)}


def test_part_ranges_and_folders_are_checked(root: Path) -> None:
    near = dataclasses.replace(FFPP, part_offset=1)  # FF++ part 0 would be run part 1: DFDC's
    message = r"dfdc: its part 1 would be run part 1, which is ffpp's .*raise ffpp's part_offset above 1"
    with pytest.raises(DfmaskError, match=message):
        adapter_from(_mixed(root, DFDC, near, parts=(0, 1))).parts()
    gone = dataclasses.replace(FFPP, dir="nowhere")
    with pytest.raises(DfmaskError, match="corpus.sources ffpp: nowhere is not a folder under corpus.root"):
        adapter_from(_mixed(root, DFDC, gone)).videos(100)
    assert source_of((DFDC, FFPP), 99) == (DFDC, 99) and source_of((DFDC, FFPP), 105) == (FFPP, 5)
    with pytest.raises(DfmaskError, match="below every source's part_offset"):
        source_of((FFPP,), 3)


def test_params_refuse_an_unclear_mix() -> None:
    good = {
        "root": "x",
        "parts": [0, 100],
        "kind": "mixed",
        "sources": [
            {"name": "dfdc", "kind": "dfdc", "dir": "dfdc", "part_offset": 0},
            {"name": "ffpp", "kind": "ffpp", "dir": "ffpp", "part_offset": 100},
        ],
    }
    assert len(from_dict(CorpusParams, good, "corpus").sources) == 2
    cases = [
        ({"kind": "dfdc"}, "corpus.sources: must list the corpora when kind is mixed, and only then"),
        ({"sources": []}, "corpus.sources: must list the corpora when kind is mixed"),
        ({"parts": [0, 100, 101]}, None),
    ]
    for change, message in cases:
        doc = {**good, **change}
        if message is None:
            from_dict(CorpusParams, doc, "corpus")
            continue
        with pytest.raises(DfmaskError, match=message):
            from_dict(CorpusParams, doc, "corpus")
    for key, value, message in (
        ("name", "FF++", r"corpus.sources\[1\].name: must be 1-16 lower-case letters"),
        ("dir", "../ffpp", r"corpus.sources\[1\].dir: must be a folder relative to corpus.root"),
        ("dir", "ff/", r"corpus.sources\[1\].dir: must be a folder relative to corpus.root"),
        ("dir", "./ff", r"corpus.sources\[1\].dir: must be a folder relative to corpus.root"),
        ("dir", ".", r"corpus.sources\[1\].dir: must be a folder relative to corpus.root"),
        ("dir", "dfdc", "corpus.sources: must give each source its own name, part_offset and dir"),
        ("dir", "dfdc/ffpp", r"corpus.sources: .*dir \(none inside another\)"),  # one folder read twice
        ("part_offset", 0, "corpus.sources: must give each source its own name, part_offset and dir"),
        ("name", "dfdc", "corpus.sources: must give each source its own name, part_offset and dir"),
    ):
        doc = json.loads(json.dumps(good))
        doc["sources"][1][key] = value
        with pytest.raises(DfmaskError, match=message):
            from_dict(CorpusParams, doc, "corpus")
    message = "corpus.kind: mixed reads qualities, label_policy and originals_root per source"
    with pytest.raises(DfmaskError, match=message):
        from_dict(CorpusParams, {**good, "qualities": ["c40"]}, "corpus")
    doc = json.loads(json.dumps(good))
    doc["sources"][1].pop("kind")
    with pytest.raises(DfmaskError, match=r"corpus.sources\[1\].kind: missing"):
        from_dict(CorpusParams, doc, "corpus")


def test_inventory_and_ingest_record_each_part_s_source(root: Path, tmp_path: Path) -> None:
    corpus = _mixed(root, DFDC, FFPP)
    run_inventory(corpus, tmp_path / "inv", None)
    inv = PartInventory.read(part_path(tmp_path / "inv", 100))
    assert (inv.kind, inv.source) == ("ffpp", "ffpp") and inv.files
    assert all(p.startswith("ff/") for p in inv.files)
    for part, (name, kind) in {0: ("dfdc", "dfdc"), 100: ("ffpp", "ffpp")}.items():
        inv = part_path(tmp_path / "inv", part)
        paths = IngestPaths(tmp_path / f"v{part}.parquet", tmp_path / f"r{part}.json", inv)
        run_ingest(IngestParams(probe_decode=False), corpus, paths, part)
        rows = pq.read_table(paths.out).to_pylist()
        assert rows and {(r["source"], r["corpus"]) for r in rows} == {(name, kind)}
        assert all(r["status"] == "ok" for r in rows)
        meta = json.loads(pq.read_schema(paths.out).metadata[b"dfmask"])
        assert meta["params"]["corpus"] == {"kind": "mixed", "source": name, "source_kind": kind}  # its own only
    # the params moved part 100 to another source: ingest refuses the old inventory
    moved = _mixed(root, DFDC, dataclasses.replace(FFPP, name="ff"))
    paths = IngestPaths(tmp_path / "x.parquet", tmp_path / "x.json", part_path(tmp_path / "inv", 100))
    message = "lists a ffpp corpus .source ffpp. but the params give part 100 to source ff"
    with pytest.raises(DfmaskError, match=message):
        run_ingest(IngestParams(probe_decode=False), moved, paths, 100)


def test_a_single_corpus_inventory_names_no_source(root: Path) -> None:
    doc = list_part(adapter_for("dfdc", root / "dfdc"), root / "dfdc", 0).to_json()
    assert "source" not in doc  # the bytes of an existing run's inventory do not change


def _ran(output: str, stage: str) -> bool:
    return f"Running stage '{stage}'" in output


@pytest.mark.slow
def test_every_layout_runs_mixed_through_dvc_with_identity_disjoint_splits_across_sources(tmp_path: Path) -> None:
    """A real git + DVC repo: `dvc exp run -S corpus=mixed` over five sources, every layout
    an adapter reads, each written from the same generated sample (so the same people):
    the sample itself in DFDC layout (its ids kept), FF++, Celeb-DF v2, DeeperForensics
    (its FF++ targets in a sibling folder) and FakeAVCeleb. Every source runs through
    ingest, faces, masks, split and evaluate; the split keeps each person's videos of all
    corpora in one split and the audit passes; masks_quality scores the FF++ mask videos;
    evaluate breaks its figures down by source; the release carries every corpus's terms;
    holding out a source that shares every person with the others is one clear error."""
    import shutil

    from layout_trees import write_celebdf, write_deeperforensics, write_fakeavceleb
    from repo_utils import init_repo, run

    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    repo = init_repo(tmp_path / "repo")
    run(["dvc", "repro", "-q", "sample"], repo)
    sample, corpora = repo / "data/sample", tmp_path / "corpora"
    shutil.copytree(sample / "corpus", corpora / "dfdc")  # a real folder: DVC hashes it
    trees = {
        "ffpp": write_ffpp(sample, corpora / "ff", qualities=("c23",)),
        "celeb": write_celebdf(sample, corpora / "celeb"),
        "dfr": write_deeperforensics(sample, corpora / "dfr", corpora / "dfr_targets"),
        "avc": write_fakeavceleb(sample, corpora / "avc"),
    }
    srcs = (
        SourceParams(name="dfdc", kind="dfdc", dir="dfdc", part_offset=0, namespace=False),
        SourceParams(name="ffpp", kind="ffpp", dir="ff", part_offset=100, qualities=("c23",)),
        SourceParams(name="celeb", kind="celebdf", dir="celeb", part_offset=200),
        SourceParams(name="dfr", kind="deeperforensics", dir="dfr", part_offset=300, originals_root="../dfr_targets"),
        SourceParams(name="avc", kind="fakeavceleb", dir="avc", part_offset=400),
    )
    parts = adapter_from(_mixed(corpora, *srcs)).parts()
    assert {p // 100 for p in parts} == {0, 1, 2, 3, 4}

    def hydra(src: SourceParams) -> str:
        extra = f",originals_root:'{src.originals_root}'" if src.originals_root else ""
        quals = ",qualities:[c23]" if src.kind == "ffpp" else ""
        return (
            f"{{name:{src.name},kind:{src.kind},dir:{src.dir},part_offset:{src.part_offset},"
            f"namespace:{str(src.namespace).lower()}{quals}{extra}}}"
        )

    switch = [
        *("-S", "corpus=mixed", "-S", f"corpus.root={corpora}", "-S", f"corpus.parts=[{','.join(map(str, parts))}]"),
        *("-S", f"corpus.sources=[{','.join(hydra(s) for s in srcs)}]"),
    ]
    out = run(["dvc", "exp", "run", "evaluate", *switch], repo).stdout
    stages = ["inventory", "split", "evaluate"] + [f"{s}@{p}" for p in parts for s in ("ingest", "faces", "masks")]
    assert all(_ran(out, s) for s in stages), out
    videos = [row for p in parts for row in pq.read_table(repo / f"data/interim/videos/part={p}.parquet").to_pylist()]
    by_source: dict[str, list[dict]] = {}
    for row in videos:
        by_source.setdefault(row["source"], []).append(row)
    assert set(by_source) == {"dfdc", "ffpp", "celeb", "dfr", "avc"}
    for name, tree in trees.items():
        mine = by_source[name]
        assert all(r["video_id"].startswith(f"{name}-") for r in mine)
        folder = next(s.dir for s in srcs if s.name == name)
        assert {r["path"] for r in mine if r["status"] == "ok"} >= {f"{folder}/{rel}" for rel in tree.files}
    assert not any(r["video_id"].startswith("dfdc-") for r in by_source["dfdc"])  # namespace: false
    assert {r["corpus"] for r in by_source["celeb"]} == {"celebdf"}
    # every source's videos reached the faces and masks stages
    faced = read_face_videos(repo / "data/interim/faces", parts, ["video_id", "crops"]).to_pylist()
    with_crops = {r["video_id"] for r in faced if r["crops"]}
    assert all(any(v["video_id"] in with_crops for v in by_source[n]) for n in by_source)
    # one person, five corpora: one group, one split, and nothing leaks
    split = json.loads((repo / "reports/split.json").read_text())
    assert split["audit"]["ok"] and split["by_source"]["groups_across_sources"] > 0
    assert set(split["by_source"]["videos"]) == set(by_source)
    rows = pq.read_table(repo / "data/interim/splits.parquet").to_pylist()
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(r["group_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())
    # evaluate: the per-source table, per split
    metrics = json.loads((repo / "reports/eval/metrics.json").read_text())
    for split_name in ("val", "test"):
        table = metrics["by_source"][split_name]
        assert table and set(table) <= set(by_source) and all(t["videos"] > 0 for t in table.values())
    breakdown = json.loads((repo / "reports/eval/breakdown.json").read_text())
    assert set(breakdown["test"]["by_source"]) == set(metrics["by_source"]["test"])
    # the release (after masks_quality, which it quotes) names every corpus and its terms
    out = run(["dvc", "exp", "run", "release"], repo).stdout
    assert _ran(out, "masks_quality") and _ran(out, "release"), out
    # the FF++ source's mask videos are masks_quality's truth
    quality = json.loads((repo / "reports/masks_quality.json").read_text())
    assert quality["truth"]["videos_with_masks"] == len({w.mask for w in trees["ffpp"].files.values() if w.mask})
    sheet = (repo / "data/release/DATASHEET.md").read_text()
    assert "Corpora: **DFDC** (`dfdc`), **FaceForensics++** (`ffpp`), **Celeb-DF v2** (`celeb`)" in sheet
    assert "Terms to Use Celeb-DF" in sheet and "FakeAVCeleb" in sheet and str(corpora) not in sheet
    # FF++ shares every person with the others: held out, it would take every group to test
    held = run(["dvc", "exp", "run", "split", "-S", "split.holdout_sources=[ffpp]"], repo, check=False)
    assert held.returncode != 0
    assert "split.holdout_sources ffpp:" in held.stderr and "cannot fill train, val and test" in held.stderr
    wrong = run(["dvc", "exp", "run", "split", "-S", "split.holdout_sources=[x]"], repo, check=False)
    assert "split.holdout_sources: x is not a source of the ingest tables (they hold: avc, celeb, dfdc" in wrong.stderr



def test_titles_name_only_the_sources_a_listed_part_reads() -> None:
    from dfmask.corpus.adapters import corpus_titles, owners

    celeb = SourceParams(name="celeb", kind="celebdf", dir="celeb", part_offset=200)
    corpus = CorpusParams(root="x", parts=(0, 100), kind="mixed", sources=(DFDC, FFPP, celeb))
    assert owners({"dfdc": 0, "ffpp": 100, "celeb": 200}, [0, 100]) == {"dfdc", "ffpp"}
    assert corpus_titles(corpus) == ["DFDC (`dfdc`)", "FaceForensics++ (`ffpp`)"]
    assert corpus_titles(CorpusParams(root="x", parts=(0,), kind="ffpp")) == ["FaceForensics++"]


def test_overlapping_part_ranges_stop_the_inventory_not_only_parts(root: Path, tmp_path: Path) -> None:
    """The pipeline reads parts one by one (`videos`): a DFDC part 1 that FF++'s offset
    would take over is refused there too, before anything is written for it."""
    near = dataclasses.replace(FFPP, part_offset=1)
    with pytest.raises(DfmaskError, match="raise ffpp's part_offset above 1"):
        run_inventory(_mixed(root, DFDC, near, parts=(0,)), tmp_path / "inv", None)
    assert not list((tmp_path / "inv").glob("part=*.json"))


def test_a_source_no_listed_part_reads_need_not_be_on_disk(root: Path) -> None:
    """The preset lists FF++ and Celeb-DF; a machine with FF++ only runs its parts."""
    from dfmask.corpus.adapters import corpus_layouts, corpus_titles, present_sources

    away = SourceParams(name="celeb", kind="celebdf", dir="not-here", part_offset=200)
    corpus = _mixed(root, DFDC, FFPP, away, parts=(0, 100))
    assert adapter_from(corpus).videos(100)  # the Celeb-DF folder is never opened
    assert [s.name for s in present_sources(corpus)] == ["dfdc", "ffpp"]
    assert corpus_layouts(corpus) == ["dfdc", "ffpp"] and len(corpus_titles(corpus)) == 2
    with pytest.raises(DfmaskError, match="corpus.sources celeb: not-here is not a folder"):
        adapter_from(_mixed(root, DFDC, FFPP, away, parts=(0, 200))).videos(200)


def test_a_linked_source_s_originals_root_must_name_the_same_files(tmp_path: Path, root: Path) -> None:
    """DeeperForensics reaches its FF++ targets through ``originals_root: ../targets``. With
    its folder a link, ``..`` leaves the link's target: the path as text (under
    corpus.root) would name other files, so the source is refused, naming the key."""
    from layout_trees import write_deeperforensics

    outside = tmp_path / "outside"
    write_deeperforensics(root.parent / "sample", outside / "dfr", outside / "targets")
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    os.symlink(outside / "dfr", corpora / "dfr")
    dfr = SourceParams(name="dfr", kind="deeperforensics", dir="dfr", part_offset=0, originals_root="../targets")
    adapter = adapter_from(_mixed(corpora, dfr, parts=(0,)))
    with pytest.raises(DfmaskError, match="corpus.sources dfr: originals_root '../targets' reaches"):
        adapter.videos(0)
    # a real folder beside it, as corpus.root holds it: the same files, read
    shutil.rmtree(outside / "targets", ignore_errors=True)
    write_deeperforensics(root.parent / "sample", corpora / "dfr2", corpora / "targets")
    real = dataclasses.replace(dfr, dir="dfr2")
    records = adapter_from(_mixed(corpora, real, parts=(0,))).videos(0)
    reals = [r for r in records if r.label == "REAL"]
    assert reals and all(r.path.startswith("targets/original_sequences/") for r in reals)
    assert all((corpora / r.path).is_file() for r in reals)


def test_read_sources_tells_a_mixed_run_s_tables_from_a_single_corpus_s(root: Path, tmp_path: Path) -> None:
    from dfmask.schemas.videos import read_sources

    mixed = _mixed(root, DFDC, FFPP)
    run_inventory(mixed, tmp_path / "inv", None)
    for part in (0, 100):
        paths = IngestPaths(
            tmp_path / "mixed" / f"part={part}.parquet", tmp_path / "r.json", part_path(tmp_path / "inv", part)
        )
        run_ingest(IngestParams(probe_decode=False), mixed, paths, part)
    got = read_sources(tmp_path / "mixed", [0, 100])
    assert got is not None and set(got.values()) == {"dfdc", "ffpp"}
    assert read_sources(tmp_path / "mixed", [100]) == {v: "ffpp" for v, s in got.items() if s == "ffpp"}
    single = CorpusParams(root=str(root / "ff"), parts=(0,), kind="ffpp")
    one = IngestPaths(tmp_path / "one/part=0.parquet", tmp_path / "o.json")
    run_ingest(IngestParams(probe_decode=False), single, one, 0)
    assert read_sources(tmp_path / "one", [0]) is None  # one corpus: no source column at all
    assert "source" not in pq.read_schema(tmp_path / "one/part=0.parquet").names
    # the tables of a mixed and a single-corpus run together (a hand run): refused, not guessed
    shutil.copy(tmp_path / "one/part=0.parquet", tmp_path / "mixed/part=7.parquet")
    with pytest.raises(DfmaskError, match="part=7.parquet: written by a single-corpus run, but part=0.parquet"):
        read_sources(tmp_path / "mixed", [0, 7, 100])
