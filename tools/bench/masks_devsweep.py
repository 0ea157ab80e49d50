"""Mask params swept on cached ``1 − SSIM`` maps of the sample's crops (train/val to choose).

A hand tool (never a DVC stage). The first run computes, once, the raw ``1 − SSIM`` map
(the stage's kernel and dtype, `pair_ssim`) and the colour difference (float64, as the
stage's) of every sample fake crop of a checkout's masks output and caches them with the
crop's true mask and metadata under ``--cache``; each variant then runs only the
temporal mean, the noise floor, the morphology, the colour union, the hard-edge rule,
the per-track dilation and the valid rule (`dfmask.masks.compute.tracked_masks`, the
stage's function, on the cached maps as they are), so a variant costs seconds instead of
a masks stage run. With the params the cache was built with it gives the stage's masks
and valid flags exactly (all 7,897 sample crops on 2026-12-05; while the cache held
float32 colour differences and the maps were cast to float64, 2 masks differed). Params
that change the SSIM itself (``dtype``, ``simd``, the window) need a new cache. Params
are chosen on ``train`` and ``val``; ``--splits test`` prints test figures for the
report only.

    python -m tools.bench.masks_devsweep --root . --cache .cache/masks_devsweep \\
        --set valid_diff_level=20 --set valid_diff_level=72 --set dilate_px=15

Each ``--set KEY=VALUE`` is one variant (one change from ``--params``); ``--margin``
prints, per split, the level at which each crop's valid rule flips (the 33rd-largest
``d`` of a crop, 8-bit) for crops with and without a true swap.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from dfmask import metrics
from dfmask.masks import scoring
from dfmask.masks.compute import colour_difference, pair_ssim, temporal_means, tracked_masks
from dfmask.masks.truth import load_items, read_split_of
from dfmask.params import MasksParams, load_section
from dfmask.tables import decode_png

META = ("video_id", "frame_idx", "track_id", "method", "crf", "case", "split")


def build_cache(root: Path, cache: Path, params: MasksParams) -> None:
    items = load_items(
        root / "data/processed/masks",
        root / "data/interim/faces",
        root / "data/sample/ground_truth.parquet",
        [0, 1],
        read_split_of(root / "data/interim/splits.parquet"),
    )
    pairs = [(decode_png(it.real_png), decode_png(it.fake_png)) for it in items]
    maps = np.stack([1.0 - pair_ssim(r, f, params).ssim for r, f in pairs])  # params.dtype, as the stage's
    colours = np.stack([colour_difference(r, f) for r, f in pairs])  # float64, as the stage's
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(cache / "maps.npz", d=maps, c=colours, truth=np.stack([it.truth for it in items]))
    (cache / "meta.json").write_text(json.dumps([{k: getattr(it, k) for k in META} for it in items]))


def smoothed_maps(d: np.ndarray, meta: list[dict[str, Any]], frames: int) -> list[np.ndarray]:
    """Each crop's map after the temporal mean along its (video, track), as the stage does."""
    tracks: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, m in enumerate(meta):
        tracks[(m["video_id"], m["track_id"])].append(i)
    out: list[np.ndarray] = [np.zeros(0)] * len(meta)
    for members in tracks.values():
        members.sort(key=lambda i: meta[i]["frame_idx"])
        for i, s in zip(members, temporal_means([d[i] for i in members], frames), strict=True):
            out[i] = s
    return out


def masks_of(
    d: np.ndarray, c: np.ndarray, meta: list[dict[str, Any]], params: MasksParams
) -> tuple[list[np.ndarray], list[bool]]:
    """Masks and valid flags as the stage makes them (`tracked_masks`)."""
    made = tracked_masks(
        [((m["video_id"], m["track_id"]), m["frame_idx"]) for m in meta],
        list(d),
        list(c),
        params,
    )
    return [mask for mask, _ in made], [ok for _, ok in made]


def table(truth: np.ndarray, meta: list[dict[str, Any]], masks: list[np.ndarray], valid: list[bool]) -> str:
    base = scoring.fit_baseline([truth[i] for i, m in enumerate(meta) if m["split"] == "train"])
    scores = [
        scoring.score_crop(
            truth[i],
            masks[i],
            valid[i],
            base,
            video_id=m["video_id"],
            method=m["method"],
            band=scoring.band_of(m["crf"]),
            case=m["case"],
            split=m["split"],
        )
        for i, m in enumerate(meta)
    ]
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = []
    for split in sorted({s.split for s in scores}):
        of = [s for s in scores if s.split == split]
        by_method, by_band = scoring.cells(of, "method"), scoring.cells(of, "band")
        ious = [c["mean_iou"] for c in by_method.values() if c["mean_iou"] is not None]
        row = [f"{split}: overall {fmt(metrics.mean_or_none(ious))}"]
        row += [
            f"{k} {fmt(c['mean_iou'])}/{fmt(c['baseline_mean_iou'])}"
            for k, c in by_method.items()
            if c["swapped_crops"]
        ]
        row += [f"{k} {fmt(c['mean_iou'])} inv {fmt(c['invalid_unswapped'])}" for k, c in by_band.items()]
        lines.append(" | ".join(row))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="checkout whose data/ holds the sample and its outputs")
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--set", action="append", default=[], help="one variant: masks KEY=VALUE (YAML value)")
    ap.add_argument("--splits", nargs="+", default=["train", "val"])
    ap.add_argument("--margin", action="store_true")
    args = ap.parse_args()
    params = load_section(MasksParams, "masks", args.params)
    if not (args.cache / "maps.npz").exists():
        build_cache(args.root, args.cache, params)
    data = np.load(args.cache / "maps.npz")
    meta_all = json.loads((args.cache / "meta.json").read_text())
    keep = [i for i, m in enumerate(meta_all) if m["split"] in args.splits]
    if "c" not in data or data["c"].dtype != np.float64:
        raise SystemExit(f"{args.cache}: made by an older version (no float64 colour differences); remove it")
    d, c, truth = data["d"][keep], data["c"][keep], data["truth"][keep]
    meta = [meta_all[i] for i in keep]
    if args.margin:
        smoothed = smoothed_maps(d, meta, params.temporal_frames)
        for split in args.splits:
            flips: dict[bool, list[float]] = {True: [], False: []}
            for i, m in enumerate(meta):
                if m["split"] == split:
                    top = np.partition(smoothed[i].ravel(), -(params.valid_min_pixels + 1))
                    flips[bool(truth[i].any())].append(255.0 * float(top[-(params.valid_min_pixels + 1)]))
            hi, lo = max(flips[False], default=0.0), min(flips[True], default=float("nan"))
            print(
                f"{split}: valid flips at 8-bit level: unswapped max {hi:.1f}, swapped min {lo:.1f}, "
                f"log-midpoint {np.sqrt(max(hi, 1e-9) * lo):.1f}"
            )
    for spec in ["", *args.set]:
        variant = params
        if spec:
            key, value = spec.split("=", 1)
            variant = dataclasses.replace(params, **{key: yaml.safe_load(value)})
        masks, valid = masks_of(d, c, meta, variant)
        print(f"## {spec or 'params as given'}\n{table(truth, meta, masks, valid)}", flush=True)


if __name__ == "__main__":
    main()
