"""Join faces, masks and splits into the released mask dataset: one row per face crop.

Layout of ``data/release/`` (the ``release`` stage's only output)::

    data/<split>-part<N>-00000.parquet ...  shards, one split and one corpus part per shard,
                                     rows in (part, video_id, frame_idx, track_id) order;
                                     HF `datasets` infers the splits from the names
    schema.json                      columns, types, descriptions, HF features, variant
    DATASHEET.md                     Datasheets-for-Datasets document filled from this run
    SHA256SUMS                       `sha256sum -c SHA256SUMS` verifies every file above

Decisions (see docs/release.md):

* **Real crops get an explicit all-zero mask** (a grey PNG of the crop's size), as the
  data contract says ("real crops have all-zero masks"), so `datasets` users can stack
  masks without special cases. ``mask_source`` tells where each mask came from:
  ``ssim`` (the masks stage), ``real_zero`` (real crop), ``missing`` (a fake crop with no
  mask row upstream: mask is null; counted in the summary and datasheet).
* **Crops without a split row are not released** (they cannot be placed in train/val/
  test without risking a leak); they are counted as ``excluded.no_split``.
* **Pixel-free variant** (``release.pixels: false``): the ``crop`` column is dropped;
  masks, geometry, ids, splits and QA stay.
* **Deterministic**: shards are cut by a byte budget computed from the data only, PNG
  bytes are copied from upstream (the zero masks are encoded with fixed settings), and
  `tables.write_table` writes no timestamps. Same inputs and params ⇒ same bytes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dfmask import tables
from dfmask.errors import DfmaskError
from dfmask.params import ReleaseParams, to_dict
from dfmask.progress import progress
from dfmask.release.inputs import ReleaseInputs, read_faces_shard, read_part, read_release_splits
from dfmask.release.png import ZeroMasks, image_array, png_sizes
from dfmask.schemas.crops import VIDEO_KEY, crop_join, gather, row_index
from dfmask.schemas.release import release_spec

SHARD_DIR = "data"
_ROW_OVERHEAD = 256  # bytes per row for the non-image columns, for the shard byte budget


@dataclass
class ReleaseSummary:
    """What the release holds; the datasheet and the stage's one-line summary use it."""

    pixels: bool
    crops: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> real/fake -> rows
    videos: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> real/fake -> videos
    identities: dict[str, int] = field(default_factory=dict)  # split -> distinct identity_id
    groups: dict[str, int] = field(default_factory=dict)  # split -> distinct group_id
    mask_source: dict[str, int] = field(default_factory=dict)  # ssim / real_zero / missing
    excluded: dict[str, int] = field(default_factory=dict)  # reason -> crops not released
    orphan_masks: int = 0  # mask rows without a face row (upstream inconsistency)
    mask_size_mismatch: int = 0  # masks whose PNG size differs from the crop's
    mask_qa: dict[str, float | int | None] = field(default_factory=dict)  # over ssim masks
    shards: list[dict[str, Any]] = field(default_factory=list)  # file, split, rows, bytes
    video_status: dict[str, int] = field(default_factory=dict)  # ingest status -> videos

    @property
    def total_crops(self) -> int:
        return sum(sum(v.values()) for v in self.crops.values())

    @property
    def total_bytes(self) -> int:
        return sum(int(s["bytes"]) for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        doc = {k: v for k, v in self.__dict__.items()}
        doc["total_crops"] = self.total_crops
        doc["total_bytes"] = self.total_bytes
        return doc


# ----------------------------------------------------------------------------- join


def join_part(
    faces: pa.Table,
    masks: pa.Table,
    videos: pa.Table,
    splits: pa.Table,
    summary: ReleaseSummary,
    zero_masks: ZeroMasks | None = None,
    masks_used: np.ndarray | None = None,
) -> pa.Table:
    """Release rows (full variant columns) for ``faces`` (one shard or a whole part), in key order.

    ``splits`` may hold every part; rows of other parts simply never match. ``masks_used``
    (one bool per ``masks`` row) is set where a mask row found its face row, so that the
    caller can count orphan masks once all faces shards of the part are joined.
    """
    zero_masks = zero_masks or ZeroMasks()
    joined = crop_join(faces, masks, splits)  # a crop whose video has no split row is excluded
    if masks_used is not None:
        masks_used |= joined.masks_matched
    summary.excluded["no_split"] = summary.excluded.get("no_split", 0) + joined.no_split
    if not joined.faces.num_rows:
        return release_spec(True).schema.empty_table()
    faces, mask_row = joined.faces, joined.mask_row
    assert joined.split_row is not None
    split_row = joined.split_row
    video_row = row_index(faces, videos, VIDEO_KEY, "videos")

    # Vectorised over the part: crop bytes stay in Arrow buffers (a DFDC part holds GBs of
    # PNGs); only the 24-byte PNG headers and the reals' zero masks go through Python.
    n = faces.num_rows
    is_fake = faces["is_fake"].to_numpy(zero_copy_only=False).astype(bool)
    crop_bytes = pc.struct_field(faces["crop"], [0])  # chunked; no copy of the PNG bytes
    crop_w, crop_h, crop_ok = png_sizes(crop_bytes)
    if not crop_ok.all():
        bad = int(np.flatnonzero(~crop_ok)[0])
        raise DfmaskError(
            f"faces: crop of {faces['video_id'][bad]} frame {faces['frame_idx'][bad]} is not a PNG; "
            "re-run the faces stage"
        )
    upstream = gather(masks, "mask", mask_row).field("bytes")
    has_ssim = upstream.is_valid().to_numpy(zero_copy_only=False)
    mask_w, mask_h, _ = png_sizes(upstream)
    summary.mask_size_mismatch += int((has_ssim & ((mask_w != crop_w) | (mask_h != crop_h))).sum())
    use_zero = ~has_ssim & ~is_fake
    zero_bytes = pa.array(
        [zero_masks(int(crop_w[i]), int(crop_h[i])) if use_zero[i] else None for i in range(n)], pa.binary()
    )
    mask_bytes = pc.if_else(pa.array(has_ssim), upstream, zero_bytes)
    sources = np.where(has_ssim, "ssim", np.where(is_fake, "missing", "real_zero"))
    manipulated = pc.if_else(
        pa.array(~is_fake), pa.scalar(0.0, pa.float32()), gather(masks, "manipulated_frac", mask_row)
    )
    cols = {
        **{c: faces[c] for c in ("part", "video_id", "original_id", "frame_idx", "track_id")},
        **{c: gather(splits, c, split_row) for c in ("split", "group_id", "identity_id", "donor_identity_id")},
        "is_fake": faces["is_fake"],
        "frame_width": gather(videos, "width", video_row),
        "frame_height": gather(videos, "height", video_row),
        "fps": gather(videos, "fps", video_row),
        **{c: faces[c] for c in ("box", "crop_box", "landmarks", "prob")},
        "crop": pa.chunked_array([image_array(c) for c in crop_bytes.chunks], tables.IMAGE),
        "mask": image_array(mask_bytes),
        "mask_source": pa.array(sources.tolist(), pa.string()),
        "ssim_mean": gather(masks, "ssim_mean", mask_row),
        "manipulated_frac": manipulated,
        "mask_valid": gather(masks, "valid", mask_row),
    }
    spec = release_spec(True)
    return tables.sort_table(pa.table(cols).select(spec.schema.names).cast(spec.schema), spec)


# ----------------------------------------------------------------------------- shards


def _row_bytes(table: pa.Table) -> np.ndarray:
    sizes = np.full(table.num_rows, _ROW_OVERHEAD, np.int64)
    for col in ("crop", "mask"):
        if col in table.column_names:
            lengths = pc.binary_length(pc.struct_field(table[col], [0])).fill_null(0)
            sizes += lengths.to_numpy().astype(np.int64)
    return sizes


class _ShardWriter:
    """Cuts each (split, part) row stream into shards of about ``budget`` bytes.

    Rows arrive in batches (one per faces shard) and wait in a per-split buffer until
    the budget is met; `end_part` writes the rest. Memory is bounded by about one
    budget per split plus one faces shard. Shards never mix parts: adding a corpus part
    leaves the other parts' shards byte-identical, so DVC stores and pushes only the new
    ones (its dedup works per file).
    """

    def __init__(self, out: Path, spec: tables.TableSpec, budget: int, params: dict[str, Any]):
        self.out, self.spec, self.budget, self.params = out, spec, budget, params
        self.pending: dict[str, list[pa.Table]] = {}
        self.pending_bytes: dict[str, int] = {}
        self.index: dict[tuple[str, int], int] = {}
        self.shards: list[dict[str, Any]] = []

    def add(self, split: str, part: int, rows: pa.Table) -> None:
        cum = np.cumsum(_row_bytes(rows))
        start = 0
        while start < rows.num_rows:
            base = int(cum[start - 1]) if start else 0
            room = self.budget - self.pending_bytes.get(split, 0)
            stop = int(np.searchsorted(cum, base + room, side="left")) + 1  # rows to fill the budget
            stop = min(max(stop, start + 1), rows.num_rows)
            self.pending.setdefault(split, []).append(rows.slice(start, stop - start))
            self.pending_bytes[split] = self.pending_bytes.get(split, 0) + int(cum[stop - 1]) - base
            start = stop
            if self.pending_bytes[split] >= self.budget:
                self._flush(split, part)

    def end_part(self, part: int) -> None:
        for split in sorted(self.pending):
            self._flush(split, part)

    def _flush(self, split: str, part: int) -> None:
        chunks = self.pending.pop(split, [])
        self.pending_bytes.pop(split, None)
        if not chunks:
            return
        table = pa.concat_tables(chunks)
        index = self.index.get((split, part), 0)
        self.index[(split, part)] = index + 1
        name = f"{SHARD_DIR}/{split}-part{part}-{index:05d}.parquet"
        avg = max(1, int(_row_bytes(table).mean()))
        path = tables.write_table(
            table,
            self.out / name,
            self.spec,
            stage="release",
            params=self.params,
            extra={"split": split, "part": part, "shard": index},
            row_group_size=max(1, (32 << 20) // avg),
        )
        self.shards.append(
            {
                "file": name,
                "split": split,
                "part": part,
                "rows": table.num_rows,
                "bytes": path.stat().st_size,
                "sha256": tables.file_sha256(path),
            }
        )


def _split_name(split: str) -> str:
    if not split or not all(c.isalnum() or c in "_" for c in split):
        raise DfmaskError(
            f"split value {split!r} in the splits table is not a plain name; release shard names need [A-Za-z0-9_]"
        )
    return split


def _count(summary: ReleaseSummary, rows: pa.Table) -> None:
    for split_value in sorted(set(rows["split"].to_pylist())):
        sub = rows.filter(pc.equal(rows["split"], split_value))
        for label, fake in (("real", False), ("fake", True)):
            lab = sub.filter(pc.equal(sub["is_fake"], fake))
            crops = summary.crops.setdefault(split_value, {"real": 0, "fake": 0})
            crops[label] += lab.num_rows
    for src in rows["mask_source"].to_pylist():
        summary.mask_source[src] = summary.mask_source.get(src, 0) + 1


def _finish_counts(
    summary: ReleaseSummary,
    videos: dict[str, set[tuple[int, str, bool]]],
    ids: dict[str, set[str]],
    groups: dict[str, set[str]],
    qa: dict[str, list[Any]],
) -> None:
    for split, vids in sorted(videos.items()):
        summary.videos[split] = {"real": sum(1 for v in vids if not v[2]), "fake": sum(1 for v in vids if v[2])}
        summary.identities[split] = len(ids[split])
        summary.groups[split] = len(groups[split])
    frac = np.array([v for v in qa["manipulated_frac"] if v is not None], np.float64)
    ssim = np.array([v for v in qa["ssim_mean"] if v is not None], np.float64)
    valid = [v for v in qa["valid"] if v is not None]
    summary.mask_qa = {
        "masks": len(qa["valid"]),
        "valid": int(sum(valid)),
        "invalid": len(valid) - int(sum(valid)),
        "manipulated_frac_mean": round(float(frac.mean()), 4) if frac.size else None,
        "manipulated_frac_p10": round(float(np.percentile(frac, 10)), 4) if frac.size else None,
        "manipulated_frac_p50": round(float(np.percentile(frac, 50)), 4) if frac.size else None,
        "manipulated_frac_p90": round(float(np.percentile(frac, 90)), 4) if frac.size else None,
        "ssim_mean_mean": round(float(ssim.mean()), 4) if ssim.size else None,
    }


def build_release(inputs: ReleaseInputs, out: Path, params: ReleaseParams) -> ReleaseSummary:
    """Write the release shards under ``out/data`` and return what they hold.

    ``out`` is emptied first (it is the stage's own output folder). schema.json,
    DATASHEET.md and SHA256SUMS are written by `dfmask.release.manifest` afterwards.
    """
    if params.shard_mb < 1:
        raise DfmaskError(f"params: release.shard_mb must be >= 1, got {params.shard_mb}")
    if out.exists():
        shutil.rmtree(out)
    spec = release_spec(params.pixels)
    summary = ReleaseSummary(pixels=params.pixels)
    writer = _ShardWriter(out, spec, params.shard_mb * 1_000_000, {"release": to_dict(params)})
    splits = read_release_splits(inputs)
    zero_masks = ZeroMasks()
    videos: dict[str, set[tuple[int, str, bool]]] = {}
    ids: dict[str, set[str]] = {}
    groups: dict[str, set[str]] = {}
    qa: dict[str, list[Any]] = {"manipulated_frac": [], "ssim_mean": [], "valid": []}
    for part in progress(inputs.parts, desc="release", unit="part"):
        faces_files, masks, part_videos = read_part(inputs, part)
        for status in part_videos["status"].to_pylist():
            summary.video_status[str(status)] = summary.video_status.get(str(status), 0) + 1
        masks_used = np.zeros(masks.num_rows, bool)
        for faces_file in faces_files:  # one faces shard at a time: bounded memory
            faces = read_faces_shard(faces_file)
            rows = join_part(faces, masks, part_videos, splits, summary, zero_masks, masks_used)
            if not params.pixels:
                rows = rows.drop_columns(["crop"])
            _count(summary, rows)
            small = rows.select([c for c in rows.column_names if c not in ("crop", "mask")])
            ssim_rows = small.filter(pc.equal(small["mask_source"], "ssim"))
            for col, key in (
                ("manipulated_frac", "manipulated_frac"),
                ("ssim_mean", "ssim_mean"),
                ("mask_valid", "valid"),
            ):
                qa[key] += ssim_rows[col].to_pylist()
            for split_value in sorted(set(small["split"].to_pylist())):
                sub = small.filter(pc.equal(small["split"], split_value))
                videos.setdefault(split_value, set()).update(
                    zip(sub["part"].to_pylist(), sub["video_id"].to_pylist(), sub["is_fake"].to_pylist(), strict=True)
                )
                ids.setdefault(split_value, set()).update(v for v in sub["identity_id"].to_pylist() if v is not None)
                groups.setdefault(split_value, set()).update(v for v in sub["group_id"].to_pylist() if v is not None)
                writer.add(_split_name(split_value), part, rows.filter(pc.equal(rows["split"], split_value)))
            del faces, rows
        writer.end_part(part)
        summary.orphan_masks += int((~masks_used).sum())
    if not writer.shards:
        raise DfmaskError(
            f"release: no crops to release from parts {list(inputs.parts)} "
            f"(excluded: {summary.excluded}); check the faces and splits tables"
        )
    _finish_counts(summary, videos, ids, groups, qa)
    summary.shards = sorted(writer.shards, key=lambda s: s["file"])
    return summary


def iter_shards(out: Path) -> Iterator[Path]:
    """The release's Parquet shards in name order."""
    yield from sorted((out / SHARD_DIR).glob("*.parquet"))
