"""The files beside the shards: schema.json and SHA256SUMS.

``SHA256SUMS`` uses the coreutils format (``<hex>  <relative path>``), so a researcher can
check a download with ``cd release && sha256sum -c SHA256SUMS`` and no dfmask install.
It is written last and covers every other file in the release folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dfmask import tables
from dfmask.errors import DfmaskError
from dfmask.release.build import SHARD_DIR
from dfmask.schemas.release import release_spec

SUMS = "SHA256SUMS"
SCHEMA = "schema.json"


def schema_doc(pixels: bool) -> dict[str, Any]:
    """A JSON description of the release table: columns, Arrow types, HF features."""
    spec = release_spec(pixels)
    hf = json.loads(tables.build_metadata(spec, "release", None, None)[b"huggingface"])
    return {
        "table": spec.name,
        "schema_version": spec.version,
        "variant": "full" if pixels else "pixel-free",
        "shards": f"{SHARD_DIR}/<split>-part<N>-<index>.parquet",
        "sort_key": list(spec.sort_key),
        "image_columns": list(spec.image_columns),
        "columns": [{"name": f.name, "type": str(f.type), "description": spec.describe()[f.name]} for f in spec.schema],
        "huggingface": hf,
        "mask_encoding": "grey PNG, 255 = manipulated, 0 = untouched; binary mask = mask > 0",
    }


def write_schema(out: Path, pixels: bool) -> Path:
    return tables.write_json(out / SCHEMA, schema_doc(pixels))


def write_sums(out: Path) -> Path:
    """Write SHA256SUMS over every file under ``out`` except itself, sorted by path."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != SUMS)
    lines = [f"{tables.file_sha256(p)}  {p.relative_to(out).as_posix()}\n" for p in files]
    path = out / SUMS
    path.write_text("".join(lines))
    return path


def verify_sums(out: Path) -> list[str]:
    """Files under ``out`` whose SHA-256 differs from SHA256SUMS (empty list: all good)."""
    sums = out / SUMS
    if not sums.exists():
        raise DfmaskError(f"{sums}: missing; is {out} a dfmask release folder?")
    bad = []
    for line in sums.read_text().splitlines():
        digest, name = line.split("  ", 1)
        path = out / name
        if not path.exists() or tables.file_sha256(path) != digest:
            bad.append(name)
    return bad
