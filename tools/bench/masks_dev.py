"""Mask quality on development corpora: the sample re-encoded at several CRFs.

A hand tool (never a DVC stage). Each corpus is a faces folder (``part=N/``) of the
default sample whose videos were re-encoded at one CRF and cut with the faces stage's own
crop boxes; the codec-noise corpus pairs each original with itself re-encoded
(``<video_id>_crf<N>`` fakes). The masks stage's library runs on each, and one
masks_quality report pools them: every corpus's videos get their corpus's CRF (so its
band) and keep their split from the sample's splits table.

    python -m tools.bench.masks_dev --params params.yaml --out /work/tmp/masks/dev \\
        --truth data/sample/ground_truth.parquet --splits data/interim/splits.parquet \\
        --corpus 18=data/interim/faces --corpus 28=/tmp/faces_28 --pairs /tmp/faces_pairs
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.masks.preview import write_preview
from dfmask.masks.quality import quality_report
from dfmask.masks.stage import MasksPaths
from dfmask.masks.stage import run as run_masks
from dfmask.masks.truth import load_items, read_split_of
from dfmask.params import MasksParams, load_section
from dfmask.schemas.masks import read_masks
from dfmask.tables import write_json


def masks_of(faces: Path, out: Path, params: MasksParams, parts: list[int]) -> Path:
    for part in parts:
        paths = MasksPaths(faces / f"part={part}", out / f"part={part}", out / f"part={part}.json", out / "work")
        run_masks(params, paths, part)
    return out


def codec_areas(masks: Path, parts: list[int]) -> dict[str, Any]:
    table = read_masks(masks, parts, ["video_id", "manipulated_frac", "valid"])
    by_crf: dict[str, list[float]] = {}
    invalid = []
    for video, frac, valid in zip(
        *(table[c].to_pylist() for c in ("video_id", "manipulated_frac", "valid")), strict=True
    ):
        by_crf.setdefault(video.rsplit("_crf", 1)[1], []).append(frac)
        invalid.append(not valid)
    areas = [a for v in by_crf.values() for a in v]
    return {
        "available": True,
        "what": "originals (CRF 18) against themselves re-encoded at the CRFs below",
        "crops": len(areas),
        "mean_area": float(np.mean(areas)),
        "invalid": float(np.mean(invalid)),
        "mean_area_by_crf": {f"18->{k}": float(np.mean(v)) for k, v in sorted(by_crf.items())},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--splits", type=Path, required=True)
    ap.add_argument("--corpus", action="append", default=[], help="CRF=FACES_DIR (repeat)")
    ap.add_argument("--pairs", type=Path, default=None, help="codec-noise faces folder")
    ap.add_argument("--parts", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--set", action="append", default=[], help="masks param override KEY=VALUE (YAML value)")
    args = ap.parse_args()
    import yaml

    params = load_section(MasksParams, "masks", args.params)
    params = dataclasses.replace(params, **{k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)})
    split_of = read_split_of(args.splits)
    items = []
    for spec in args.corpus:
        crf, faces = spec.split("=", 1)
        masks = masks_of(Path(faces), args.out / f"masks_{crf}", params, args.parts)
        for it in load_items(masks, Path(faces), args.truth, args.parts, split_of):
            it.video_id = f"{it.video_id}@crf{crf}"  # one video per corpus: a cell counts them apart
            it.crf = int(crf.split("_")[-1])  # the corpus was re-encoded: its CRF, not the truth's
            items.append(it)
        print(f"corpus crf {crf}: {len(items)} crops so far", flush=True)
    codec = {"available": False}
    if args.pairs is not None:
        codec = codec_areas(masks_of(args.pairs, args.out / "masks_pairs", params, args.parts), args.parts)
    report = quality_report(items, params, codec)
    report["corpora"] = args.corpus
    write_json(args.out / "masks_quality_dev.json", report)
    write_preview(items, params, args.out / "masks_preview_dev.png")
    t = report["targets"]
    ours, base = t["overall_test_mean_iou"], t["overall_test_baseline_mean_iou"]
    print(f"{len(items)} crops: test IoU {ours} vs baseline {base}; targets {t['summary']}")


if __name__ == "__main__":
    main()
