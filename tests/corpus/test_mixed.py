"""Several corpora in one run (``corpus.kind: mixed``): the mixed adapter against the
single adapters it wraps, on the generated sample in DFDC layout and an FF++ tree made
from it (`layout_trees`), each in its own folder under one root, one of them a link."""

from __future__ import annotations

import dataclasses
import json
import os
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
    with pytest.raises(DfmaskError, match=r"dfdc: its part 1 would be run part 1, which is ffpp's .*raise ffpp's part_offset above 1"):
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
        ("dir", "dfdc", "corpus.sources: must give each source its own name, dir and part_offset"),
        ("part_offset", 0, "corpus.sources: must give each source its own name, dir and part_offset"),
    ):
        doc = json.loads(json.dumps(good))
        doc["sources"][1][key] = value
        with pytest.raises(DfmaskError, match=message):
            from_dict(CorpusParams, doc, "corpus")
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
        paths = IngestPaths(tmp_path / f"v{part}.parquet", tmp_path / f"r{part}.json", part_path(tmp_path / "inv", part))
        run_ingest(IngestParams(probe_decode=False), corpus, paths, part)
        rows = pq.read_table(paths.out).to_pylist()
        assert rows and {(r["source"], r["corpus"]) for r in rows} == {(name, kind)}
        assert all(r["status"] == "ok" for r in rows)
        meta = json.loads(pq.read_schema(paths.out).metadata[b"dfmask"])
        assert meta["params"]["corpus"]["source"]["name"] == name  # its own source, not the others
    # the params moved part 100 to another source: ingest refuses the old inventory
    moved = _mixed(root, DFDC, dataclasses.replace(FFPP, name="ff"))
    paths = IngestPaths(tmp_path / "x.parquet", tmp_path / "x.json", part_path(tmp_path / "inv", 100))
    with pytest.raises(DfmaskError, match="lists a ffpp corpus .source ffpp. but the params give part 100 to source ff"):
        run_ingest(IngestParams(probe_decode=False), moved, paths, 100)


def test_a_single_corpus_inventory_names_no_source(root: Path) -> None:
    doc = list_part(adapter_for("dfdc", root / "dfdc"), root / "dfdc", 0).to_json()
    assert "source" not in doc  # the bytes of an existing run's inventory do not change


def _ran(output: str, stage: str) -> bool:
    return f"Running stage '{stage}'" in output


@pytest.mark.slow
def test_a_mixed_run_goes_through_dvc_with_identity_disjoint_splits_across_sources(tmp_path: Path) -> None:
    """A real git + DVC repo: `dvc exp run -S corpus=mixed` over the sample (DFDC layout,
    its ids kept) and an FF++ tree made from the same people. The split groups each
    person's videos of both corpora together and the audit passes; evaluate breaks its
    figures down by source; the release carries both corpora's terms; holding out a
    source that shares every person with the other is one clear error."""
    import shutil

    from repo_utils import init_repo, run

    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    repo = init_repo(tmp_path / "repo")
    run(["dvc", "repro", "-q", "sample"], repo)
    corpora = tmp_path / "corpora"
    shutil.copytree(repo / "data/sample/corpus", corpora / "dfdc")  # a real folder: DVC hashes it
    tree = write_ffpp(repo / "data/sample", corpora / "ff", qualities=("c23",))
    srcs = (
        "[{name:dfdc,kind:dfdc,dir:dfdc,part_offset:0,namespace:false},"
        "{name:ffpp,kind:ffpp,dir:ff,part_offset:100,qualities:[c23]}]"
    )
    switch = ["-S", "corpus=mixed", "-S", f"corpus.root={corpora}", "-S", "corpus.parts=[0,1,100]"]
    out = run(["dvc", "exp", "run", "evaluate", *switch, "-S", f"corpus.sources={srcs}"], repo).stdout
    assert all(_ran(out, s) for s in ("inventory", "ingest@0", "ingest@100", "faces@100", "split", "evaluate")), out
    videos = pq.read_table(repo / "data/interim/videos/part=100.parquet").to_pylist()
    assert len(videos) == len(tree.files) and {(v["source"], v["corpus"]) for v in videos} == {("ffpp", "ffpp")}
    assert all(v["video_id"].startswith("ffpp-") and v["status"] == "ok" for v in videos)
    dfdc = pq.read_table(repo / "data/interim/videos/part=0.parquet").to_pylist()
    assert {v["source"] for v in dfdc} == {"dfdc"} and not any(v["video_id"].startswith("dfdc-") for v in dfdc)
    # one person, two corpora: one group, one split, and nothing leaks
    split = json.loads((repo / "reports/split.json").read_text())
    assert split["audit"]["ok"] and split["by_source"]["groups_across_sources"] > 0
    assert set(split["by_source"]["videos"]) == {"dfdc", "ffpp"}
    rows = pq.read_table(repo / "data/interim/splits.parquet").to_pylist()
    by_group: dict[str, set[str]] = {}
    for r in rows:
        by_group.setdefault(r["group_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_group.values())
    # evaluate: the cross-corpus table, per split and source
    metrics = json.loads((repo / "reports/eval/metrics.json").read_text())
    for split_name in ("val", "test"):
        table = metrics["by_source"].get(split_name, {})
        assert set(table) <= {"dfdc", "ffpp"} and table, metrics["by_source"]
        assert all(t["videos"] > 0 for t in table.values())
    breakdown = json.loads((repo / "reports/eval/breakdown.json").read_text())
    assert set(breakdown["test"]["by_source"]) == set(metrics["by_source"]["test"])
    # the release names both corpora and their terms
    run(["dvc", "exp", "run", "release"], repo)
    sheet = (repo / "data/release/DATASHEET.md").read_text()
    assert "Corpora: **DFDC** (`dfdc`), **FaceForensics++** (`ffpp`)." in sheet and str(corpora) not in sheet
    # FF++ shares every person with the sample: held out, it would take every group to test
    held = run(["dvc", "exp", "run", "split", "-S", "split.holdout_sources=[ffpp]"], repo, check=False)
    assert held.returncode != 0
    assert "split.holdout_sources ffpp:" in held.stderr and "cannot fill train, val and test" in held.stderr
    wrong = run(["dvc", "exp", "run", "split", "-S", "split.holdout_sources=[celebdf]"], repo, check=False)
    assert "split.holdout_sources: celebdf is not a source of the ingest tables (they hold: dfdc, ffpp)" in wrong.stderr
