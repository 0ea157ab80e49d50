"""The "lost" measure: a canonical digest of a video's rows in a stage's output table.

Two runs keep a video's rows intact when the rows hold the same values, whatever the
file bytes around them (shard cuts, row groups, schema metadata, compression). So a
video's rows are serialised one by one as canonical JSON lines, sorted: image
cells become the sha256 of their PNG bytes plus their path, floats their exact
``repr``, lists stay lists; the digest is the sha256 of those lines.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return repr(value)  # exact, and NaN-safe
    return value


def row_line(row: Mapping[str, Any], rename: Mapping[str, str] | None = None) -> str:
    """One row as a canonical JSON line. ``rename`` maps a video id to the id to write
    instead (wherever it occurs as a whole value or as a path segment), so a renamed
    copy of a video can be compared with its source."""
    doc = _canonical(dict(row))
    if rename:
        doc = _renamed(doc, rename)
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _renamed(value: Any, rename: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        if value in rename:
            return rename[value]
        parts = value.split("/")
        return "/".join(rename.get(p, p) for p in parts)
    if isinstance(value, dict):
        return {k: _renamed(v, rename) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, rename) for v in value]
    return value


def digest_rows(rows: Iterable[Mapping[str, Any]], rename: Mapping[str, str] | None = None) -> str:
    """sha256 of the rows' canonical lines, sorted (so row order and shard cuts do not count)."""
    h = hashlib.sha256()
    for line in sorted(row_line(row, rename) for row in rows):
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def read_rows(files: Sequence[Path]) -> pa.Table | None:
    """All rows of a set of Parquet shards (None if there is none)."""
    tables = [pq.read_table(f) for f in sorted(files)]
    if not tables:
        return None
    return pa.concat_tables([t.replace_schema_metadata(None) for t in tables], promote_options="default")


def digests_by_video(table: pa.Table | None, videos: Iterable[str]) -> dict[str, str | None]:
    """Digest of each video's rows in ``table`` (None where the video has no row)."""
    wanted = set(videos)
    rows: dict[str, list[dict[str, Any]]] = {v: [] for v in wanted}
    if table is not None:
        for row in table.to_pylist():
            if row.get("video_id") in wanted:
                rows[row["video_id"]].append(row)
    return {v: (digest_rows(r) if r else None) for v, r in sorted(rows.items())}
