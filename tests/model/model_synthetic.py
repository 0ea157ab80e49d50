"""Small synthetic faces / masks / splits tables with the upstream shapes.

A "video" is a smooth random texture; each fake copies its original's crops and
replaces a random rectangle (its true mask) with a blurred, colour-shifted version, so
fake and original crops are pixel-aligned as in the real pipeline. One fake per split
has ``valid = false`` with an empty mask (a failed swap).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa

from dfmask.tables import encode_png


def _face_box(crop_box: list[float], margin: float = 0.3) -> list[float]:
    """The face box a faces-stage crop window with ``margin`` per side was cut around."""
    x0, y0, x1, y1 = crop_box
    pad = (x1 - x0) * margin / (1 + 2 * margin)
    return [x0 + pad, y0 + pad, x1 - pad, y1 - pad]


def _landmarks(box: list[float]) -> list[float]:
    """5 MTCNN-style points (eyes, nose, mouth corners) at typical places in ``box``."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    rel = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.55), (0.35, 0.75), (0.65, 0.75)]
    return [v for rx, ry in rel for v in (x0 + rx * w, y0 + ry * h)]


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    noise = rng.normal(0, 1, (size // 4, size // 4, 3)).astype(np.float32)
    img = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    img = (img - img.min()) / (np.ptp(img) + 1e-6)
    return (img * 200 + 28).astype(np.uint8)


def synthetic_tables(videos_per_split: int = 6, frames: int = 3, size: int = 32, seed: int = 0) -> dict[str, Any]:
    """faces, masks, splits tables + per-crop truth (full masks, original crops)."""
    rng = np.random.default_rng(seed)
    faces: list[dict[str, Any]] = []
    masks: list[dict[str, Any]] = []
    splits: list[dict[str, Any]] = []
    truth: dict[tuple[str, int], np.ndarray] = {}
    n = 0
    for split in ("train", "val", "test"):
        for k in range(videos_per_split):
            real_id = f"r{split}{k:02d}"
            fake_id = f"f{split}{k:02d}"
            part = k % 2
            base = _texture(rng, size)
            splits.append({"part": part, "video_id": real_id, "split": split, "is_fake": False, "original_id": None})
            splits.append({"part": part, "video_id": fake_id, "split": split, "is_fake": True, "original_id": real_id})
            x0, y0 = rng.integers(2, size // 2, 2)
            w, h = rng.integers(size // 4, size // 2, 2)
            failed = k == 0
            for f in range(frames):
                shift = rng.integers(-2, 3, 2)
                real = np.roll(base, tuple(shift), axis=(0, 1))
                mask = np.zeros((size, size), np.uint8)
                if not failed:
                    mask[y0 : y0 + h, x0 : x0 + w] = 1
                fake = real.copy()
                swapped = cv2.GaussianBlur(real, (0, 0), 2.0).astype(np.int16) + np.array([40, -20, 10])
                fake[mask > 0] = np.clip(swapped, 0, 255).astype(np.uint8)[mask > 0]
                box = [10.0 + n, 20.0, 10.0 + n + 2 * size, 20.0 + 2 * size]
                face = _face_box(box)
                for vid, img, is_fake, orig in ((real_id, real, False, None), (fake_id, fake, True, real_id)):
                    faces.append(
                        {
                            "part": part,
                            "video_id": vid,
                            "original_id": orig,
                            "is_fake": is_fake,
                            "frame_idx": f * 5,
                            "track_id": 0,
                            "crop_box": box,
                            "box": face,
                            "landmarks": _landmarks(face),
                            "crop": {"bytes": encode_png(img), "path": None},
                        }
                    )
                masks.append(
                    {
                        "part": part,
                        "video_id": fake_id,
                        "frame_idx": f * 5,
                        "track_id": 0,
                        "mask": {"bytes": encode_png(mask * 255), "path": None},
                        "valid": not failed,
                    }
                )
                truth[(fake_id, f * 5)] = mask
                truth[(real_id, f * 5)] = real
                n += 1
    image = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])
    faces_schema = pa.schema(
        [
            ("part", pa.int32()),
            ("video_id", pa.string()),
            ("original_id", pa.string()),
            ("is_fake", pa.bool_()),
            ("frame_idx", pa.int32()),
            ("track_id", pa.int32()),
            ("crop_box", pa.list_(pa.float32(), 4)),
            ("box", pa.list_(pa.float32(), 4)),
            ("landmarks", pa.list_(pa.float32(), 10)),
            ("crop", image),
        ]
    )
    masks_schema = pa.schema(
        [
            ("part", pa.int32()),
            ("video_id", pa.string()),
            ("frame_idx", pa.int32()),
            ("track_id", pa.int32()),
            ("mask", image),
            ("valid", pa.bool_()),
        ]
    )
    splits_schema = pa.schema(
        [
            ("part", pa.int32()),
            ("video_id", pa.string()),
            ("split", pa.string()),
            ("is_fake", pa.bool_()),
            ("original_id", pa.string()),
        ]
    )
    return {
        "faces": pa.Table.from_pylist(faces, schema=faces_schema),
        "masks": pa.Table.from_pylist(masks, schema=masks_schema),
        "splits": pa.Table.from_pylist(splits, schema=splits_schema),
        "truth": truth,
    }


def write_synthetic_corpus(
    root: Any, videos_per_split: int = 6, frames: int = 3, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write the synthetic tables with the real TableSpecs under ``root``.

    Layout as in dvc.yaml: faces/part=N/faces-00000.parquet, masks/part=N/masks-00000.parquet,
    splits.parquet, ground_truth.parquet (full-frame masks whose crop through crop_box
    is exactly the synthetic mask).
    """
    from pathlib import Path

    import pyarrow.compute as pc

    from dfmask.schemas.faces import FACES
    from dfmask.schemas.ground_truth import GROUND_TRUTH
    from dfmask.schemas.masks import MASKS
    from dfmask.schemas.splits import SPLITS
    from dfmask.tables import write_table

    root = Path(root)
    t = synthetic_tables(videos_per_split, frames, size, seed)
    faces, masks, splits = t["faces"], t["masks"], t["splits"]
    n = faces.num_rows
    faces = faces.append_column("prob", pa.array([0.99] * n, pa.float32()))
    masks = masks.append_column("original_id", pa.array(["r" + v[1:] for v in masks["video_id"].to_pylist()]))
    m = masks.num_rows
    masks = masks.append_column("ssim_mean", pa.array([0.9] * m, pa.float32()))
    masks = masks.append_column("manipulated_frac", pa.array([0.1] * m, pa.float32()))
    masks = masks.append_column("diff", pa.nulls(m, faces.schema.field("crop").type))
    s = splits.num_rows
    splits = splits.append_column("group_id", pa.array([f"g-{v[1:]}" for v in splits["video_id"].to_pylist()]))
    splits = splits.append_column("identity_id", pa.array(["id"] * s))
    splits = splits.append_column("donor_identity_id", pa.nulls(s, pa.string()))
    for part in (0, 1):
        sel = pc.equal(faces["part"], part)
        write_table(faces.filter(sel), root / f"faces/part={part}/faces-00000.parquet", FACES, "test")
        write_table(
            masks.filter(pc.equal(masks["part"], part)), root / f"masks/part={part}/masks-00000.parquet", MASKS, "test"
        )
    write_table(splits, root / "splits.parquet", SPLITS, "test")
    crops = faces.to_pylist()
    # frames large enough for every crop window (200 x 120 at the tests' 32 px crops)
    width = max(200, max(int(np.ceil(r["crop_box"][2])) for r in crops))
    height = max(120, max(int(np.ceil(r["crop_box"][3])) for r in crops))
    gt_rows = []
    for row in crops:
        vid, frame = row["video_id"], row["frame_idx"]
        cell = None
        if row["is_fake"]:
            full = np.zeros((height, width), np.uint8)
            small = t["truth"][(vid, frame)]
            x0, y0, x1, y1 = (int(v) for v in row["crop_box"])
            full[y0:y1, x0:x1] = cv2.resize(small * 255, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
            cell = {"bytes": encode_png(full), "path": None}
        gt_rows.append(
            {
                "part": row["part"],
                "video_id": vid,
                "frame_idx": frame,
                "face_idx": 0,
                "label": "FAKE" if row["is_fake"] else "REAL",
                "is_fake": row["is_fake"],
                "original_id": row["original_id"],
                "swap_kind": "full" if row["is_fake"] else "none",
                "method": "classical" if row["is_fake"] else "none",
                "crf": 18,
                "preset": "medium",
                "encode_differs": False,
                "width": width,
                "height": height,
                "fps": 10,
                "n_frames": frames * 5,
                "source": "synthetic",
                "actor_id": "a",
                "donor_actor_id": None,
                "face_swap_kind": "full",
                "box": row["crop_box"],
                "landmarks": [0.0] * 136,
                "mask": cell,
            }
        )
    write_table(
        pa.Table.from_pylist(gt_rows, schema=GROUND_TRUTH.schema), root / "ground_truth.parquet", GROUND_TRUTH, "test"
    )
    return t


class _RunsCommand:
    """Pickles as a call of ``os.system(command)``: unpickling it runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        import os

        return (os.system, (self.command,))


def write_hostile_checkpoint(path: Path, marker: Path) -> None:
    """A Lightning-shaped ``.ckpt`` whose pickle, when unpickled, creates ``marker``."""
    import shlex

    import torch

    payload = {
        "state_dict": {},
        "hyper_parameters": {"model_config": {"base_width": 4, "depth": 2, "input_size": 32}},
        "callbacks": _RunsCommand(f"touch {shlex.quote(str(marker))}"),
    }
    torch.save(payload, path)


def tiny_train_params(**overrides: Any) -> Any:
    """A U-YNet small enough to train in seconds on `write_synthetic_corpus` (32 px crops),
    with ``overrides`` (e.g. ``max_epochs``) on top; the model tests share it."""
    import dataclasses

    from dfmask.params import TrainParams

    tiny = dict(
        input_size=32,
        base_width=4,
        depth=2,
        batch_size=8,
        max_epochs=2,
        samples_per_epoch=None,
        limit_train_batches=3,
        lr=0.01,
    )
    return dataclasses.replace(TrainParams(), **{**tiny, **overrides})


def train_paths(root: Path, run: str) -> Any:
    """The train stage's paths over a `write_synthetic_corpus` root, outputs under ``root/run``."""
    from dfmask.model.train import TrainPaths

    return TrainPaths(
        root / "faces", root / "masks", root / "splits.parquet", root / run / "models", root / run / "reports/train"
    )
