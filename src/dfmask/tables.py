"""Parquet I/O for every dfmask table: image cells, schema metadata, atomic writes.

Contracts (see docs/design.md, "Contracts"):

* Every table has a `TableSpec`: a name, an integer version and an explicit
  `pyarrow` schema whose fields carry a one-line description. The specs of the
  pipeline's tables live in the catalogue, `dfmask.schemas` (one module per table,
  with its typed readers), and are all registered in `dfmask.schemas.registry.SPECS`
  for docs and tests. This module is the I/O under them: cells, metadata, atomic
  writes, version-checked reads, ``part=N`` paths and the one shard writer.
* The file's schema metadata holds, under the key ``dfmask``, a JSON document with
  the table name and version, the producing stage, the params that shaped it and the
  library versions; and under ``huggingface``, a `datasets` features entry so that
  image columns decode as images (the HF `Image` feature convention).
* Images are ``struct<bytes: binary, path: string>`` cells with PNG bytes.
* Writes go to a temporary name in the same folder and are renamed into place, so a
  crash never leaves a half-written table under the final name.
* Outputs are deterministic: rows are sorted by the spec's key, PNGs are encoded with
  fixed settings, and no timestamp is written anywhere.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dfmask.errors import DfmaskError

#: Parquet type of an image cell: the Hugging Face `datasets` Image storage layout.
IMAGE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])

#: Fixed-size list types for geometry columns.
BOX = pa.list_(pa.float32(), 4)  # x0, y0, x1, y1 in full-resolution pixels
LANDMARKS = pa.list_(pa.float32(), 10)  # 5 (x, y) points: eyes, nose, mouth corners

_META_KEY = b"dfmask"
_HF_KEY = b"huggingface"

# Libraries whose versions are recorded in every table's metadata.
_RECORDED_LIBS = (
    "dfmask",
    "numpy",
    "pyarrow",
    "av",
    "opencv-python-headless",
    "scikit-image",
    "torch",
    "facenet-pytorch",
    "dlib-bin",
)


@dataclass(frozen=True)
class TableSpec:
    """The contract of one Parquet table.

    Attributes:
        name: table name, e.g. ``"videos"``.
        version: schema version; readers refuse a file of another version.
        schema: the exact pyarrow schema; every field should carry a ``description``
            in its metadata (use `field`).
        sort_key: columns the rows are sorted by before writing (determinism).
        image_columns: columns of type `IMAGE`, declared as HF ``Image`` features.
    """

    name: str
    version: int
    schema: pa.Schema
    sort_key: tuple[str, ...]
    image_columns: tuple[str, ...] = ()

    def describe(self) -> dict[str, str]:
        """Column name → description, for docs and datasheets."""
        out = {}
        for f in self.schema:
            meta = f.metadata or {}
            out[f.name] = meta.get(b"description", b"").decode()
        return out


def field(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> pa.Field:
    """A schema field with its description stored in the field metadata."""
    return pa.field(name, type_, nullable=nullable, metadata={"description": description})


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape our outputs."""
    versions = {}
    for lib in _RECORDED_LIBS:
        try:
            versions[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions


# ----------------------------------------------------------------------------- images


def encode_png(image: np.ndarray) -> bytes:
    """Encode an RGB (H, W, 3) or grey (H, W) uint8 array as PNG bytes.

    Deterministic: fixed compression level, no timestamps or text chunks.
    """
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png wants uint8, got {image.dtype}")
    if image.ndim == 3:
        if image.shape[2] != 3:
            raise ValueError(f"encode_png wants 3 channels, got shape {image.shape}")
        image = image[:, :, ::-1]  # RGB -> BGR for OpenCV
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(image), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def decode_png(data: bytes, grey: bool = False) -> np.ndarray:
    """Decode PNG bytes to an RGB (H, W, 3) uint8 array, or (H, W) if ``grey``."""
    flag = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    image = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if image is None:
        raise DfmaskError("could not decode a PNG cell: the bytes are not a valid PNG")
    if not grey:
        image = np.ascontiguousarray(image[:, :, ::-1])
    return image


def image_cell(image: np.ndarray, path: str | None = None) -> dict[str, Any]:
    """A value for an `IMAGE` column: ``{"bytes": <png>, "path": path}``."""
    return {"bytes": encode_png(image), "path": path}


# ----------------------------------------------------------------------------- metadata


def _hf_features(spec: TableSpec) -> dict[str, Any]:
    """A `datasets` Features dict: Image for image columns, Value/Sequence otherwise.

    Hand-written, not ``datasets.Features(...).to_dict()``, on purpose: `datasets` 4+
    serialises list columns as ``{"_type": "List"}`` where this writes the ``Sequence``
    spelling, so building it with `datasets` would change the metadata bytes of every
    table already written (and DVC would see every output change). Both spellings load
    as the same features; tests/test_tables.py holds this dict to `datasets.Features`
    (parity per table of `dfmask.schemas.registry.SPECS`). Not importing `datasets` here
    also keeps it out of every stage's start-up.
    """

    def feature(t: pa.DataType) -> dict[str, Any]:
        if pa.types.is_fixed_size_list(t) or pa.types.is_list(t):
            inner = feature(t.value_type)
            out: dict[str, Any] = {"feature": inner, "_type": "Sequence"}
            if pa.types.is_fixed_size_list(t):
                out["length"] = t.list_size
            return out
        if pa.types.is_dictionary(t):
            return feature(t.value_type)
        name = str(t)
        name = {"float": "float32", "double": "float64", "bool": "bool"}.get(name, name)
        if name == "binary":
            name = "binary"
        return {"dtype": name, "_type": "Value"}

    feats: dict[str, Any] = {}
    for f in spec.schema:
        if f.name in spec.image_columns:
            feats[f.name] = {"_type": "Image"}
        else:
            feats[f.name] = feature(f.type)
    return {"info": {"features": feats}}


def build_metadata(
    spec: TableSpec, stage: str, params: Mapping[str, Any] | None, extra: Mapping[str, Any] | None
) -> dict[bytes, bytes]:
    doc = {
        "table": spec.name,
        "schema_version": spec.version,
        "stage": stage,
        "params": dict(params or {}),
        "libraries": library_versions(),
        "columns": spec.describe(),
    }
    if extra:
        doc["extra"] = dict(extra)
    return {
        _META_KEY: json.dumps(doc, sort_keys=True, default=str).encode(),
        _HF_KEY: json.dumps(_hf_features(spec), sort_keys=True).encode(),
    }


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``dfmask`` metadata document of a Parquet file written by `write_table` (a file
    that is no Parquet table at all, a CSV or a truncated one, is a one-line `DfmaskError`)."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except (pa.ArrowException, OSError) as err:
        raise DfmaskError(f"{path}: not a Parquet table ({str(err).splitlines()[0]})") from None
    if _META_KEY not in meta:
        raise DfmaskError(f"{path}: not a dfmask table (no '{_META_KEY.decode()}' schema metadata)")
    return dict(json.loads(meta[_META_KEY]))


# ----------------------------------------------------------------------------- write / read


def to_table(
    spec: TableSpec, rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
) -> pa.Table:
    """Build a table of ``spec``'s schema from row dicts or a column dict; sort it."""
    if isinstance(rows, Mapping):
        table = pa.table(dict(rows), schema=spec.schema)
    else:
        table = pa.Table.from_pylist(list(rows), schema=spec.schema)
    return sort_table(table, spec)


def sort_table(table: pa.Table, spec: TableSpec) -> pa.Table:
    if spec.sort_key and table.num_rows:
        table = table.sort_by([(k, "ascending") for k in spec.sort_key])
    return table


def _hf_nullable_images(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Store image columns as nullable Parquet fields, even if the spec says non-null.

    `datasets` applies our ``huggingface`` Image feature only when the file's field equals
    the feature's Arrow field, nullability included; a ``required`` image column loads as a
    raw struct instead of an image. Nulls were already ruled out by the spec's cast.
    """
    if not any(
        not table.schema.field(c).nullable for c in spec.image_columns if c in table.column_names
    ):
        return table
    fields = [f.with_nullable(True) if f.name in spec.image_columns else f for f in table.schema]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def _temp_beside(path: Path) -> tuple[int, str]:
    """A temp file in ``path``'s folder, for a write-then-rename; an unwritable folder is
    an `OSError` naming ``path`` (not the random temp name)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise type(err)(err.errno, err.strerror, str(path)) from err


def write_table(
    table: pa.Table,
    path: str | os.PathLike[str],
    spec: TableSpec,
    stage: str,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    row_group_size: int | None = None,
) -> Path:
    """Write ``table`` atomically to ``path`` with ``spec``'s schema and metadata.

    The table is cast to the spec's schema (so a wrong column fails here, naming it),
    sorted by the spec's key, written to a temp file beside ``path`` and renamed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = table.select(spec.schema.names).cast(spec.schema)
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ValueError(
            f"table for {spec.name} v{spec.version} does not match its schema: {err}"
        ) from err
    table = sort_table(table, spec)
    table = _hf_nullable_images(table, spec)
    table = table.replace_schema_metadata(build_metadata(spec, stage, params, extra))
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            row_group_size=row_group_size,
            write_statistics=True,
            store_schema=True,
        )
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_table(
    path: str | os.PathLike[str], spec: TableSpec, columns: Iterable[str] | None = None
) -> pa.Table:
    """Read a table written by `write_table`, checking its name and schema version."""
    path = Path(path)
    if not path.exists():
        raise DfmaskError(f"{path}: missing {spec.name} table; run the stage that writes it")
    meta = read_metadata(path)
    if meta.get("table") != spec.name or meta.get("schema_version") != spec.version:
        raise DfmaskError(
            f"{path}: is table {meta.get('table')!r} v{meta.get('schema_version')}, expected "
            f"{spec.name!r} v{spec.version}; re-run the stage that writes it (dvc repro)"
        )
    cols = list(columns) if columns is not None else None
    names = pq.read_schema(path).names
    missing = [c for c in (spec.schema.names if cols is None else cols) if c not in names]
    if missing:
        raise DfmaskError(
            f"{path}: {spec.name} table lacks column(s) {', '.join(missing)}; "
            "re-run the stage that writes it (dvc repro)"
        )
    return pq.read_table(path, columns=cols)


def read_tables(
    paths: Iterable[str | os.PathLike[str]], spec: TableSpec, columns: Iterable[str] | None = None
) -> pa.Table:
    """Concatenate several shards of one table (each checked like `read_table`).

    Each shard is cast to the spec's fields before concatenation: shards written by
    other versions of a stage may differ in nullability, which `pa.concat_tables`
    refuses; a column of another type is a `DfmaskError` naming the file.
    """
    cols = list(columns) if columns is not None else None
    unknown = [c for c in cols or () if c not in spec.schema.names]
    if unknown:
        raise ValueError(f"{spec.name} v{spec.version} has no column(s) {', '.join(unknown)}")
    schema = spec.schema if cols is None else pa.schema([spec.schema.field(c) for c in cols])
    parts = []
    for path in sorted(map(Path, paths)):
        table = read_table(path, spec, cols)
        try:
            parts.append(table.cast(schema))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
            raise DfmaskError(
                f"{path}: {spec.name} columns do not read as {spec.name} v{spec.version} ({err}); "
                "re-run the stage that writes it (dvc repro)"
            ) from err
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts)


def shard_paths(folder: str | os.PathLike[str]) -> list[Path]:
    """Parquet shards in ``folder`` (non-recursive), in name order."""
    return sorted(Path(folder).glob("*.parquet"))


def part_path(root: str | os.PathLike[str], part: int, suffix: str = "") -> Path:
    """Where part ``part`` of a per-part output lives under ``root``: ``root/part=N``
    (a folder of shards) or, with ``suffix=".parquet"``, ``root/part=N.parquet``."""
    return Path(root) / f"part={int(part)}{suffix}"


def table_shards(folder: str | os.PathLike[str], spec: TableSpec) -> list[Path]:
    """The shards of ``spec``'s table in ``folder``, in name order.

    Picked by the table name in their ``dfmask`` metadata, not by file name: a folder
    may hold other tables too, and Parquet files that are not dfmask tables are skipped.
    The version is checked when a shard is read (`read_table`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DfmaskError(f"{folder}: missing {spec.name} folder; run the stage that writes it (dvc repro)")
    found = []
    for path in shard_paths(folder):
        try:
            name = read_metadata(path).get("table")
        except DfmaskError:
            continue  # not a dfmask table
        if name == spec.name:
            found.append(path)
    return found


def write_shards(
    units: Iterable[pa.Table],
    out_dir: str | os.PathLike[str],
    prefix: str,
    spec: TableSpec,
    max_rows: int,
    stage: str,
    params: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write ``units`` as shards ``<prefix>-00000.parquet``, ... of at most ``max_rows`` rows.

    A unit (one video's rows) never spans two shards: a shard is closed before the unit
    that would take it past ``max_rows`` (a unit larger than that gets a shard of its
    own). Units are taken in the order given, so the shards are deterministic; a unit
    without rows still belongs to the open shard. No units at all gives one empty shard
    carrying the schema. Older ``<prefix>-*.parquet`` files not written now are deleted.

    Returns:
        The shard paths, in order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups: list[list[pa.Table]] = []
    rows = 0
    for unit in units:
        if groups and groups[-1] and rows + unit.num_rows > max_rows:
            groups.append([])
            rows = 0
        if not groups:
            groups.append([])
        groups[-1].append(unit)
        rows += unit.num_rows
    written = []
    for i, group in enumerate(groups or [[]]):
        table = pa.concat_tables(group) if group else spec.schema.empty_table()
        written.append(write_table(table, out_dir / f"{prefix}-{i:05d}.parquet", spec, stage, params, extra))
    for stale in sorted(out_dir.glob(f"{prefix}-*.parquet")):
        if stale not in written:
            stale.unlink()
    return written


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Items of one per-video list that a stage report shows (the rest are only counted).
REPORT_SAMPLE_ITEMS = 20
#: Bytes of JSON that the shown items of one list may take.
REPORT_SAMPLE_BYTES = 4_000


def sample_list(
    items: Sequence[Any], limit: int = REPORT_SAMPLE_ITEMS, max_bytes: int = REPORT_SAMPLE_BYTES
) -> dict[str, Any]:
    """A bounded view of a per-video list, for a stage report.

    Reports are git-tracked stage outputs: they count and sample, they do not list a
    corpus (200k entries made a 39 MB report). The full per-video lists live in the
    stage's Parquet status table. Shows the first items, in order, while at most
    ``limit`` of them fit in ``max_bytes`` of JSON; an item too large to fit ends the
    sample.

    Returns:
        ``{"count": len(items), "shown": k, "sample": items[:k]}``.
    """
    shown: list[Any] = []
    size = 0
    for item in items[:limit]:
        size += len(json.dumps(item, sort_keys=True, default=_json_default)) + 2
        if size > max_bytes:
            break
        shown.append(item)
    return {"count": len(items), "shown": len(shown), "sample": shown}


def write_json(path: str | os.PathLike[str], doc: Any) -> Path:
    """Write a JSON report atomically, with sorted keys (deterministic diffs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_beside(path)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True, default=_json_default)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
