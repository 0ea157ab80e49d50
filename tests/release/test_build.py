"""The release join, variants, shards, determinism, datasheet and HF decoding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from release_fixtures import spec_for, write_params, write_upstream

from dfmask import tables
from dfmask.corpus import corpus_kind
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams, ReleaseParams, SourceParams
from dfmask.release import manifest
from dfmask.release.build import ReleaseSummary, iter_shards
from dfmask.release.png import png_size
from dfmask.release.stage import ReleasePaths, one_line, run


def _paths(out: Path) -> ReleasePaths:
    """params.yaml's paths, as dvc.yaml passes them (relative to the repo root ``root``)."""
    return ReleasePaths(
        Path("data/interim/faces"),
        Path("data/processed/masks"),
        Path("data/interim/splits.parquet"),
        Path("data/interim/videos"),
        Path("reports"),
        Path("data/sample"),
        out,
        out.parent / "release.json",
    )


def _release(
    root: Path,
    out: Path,
    pixels: bool = True,
    shard_mb: int = 256,
    parts: tuple[int, ...] = (0, 1),
    corpus_root: str = "data/sample/corpus",
    corpus: CorpusParams | None = None,
) -> ReleaseSummary:
    cwd = os.getcwd()
    os.chdir(root)  # the stage runs at the repo root; corpus_kind resolves paths against it
    try:
        report = run(
            ReleaseParams(pixels=pixels, shard_mb=shard_mb),
            corpus or CorpusParams(root=corpus_root, parts=parts),
            _paths(out),
        )
    finally:
        os.chdir(cwd)
    assert report.summary() == one_line(report.release, out)
    assert json.loads((out.parent / "release.json").read_text())["corpus_kind"] == report.kind
    return report.release


def _rows(out: Path) -> list[dict]:
    return pa.concat_tables([pq.read_table(p) for p in iter_shards(out)]).to_pylist()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("rel")
    truth = write_upstream(root)
    summary = _release(root, root / "out")
    return root, truth, summary


def test_join_gives_one_row_per_crop_with_the_right_split_mask_and_crop(built) -> None:
    root, truth, summary = built
    rows = _rows(root / "out")
    # 20 crops upstream, the 2 crops of the video missing from the splits table are not released
    assert len(rows) == 18 and summary.excluded == {"no_split": 2}
    assert {r["video_id"] for r in rows} == {v for v in truth["split"] if v != "f11bbbbbbb"}
    for r in rows:
        key = (r["video_id"], r["frame_idx"], r["track_id"])
        assert r["split"] == truth["split"][r["video_id"]]
        assert np.array_equal(tables.decode_png(r["crop"]["bytes"]), truth["crops"][key])
        if not r["is_fake"]:
            mask = tables.decode_png(r["mask"]["bytes"], grey=True)
            assert r["mask_source"] == "real_zero" and mask.shape == (16, 16) and not mask.any()
            assert r["manipulated_frac"] == 0.0 and r["ssim_mean"] is None
        elif key in truth["masks"]:
            assert r["mask_source"] == "ssim"
            assert np.array_equal(tables.decode_png(r["mask"]["bytes"], grey=True), truth["masks"][key])
        else:  # the fake crop whose mask row was dropped upstream
            assert r["mask_source"] == "missing" and r["mask"] is None
        assert (r["frame_width"], r["frame_height"]) == (256, 192)
    assert summary.mask_source == {"ssim": 6, "real_zero": 10, "missing": 2}
    assert summary.crops == {
        "train": {"real": 4, "fake": 4},
        "val": {"real": 2, "fake": 2},
        "test": {"real": 4, "fake": 2},
    }
    # rows in every shard are in key order and shards hold one split and one part
    for shard in iter_shards(root / "out"):
        t = pq.read_table(shard).to_pylist()
        keys = [(r["part"], r["video_id"], r["frame_idx"], r["track_id"]) for r in t]
        assert keys == sorted(keys)
        split, part = shard.name.split("-")[:2]
        assert {r["split"] for r in t} == {split} and {f"part{r['part']}" for r in t} == {part}


def test_same_inputs_give_byte_identical_release(built, tmp_path: Path) -> None:
    root, _, _ = built
    again = _release(root, tmp_path / "again")
    assert (tmp_path / "again/SHA256SUMS").read_bytes() == (root / "out/SHA256SUMS").read_bytes()
    assert manifest.verify_sums(tmp_path / "again") == []
    assert [s["sha256"] for s in again.shards] == [tables.file_sha256(p) for p in iter_shards(root / "out")]


def test_adding_a_part_keeps_the_other_parts_shards_identical(tmp_path: Path) -> None:
    small, big = tmp_path / "small", tmp_path / "big"
    write_upstream(small, parts=(0, 1))
    write_upstream(big, parts=(0, 1, 2))
    a = {s["file"]: s["sha256"] for s in _release(small, small / "out").shards}
    b = {s["file"]: s["sha256"] for s in _release(big, big / "out", parts=(0, 1, 2)).shards}
    assert a and all(b[f] == h for f, h in a.items())
    assert any("part2" in f for f in b)


def test_shard_budget_splits_rows_without_losing_or_reordering_any(built, tmp_path: Path) -> None:
    root, _, _ = built
    # shard_mb=1 with 16 px crops is one shard per (split, part); check the cut logic on a tiny budget
    from dfmask.release import build

    old = build._ROW_OVERHEAD
    build._ROW_OVERHEAD = 400_000  # each row "weighs" 0.4 MB: 1 MB shards hold 3 rows
    try:
        summary = _release(root, tmp_path / "cut", shard_mb=1)
    finally:
        build._ROW_OVERHEAD = old
    assert max(s["rows"] for s in summary.shards) == 3 and len(summary.shards) > 4
    assert _rows(tmp_path / "cut") == _rows(root / "out")


def test_pixel_free_variant_drops_crops_and_keeps_masks_and_geometry(built, tmp_path: Path) -> None:
    root, _, _ = built
    summary = _release(root, tmp_path / "nopix", pixels=False)
    rows = _rows(tmp_path / "nopix")
    full = _rows(root / "out")
    assert "crop" not in rows[0] and summary.total_crops == 18
    assert [{k: v for k, v in r.items() if k != "crop"} for r in full] == rows
    meta = pq.read_schema(next(iter_shards(tmp_path / "nopix"))).metadata[b"huggingface"]
    assert b'"crop"' not in meta and b'"mask"' in meta
    text = (tmp_path / "nopix/DATASHEET.md").read_text()
    assert "pixel-free" in text and "| `crop` |" not in text


def test_datasheet_is_filled_from_the_run_and_carries_the_right_terms(built, tmp_path: Path) -> None:
    root, _, summary = built
    text = (root / "out/DATASHEET.md").read_text()
    for section in (
        "## Motivation",
        "## Composition",
        "## Collection process",
        "## Preprocessing, cleaning, labelling",
        "## Uses",
        "## Distribution",
        "## Maintenance",
    ):
        assert section in text
    assert "| train | 4 | 4 | 1 | 1 | 1 | 1 |" in text  # counts per split and label
    assert "no licence for the images" in text and "Do not redistribute" in text
    assert "`ssim` 6" in text and "`missing` 2" in text and "2 crops (no_split)" in text
    assert '"threshold": 0.5' in text  # upstream params quoted from the masks table metadata
    assert "leaks.identity" in text  # split report quoted
    # the model card is named by artifact, with no figure of it (release does not depend on training)
    assert "the `uynet` model artifact" in text and "reports/eval/MODEL_CARD.md" in text
    assert str(root) not in text  # no absolute paths: reproducible across checkouts
    # a real DFDC corpus gets the DFDC terms instead of the sample's image-rights caveat
    _release(root, tmp_path / "dfdc", corpus_root="/data/dfdc")
    dfdc = (tmp_path / "dfdc/DATASHEET.md").read_text()
    assert "DFDC terms" in dfdc and "no licence for the images" not in dfdc
    # corpus.root is quoted only when it is a path inside the repository: a released file
    # names no folder of the machine that built it
    assert "`corpus.root`: `data/sample/corpus`; parts: [0, 1]." in text
    assert "/data/dfdc" not in dfdc and "`corpus.root`: outside the repository" in dfdc
    # the sample's mask-vs-truth report is quoted for the sample only
    assert "reports/masks_quality.json" in text and "mean_iou" in text
    assert "reports/masks_quality.json" not in dfdc and "leaks.identity" in dfdc
    assert corpus_kind("data/sample/corpus", "data/sample") == "sample"
    assert corpus_kind("/mnt/dfdc", "data/sample") == "dfdc"
    assert corpus_kind("/mnt/ffpp", "data/sample", "ffpp") == "ffpp"
    assert corpus_kind("data/sample/corpus", "data/sample", "ffpp") == "sample"
    # another corpus gets its own terms, never DFDC's
    _release(root, tmp_path / "ffpp", corpus=CorpusParams(root="/data/ffpp", parts=(0, 1), kind="ffpp"))
    ffpp = (tmp_path / "ffpp/DATASHEET.md").read_text()
    assert "Corpus: **FaceForensics++**." in ffpp and "FaceForensics Terms of Service" in ffpp
    assert "DFDC" not in ffpp and "no licence for the images" not in ffpp
    assert json.loads((tmp_path / "release.json").read_text())["corpus_kind"] == "ffpp"
    assert one_line(summary, Path("data/release")).startswith("18 crops (train 8 / val 4 / test 6), pixels=true")


def test_a_mixed_release_carries_every_source_s_terms(built, tmp_path: Path) -> None:
    root, _, _ = built
    sources = (
        SourceParams(name="dfdc", kind="dfdc", dir="dfdc", part_offset=0, namespace=False),
        SourceParams(name="celeb", kind="celebdf", dir="Celeb-DF-v2", part_offset=1),
    )
    corpus = CorpusParams(root="/data/corpora", parts=(0, 1), kind="mixed", sources=sources)
    _release(root, tmp_path / "mixed", corpus=corpus)
    text = (tmp_path / "mixed/DATASHEET.md").read_text()
    assert "Corpora: **DFDC** (`dfdc`), **Celeb-DF v2** (`celeb`)." in text
    assert "every source's terms bind the release as a whole" in text
    assert "**DFDC** (source `dfdc`, its own ids): The corpus is (or is laid out like) the Deepfake" in text
    assert "**Celeb-DF v2** (source `celeb`, ids `celeb-…`): " in text and "Terms to Use Celeb-DF" in text
    assert "/data/corpora" not in text
    report = json.loads((tmp_path / "release.json").read_text())
    assert report["corpus_kind"] == "mixed" and [s["name"] for s in report["sources"]] == ["dfdc", "celeb"]


def test_missing_upstream_column_names_file_and_column(tmp_path: Path) -> None:
    write_upstream(tmp_path)
    path = tmp_path / "data/interim/splits.parquet"
    t = pq.read_table(path)
    pq.write_table(t.drop_columns(["identity_id"]).replace_schema_metadata(t.schema.metadata), path)
    with pytest.raises(DfmaskError, match=r"splits\.parquet: splits table lacks column\(s\) identity_id"):
        _release(tmp_path, tmp_path / "out")


def test_png_size_reads_the_header() -> None:
    assert png_size(tables.encode_png(np.zeros((7, 5), np.uint8))) == (5, 7)
    with pytest.raises(DfmaskError):
        png_size(b"not a png at all, clearly not")


@pytest.mark.slow
def test_datasets_decodes_crop_and_mask_as_images(built, tmp_path: Path) -> None:
    root, _, _ = built
    code = (
        "import datasets, json, numpy as np\n"
        f"ds = datasets.load_dataset('parquet', data_dir={str(root / 'out/data')!r})\n"
        "f = ds['train'].features\n"
        "r = ds['train'][0]\n"
        "print(json.dumps([sorted(ds), type(f['crop']).__name__, type(f['mask']).__name__,\n"
        "  r['crop'].mode, r['mask'].mode, f['box'].length,\n"
        "  [[x['is_fake'], None if x['mask'] is None else int(np.asarray(x['mask']).max())] for x in ds['train']]]))\n"
    )
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    import json

    splits, crop_t, mask_t, crop_mode, mask_mode, box_len, maxima = json.loads(out.stdout.splitlines()[-1])
    assert splits == ["test", "train", "validation"]
    assert (crop_t, mask_t, crop_mode, mask_mode, box_len) == ("Image", "Image", "RGB", "L", 4)
    # reals decode to all-zero masks, fakes to 255 where manipulated, the missing one to None
    assert sorted(map(tuple, maxima), key=str) == sorted(
        [(False, 0)] * 4 + [(True, 255)] * 2 + [(True, None)] * 2, key=str
    )


def test_params_file_round_trip(tmp_path: Path) -> None:
    from dfmask.params import load_section

    write_params(tmp_path, pixels=False, shard_mb=64)
    assert load_section(ReleaseParams, "release", tmp_path / "params.yaml") == ReleaseParams(
        artifact="masks", pixels=False, shard_mb=64
    )


@pytest.mark.slow
def test_datasets_decodes_a_required_image_column_written_by_write_table(tmp_path: Path) -> None:
    """Regression: a spec with IMAGE ``nullable=False`` (e.g. faces.crop) used to load as a struct."""
    spec = tables.TableSpec(
        "t",
        1,
        pa.schema(
            [
                tables.field("k", pa.int32(), "key", nullable=False),
                tables.field("crop", tables.IMAGE, "png", nullable=False),
            ]
        ),
        ("k",),
        ("crop",),
    )
    cells = [{"k": i, "crop": tables.image_cell(np.full((4, 6, 3), i, np.uint8))} for i in range(3)]
    tables.write_table(tables.to_table(spec, cells), tmp_path / "d/train-0.parquet", spec, "t")
    code = (
        "import datasets, json, numpy as np\n"
        f"ds = datasets.load_dataset('parquet', data_dir={str(tmp_path / 'd')!r}, split='train')\n"
        "print(json.dumps([type(ds.features['crop']).__name__, int(np.asarray(ds[2]['crop']).mean())]))\n"
    )
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == '["Image", 2]'


def test_faces_in_several_shards_stream_to_the_same_release(built, tmp_path: Path) -> None:
    """The release streams faces shard by shard; the upstream sharding must not matter."""
    root, _, summary = built
    shutil.copytree(root, tmp_path / "r", ignore=shutil.ignore_patterns("out", "release.json"))
    part0 = tmp_path / "r/data/interim/faces/part=0"
    (shard,) = part0.glob("*.parquet")
    table = pq.read_table(shard)
    spec = spec_for("faces")
    half = table.num_rows // 2
    shard.unlink()
    tables.write_table(table.slice(0, half), part0 / "faces-00000.parquet", spec, "faces", {"faces": {"size": 16}})
    tables.write_table(table.slice(half), part0 / "faces-00001.parquet", spec, "faces", {"faces": {"size": 16}})
    again = _release(tmp_path / "r", tmp_path / "r/out")
    assert _rows(tmp_path / "r/out") == _rows(root / "out")
    assert again.to_dict() == summary.to_dict()
    assert [s["sha256"] for s in again.shards] == [s["sha256"] for s in summary.shards]
