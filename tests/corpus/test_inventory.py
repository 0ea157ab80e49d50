"""The corpus inventory: records and hashes per part, the hash cache, and ingest from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from dfmask.corpus.adapters import adapter_for
from dfmask.corpus.ingest import IngestPaths, ingest_part
from dfmask.corpus.ingest import run as run_ingest
from dfmask.corpus.inventory import HashCache, PartInventory, list_part, part_path, run
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams, IngestParams
from dfmask.schemas.masks import read_masks
from dfmask.tables import file_sha256
from dfmask.video import encode_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    frames = [np.roll(base, i, axis=1) for i in range(6)]
    return encode_video(frames, tmp_path_factory.mktemp("clip") / "clip.mp4", fps=10)


def _corpus(root: Path, clip: Path, parts: tuple[int, ...] = (0, 1)) -> Path:
    """DFDC parts: a real, its fake, a listed-but-missing file and a file not listed."""
    for part in parts:
        folder = root / f"dfdc_train_part_{part}"
        folder.mkdir(parents=True)
        meta = {
            f"r{part}.mp4": {"label": "REAL", "split": "train"},
            f"f{part}.mp4": {"label": "FAKE", "split": "train", "original": f"r{part}.mp4"},
            f"gone{part}.mp4": {"label": "REAL", "split": "train"},
        }
        (folder / "metadata.json").write_text(json.dumps(meta))
        (folder / f"r{part}.mp4").write_bytes(clip.read_bytes())
        (folder / f"f{part}.mp4").write_bytes(clip.read_bytes() + b"\0")  # another sha
        (folder / f"extra{part}.mp4").write_bytes(clip.read_bytes())
    return root


def test_part_lists_every_record_and_hashes_each_readable_file(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip)
    adapter = adapter_for("dfdc", root)
    inv = list_part(adapter, root, 1)
    assert inv.records == tuple(adapter.videos(1))
    statuses = {r.filename: r.status for r in inv.records}
    assert statuses["gone1.mp4"] != "ok" and "extra1.mp4" in statuses  # nothing dropped
    for name in ("r1.mp4", "f1.mp4", "extra1.mp4"):
        entry = inv.files[f"dfdc_train_part_1/{name}"]
        assert entry.sha256 == file_sha256(root / "dfdc_train_part_1" / name)
        assert entry.bytes == (root / "dfdc_train_part_1" / name).stat().st_size
    assert "dfdc_train_part_1/gone1.mp4" not in inv.files
    assert inv.files["dfdc_train_part_1/r1.mp4"].sha256 != inv.files["dfdc_train_part_1/f1.mp4"].sha256


def test_the_written_inventory_names_no_machine_and_reads_back(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip)
    corpus = CorpusParams(root=str(root), parts=(0, 1))
    a = run(corpus, tmp_path / "a", tmp_path / "work_a")
    b = run(corpus, tmp_path / "b", None)  # no cache: the same bytes
    assert a.hashed == 6 and a.cached == 0 and b.hashed == 6
    for part in (0, 1):
        text = part_path(tmp_path / "a", part).read_bytes()
        assert text == part_path(tmp_path / "b", part).read_bytes()
        assert str(tmp_path).encode() not in text  # no absolute path, so the same on any machine
        back = PartInventory.read(part_path(tmp_path / "a", part))
        assert back == list_part(adapter_for("dfdc", root), root, part)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["part=0.json", "part=1.json"]
    assert "part=0: 4 videos" in a.summary() and "6 hashed" in a.summary()


def test_the_cache_hashes_only_new_or_changed_files(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip, parts=(0, 1, 2))
    work = tmp_path / "work"
    first = run(CorpusParams(root=str(root), parts=(0, 1)), tmp_path / "inv", work)
    before = part_path(tmp_path / "inv", 0).read_bytes()
    # a new part: only its files are read
    second = run(CorpusParams(root=str(root), parts=(0, 1, 2)), tmp_path / "inv", work)
    assert (first.hashed, second.hashed, second.cached) == (6, 3, 6)
    assert part_path(tmp_path / "inv", 0).read_bytes() == before  # so ingest@0 does not re-run
    # a file rewritten with other content (size changes): hashed again, its part's inventory changes
    changed = root / "dfdc_train_part_1" / "r1.mp4"
    changed.write_bytes(changed.read_bytes() + b"more")
    third = run(CorpusParams(root=str(root), parts=(0, 1, 2)), tmp_path / "inv", work)
    assert (third.hashed, third.cached) == (1, 8)
    inv1 = PartInventory.read(part_path(tmp_path / "inv", 1))
    assert inv1.files["dfdc_train_part_1/r1.mp4"].sha256 == file_sha256(changed)
    # same size, new mtime: hashed again too
    data = bytearray(changed.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    fourth = run(CorpusParams(root=str(root), parts=(1,)), tmp_path / "inv", work)
    assert fourth.hashed == 1
    assert PartInventory.read(part_path(tmp_path / "inv", 1)).files["dfdc_train_part_1/r1.mp4"].sha256 == file_sha256(
        changed
    )
    assert sorted(p.name for p in (tmp_path / "inv").iterdir()) == ["part=1.json"]  # only listed parts
    assert str(tmp_path).encode() not in (work / "inventory" / "hashes.sqlite").read_bytes()  # no machine path


def test_the_cache_keeps_what_it_hashed_when_a_run_is_killed(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    for k in range(70):
        (files / f"{k:02d}.bin").write_bytes(bytes([k]) * 100)
    # a run killed after 70 files, without close(): the first 64 were committed
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from dfmask.corpus.inventory import HashCache\n"
        "cache = HashCache(sys.argv[1])\n"
        "for f in sorted(Path(sys.argv[2]).iterdir()):\n"
        "    cache.sha256(f.parent, f.name)\n"
        "os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "h.sqlite"), str(files)], check=False)
    assert proc.returncode == 9
    again = HashCache(tmp_path / "h.sqlite")
    for f in sorted(files.iterdir()):
        assert again.sha256(files, f.name).sha256 == file_sha256(f)
    again.close()
    assert (again.hits, again.hashed) == (64, 6)


def test_a_file_rewritten_with_its_size_and_mtime_kept_is_hashed_again(tmp_path: Path) -> None:
    f = tmp_path / "v.mp4"
    f.write_bytes(b"a" * 1000)
    cache = HashCache(tmp_path / "h.sqlite")
    first = cache.sha256(tmp_path, f.name)
    st = f.stat()
    f.write_bytes(b"b" * 1000)  # same size; mtime set back as `cp -p` or `touch -r` would
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = cache.sha256(tmp_path, f.name)
    cache.close()
    assert second.sha256 == file_sha256(f) != first.sha256 and cache.hashed == 2


def test_a_damaged_or_unusable_cache_warns_and_is_not_needed(
    tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _corpus(tmp_path / "c", clip, parts=(0,))
    (tmp_path / "work" / "inventory").mkdir(parents=True)
    (tmp_path / "work" / "inventory" / "hashes.sqlite").write_bytes(b"not a database" * 100)
    report = run(CorpusParams(root=str(root), parts=(0,)), tmp_path / "inv", tmp_path / "work")
    assert report.hashed == 3 and "unreadable hash cache" in capsys.readouterr().err
    again = run(CorpusParams(root=str(root), parts=(0,)), tmp_path / "inv", tmp_path / "work")
    assert (again.hashed, again.cached) == (0, 3)  # rebuilt, and used
    blocked = tmp_path / "blocked"
    (blocked / "inventory" / "hashes.sqlite").mkdir(parents=True)  # a folder where the file goes
    report = run(CorpusParams(root=str(root), parts=(0,)), tmp_path / "inv2", blocked)
    assert report.hashed == 3 and "not usable" in capsys.readouterr().err
    assert part_path(tmp_path / "inv2", 0).read_bytes() == part_path(tmp_path / "inv", 0).read_bytes()


def test_a_missing_part_is_one_error_naming_it(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip, parts=(0,))
    with pytest.raises(DfmaskError, match="dfdc_train_part_3: part folder not found"):
        run(CorpusParams(root=str(root), parts=(0, 3)), tmp_path / "inv", None)


def test_a_damaged_inventory_is_one_error(tmp_path: Path) -> None:
    bad = tmp_path / "part=0.json"
    bad.write_text("{not json")
    with pytest.raises(DfmaskError, match="part=0.json: not a corpus inventory"):
        PartInventory.read(bad)
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(DfmaskError, match="format 99"):
        PartInventory.read(bad)
    for doc in ([1, 2], {"format": 1, "kind": "dfdc", "part": 0, "records": [], "files": []}):
        bad.write_text(json.dumps(doc))
        with pytest.raises(DfmaskError, match="not a corpus inventory"):
            PartInventory.read(bad)


def test_ingest_from_the_inventory_is_ingest_from_the_corpus(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip)
    run(CorpusParams(root=str(root), parts=(0, 1)), tmp_path / "inv", None)
    corpus = CorpusParams(root=str(root), parts=(0, 1))
    for part in (0, 1):
        paths = IngestPaths(
            tmp_path / f"v{part}.parquet", tmp_path / f"r{part}.json", part_path(tmp_path / "inv", part)
        )
        report = run_ingest(IngestParams(), corpus, paths, part)
        direct = ingest_part(root, part)
        for row in pq.read_table(paths.out).to_pylist():  # the hash is the file's own
            if row["sha256"] is not None:
                assert row["sha256"] == file_sha256(root / row["path"])
        assert report.doc == direct.report
        assert pq.read_table(paths.out).to_pylist() == direct.table.to_pylist()


def test_ingest_stops_when_a_file_changed_after_the_inventory(tmp_path: Path, clip: Path) -> None:
    root = _corpus(tmp_path / "c", clip, parts=(0,))
    run(CorpusParams(root=str(root), parts=(0,)), tmp_path / "inv", None)
    (root / "dfdc_train_part_0" / "f0.mp4").write_bytes(b"short")
    paths = IngestPaths(tmp_path / "v.parquet", tmp_path / "r.json", part_path(tmp_path / "inv", 0))
    with pytest.raises(DfmaskError, match=r"dfdc_train_part_0/f0.mp4: 5 bytes, but [\d,]+ when inventoried"):
        run_ingest(IngestParams(), CorpusParams(root=str(root), parts=(0,)), paths, 0)
    with pytest.raises(DfmaskError, match="lists a dfdc corpus but the params give part 0 to a ffpp corpus"):
        run_ingest(IngestParams(), CorpusParams(root=str(root), parts=(0,), kind="ffpp"), paths, 0)
    with pytest.raises(DfmaskError, match="given for part 1 is part 0's"):
        ingest_part(root, 1, inventory=PartInventory.read(paths.inventory))


def _ran(output: str, stage: str) -> bool:
    return f"Running stage '{stage}'" in output


@pytest.mark.slow
def test_an_ffpp_tree_runs_through_dvc_and_only_changed_parts_run_again(tmp_path: Path) -> None:
    """A real git + DVC repo: `dvc exp run -S corpus=ffpp` on a FaceForensics++ tree (not
    DFDC's folders) runs inventory → ingest → faces → masks, and masks_quality scores
    against the tree's FF++ mask videos; a file added in another part re-runs the
    inventory only, a file changed in part 0 re-runs part 0's ingest."""
    from layout_trees import write_ffpp
    from repo_utils import FACES_CACHE, init_repo, run

    from dfmask.corpus import sources

    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    repo = init_repo(tmp_path / "repo")
    run(["dvc", "repro", "-q", "sample"], repo)
    tree = write_ffpp(repo / "data" / "sample", tmp_path / "FaceForensics++", qualities=("c23",))
    # the one-line switch of docs/config.md: the ffpp preset (kind, parts) at this tree's root
    out = run(["dvc", "exp", "run", "masks@0", "-S", "corpus=ffpp", "-S", f"corpus.root={tree.root}"], repo).stdout
    assert all(_ran(out, s) for s in ("inventory", "ingest@0", "faces@0", "masks@0")), out
    videos = pq.read_table(repo / "data/interim/videos/part=0.parquet").to_pylist()
    assert {v["corpus"] for v in videos} == {"ffpp"} and len(videos) == len(tree.files)
    assert all(v["status"] == "ok" for v in videos)
    inv = PartInventory.read(repo / "data/interim/inventory/part=0.json")
    masks = {v["mask_path"] for v in videos if v["mask_path"]}
    assert masks and masks <= set(inv.files)  # the true masks are hashed too
    fracs = read_masks(repo / "data/processed/masks", [0], ["manipulated_frac"]).column("manipulated_frac")
    assert any(f > 0 for f in fracs.to_pylist())
    assert "up to date" in run(["dvc", "status", "masks@0"], repo).stdout
    # the FF++ mask videos are the truth of masks_quality (as the sample's truth is)
    run(["dvc", "repro", "masks_quality"], repo)
    report = json.loads((repo / "reports/masks_quality.json").read_text())
    assert report["truth"]["skipped"] == {} and report["truth"]["videos_with_masks"] == len(masks)
    methods = {w.method for w in tree.files.values() if w.mask is not None}
    assert set(report["all_splits"]["by_method"]) == methods  # FF++'s own method names
    assert report["all_splits"]["all"]["mean_iou"] > 0.5  # the truth lines up with the crops
    # a damaged mask video: counted, named, the rest still scored; faces do not re-run
    damaged = sorted(masks)[0]
    (tree.root / damaged).write_bytes(b"not a video")
    out = run(["dvc", "repro", "masks_quality"], repo).stdout
    assert _ran(out, "inventory") and _ran(out, "masks_quality") and not _ran(out, "faces@0"), out
    again = json.loads((repo / "reports/masks_quality.json").read_text())
    assert set(again["truth"]["skipped"]) == {"mask_unreadable"}
    assert again["truth"]["skipped_examples"]["mask_unreadable"].startswith(damaged)
    assert again["crops"] + again["truth"]["skipped"]["mask_unreadable"] == report["crops"]
    # the model trains and evaluates on it; the breakdown is by FF++ method and quality
    run(["dvc", "repro", "evaluate"], repo)
    breakdown = json.loads((repo / "reports/eval/breakdown.json").read_text())
    for split in ("val", "test"):
        by_method = breakdown[split]["by_method"]
        assert by_method and "none" in by_method
        assert set(by_method) - {"none"} <= {w.method for w in tree.files.values()}
        assert set(breakdown[split]["by_crf_band"]) == {"c23"}
    # the people FF++ names joined the split's groups; nothing leaks
    split = json.loads((repo / "reports/split.json").read_text())
    assert split["known_identities"]["targets"] > 0 and split["known_identities"]["donors"] > 0
    assert split["audit"]["ok"]
    # the seg head is scored against the corpus's own mask videos (the damaged one counted)
    metrics = json.loads((repo / "reports/eval/metrics.json").read_text())
    assert metrics["truth"]["source"] == "corpus mask videos (mask_path)" and metrics["truth"]["frames"] > 0
    assert set(metrics["truth"]["skipped_frames"]) == {"mask_unreadable"}
    assert metrics["truth"]["skipped_examples"]["mask_unreadable"].startswith(damaged)
    assert metrics["test"]["counterfactual"]["mask_source"] in ("corpus_masks", "ssim")
    assert metrics["baseline_mean_true_mask"]["train_masks"] > 0
    for split in ("val", "test"):
        seg = metrics[split]["seg_true"]
        assert seg["n"] > 0 and 0.0 <= seg["dice"] <= 1.0 and 0.0 <= seg["baseline_dice"] <= 1.0
    # a mask video mended (the ingest table stays the same): evaluate re-runs for it
    (tree.root / damaged).write_bytes((tree.root / sorted(masks)[1]).read_bytes())
    out = run(["dvc", "repro", "evaluate"], repo).stdout
    assert _ran(out, "inventory") and _ran(out, "evaluate"), out
    mended = json.loads((repo / "reports/eval/metrics.json").read_text())
    assert "mask_unreadable" not in mended["truth"]["skipped_frames"]
    # a mask video one frame longer than its fake: frame i of one is not known to be frame
    # i of the other, so none of its frames is scored (counted, named)
    from dfmask.video import iter_frames

    longer = sorted(masks)[2]
    frames = list(iter_frames(tree.root / longer))
    encode_video([*frames, frames[-1]], tree.root / longer, 10, crf=0)
    run(["dvc", "repro", "masks_quality"], repo)
    counted = json.loads((repo / "reports/masks_quality.json").read_text())["truth"]
    assert counted["skipped"].get("mask_length_mismatch", 0) > 0
    assert counted["skipped_examples"]["mask_length_mismatch"].startswith(
        f"{longer}: {len(frames) + 1} frames, its fake {len(frames)}"
    )
    # a video of another part (youtube 150 → part 1, not listed): inventory only
    first = next(rel for rel, w in tree.files.items() if w.label == "REAL")
    (tree.root / "original_sequences/youtube/c23/videos/150.mp4").write_bytes((tree.root / first).read_bytes())
    out = run(["dvc", "repro", "masks@0"], repo).stdout
    assert _ran(out, "inventory") and not _ran(out, "ingest@0") and not _ran(out, "faces@0"), out
    # a fake of part 0 replaced by other bytes: part 0's ingest runs again
    fake = next(rel for rel, w in tree.files.items() if w.label == "FAKE")
    (tree.root / fake).write_bytes((tree.root / fake).read_bytes() + b"\0")
    out = run(["dvc", "repro", "ingest@0"], repo).stdout
    assert _ran(out, "inventory") and _ran(out, "ingest@0"), out
    row = next(r for r in pq.read_table(repo / "data/interim/videos/part=0.parquet").to_pylist() if r["path"] == fake)
    assert row["sha256"] == file_sha256(tree.root / fake)
