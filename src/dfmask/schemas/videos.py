"""The ingest table, ``<videos>/part=N.parquet``: one row per video of a corpus part.

Written by ``ingest@N`` (`dfmask.corpus.ingest`); statuses are documented in
`dfmask.corpus.metadata` and `dfmask.corpus.adapters.base`.

``corpus.kind: dfdc`` writes `VIDEOS` exactly (its bytes have not changed since v2, so an
existing DFDC run re-runs nothing). Every other kind writes the same table (same name and
version) with the adapter's columns (`ADAPTER_FIELDS`) after `VIDEOS`'s (`spec_for`).
Readers read the columns they need by name; reading with `VIDEOS` works on either.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence

import pyarrow as pa

from dfmask.errors import DfmaskError
from dfmask.tables import TableSpec, field, part_path, read_tables

VIDEOS = TableSpec(
    name="videos",
    version=2,
    schema=pa.schema(
        [
            field("part", pa.int16(), "corpus part N of dfdc_train_part_N", nullable=False),
            field(
                "video_id",
                pa.string(),
                "file name without .mp4 (the whole name for duplicate_name rows); unique across the corpus",
                nullable=False,
            ),
            field(
                "filename", pa.string(), "file name as listed in metadata.json (or found, if unlisted)", nullable=False
            ),
            field("path", pa.string(), "path relative to corpus.root: dfdc_train_part_N/<filename>"),
            field("label", pa.string(), "REAL / FAKE as listed (null if unlisted or not a string)"),
            field("is_fake", pa.bool_(), "label == FAKE (FAKE = True)"),
            field("original_id", pa.string(), "video_id of a fake's original; null for reals"),
            field("dfdc_split", pa.string(), "metadata.json's own 'split' field (not dfmask's split)"),
            field("status", pa.string(), "'ok' or why this video cannot be used (see corpus.metadata)", nullable=False),
            field("status_detail", pa.string(), "human-readable reason for a non-ok status"),
            field("frames", pa.int32(), "frames that decode (probe), 0 if none"),
            field("declared_frames", pa.int32(), "frame count declared by the container header"),
            field("fps", pa.float32(), "average frame rate, frames/s"),
            field("width", pa.int32(), "coded frame width, px"),
            field("height", pa.int32(), "coded frame height, px"),
            field("duration", pa.float32(), "seconds"),
            field("codec", pa.string(), "video codec name, e.g. h264"),
            field("bytes", pa.int64(), "file size in bytes"),
            field(
                "sha256",
                pa.string(),
                "sha256 of the file's bytes (hex); keys the faces work items, so a changed video "
                "is recomputed; null when the file was not read",
            ),
            field("rotation", pa.int16(), "display rotation in degrees (0/90/180/270)"),
        ]
    ),
    sort_key=("part", "video_id"),
)


#: The columns an adapter adds for corpora other than DFDC (docs/corpora.md).
ADAPTER_FIELDS = (
    field("corpus", pa.string(), "corpus.kind the table was read with (ffpp, celebdf, ...)", nullable=False),
    field(
        "method", pa.string(), "manipulation method as the corpus names it (Deepfakes, celeb-df, ...); null for reals"
    ),
    field("identity", pa.string(), "who the video shows (a fake: its target), '<corpus>:<id>', when the corpus says"),
    field("donor_identity", pa.string(), "whose face a fake carries, '<corpus>:<id>', when the corpus says"),
    field("official_split", pa.string(), "the corpus's own split (train/val/test), not dfmask's; null if none"),
    field("mask_path", pa.string(), "the corpus's true manipulation-mask video, relative to corpus.root"),
    field("quality", pa.string(), "the corpus's compression level (FF++ c0/c23/c40); null if none"),
    field("group_id", pa.string(), "copies of one video share it (FF++ c23 and c40); the split keeps a group together"),
)

#: The column a mixed run (``corpus.kind: mixed``) adds after `ADAPTER_FIELDS`, whatever
#: the part's layout (a DFDC source's part too).
SOURCE_FIELD = field(
    "source", pa.string(), "the corpus.sources entry the video came from (its ids are '<source>-<id>')", nullable=False
)

#: The registered ``videos`` table (`VIDEOS`) with `ADAPTER_FIELDS` after its columns:
#: not a table of its own (same name, version and readers), hence not registered apart;
#: only `spec_for` hands it out, to the writer.
_CORPUS_VIDEOS = dataclasses.replace(VIDEOS, schema=pa.schema([*VIDEOS.schema, *ADAPTER_FIELDS]))
_MIXED_VIDEOS = dataclasses.replace(VIDEOS, schema=pa.schema([*VIDEOS.schema, *ADAPTER_FIELDS, SOURCE_FIELD]))


def spec_for(kind: str) -> TableSpec:
    """The table a ``corpus.kind`` writes: `VIDEOS` for DFDC, `VIDEOS` plus
    `ADAPTER_FIELDS` for another layout, plus `SOURCE_FIELD` for ``mixed``. A single
    corpus's table is the same whether or not mixed runs exist."""
    return VIDEOS if kind == "dfdc" else _MIXED_VIDEOS if kind == "mixed" else _CORPUS_VIDEOS


def read_videos(root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str] | None = None) -> pa.Table:
    """The ingest tables ``root/part=N.parquet`` of ``parts``, version-checked, concatenated
    in part order (a missing part is a `DfmaskError` naming its file). Only `VIDEOS`'s
    columns: a corpus other than DFDC adds `ADAPTER_FIELDS`, read by name."""
    cols = VIDEOS.schema.names if columns is None else columns
    return read_tables([part_path(root, p, ".parquet") for p in parts], VIDEOS, cols)


def read_corpus_videos(
    root: str | os.PathLike[str], parts: Sequence[int], columns: Iterable[str]
) -> pa.Table | None:
    """``columns`` (of `VIDEOS` or `ADAPTER_FIELDS`) of the ingest tables of ``parts``
    written from a corpus other than DFDC, in part order; None when no part's table has
    the adapter columns (a DFDC corpus, or the sample)."""
    import pyarrow.parquet as pq

    paths = [part_path(root, p, ".parquet") for p in parts]
    with_adapter = [p for p in paths if p.exists() and "mask_path" in pq.read_schema(p).names]
    return read_tables(with_adapter, _CORPUS_VIDEOS, columns) if with_adapter else None


def read_sources(root: str | os.PathLike[str], parts: Sequence[int]) -> dict[str, str] | None:
    """video_id → its ``corpus.sources`` name when the ingest tables of ``parts`` were
    written by a mixed run (they have `SOURCE_FIELD`), else None (one corpus)."""
    import pyarrow.parquet as pq

    paths = [part_path(root, p, ".parquet") for p in parts]
    mixed = [p for p in paths if p.exists() and SOURCE_FIELD.name in pq.read_schema(p).names]
    if not mixed:
        return None
    others = [p for p in paths if p.exists() and p not in mixed]
    if others:  # a hand run over tables of two runs: which source would the others be?
        raise DfmaskError(
            f"{others[0]}: written by a single-corpus run, but {mixed[0].name} by a mixed one "
            "(corpus.kind: mixed); re-run ingest for every part with the same corpus params"
        )
    ids, names = (c.to_pylist() for c in read_tables(mixed, _MIXED_VIDEOS, ["video_id", "source"]).columns)
    return dict(zip(ids, names, strict=True))
