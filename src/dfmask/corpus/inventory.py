"""The corpus inventory: what each part holds, as the layout's adapter reads it, and the
sha256 of every file a later stage will open.

Why a stage of its own (``inventory``, before ``ingest@N``): DVC needs a dependency for
each part, and only DFDC's parts are folders. FaceForensics++, Celeb-DF v2,
DeeperForensics and FakeAVCeleb number their parts by rule (`dfmask.corpus.adapters`),
so part N's files are spread over the whole tree. The inventory stage depends on
``corpus.root`` whole and writes one ``part=N.json`` per listed part; ``ingest@N``
depends on that file only. So a new part, or a file changed in one part, re-runs the
inventory (it stats every file and hashes only new or changed ones, `HashCache`) and
then only the ingest of the parts whose inventory bytes changed, for every corpus kind.

A part's inventory holds the adapter's `Record` of every video (status and detail
included: nothing is dropped here) and, for every file the pipeline will open (a
readable video, a corpus's true-mask video), its size and sha256. It names no absolute
path and no time, so it has the same bytes on every machine. Ingest probes exactly the
files listed, checks each size again before it opens the file, and takes its sha256
from here instead of reading the corpus a second time.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from dfmask.corpus.adapters import Adapter, Record, adapter_from, source_info
from dfmask.errors import DfmaskError
from dfmask.params import CorpusParams
from dfmask.progress import progress
from dfmask.tables import file_sha256, write_json

#: Bumped when the inventory's layout changes (ingest refuses another version).
FORMAT = 1

#: Statuses whose file is never opened: no such file, or a name/link we refuse to follow.
NOT_READ = ("bad_name", "missing_file", "dangling_link", "link_outside_corpus", "not_mp4", "unknown_folder")

_RECORD_FIELDS = tuple(f.name for f in fields(Record))


@dataclass(frozen=True)
class FileEntry:
    """One file a later stage opens: its size in bytes and its sha256."""

    bytes: int
    sha256: str


@dataclass(frozen=True)
class PartInventory:
    """Part ``part`` of a ``kind`` corpus: its records (sorted by video_id, as the
    adapter gives them) and the files they point to, by path relative to the root.
    ``source``: the ``corpus.sources`` name the part belongs to in a mixed run (``kind``
    is then that source's layout), None otherwise."""

    kind: str
    part: int
    records: tuple[Record, ...]
    files: dict[str, FileEntry]
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": FORMAT, "kind": self.kind}
        if self.source is not None:  # only in a mixed run: a single corpus's file is unchanged
            doc["source"] = self.source
        return {
            **doc,
            "part": self.part,
            "records": [asdict(r) for r in self.records],
            "files": {p: asdict(e) for p, e in sorted(self.files.items())},
        }

    @classmethod
    def read(cls, path: str | Path) -> PartInventory:
        """A part inventory written by `write`; a wrong or damaged file is one line."""
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, expected {FORMAT} (re-run the inventory stage)")
            records = tuple(Record(**{k: r[k] for k in _RECORD_FIELDS if k in r}) for r in doc["records"])
            files = {p: FileEntry(int(e["bytes"]), str(e["sha256"])) for p, e in doc["files"].items()}
            source = doc.get("source")
            return cls(str(doc["kind"]), int(doc["part"]), records, files, None if source is None else str(source))
        except (
            OSError,
            UnicodeDecodeError,
            json.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
        ) as err:
            raise DfmaskError(f"{path}: not a corpus inventory: {err}") from err


class HashCache:
    """sha256 of files already hashed, keyed by path relative to the corpus root and
    ``(size, mtime_ns, ctime_ns, inode, device)``.

    Lives in the work folder (never an output, so it changes no byte of one): a second
    inventory of a 470 GB corpus with one new part hashes only that part. ``ctime`` is in
    the key because no user tool sets it: a file rewritten in place with its size and
    mtime kept (``cp -p``) is hashed again. The key names no absolute path (the work folder
    is the repository's, and nothing in it names where the repository or corpus lies); a
    file of another root at the same relative path has another inode or device, so it is
    hashed, never mistaken. Thread-safe; committed every 64 entries, so an
    interrupted inventory keeps what it hashed. It is only a cache: a damaged database is
    rebuilt, and one that cannot be written (a read-only work folder) is done without,
    each with one warning on stderr.
    """

    _TABLE = "hashes_v3"

    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._pending = 0
        self.hits = 0
        self.hashed = 0
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            try:
                self._db = self._open(self.path)
            except (sqlite3.Error, OSError) as err:
                try:  # a damaged cache: start it again
                    self.path.unlink(missing_ok=True)
                    self._db = self._open(self.path)
                    _warn(f"{self.path}: unreadable hash cache ({err}); rebuilt, every file is hashed again")
                except (sqlite3.Error, OSError) as again:
                    _warn(f"{self.path}: hash cache not usable ({again}); hashing every file without it")

    def _open(self, path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False)
        try:
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {self._TABLE} (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
                "ctime_ns INTEGER, inode INTEGER, device INTEGER, sha256 TEXT)"
            )
            db.commit()
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _drop(self, err: sqlite3.Error) -> None:
        """Stop using the cache after an error (called under the lock)."""
        _warn(f"{self.path}: hash cache failed ({err}); hashing the remaining files without it")
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        self._db = None

    def sha256(self, root: Path, rel: str) -> FileEntry:
        """Size and sha256 of ``root/rel`` (``rel`` relative to the corpus root)."""
        file = root / rel
        st = file.stat()
        key = rel
        stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        with self._lock:
            row = None
            if self._db is not None:
                try:
                    row = self._db.execute(
                        f"SELECT size, mtime_ns, ctime_ns, inode, device, sha256 FROM {self._TABLE} WHERE path = ?",
                        (key,),
                    ).fetchone()
                except sqlite3.Error as err:
                    self._drop(err)
            if row is not None and tuple(row[:5]) == stamp:
                self.hits += 1
                return FileEntry(st.st_size, row[5])
        digest = file_sha256(file)
        with self._lock:
            self.hashed += 1
            if self._db is not None:
                try:
                    self._db.execute(
                        f"INSERT OR REPLACE INTO {self._TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)", (key, *stamp, digest)
                    )
                    self._pending += 1
                    if self._pending >= 64:
                        self._db.commit()
                        self._pending = 0
                except sqlite3.Error as err:
                    self._drop(err)
        return FileEntry(st.st_size, digest)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                try:
                    self._db.commit()
                    self._db.close()
                except sqlite3.Error as err:
                    _warn(f"{self.path}: hash cache not saved ({err})")
                self._db = None


def _warn(message: str) -> None:
    print(f"inventory: warning: {message}", file=sys.stderr)


def files_to_read(root: Path, records: Iterable[Record]) -> list[str]:
    """Paths (relative to root) of the files later stages open: each readable video and
    each true-mask video, once, in sorted order."""
    out: set[str] = set()
    for rec in records:
        if rec.path is not None and rec.status not in NOT_READ and (root / rec.path).is_file():
            out.add(rec.path)
        if rec.mask_path is not None and (root / rec.mask_path).is_file():
            out.add(rec.mask_path)
    return sorted(out)


def list_part(
    adapter: Adapter, root: str | Path, part: int, cache: HashCache | None = None, threads: int = 2
) -> PartInventory:
    """Part ``part``'s records and the size and sha256 of every file they point to.

    Files are hashed on ``threads`` threads (hashlib releases the GIL), with progress.
    """
    root = Path(root)
    records = tuple(adapter.videos(part))
    paths = files_to_read(root, records)
    cache = cache if cache is not None else HashCache(None)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        entries = list(
            progress(
                pool.map(lambda p: cache.sha256(root, p), paths),
                desc=f"inventory part={part}",
                total=len(paths),
                unit="file",
            )
        )
    info = source_info(adapter, part)
    kind, source = (info.kind, info.name) if info is not None else (adapter.kind, None)
    return PartInventory(kind, part, records, dict(zip(paths, entries, strict=True)), source)


@dataclass(frozen=True)
class InventoryReport:
    """What `run` wrote, for the stage's one-line summary."""

    parts: dict[int, int]  # part → videos
    files: int
    bytes: int
    hashed: int
    cached: int

    def summary(self) -> str:
        listed = ", ".join(f"part={p}: {n:,} videos" for p, n in self.parts.items())
        return (
            f"{listed}; {self.files:,} files, {self.bytes / 1e9:.2f} GB "
            f"({self.hashed:,} hashed, {self.cached:,} unchanged since the last inventory)"
        )


def part_path(out: str | Path, part: int) -> Path:
    """Where part ``part``'s inventory lives under the stage's output folder."""
    return Path(out) / f"part={part}.json"


def run(corpus: CorpusParams, out: str | Path, work: str | Path | None) -> InventoryReport:
    """The ``inventory`` stage: one ``part=N.json`` under ``out`` per part in
    ``corpus.parts`` (and nothing else there), hashes cached under ``work``."""
    adapter = adapter_from(corpus)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("part=*.json"):  # DVC empties outputs first; a hand run may not
        stale.unlink()
    cache = HashCache(Path(work) / "inventory" / "hashes.sqlite" if work is not None else None)
    threads = min(4, os.cpu_count() or 1)
    counts: dict[int, int] = {}
    n_files = n_bytes = 0
    try:
        for part in corpus.parts:
            inv = list_part(adapter, corpus.root, part, cache, threads)
            write_json(part_path(out, part), inv.to_json())
            counts[part] = len(inv.records)
            n_files += len(inv.files)
            n_bytes += sum(e.bytes for e in inv.files.values())
    finally:
        cache.close()
    return InventoryReport(counts, n_files, n_bytes, cache.hashed, cache.hits)
