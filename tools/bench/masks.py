"""Benchmark of the masks stage: ``python -m tools.bench.masks`` → reports/bench_masks.json.

Two measurements in one run (method: docs/benchmarks.md, "masks"):

* **kernel**: pairs/s at 256² on decoded uint8 RGB arrays, SSIM map + threshold +
  morphology. Ours uses the whole machine (one process per core, each with one OpenCV
  thread); the baseline is a per-pair ``skimage.metrics.structural_similarity`` loop in
  one process with the same SSIM settings (plus the same threshold and morphology). The
  parity error between the two maps is printed beside the speed-up.
* **end to end**: the masks stage (`dfmask.masks.stage.run`) on a synthetic faces part (PNG decode,
  SSIM, PNG encode, Parquet read/write, work items), with a single-process breakdown of
  where the time goes. No target.

Inputs are real crops from ``data/interim/faces`` when present (``--faces``), else
synthetic aligned pairs (`synthetic_pair`) cut from scikit-image's bundled astronaut
photo, which is a real face.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pyarrow as pa

from dfmask.masks.ssim import mask_from_ssim, skimage_ssim_map
from dfmask.params import MasksParams, load_section
from dfmask.schemas.faces import FACES
from dfmask.tables import decode_png, encode_png, write_json, write_table

SwapKind = Literal["full", "mouth", "failed"]

#: The face window of scikit-image's astronaut photo (512², x0, y0, x1, y1 px).
_ASTRONAUT_FACE = (135, 25, 315, 205)


def _astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def synthetic_real(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A float32 ``size``² RGB window jittered around the astronaut's (real) face."""
    image = _astronaut().astype(np.float32)
    x0, y0, x1, y1 = _ASTRONAUT_FACE
    jx, jy = rng.integers(-12, 13, 2)
    side = int(rng.integers(150, 200))
    cx, cy = (x0 + x1) / 2 + jx, (y0 + y1) / 2 + jy
    h = side / 2
    src = np.array([[cx - h, cy - h], [cx + h, cy - h], [cx - h, cy + h]], np.float32)
    dst = np.array([[0, 0], [size, 0], [0, size]], np.float32)
    to_crop = cv2.getAffineTransform(src, dst)
    return cv2.warpAffine(image, to_crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def synthetic_fake(rng: np.random.Generator, real: np.ndarray, kind: SwapKind) -> tuple[np.ndarray, np.ndarray]:
    """(fake float32, true mask uint8 0/1) of a float32 real crop.

    The fake replaces an ellipse (the face for ``full``, the mouth for ``mouth``,
    nothing for ``failed``) with a slightly rotated, scaled and colour-shifted copy of
    the same face, like a landmark-based swap of a similar-looking donor.
    """
    size = real.shape[0]
    angle, scale = float(rng.uniform(-6, 6)), float(rng.uniform(0.94, 1.06))
    rot = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
    rot[:, 2] += rng.uniform(-4, 4, 2) * size / 256
    donor = cv2.warpAffine(real, rot, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    donor = donor * rng.uniform(0.85, 1.15, 3).astype(np.float32) + rng.uniform(-12, 12, 3).astype(np.float32)
    truth = np.zeros((size, size), np.uint8)
    if kind == "full":
        centre = (int(size * 0.5), int(size * 0.52))
        axes = (int(size * rng.uniform(0.22, 0.27)), int(size * rng.uniform(0.28, 0.33)))
        cv2.ellipse(truth, centre, axes, 0, 0, 360, 1, -1)
    elif kind == "mouth":
        centre = (int(size * 0.5), int(size * 0.68))
        axes = (int(size * rng.uniform(0.12, 0.15)), int(size * rng.uniform(0.07, 0.09)))
        cv2.ellipse(truth, centre, axes, 0, 0, 360, 1, -1)
    return np.where(truth[:, :, None] > 0, donor, real), truth


def _noisy_u8(image: np.ndarray, noise: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image + noise), 0, 255).astype(np.uint8)


def _codec_noise(rng: np.random.Generator, shape: tuple[int, ...], shared: np.ndarray, own: float) -> np.ndarray:
    return shared + rng.normal(0, own, shape).astype(np.float32)


def synthetic_pair(
    rng: np.random.Generator, size: int = 256, kind: SwapKind = "full", noise: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An aligned (real, fake, true mask) triple of ``size``² uint8 crops of a real face.

    See `synthetic_real` and `synthetic_fake`. A stand-in for the codec: both crops get
    the same Gaussian noise of ``noise`` grey levels plus their own noise of a third of
    that (real and fake are encoded from the same raw frames outside the swap, so their
    coding noise is mostly shared); SSIM outside the swap is high but not 1.
    The true mask is uint8 0/1 (1 = swapped).
    """
    real = synthetic_real(rng, size)
    fake, truth = synthetic_fake(rng, real, kind)
    shared = rng.normal(0, noise, real.shape).astype(np.float32)
    real_u8 = _noisy_u8(real, _codec_noise(rng, real.shape, shared, noise / 3))
    fake_u8 = _noisy_u8(fake, _codec_noise(rng, fake.shape, shared, noise / 3))
    return real_u8, fake_u8, truth


# ----------------------------------------------------------------------------- kernel


_POOL_PAIRS: Sequence[tuple[np.ndarray, np.ndarray]] = ()
_POOL_PARAMS: MasksParams | None = None


def _ours_one(params: MasksParams, real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    from dfmask.masks.compute import morph_config, pair_ssim

    result = pair_ssim(real, fake, params)
    return mask_from_ssim(result.ssim, morph_config(params))


def _skimage_one(params: MasksParams, real: np.ndarray, fake: np.ndarray) -> np.ndarray:
    from dfmask.masks.compute import morph_config, ssim_config

    result = skimage_ssim_map(real, fake, ssim_config(params))
    return mask_from_ssim(result.ssim, morph_config(params))


def _pool_init(pairs: Sequence[tuple[np.ndarray, np.ndarray]], params: MasksParams) -> None:
    global _POOL_PAIRS, _POOL_PARAMS
    # Own, aligned copies: unpickled arrays are views into the pickle's bytes (slower).
    _POOL_PAIRS = [(np.array(a, copy=True), np.array(b, copy=True)) for a, b in pairs]
    _POOL_PARAMS = params
    cv2.setNumThreads(1)
    from dfmask.masks.pool import keep_freed_memory

    keep_freed_memory()


def _pool_chunk(bounds: tuple[int, int]) -> float:
    """Run pairs ``bounds``; return the CPU seconds this worker spent on them."""
    assert _POOL_PARAMS is not None
    cpu0 = time.process_time()
    for i in range(*bounds):
        real, fake = _POOL_PAIRS[i % len(_POOL_PAIRS)]
        _ours_one(_POOL_PARAMS, real, fake)
    return time.process_time() - cpu0


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _cpu_timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall s, CPU s of this process) of ``fn()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def bench_kernel(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]], params: MasksParams, workers: int, repeat: int
) -> dict[str, Any]:
    """Pairs/s of ours (``workers`` processes) vs scikit-image (one process), same run."""
    from dfmask.masks.compute import pair_ssim, ssim_config
    from dfmask.masks.pool import keep_freed_memory

    keep_freed_memory()  # the same allocator settings for the baseline as for our workers
    cfg = ssim_config(params)
    rounds = 3  # interleave baseline and ours so that load drift hits both alike
    n_ref = len(pairs)
    n_ours = len(pairs) * repeat
    chunk = 16
    bounds = [(i, min(i + chunk, n_ours)) for i in range(0, n_ours, chunk)]
    ctx = mp.get_context("spawn")  # see dfmask.compute.local.ProcessExecutor: fork after OpenCV can deadlock
    cpu_parts: list[float] = []
    ref_s = ref_cpu = ours_s = 0.0
    with ctx.Pool(workers, initializer=_pool_init, initargs=(pairs, params)) as pool:
        # Warm-up: the first ~50 pairs of a fresh worker run ~2x slower (imports, first
        # touch of the allocator's pages); measure the steady state the stage runs in.
        pool.map(_pool_chunk, [(0, 24)] * (4 * workers), chunksize=1)
        for r in range(rounds):
            subset, todo = pairs[r::rounds], bounds[r::rounds]

            def baseline_round(subset: Sequence[tuple[np.ndarray, np.ndarray]] = subset) -> None:
                for a, b in subset:
                    _skimage_one(params, a, b)

            def ours_round(todo: list[tuple[int, int]] = todo) -> None:
                cpu_parts.extend(pool.map(_pool_chunk, todo))

            wall, cpu = _cpu_timed(baseline_round)
            ref_s, ref_cpu = ref_s + wall, ref_cpu + cpu
            ours_s += _timed(ours_round)
    cv2.setNumThreads(1)
    one_s, one_cpu = _cpu_timed(lambda: [_ours_one(params, r, f) for r, f in pairs])
    # Parity on the same pairs.
    max_err, agree = 0.0, []
    for real, fake in pairs:
        ours = pair_ssim(real, fake, params).ssim
        ref = skimage_ssim_map(real, fake, cfg).ssim
        max_err = max(max_err, float(np.abs(ours - ref).max()))
        agree.append(float((_ours_one(params, real, fake) == _skimage_one(params, real, fake)).mean()))
    ref_rate, ours_rate = n_ref / ref_s, n_ours / ours_s
    ref_cpu_ms, ours_cpu_ms = ref_cpu / n_ref * 1e3, sum(cpu_parts) / n_ours * 1e3
    return {
        "pairs_shape": list(pairs[0][0].shape),
        "skimage_cpu_ms_per_pair": round(ref_cpu_ms, 3),
        "ours_cpu_ms_per_pair": round(ours_cpu_ms, 3),
        "ours_one_process_cpu_ms_per_pair": round(one_cpu / len(pairs) * 1e3, 3),
        "speedup_cpu_time_x_workers": round(ref_cpu_ms / ours_cpu_ms * workers, 2),
        "skimage_one_process_pairs_per_s": round(ref_rate, 2),
        "ours_pairs_per_s": round(ours_rate, 2),
        "ours_one_process_pairs_per_s": round(len(pairs) / one_s, 2),
        "workers": workers,
        "speedup": round(ours_rate / ref_rate, 2),
        "speedup_one_process": round(len(pairs) / one_s / ref_rate, 2),
        "target_speedup": 10.0,
        "parity_max_abs_ssim_diff": max_err,
        "parity_min_mask_agreement": min(agree),
    }


# ----------------------------------------------------------------------------- end to end


def faces_row(
    part: int, video_id: str, original_id: str | None, frame_idx: int, crop: np.ndarray, track_id: int = 0
) -> dict[str, Any]:
    """A `FACES` row for a synthetic crop (the crop window is the crop itself, 1:1)."""
    size = crop.shape[0]
    return {
        "part": part,
        "video_id": video_id,
        "original_id": original_id,
        "is_fake": original_id is not None,
        "frame_idx": frame_idx,
        "track_id": track_id,
        "box": [size * 0.25, size * 0.25, size * 0.75, size * 0.75],
        "crop_box": [0.0, 0.0, float(size), float(size)],
        "landmarks": None,
        "prob": None,
        "crop": {"bytes": encode_png(crop), "path": None},
    }


def write_synthetic_faces(
    folder: Path, part: int, originals: int, fakes_per_original: int, frames: int, size: int, seed: int = 0
) -> dict[tuple[str, int, int], np.ndarray]:
    """A faces-like part folder of synthetic aligned crops; returns the true masks by key.

    Fake ``f<o>_<k>`` of original ``r<o>`` has kind full/mouth/failed in rotation.
    """
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    truths: dict[tuple[str, int, int], np.ndarray] = {}
    kinds: tuple[SwapKind, ...] = ("full", "mouth", "failed")
    for o in range(originals):
        for frame in range(frames):
            real = synthetic_real(rng, size)
            shared = rng.normal(0, 1.5, real.shape).astype(np.float32)
            real_u8 = _noisy_u8(real, _codec_noise(rng, real.shape, shared, 0.5))
            rows.append(faces_row(part, f"r{o:03d}", None, frame, real_u8))
            for k in range(fakes_per_original):
                fake, truth = synthetic_fake(rng, real, kinds[k % 3])
                fake = _noisy_u8(fake, _codec_noise(rng, fake.shape, shared, 0.5))
                video = f"f{o:03d}_{k}"
                truths[(video, frame, 0)] = truth
                rows.append(faces_row(part, video, f"r{o:03d}", frame, fake))
    write_table(pa.Table.from_pylist(rows, schema=FACES.schema), folder / "faces-00000.parquet", FACES, stage="bench")
    return truths


def bench_end_to_end(params: MasksParams, videos: int, frames: int, size: int) -> dict[str, Any]:
    """Stage throughput on a synthetic part (1 process and one per core, fresh work dirs),
    the re-run cost with all items done, and a one-process time breakdown per pair."""
    import dataclasses
    import shutil

    import pyarrow.parquet as pq

    from dfmask.masks.compute import mask_pair
    from dfmask.masks.pool import keep_freed_memory, worker_count
    from dfmask.masks.stage import MasksPaths
    from dfmask.masks.stage import run as run_masks

    with tempfile.TemporaryDirectory(prefix="dfmask-bench-masks-") as tmp:
        root = Path(tmp)
        write_synthetic_faces(root / "faces", 0, max(1, videos // 3), 3, frames, size)

        def run(p: MasksParams) -> Any:
            return run_masks(p, MasksPaths(root / "faces", root / "out", root / "report.json", root / "work"), 0)

        wall: dict[int, float] = {}
        for workers in sorted({1, worker_count(0)}):
            shutil.rmtree(root / "work", ignore_errors=True)
            variant = dataclasses.replace(params, workers=workers)
            t0 = time.perf_counter()
            run(variant)
            wall[workers] = time.perf_counter() - t0
        result = run(params)  # all items done: measures read + pair + assemble + write only
        t_io = _timed(lambda: run(params))
        masks = result.report["masks"]
        # Breakdown on a sample of pairs, one process.
        faces = pq.read_table(root / "faces" / "faces-00000.parquet")
        pngs = [c["bytes"] for c in faces.column("crop").to_pylist()[: 2 * 32]]
        cv2.setNumThreads(1)
        keep_freed_memory()
        arrays = [decode_png(b) for b in pngs]
        t_dec = _timed(lambda: [decode_png(b) for b in pngs]) / len(pngs) * 2
        pairs = list(zip(arrays[0::2], arrays[1::2], strict=False))
        t_ssim = _timed(lambda: [mask_pair(r, f, params) for r, f in pairs]) / len(pairs)
        out_masks = [mask_pair(r, f, params).mask * np.uint8(255) for r, f in pairs]
        t_enc = _timed(lambda: [encode_png(m) for m in out_masks]) / len(out_masks)
    per_pair = {"decode_2_png_ms": t_dec * 1e3, "ssim_mask_ms": t_ssim * 1e3, "encode_mask_png_ms": t_enc * 1e3}
    return {
        "crop_size": size,
        "mask_rows": masks,
        "wall_s_by_workers": {str(w): round(t, 3) for w, t in wall.items()},
        "pairs_per_s_by_workers": {str(w): round(masks / t, 2) for w, t in wall.items()},
        "workers_auto": worker_count(params.workers, masks),
        "rerun_all_items_done_s": round(t_io, 3),
        "one_process_ms_per_pair": {k: round(v, 3) for k, v in per_pair.items()},
    }


def real_pairs(faces_dir: Path, limit: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Up to ``limit`` decoded (real, fake) crop pairs from a faces part folder."""
    from dfmask.masks.pairing import FACES_COLUMNS, pair_crops
    from dfmask.schemas.faces import faces_shards
    from dfmask.tables import read_tables

    jobs, _ = pair_crops(read_tables(faces_shards(faces_dir), FACES, FACES_COLUMNS), 0)
    out = []
    for job in jobs:
        for _, _, real_png, fake_png in job.pairs:
            out.append((decode_png(real_png), decode_png(fake_png)))
            if len(out) >= limit:
                return out
    return out


def real_parity(pairs: Sequence[tuple[np.ndarray, np.ndarray]], params: MasksParams) -> dict[str, Any]:
    """Max |ΔSSIM| and min mask agreement of ours vs scikit-image on real crop pairs."""
    from dfmask.masks.compute import pair_ssim, ssim_config

    cfg = ssim_config(params)
    errors, agree = [], []
    for real, fake in pairs:
        ours = pair_ssim(real, fake, params).ssim
        ref = skimage_ssim_map(real, fake, cfg).ssim
        errors.append(float(np.abs(ours - ref).max()))
        agree.append(float((_ours_one(params, real, fake) == _skimage_one(params, real, fake)).mean()))
    return {
        "pairs": len(pairs),
        "max_abs_ssim_diff": max(errors, default=None),
        "min_mask_agreement": min(agree, default=None),
    }


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", default="reports/bench_masks.json")
    ap.add_argument("--pairs", type=int, default=48, help="distinct 256² pairs (skimage runs each once)")
    ap.add_argument("--repeat", type=int, default=6, help="passes of ours over the pairs")
    ap.add_argument("--workers", type=int, default=0, help="0 = one per core")
    ap.add_argument("--e2e-videos", type=int, default=72, help="fake videos (3 per original)")
    ap.add_argument("--e2e-frames", type=int, default=32)
    ap.add_argument("--faces", default="data/interim/faces/part=0", help="real crops for a parity check")
    args = ap.parse_args(argv)
    from dfmask.masks.pool import worker_count

    params = load_section(MasksParams, "masks", args.params)
    workers = worker_count(args.workers)
    rng = np.random.default_rng(0)
    kinds: tuple[SwapKind, ...] = ("full", "mouth", "failed")
    pairs = [synthetic_pair(rng, 256, kinds[i % 3])[:2] for i in range(args.pairs)]
    kernel = bench_kernel(pairs, params, workers, args.repeat)
    e2e = bench_end_to_end(params, args.e2e_videos, args.e2e_frames, 128)
    doc = {
        "machine": {"cpus": os.cpu_count(), "opencv": cv2.__version__, "note": "2 shared cores: expect noise"},
        "params": {k: getattr(params, k) for k in ("gaussian_weights", "sigma", "win_size", "colour", "dtype", "simd")},
        "kernel_256": kernel,
        "end_to_end": e2e,
    }
    if Path(args.faces).is_dir():
        doc["real_crops_parity"] = real_parity(real_pairs(Path(args.faces), 64), params)
    write_json(args.out, doc)
    print(
        f"kernel 256²: ours {kernel['ours_pairs_per_s']} pairs/s ({workers} proc) vs skimage "
        f"{kernel['skimage_one_process_pairs_per_s']} → {kernel['speedup']}x wall (one process "
        f"{kernel['speedup_one_process']}x; CPU-time {kernel['ours_cpu_ms_per_pair']} vs "
        f"{kernel['skimage_cpu_ms_per_pair']} ms/pair → {kernel['speedup_cpu_time_x_workers']}x on an idle "
        f"machine); parity max|ΔSSIM| {kernel['parity_max_abs_ssim_diff']:.2e}, "
        f"mask agreement ≥ {kernel['parity_min_mask_agreement']:.5f}"
    )
    if "real_crops_parity" in doc:
        print(f"real crops parity: {doc['real_crops_parity']}")
    print(
        f"end to end ({e2e['mask_rows']} pairs at {e2e['crop_size']}²): pairs/s by workers "
        f"{e2e['pairs_per_s_by_workers']} (auto: {e2e['workers_auto']}); re-run with all items done "
        f"{e2e['rerun_all_items_done_s']} s; one-process ms/pair {e2e['one_process_ms_per_pair']} "
        f"(see {args.out})"
    )


if __name__ == "__main__":
    main()
