"""Resumable per-item progress for long stages.

DVC deletes a stage's outputs before running it, so progress cannot live in the
outputs. A `WorkDir` keeps one small Parquet file per finished item (a video) under
``<paths.work>/<stage>/<scope>/<fingerprint>/``, where the fingerprint hashes everything
that shapes the item's result (params, input file hashes, schema version). After a
crash or ``kill -9`` the same command finds the finished items and skips them; the
final shards are assembled from these files, so a resumed run writes exactly the
bytes an uninterrupted one does.

Each item file is written to a temp name and renamed, so a kill mid-write leaves no
partial item behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from dfmask.tables import file_sha256, library_versions

#: Names used as-is for an item's file: a letter or digit first (never a hidden file), at
#: most 101 characters (well under the 255-byte file-name limit), no path separator.
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,100}")
#: The form of a hashed name: a video id of this form is hashed too, so that no plain id
#: can take the file of another id's hash (found by `make robustness`, hashed_name_twin).
_HASHED = re.compile(r"h[0-9a-f]{24}")


def item_name(name: str) -> str:
    """A safe work-item file name for ``name`` (a video id): the name itself when it is
    plain, else ``h`` + 24 hex digits of its sha256. Video ids may be any legal file
    stem (``.hidden``, 250 characters, spaces, non-ASCII), none of which may become a
    file name here unchanged. One-to-one (up to sha256 collisions): an id that looks
    like a hashed name is hashed as well, so it never shares a file with the id whose
    hash it spells."""
    if _PLAIN.fullmatch(name) and not _HASHED.fullmatch(name):
        return name
    return "h" + hashlib.sha256(name.encode()).hexdigest()[:24]


def fingerprint(doc: Mapping[str, Any]) -> str:
    """A short stable hash of a JSON-able document."""
    blob = json.dumps(doc, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def code_and_libraries(files: Sequence[Path], base: Path) -> dict[str, Any]:
    """The part of a work key that follows the code: the sha256 of each source file
    (named by its path under ``base``) and the versions of the libraries that shape
    outputs. DVC re-runs a stage when its code changes; with these in the key, items
    computed by the old code or libraries are never reused then."""
    return {
        "code": {Path(f).resolve().relative_to(Path(base).resolve()).as_posix(): file_sha256(f) for f in files},
        "libraries": library_versions(),
    }


class WorkDir:
    """Finished-item store of one stage scope (e.g. ``faces``/``part=3``).

    Args:
        stage: stage name, e.g. ``"faces"``.
        scope: sub-scope, e.g. ``"part=3"``.
        key: everything that shapes an item's result; hashed into the folder name, so
            changed params never reuse stale items.
        root: base folder (params.yaml's ``paths.work``, ``data/.work``), git- and DVC-ignored.
    """

    def __init__(self, stage: str, scope: str, key: Mapping[str, Any], root: str | Path):
        self.base = Path(root) / stage / scope
        self.path = self.base / fingerprint(key)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "key.json").write_text(json.dumps(key, sort_keys=True, indent=1, default=str))

    def _file(self, item: str) -> Path:
        """The file of ``item``: any string is an item name (`item_name` makes it safe)."""
        return self.path / f"{item_name(item)}.parquet"

    def done(self, item: str) -> bool:
        return self._file(item).exists()

    def save(self, item: str, table: pa.Table) -> None:
        """Store an item's result atomically (temp file + rename)."""
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.path)
        os.close(fd)
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, self._file(item))
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load(self, item: str) -> pa.Table:
        return pq.read_table(self._file(item))

    def prune_stale(self) -> None:
        """Delete work folders of this scope made with other keys (old params)."""
        for other in self.base.iterdir():
            if other.is_dir() and other != self.path:
                shutil.rmtree(other, ignore_errors=True)
