"""`repo_utils.outputs_naming`, the scan the pipeline test uses to prove that no output
names the folder it was built in: it must see a path wherever a file can hide one."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from repo_utils import outputs_naming

NEEDLE = "/some/checkout/dfmask"


def test_scan_finds_a_path_in_compressed_parquet_metadata_checkpoints_and_text(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    (tmp_path / "reports").mkdir()
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    paths = ["a.png"] * 10 + [NEEDLE[:-1] + "X", NEEDLE]
    nested = pa.table({"id": ["a"] * 12, "crop": pa.array([{"bytes": b"", "path": p} for p in paths], image)})
    # the value only in an encoded page: DELTA_BYTE_ARRAY stores it as the previous
    # value's prefix length plus "k", and no min/max statistics sit in the footer
    pq.write_table(
        nested,
        tmp_path / "data/nested.parquet",
        use_dictionary=False,
        column_encoding={"crop.path": "DELTA_BYTE_ARRAY"},
        write_statistics=False,
    )
    assert NEEDLE.encode() not in (tmp_path / "data/nested.parquet").read_bytes()
    listed = pa.table({"details": pa.array([["ok"], [f"{NEEDLE}/v.mp4: decode failed"]])})
    pq.write_table(listed, tmp_path / "data/listed.parquet", compression="zstd", write_statistics=False)
    meta = pa.table({"id": ["a"]}).replace_schema_metadata({"dfmask": json.dumps({"root": NEEDLE})})
    pq.write_table(meta, tmp_path / "data/meta.parquet")
    pq.write_table(nested.select(["id"]), tmp_path / "data/clean.parquet", compression="zstd")
    torch.save({"callbacks": {"dirpath": NEEDLE}}, tmp_path / "models/run.ckpt")
    with zipfile.ZipFile(tmp_path / "models/deflated.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("doc.txt", ("filler " * 200 + NEEDLE) * 3)
    (tmp_path / "reports/run.json").write_text(json.dumps({"out": f"{NEEDLE}/models"}))
    (tmp_path / "reports/clean.json").write_text(json.dumps({"out": "models/train"}))
    (tmp_path / "elsewhere.txt").write_text(NEEDLE)  # not an output folder
    found = outputs_naming(tmp_path, [NEEDLE, "/not/there"])
    assert found == {
        "data/listed.parquet": [NEEDLE],
        "data/meta.parquet": [NEEDLE],
        "data/nested.parquet": [NEEDLE],
        "models/deflated.zip": [NEEDLE],
        "models/run.ckpt": [NEEDLE],
        "reports/run.json": [NEEDLE],
    }
