"""Small synthetic upstream tables (faces, masks, splits, videos) for the release tests.

Written with the catalogue's specs (`dfmask.schemas`), so that a schema change upstream
breaks these tests. Columns a spec has beyond the ones set here get a type-appropriate
default (zero, empty string, False).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from dfmask import tables
from dfmask.schemas.faces import FACES
from dfmask.schemas.masks import MASKS
from dfmask.schemas.splits import SPLITS
from dfmask.schemas.videos import VIDEOS
from dfmask.tables import TableSpec

SPECS = {"faces": FACES, "masks": MASKS, "splits": SPLITS, "videos": VIDEOS}


def spec_for(table: str) -> TableSpec:
    return SPECS[table]


def _default(t: pa.DataType) -> Any:
    if pa.types.is_fixed_size_list(t):
        return [_default(t.value_type)] * t.list_size
    if pa.types.is_list(t):
        return []
    if pa.types.is_struct(t):
        return {f.name: _default(f.type) for f in t}
    if pa.types.is_boolean(t):
        return False
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return 0
    if pa.types.is_string(t):
        return ""
    if pa.types.is_binary(t):
        return b""
    return None


def fill(spec: TableSpec, rows: list[dict[str, Any]]) -> pa.Table:
    full = []
    for row in rows:
        out = {}
        for f in spec.schema:
            if f.name in row:
                out[f.name] = row[f.name]
            else:
                out[f.name] = None if f.nullable else _default(f.type)
        full.append(out)
    return tables.to_table(spec, full)


def videos_list(parts: tuple[int, ...]) -> list[dict[str, Any]]:
    """Per part: 2 originals, each with one fake; one fake of part 0 has two tracks."""
    out = []
    for p in parts:
        for o in range(2):
            orig = f"r{p}{o}aaaaaaa"
            out.append({"part": p, "video_id": orig, "original_id": None, "is_fake": False, "actor": f"a{p}{o}"})
            out.append(
                {"part": p, "video_id": f"f{p}{o}bbbbbbb", "original_id": orig, "is_fake": True, "actor": f"a{p}{o}"}
            )
    return out


SPLIT_OF = {0: "train", 1: "val"}


def write_upstream(
    root: Path,
    parts: tuple[int, ...] = (0, 1),
    seed: int = 0,
    crop: int = 16,
    frames: int = 2,
    drop_split: str | None = "f11bbbbbbb",
    drop_mask: tuple[str, int] | None = ("f00bbbbbbb", 1),
) -> dict[str, Any]:
    """Write faces/masks/splits/videos tables and reports under ``root``; return the truth.

    Part 0 → split train, part 1 → val, except originals ``r?1`` → test (and their fakes).
    ``drop_split``: a video left out of the splits table. ``drop_mask``: a fake crop
    (video, frame) with no mask row.
    """
    rngs = {p: np.random.default_rng([seed, p]) for p in parts}  # per part: adding a part changes nothing else
    vids = videos_list(parts)
    truth: dict[str, Any] = {"crops": {}, "masks": {}, "split": {}}
    faces_rows: dict[int, list[dict[str, Any]]] = {p: [] for p in parts}
    mask_rows: dict[int, list[dict[str, Any]]] = {p: [] for p in parts}
    crops_of_original: dict[tuple[str, int, int], np.ndarray] = {}
    for v in sorted(vids, key=lambda v: (v["part"], v["is_fake"])):
        tracks = 2 if v["video_id"] == "r00aaaaaaa" or v["original_id"] == "r00aaaaaaa" else 1
        for fi in range(frames):
            for t in range(tracks):
                base = v["original_id"] or v["video_id"]
                if v["is_fake"]:
                    img = crops_of_original[(base, fi, t)].copy()
                    m = np.zeros((crop, crop), np.uint8)
                    m[4:12, 3:13] = 255
                    img[m > 0] = rngs[v["part"]].integers(0, 256, (int((m > 0).sum()), 3), dtype=np.uint8)
                else:
                    img = rngs[v["part"]].integers(0, 256, (crop, crop, 3), dtype=np.uint8)
                    crops_of_original[(base, fi, t)] = img
                box = [10.0 + t * 50, 20.0, 40.0 + t * 50, 60.0]
                faces_rows[v["part"]].append(
                    {
                        "part": v["part"],
                        "video_id": v["video_id"],
                        "original_id": v["original_id"],
                        "is_fake": v["is_fake"],
                        "frame_idx": fi * 5,
                        "track_id": t,
                        "box": box,
                        "crop_box": [box[0] - 5, box[1] - 5, box[2] + 5, box[3] + 5],
                        "landmarks": [float(i) for i in range(10)],
                        "prob": 0.99,
                        "crop": tables.image_cell(img),
                    }
                )
                truth["crops"][(v["video_id"], fi * 5, t)] = img
                if v["is_fake"] and (v["video_id"], fi) != drop_mask:
                    mask_rows[v["part"]].append(
                        {
                            "part": v["part"],
                            "video_id": v["video_id"],
                            "original_id": v["original_id"],
                            "frame_idx": fi * 5,
                            "track_id": t,
                            "mask": tables.image_cell(m),
                            "ssim_mean": 0.5,
                            "manipulated_frac": float((m > 0).mean()),
                            "valid": True,
                        }
                    )
                    truth["masks"][(v["video_id"], fi * 5, t)] = m
    split_rows = []
    for v in vids:
        base = v["original_id"] or v["video_id"]
        split = "test" if base.startswith("r") and base[2] == "1" else SPLIT_OF.get(v["part"], "train")
        truth["split"][v["video_id"]] = split
        if v["video_id"] == drop_split:
            continue
        split_rows.append(
            {
                "part": v["part"],
                "video_id": v["video_id"],
                "original_id": v["original_id"],
                "is_fake": v["is_fake"],
                "group_id": f"g-{base}",
                "identity_id": v["actor"],
                "donor_identity_id": "donor" if v["is_fake"] else None,
                "split": split,
            }
        )
    for p in parts:
        tables.write_table(
            fill(spec_for("faces"), faces_rows[p]),
            root / f"data/interim/faces/part={p}/faces-0000.parquet",
            spec_for("faces"),
            "faces",
            {"faces": {"size": crop}},
        )
        tables.write_table(
            fill(spec_for("masks"), mask_rows[p]),
            root / f"data/processed/masks/part={p}/masks-0000.parquet",
            spec_for("masks"),
            "masks",
            {"masks": {"threshold": 0.5}},
        )
        vrows = [
            {
                "part": v["part"],
                "video_id": v["video_id"],
                "filename": v["video_id"] + ".mp4",
                "is_fake": v["is_fake"],
                "original_id": v["original_id"],
                "status": "ok",
                "fps": 10.0,
                "width": 256,
                "height": 192,
                "frames": 10,
            }
            for v in vids
            if v["part"] == p
        ]
        tables.write_table(
            fill(spec_for("videos"), vrows),
            root / f"data/interim/videos/part={p}.parquet",
            spec_for("videos"),
            "ingest",
            {},
        )
        tables.write_json(root / f"reports/masks/part={p}.json", {"fakes": 2, "valid": 2, "status": {"ok": 2}})
    tables.write_table(
        fill(spec_for("splits"), split_rows),
        root / "data/interim/splits.parquet",
        spec_for("splits"),
        "split",
        {"split": {"ratios": [0.7, 0.15, 0.15]}},
    )
    tables.write_json(root / "reports/split.json", {"leaks": {"identity": 0, "donor": 0}, "groups": 6})
    tables.write_json(root / "reports/masks_quality.json", {"targets": {"overall_test_mean_iou": 0.9}, "crops": 6})
    return truth


def write_params(
    root: Path,
    parts: tuple[int, ...] = (0, 1),
    pixels: bool = True,
    shard_mb: int = 256,
    corpus_root: str = "data/sample/corpus",
) -> Path:
    repo_params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())
    doc = {
        "base": {"seed": 0},
        "paths": repo_params["paths"],
        "corpus": {"root": corpus_root, "parts": list(parts)},
        "release": {"artifact": "masks", "pixels": pixels, "shard_mb": shard_mb},
    }
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
