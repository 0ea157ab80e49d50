"""The masks stage on synthetic aligned crops: pairing, quality, statuses, determinism."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pytest
import yaml

from dfmask.errors import DfmaskError
from dfmask.masks.compute import mask_pair
from dfmask.masks.stage import MasksPaths, MasksResult
from dfmask.masks.stage import run as run_masks
from dfmask.params import MasksParams, load_section
from dfmask.schemas.faces import FACES
from dfmask.schemas.masks import MASKS
from dfmask.tables import decode_png, read_tables, write_table
from tools.bench.masks import faces_row, synthetic_real, write_synthetic_faces

REPO = Path(__file__).resolve().parents[2]

# The synthetic swaps have hard edges (no feathered blend like the sample generator's),
# so no dilation margin and the 1st place's-like threshold; the defaults are tuned on the
# sample corpus (reports/masks_sweep.md).
PARAMS = MasksParams(workers=1, threshold=0.1, dilate_px=0)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def part_dir(tmp_path_factory):
    """2 originals x 3 fakes (full, mouth, failed) x 4 frames at 96², plus odd cases."""
    folder = tmp_path_factory.mktemp("faces") / "part=0"
    truths = write_synthetic_faces(folder, part=0, originals=2, fakes_per_original=3, frames=4, size=96)
    rng = np.random.default_rng(9)
    crop = np.clip(synthetic_real(rng, 96), 0, 255).astype(np.uint8)
    corrupt = faces_row(0, "f001_0", "r001", 3, crop, track_id=1)
    corrupt["crop"] = {"bytes": b"not a png", "path": None}
    odd = [
        faces_row(0, "orphan", "elsewhere", 0, crop),  # the original has no crops in this part
        faces_row(0, "f000_0", "r000", 99, crop),  # the original has no crop at this frame
        corrupt,  # a fake crop whose PNG is corrupt
        faces_row(0, "r001", None, 3, crop, track_id=1),
    ]
    write_table(pa.Table.from_pylist(odd, schema=FACES.schema), folder / "faces-00001.parquet", FACES, stage="test")
    # Another table in the same folder (e.g. embeddings) must be ignored.
    other = dataclasses.replace(FACES, name="embeddings")
    write_table(pa.Table.from_pylist(odd[:1], schema=FACES.schema), folder / "embeddings.parquet", other, stage="test")
    return folder, truths


def masks_part(faces: Path, part: int, params: MasksParams, out: Path, work: Path) -> MasksResult:
    """The masks stage on one part; its report is written next to ``out``."""
    return run_masks(params, MasksPaths(faces, out, out.with_name(f"{out.name}.json"), work), part)


def run(part_dir, tmp_path, params=PARAMS, tag="a"):
    folder, _ = part_dir
    return masks_part(folder, 0, params, tmp_path / tag / "out", tmp_path / tag / "work")


def test_masks_quality_statuses_and_schema(part_dir, tmp_path):
    _, truths = part_dir
    result = run(part_dir, tmp_path)
    r = result.report
    report = tmp_path / "a" / "out.json"
    assert json.loads(report.read_text()) == r  # the stage writes its report
    assert result.summary() == (
        f"part=0: 27 fake crops → {r['valid']} valid masks, {r['invalid']} invalid, 2 unpaired (see {report})"
    )
    assert r["status_counts"] == {
        "ok": 24,
        "unpaired_no_original_crop": 1,
        "unpaired_original_missing": 1,
        "decode_error": 1,
        "shape_mismatch": 0,
    }
    assert r["fake_crops"] == 27 and r["unpaired"] == 2 and r["masks"] == 24
    table = read_tables(result.shards, MASKS)
    assert table.num_rows == 24
    rows = table.to_pylist()
    keys = [(x["part"], x["video_id"], x["frame_idx"], x["track_id"]) for x in rows]
    assert keys == sorted(keys)
    by_kind: dict[str, list[float]] = {"full": [], "mouth": []}
    for row in rows:
        mask = decode_png(row["mask"]["bytes"], grey=True)
        assert set(np.unique(mask)) <= {0, 255}
        truth = truths[(row["video_id"], row["frame_idx"], row["track_id"])]
        kind = ("full", "mouth", "failed")[int(row["video_id"].split("_")[1])]
        if kind == "failed":
            assert row["valid"] is False  # a failed swap must come out invalid
            assert row["manipulated_frac"] == 0.0
        else:
            assert row["valid"] is True
            by_kind[kind].append(iou(mask > 0, truth > 0))
        assert abs(row["manipulated_frac"] - (mask > 0).mean()) < 1e-6
        assert row["diff"] is None
    assert np.mean(by_kind["full"]) >= 0.6
    assert np.mean(by_kind["mouth"]) >= 0.5


def test_output_does_not_depend_on_workers_and_resumes(part_dir, tmp_path):
    one = run(part_dir, tmp_path, PARAMS, "one")
    two = run(part_dir, tmp_path, dataclasses.replace(PARAMS, workers=2), "two")
    assert [p.read_bytes() for p in one.shards] == [p.read_bytes() for p in two.shards]
    # Resume: drop some finished items, re-run: same bytes, items recomputed.
    work = next((tmp_path / "one" / "work" / "masks" / "part=0").iterdir())
    items = sorted(work.glob("*.parquet"))
    for item in items[:3]:
        item.unlink()
    again = run(part_dir, tmp_path, PARAMS, "one")
    assert [p.read_bytes() for p in again.shards] == [p.read_bytes() for p in one.shards]
    assert len(list(work.glob("*.parquet"))) == len(items)


def test_params_change_is_not_served_from_stale_work_items(part_dir, tmp_path):
    frac = lambda res: sum(read_tables(res.shards, MASKS).column("manipulated_frac").to_pylist())  # noqa: E731
    base = frac(run(part_dir, tmp_path, PARAMS, "p"))
    strict = frac(run(part_dir, tmp_path, dataclasses.replace(PARAMS, threshold=0.6), "p"))
    assert strict < 0.5 * base
    assert len(list((tmp_path / "p" / "work" / "masks" / "part=0").iterdir())) == 1  # stale pruned


def test_store_diff_and_shard_split(part_dir, tmp_path):
    res = run(part_dir, tmp_path, dataclasses.replace(PARAMS, store_diff=True, shard_rows=5), "d")
    assert len(res.shards) > 1
    table = read_tables(res.shards, MASKS)
    for shard in res.shards:  # shards cut at video boundaries
        videos = read_tables([shard], MASKS).column("video_id").to_pylist()
        others = [p for p in res.shards if p != shard]
        assert not set(videos) & set(read_tables(others, MASKS).column("video_id").to_pylist())
    diff = decode_png(table.column("diff").to_pylist()[0]["bytes"], grey=True)
    assert diff.shape == (96, 96) and diff.max() > 20


def test_mask_pair_valid_rule_counts_pixels():
    real = np.full((64, 64, 3), 128, np.uint8)
    fake = real.copy()
    fake[10:14, 10:14] = 255  # 16 px changed, smeared by the window to ~ 200 px of diff
    assert mask_pair(real, fake, PARAMS).valid
    strict = dataclasses.replace(PARAMS, valid_min_pixels=10_000)
    assert not mask_pair(real, fake, strict).valid
    assert not mask_pair(real, real, PARAMS).valid


def test_missing_faces_folder_is_a_user_error(tmp_path):
    with pytest.raises(DfmaskError, match="faces"):
        masks_part(tmp_path / "nope", 0, PARAMS, tmp_path / "out", tmp_path / "work")


@pytest.mark.slow
def test_kill_9_then_rerun_is_byte_identical(tmp_path):
    folder = tmp_path / "faces" / "part=0"
    write_synthetic_faces(folder, part=0, originals=6, fakes_per_original=3, frames=24, size=128)
    params = tmp_path / "params.yaml"
    params.write_text("masks:\n  workers: 1\ncompute:\n  executor: local\n")
    repo = Path(__file__).resolve().parents[2]

    def cmd(tag):
        return [
            sys.executable,
            str(repo / "stages" / "masks.py"),
            "--part",
            "0",
            "--params",
            str(params),
            "--faces",
            str(tmp_path / "faces" / "part=0"),
            "--out",
            str(tmp_path / tag / "out" / "part=0"),
            "--report",
            str(tmp_path / tag / "reports" / "part=0.json"),
            "--work",
            str(tmp_path / tag / "work"),
        ]

    env = {**os.environ, "PYTHONPATH": str(repo / "src")}
    subprocess.run(cmd("clean"), check=True, env=env, capture_output=True)
    proc = subprocess.Popen(cmd("killed"), env=env, start_new_session=True)
    work = tmp_path / "killed" / "work" / "masks" / "part=0"
    deadline = time.time() + 120
    while time.time() < deadline:  # kill once some but not all videos are done
        done = list(work.glob("*/*.parquet")) if work.exists() else []
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(list(work.glob("*/*.parquet")))
    assert 0 < done < 18, "the kill must land mid-run"
    assert not (tmp_path / "killed" / "out").exists() or not list((tmp_path / "killed" / "out").rglob("*.parquet"))
    rerun = subprocess.run(cmd("killed"), check=True, env=env, capture_output=True, text=True)
    assert "masks: part=0:" in rerun.stdout and "valid masks" in rerun.stdout
    clean = sorted((tmp_path / "clean" / "out").rglob("*.parquet"))
    killed = sorted((tmp_path / "killed" / "out").rglob("*.parquet"))
    assert [p.name for p in clean] == [p.name for p in killed]
    assert [p.read_bytes() for p in clean] == [p.read_bytes() for p in killed]
    assert (tmp_path / "clean" / "reports" / "part=0.json").read_bytes() == (
        tmp_path / "killed" / "reports" / "part=0.json"
    ).read_bytes()


def test_work_key_follows_code_params_inputs_and_libraries_but_not_workers(tmp_path: Path) -> None:
    from dfmask.masks.stage import work_key

    shard = tmp_path / "faces-00000.parquet"
    shard.write_bytes(b"faces v1")
    params = MasksParams()
    key = work_key(params, [shard])
    # one list: the library files the masks stage runs, as dvc.yaml's masks deps name them
    # (tests/test_codedeps.py holds those to the stage's imports), less the stage contract
    # (dfmask.stage: the script's error handling, no output bytes)
    deps = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["masks"]["do"]["deps"]
    listed = {d.removeprefix("src/dfmask/") for d in deps if d.startswith("src/dfmask/")}
    assert set(key["code"]) == listed - {"stage.py"}
    assert {
        "masks/stage.py",
        "masks/pairing.py",
        "masks/compute.py",
        "masks/pool.py",
        "masks/ssim.py",
        "schemas/faces.py",
        "schemas/masks.py",
    } <= set(key["code"])
    assert "masks/quality.py" not in key["code"]  # only the masks_quality stage runs it
    assert key["libraries"]["opencv-python-headless"] != "not installed"
    assert work_key(dataclasses.replace(params, workers=7), [shard]) == key
    assert work_key(dataclasses.replace(params, threshold=params.threshold + 0.01), [shard]) != key
    shard.write_bytes(b"faces v2")
    assert work_key(params, [shard]) != key


@pytest.mark.parametrize("name", [".hidden", "x" * 252, "a b/../c", "vidéo ünïcode"])
def test_any_legal_video_name_is_a_work_item(tmp_path: Path, name: str) -> None:
    """Video ids are file stems a corpus may legally hold: a leading dot, 252 characters
    (a 260-byte item file name), odd characters. Each gets its masks and resumes."""
    rng = np.random.default_rng(3)
    real = np.clip(synthetic_real(rng, 64), 0, 255).astype(np.uint8)
    fake = real.copy()
    fake[16:40, 16:40] = 255 - fake[16:40, 16:40]
    folder = tmp_path / "faces" / "part=0"
    rows = [faces_row(0, "orig", None, f, real) for f in range(2)]
    rows += [faces_row(0, name, "orig", f, fake) for f in range(2)]
    write_table(pa.Table.from_pylist(rows, schema=FACES.schema), folder / "faces-00000.parquet", FACES, stage="test")
    first = masks_part(folder, 0, PARAMS, tmp_path / "out", tmp_path / "work")
    assert first.report["status_counts"]["ok"] == 2
    assert read_tables(first.shards, MASKS).column("video_id").to_pylist() == [name, name]
    work = next((tmp_path / "work" / "masks" / "part=0").iterdir())
    (item,) = work.glob("*.parquet")
    assert not item.name.startswith(".") and len(item.name) < 255
    again = masks_part(folder, 0, PARAMS, tmp_path / "out2", tmp_path / "work")  # served from the item
    assert [p.read_bytes() for p in again.shards] == [p.read_bytes() for p in first.shards]
    assert item.stat().st_mtime_ns == next(work.glob("*.parquet")).stat().st_mtime_ns


#: OpenCV without AVX/AVX2 (what a machine without them runs), set before cv2 is imported.
#: OpenCV's own feature names (`cv2.getCPUFeaturesLine`; an unknown name is only a warning,
#: which `_mask_pairs` turns into a failure).
_NO_AVX = {"OPENCV_CPU_DISABLE": "AVX512-SKX,AVX2,FMA3,FP16,AVX,POPCNT"}

_MASK_PAIRS = """
import dataclasses, hashlib, sys
import cv2, numpy as np
from tools.bench.masks import synthetic_real
from dfmask.masks.compute import mask_pair
from dfmask.params import MasksParams, load_section
params = load_section(MasksParams, "masks", sys.argv[1])
if len(sys.argv) > 2:
    params = dataclasses.replace(params, dtype=sys.argv[2], simd=sys.argv[3])
digest = hashlib.sha256()
for seed in range(24):
    rng = np.random.default_rng(seed)
    real = np.clip(synthetic_real(rng, 128), 0, 255).astype(np.uint8)
    fake = real.copy()
    y, x = rng.integers(20, 70, 2)
    fake[y : y + 40, x : x + 40] = cv2.GaussianBlur(real, (0, 0), 2)[y : y + 40, x : x + 40]
    pm = mask_pair(real, fake, params)
    digest.update(pm.mask.tobytes() + pm.diff.tobytes() + np.float32(pm.ssim_mean).tobytes())
print(digest.hexdigest())
"""


def _mask_pairs(env: dict[str, str], *dtype_simd: str) -> str:
    """sha256 of 24 pairs' stored mask, diff and ssim_mean, computed by a fresh
    interpreter with params.yaml's masks params, or with their dtype and simd replaced."""
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env}
    argv = [sys.executable, "-c", _MASK_PAIRS, str(Path(__file__).parents[2] / "params.yaml"), *dtype_simd]
    done = subprocess.run(argv, env=full, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "unknown CPU feature" not in done.stderr, done.stderr
    return done.stdout.strip()


#: ... and without SSE4.x either: only the SSE to SSE3 that every x86-64 build runs
_NO_SSE4 = {"OPENCV_CPU_DISABLE": _NO_AVX["OPENCV_CPU_DISABLE"] + ",SSE4.1,SSE4.2"}


def test_masks_do_not_depend_on_the_cpu():
    """The pipeline's masks params (params.yaml: float32 on OpenCV's baseline kernels)
    give the same stored bytes with OpenCV's AVX/AVX2/FMA kernels offered, without them
    and without SSE4.x; so does float64 on the CPU's own kernels. The control, float32
    on the CPU's own kernels, shows that the switch does change the arithmetic
    (docs/architecture.md, "Reproducibility")."""
    params = load_section(MasksParams, "masks", REPO / "params.yaml")
    assert (params.dtype, params.simd) == ("float32", "baseline")
    assert _mask_pairs({}) == _mask_pairs(_NO_AVX) == _mask_pairs(_NO_SSE4)
    assert _mask_pairs({}, "float64", "dispatch") == _mask_pairs(_NO_AVX, "float64", "dispatch")
    if "*AVX2" not in cv2.getCPUFeaturesLine():
        pytest.skip("no AVX2 kernels on this CPU: the control has nothing to switch off")
    assert _mask_pairs({}, "float32", "dispatch") != _mask_pairs(_NO_AVX, "float32", "dispatch")


def test_noise_floor_reads_the_border_ring_only():
    from dfmask.masks.compute import noise_floor

    d = np.zeros((100, 100), np.float32)
    d[10:90, 10:90] = 0.9  # the face: large differences, inside the ring
    d[:10] = 0.02  # codec noise on the border
    assert noise_floor(d, 0.1, 0.5) == pytest.approx(0.0)  # the noisy top rows are under 1/3 of the ring
    assert noise_floor(d, 0.1, 0.99) == pytest.approx(0.02)
    assert noise_floor(d, 0.0, 0.99) == 0.0  # ring 0: no floor


def test_temporal_mean_keeps_a_persistent_change_and_shrinks_flicker():
    from dfmask.masks.compute import temporal_means

    rng = np.random.default_rng(0)
    persistent = np.zeros((32, 32), np.float32)
    persistent[8:24, 8:24] = 0.5
    maps = [persistent + rng.uniform(0, 0.1, (32, 32)).astype(np.float32) for _ in range(7)]
    smoothed = temporal_means(maps, 5)
    assert len(smoothed) == 7 and temporal_means(maps, 1) is maps
    inner = [m[8:24, 8:24].mean() for m in smoothed]
    assert all(abs(v - 0.55) < 0.01 for v in inner)
    # the flicker's spread shrinks by about sqrt(5) in the middle of the track
    assert smoothed[3][:8].std() < 0.6 * maps[3][:8].std()
    # the ends average fewer maps (3 at the first), never wrap around
    assert np.allclose(smoothed[0], np.mean(maps[:3], axis=0), atol=1e-6)


def test_noise_floor_keeps_codec_noise_out_of_the_mask_and_the_swap_in():
    """A crop re-encoded harder has dissimilarity everywhere: with the floor its mask is
    empty and invalid, while a real change inside it is still found."""
    from dfmask import metrics
    from dfmask.masks.compute import mask_from_dissimilarity

    rng = np.random.default_rng(1)
    noise = rng.gamma(2.0, 0.03, (128, 128)).astype(np.float32)  # mean 0.06, above threshold 0.05
    plain = MasksParams(threshold=0.05)
    floored = MasksParams(threshold=0.05, noise_ring=0.1, noise_quantile=0.95, noise_factor=2.5, dilate_px=0)
    mask, valid, _ = mask_from_dissimilarity(noise, plain)
    assert mask.mean() > 0.3 and valid  # without the floor: codec noise is a mask
    mask, valid, floor = mask_from_dissimilarity(noise, floored)
    assert floor > 0.1 and mask.sum() == 0 and not valid
    swapped = noise.copy()
    swapped[40:90, 40:90] += 0.6
    mask, valid, _ = mask_from_dissimilarity(swapped, floored)
    truth = np.zeros_like(mask)
    truth[40:90, 40:90] = 1
    assert valid and metrics.iou(mask, truth) > 0.7


def _track(
    crops: list[tuple[np.ndarray, np.ndarray, np.ndarray]], params: MasksParams
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """One face track's ``1 − SSIM`` maps (the stage's kernel, `pair_ssim`), colour
    differences and truths, from its (real, fake, truth) crops in frame order."""
    from dfmask.masks.compute import colour_difference, pair_ssim

    ds = [1.0 - pair_ssim(real, fake, params).ssim for real, fake, _ in crops]
    return ds, [colour_difference(real, fake) for real, fake, _ in crops], [truth for _, _, truth in crops]


def _pasted(seed: int, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured crop with an elliptical face region replaced by another, brighter
    texture: hard-edged (sigma 0) or feathered by a Gaussian of ``sigma`` px; the truth is
    every pixel the blend may change (weight > 0.01)."""
    real = np.clip(synthetic_real(np.random.default_rng(seed), 128), 0, 255).astype(np.uint8)
    donor = np.clip(synthetic_real(np.random.default_rng(seed + 100), 128) + 25, 0, 255)
    region = np.zeros((128, 128), np.float64)
    cv2.ellipse(region, (64, 64), (30, 38), 0, 0, 360, 1.0, -1)
    alpha = region if sigma == 0 else cv2.GaussianBlur(region, (0, 0), sigma)
    fake = np.clip(alpha[..., None] * donor + (1 - alpha[..., None]) * real, 0, 255).round().astype(np.uint8)
    return real, fake, (alpha > 0.01).astype(np.uint8)


@pytest.mark.parametrize("sigma", [0.0, 4.0])
def test_hard_edged_tracks_are_not_dilated_and_feathered_ones_are_unchanged(sigma: float) -> None:
    """A hard paste: 1 − SSIM spreads past its edge and the dilation adds more, so SSIM's
    mask is far too large; its colour difference falls to the noise within ~1 px, so the
    track is hard-edged and gets the undilated colour-difference hull. A feathered blend
    (σ 4 px) has a wide edge and keeps the mask it gets without the rule (SSIM's joined
    with the colour region, dilated), byte for byte."""
    from dfmask import metrics
    from dfmask.masks.compute import (
        blur_colour,
        edge_width,
        mask_from_dissimilarity,
        track_masks,
    )
    from dfmask.params import load_section

    params = load_section(MasksParams, "masks", REPO / "params.yaml")
    assert params.edge_width_px > 0
    off = dataclasses.replace(params, edge_width_px=0.0)
    undilated = dataclasses.replace(params, dilate_px=0)
    ds, cs, truths = _track([_pasted(seed, sigma) for seed in range(3)], params)  # one track of three crops
    widths = [
        edge_width(blur_colour(c), mask_from_dissimilarity(d, undilated)[0], params)
        for d, c in zip(ds, cs, strict=True)
    ]
    with_rule, without = track_masks(ds, cs, params), track_masks(ds, cs, off)
    assert all(valid for _, valid in with_rule) and [v for _, v in with_rule] == [v for _, v in without]
    iou_on = [metrics.iou(m, t) for (m, _), t in zip(with_rule, truths, strict=True)]
    iou_off = [metrics.iou(m, t) for (m, _), t in zip(without, truths, strict=True)]
    if sigma == 0:
        assert max(w for w in widths if w is not None) < params.edge_width_px
        assert min(iou_on) > 0.9 and max(iou_off) < 0.7
    else:
        assert min(w for w in widths if w is not None) > params.edge_width_px
        assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(with_rule, without, strict=True))
        assert min(iou_on) > 0.85


def test_edge_width_is_none_without_a_mask_and_the_rule_leaves_invalid_tracks_alone() -> None:
    from dfmask.masks.compute import edge_width, track_masks

    params = MasksParams(edge_width_px=2.2, dilate_px=13, fill_hull=True)
    flat = np.zeros((64, 64))
    assert edge_width(flat, np.zeros((64, 64), np.uint8), params) is None
    [(mask, valid)] = track_masks([flat], [flat], params)  # nothing changed: no mask, invalid
    assert not valid and not mask.any()


def test_colour_union_finds_a_flat_colour_shift_that_ssim_misses() -> None:
    """Half of the swapped region has new texture (SSIM sees it), the other half only a
    flat +15-level colour shift on a flat background: 1 − SSIM there is ~0.007, under the
    0.05 threshold, while the colour difference (0.059) is over `colour_threshold`. The
    union covers both halves; SSIM alone the textured half (and its window's spread)."""
    from dfmask import metrics
    from dfmask.masks.compute import colour_difference, ssim_config, track_masks
    from dfmask.masks.ssim import ssim_map

    params = MasksParams(
        threshold=0.05, open_px=3, close_px=7, dilate_px=0, min_area=64, fill_hull=False, colour_union=True
    )
    real = np.full((96, 96, 3), 128, np.uint8)
    fake = real.copy()
    fake[24:72, 16:48] = np.random.default_rng(0).integers(60, 200, (48, 32, 3), dtype=np.uint8)  # new texture
    fake[24:72, 48:80] += 15  # a flat colour shift only
    truth = np.zeros((96, 96), np.uint8)
    truth[24:72, 16:80] = 1
    d = 1.0 - ssim_map(real, fake, ssim_config(params), np.float64).ssim
    [(with_union, valid)] = track_masks([d], [colour_difference(real, fake)], params)
    [(ssim_only, _)] = track_masks(
        [d], [colour_difference(real, fake)], dataclasses.replace(params, colour_union=False)
    )
    assert valid
    # the shifted half: all of it in the union, a third (SSIM's window spread) without
    assert with_union[24:72, 48:80].all() and ssim_only[24:72, 48:80].mean() < 0.5
    assert metrics.iou(with_union, truth) > metrics.iou(ssim_only, truth) + 0.2


def test_clean_mask_never_writes_into_its_input() -> None:
    """`fillConvexPoly` draws in place: with nothing before the hull step, the hull was
    filled into the caller's array (`track_masks` then took a second hull of a hull)."""
    from dfmask.masks.ssim import MorphConfig, clean_mask

    binary = np.zeros((32, 32), np.uint8)
    binary[8, 8] = binary[8, 24] = binary[24, 16] = 1  # three corners of a triangle
    before = binary.copy()
    hulled = clean_mask(
        binary, MorphConfig(threshold=0.05, open_px=0, close_px=0, dilate_px=0, min_area=0, fill_hull=True)
    )
    assert hulled.sum() > 3 and np.array_equal(binary, before)


def test_on_a_hard_edged_track_invalid_crops_and_empty_colour_regions_keep_ssims_mask() -> None:
    """The hard-edge rule replaces only valid crops' masks, and only by a non-empty colour
    region: an unchanged crop in the track stays invalid with SSIM's (empty) mask, and a
    colour threshold nothing reaches leaves every mask as SSIM made it."""
    from dfmask.masks.compute import colour_difference, ssim_config, track_masks
    from dfmask.masks.ssim import ssim_map
    from dfmask.params import load_section

    # no temporal mean: it would lend the missed crop its neighbours' dissimilarity
    params = dataclasses.replace(load_section(MasksParams, "masks", REPO / "params.yaml"), temporal_frames=1)
    pairs = [_pasted(seed, 0.0)[:2] for seed in range(3)]
    pairs.insert(1, (pairs[0][0], pairs[0][0].copy()))  # a crop the swap missed
    ds = [1.0 - ssim_map(r, f, ssim_config(params), np.float64).ssim for r, f in pairs]
    cs = [colour_difference(r, f) for r, f in pairs]
    ssim_only = track_masks(ds, cs, dataclasses.replace(params, colour_union=False, edge_width_px=0.0))
    hard = track_masks(ds, cs, params)
    assert [v for _, v in hard] == [True, False, True, True] == [v for _, v in ssim_only]
    assert np.array_equal(hard[1][0], ssim_only[1][0])
    assert hard[0][0].sum() < 0.8 * ssim_only[0][0].sum()  # the valid ones did take the undilated region
    unreachable = track_masks(ds, cs, dataclasses.replace(params, colour_union=False, colour_threshold=0.99))
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(unreachable, ssim_only, strict=True))


def test_track_dilation_follows_the_level_against_the_face() -> None:
    """``dilate_px + dilate_tail_px · ln(r / dilate_ratio)``, r the median ratio clipped
    to 1, rounded to the nearest odd side, at least 1; ``dilate_px`` when off or unknown."""
    from dfmask.masks.compute import track_dilation

    params = MasksParams(dilate_px=13, dilate_tail_px=3.5, dilate_ratio=0.18)
    assert track_dilation([0.18], params) == 13
    assert track_dilation([], params) == 13
    assert track_dilation([0.5], dataclasses.replace(params, dilate_tail_px=0.0)) == 13
    # 13 + 3.5 ln(0.5 / 0.18) = 16.58 -> 17
    assert track_dilation([0.5], params) == 17
    # the median of three (0.1: 10.94 -> 11), not their mean (0.35: 15.33 -> 15)
    assert track_dilation([0.05, 0.1, 0.9], params) == 11
    # 13 + 3.5 ln(1 / 0.18) = 19.0 at any ratio >= 1 -> 19
    assert track_dilation([1.0], params) == track_dilation([40.0], params) == 19
    assert track_dilation([0.09], params) == 11  # 10.57 -> 11
    assert track_dilation([1e-9], params) == 1  # never below 1 (no dilation)
    assert track_dilation([0.0, 0.0, 0.3], params) == 1  # a level of 0 reaches the fade's end
    for off in (0, 1):  # dilate_px 0 or 1 stays no dilation, whatever the ratio
        assert track_dilation([1.0], dataclasses.replace(params, dilate_px=off)) == off
    assert track_dilation([0.18], dataclasses.replace(params, dilate_px=12)) == 13  # a tie rounds up to odd
    assert all(track_dilation([r], params) % 2 == 1 for r in np.linspace(0.01, 1.0, 50))


def _faded(seed: int, strength: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A crop whose elliptical face region is blended, with a Gaussian fade of 4 px, toward
    a donor that differs from it by ``strength`` (0: the crop itself, 1: another texture);
    the truth is every pixel whose blend weight reaches 1/255, as the sample's."""
    real = np.clip(synthetic_real(np.random.default_rng(seed), 128), 0, 255)
    other = np.clip(synthetic_real(np.random.default_rng(seed + 100), 128), 0, 255)
    donor = (1 - strength) * real + strength * other
    region = np.zeros((128, 128), np.float64)
    cv2.ellipse(region, (64, 64), (30, 38), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(region, (0, 0), 4.0)[..., None]
    fake = np.clip(alpha * donor + (1 - alpha) * real, 0, 255).round().astype(np.uint8)
    return real.round().astype(np.uint8), fake, (alpha[..., 0] >= 1 / 255).astype(np.uint8)


def test_a_faint_swap_gets_a_wider_dilation_than_a_strong_one() -> None:
    """The same fade: a faint swap (donor 40 % of the way to another texture) crosses the
    level high up its fade, so its mask stops short and the track gets a wider element; a
    strong one (another texture) crosses it far down and gets a narrower one. The faint
    track's IoU rises against the fixed ``dilate_px``; the strong track's mask, too large
    with it, shrinks at no cost in IoU at this strength (at 0.7 the rule costs ~0.007)."""
    from dfmask import metrics
    from dfmask.masks.compute import track_masks
    from dfmask.params import load_section

    params = load_section(MasksParams, "masks", REPO / "params.yaml")
    assert params.dilate_tail_px > 0
    fixed = dataclasses.replace(params, dilate_tail_px=0.0)
    figures = {}
    for strength in (0.4, 1.0):
        ds, cs, truths = _track([_faded(seed, strength) for seed in range(3)], params)  # one track of three crops
        on, off = track_masks(ds, cs, params), track_masks(ds, cs, fixed)
        assert all(valid for _, valid in on) and [v for _, v in on] == [v for _, v in off]
        figures[strength] = {
            "iou": [np.mean([metrics.iou(m, t) for (m, _), t in zip(ms, truths, strict=True)]) for ms in (on, off)],
            "area": [np.mean([m.sum() / t.sum() for (m, _), t in zip(ms, truths, strict=True)]) for ms in (on, off)],
        }
    faint, strong = figures[0.4], figures[1.0]
    assert faint["area"][0] > faint["area"][1] and strong["area"][0] < strong["area"][1]
    assert faint["iou"][0] > faint["iou"][1] + 0.02
    assert strong["area"][1] > 1.0
    assert strong["iou"][0] > strong["iou"][1] - 0.01
