"""The adapter interface: what every corpus layout gives ingest, and the shared file walk.

An adapter reads one corpus layout (`dfmask.corpus.adapters.KINDS`) and answers two
questions: which parts the corpus has (`Adapter.parts`) and which videos a part holds
(`Adapter.videos`), as `Record` rows. ``ingest@N`` turns the records of part N into the
videos table (probing each file); everything after ingest reads that table only, so it
never learns which layout the videos came from.

A part is chosen by each adapter so that a fake and its original always meet in one part
(the faces stage pairs them there). Every file met in a videos folder becomes one record:
an ``ok`` one, or one whose status names what is wrong with it; nothing is skipped
without a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from dfmask.corpus.metadata import link_problem, safe_name
from dfmask.errors import DfmaskError

#: Statuses an adapter may give besides the DFDC ones (`dfmask.corpus.metadata`).
ADAPTER_STATUSES = {
    "not_mp4": "a file in a videos folder that is not an .mp4",
    "bad_name": "a name that does not follow the corpus's naming scheme, or is unsafe as a path",
    "unknown_folder": "an .mp4 in a folder the layout does not define (method, variant, category, race)",
    "original_missing": "a fake whose original video is not in the corpus (or not at the chosen quality)",
    "original_not_available": "a fake whose originals live in another corpus that was not given",
    "excluded_by_label_policy": "a video the label policy leaves out (FakeAVCeleb RealVideo-FakeAudio)",
    "missing_file": "a file the corpus's own list names that does not exist",
    "dangling_link": "a symlink whose target does not exist",
    "link_outside_corpus": "a symlink that leaves the (resolved) corpus root",
}


@dataclass(frozen=True)
class Record:
    """One video as a corpus layout describes it (before the probe).

    Attributes:
        part: the part N it belongs to (a fake's part is its original's).
        video_id: unique across the corpus; no ``/`` (it names work items).
        filename: the file's own name.
        path: POSIX path relative to ``corpus.root``; None when the name is unsafe
            (it is then never opened).
        label: ``"REAL"``/``"FAKE"``, None when unknown.
        original_id: a fake's original's video_id; None for reals.
        method: the manipulation method (layout's own name); None for reals / DFDC.
        identity: who the original shows (the target), when the corpus says so.
        donor_identity: whose face a fake carries (the source), when known.
        official_split: the corpus's own split (train/val/test), when it has one.
        mask_path: the corpus's true manipulation mask video, relative to the root.
        quality: the corpus's compression level (FF++ ``c0``/``c23``/``c40``).
        group_id: copies of one video share it (FF++ c23 and c40), so the split keeps
            them together.
        status: ``"ok"`` or why the video cannot be used (`ADAPTER_STATUSES`).
        detail: one line naming the file and the reason, for a non-ok status.
    """

    part: int
    video_id: str
    filename: str
    path: str | None
    label: str | None
    original_id: str | None = None
    method: str | None = None
    identity: str | None = None
    donor_identity: str | None = None
    official_split: str | None = None
    mask_path: str | None = None
    quality: str | None = None
    group_id: str | None = None
    status: str = "ok"
    detail: str = ""
    dfdc_split: str | None = None

    def with_status(self, status: str, detail: str) -> Record:
        return replace(self, status=status, detail=detail)


class Adapter(Protocol):
    """A corpus layout under ``root`` (see the module docstring)."""

    kind: str

    def parts(self) -> list[int]:
        """The parts the corpus has, ascending."""
        ...

    def videos(self, part: int) -> list[Record]:
        """Every video of ``part``, sorted by video_id (raises `DfmaskError` when the part
        or a file the layout requires is missing or malformed)."""
        ...


@dataclass(frozen=True)
class Found:
    """A file met in a videos folder: its name, path relative to the root, and any problem."""

    name: str
    rel: str | None
    problem: tuple[str, str] | None  # (status, detail) or None


def walk(root: Path, rel_dir: str, allowed: tuple[Path, ...] | None = None) -> list[Found]:
    """The entries of ``root/rel_dir`` that are files or symlinks, sorted by name.

    A name unsafe as a path gets ``bad_name`` (and no path); a symlink that dangles or
    leaves the resolved root gets its status; anything else that is not ``.mp4`` gets
    ``not_mp4``. A missing folder gives nothing (the caller decides if that is an error).
    """
    folder = root / rel_dir
    if not folder.is_dir():
        return []
    allowed = allowed or (root.resolve(),)
    out = []
    for p in sorted(folder.iterdir(), key=lambda q: q.name):
        shown = f"{rel_dir}/{p.name}"
        why = safe_name(p.name)
        if why:
            out.append(Found(p.name, None, ("bad_name", f"file name {p.name!r} {why}")))
            continue
        problem = link_problem(p, allowed, shown)
        if problem is None and not p.is_file():
            continue  # a sub-folder: not a video (layouts name their folders)
        if problem is None and not p.name.lower().endswith(".mp4"):
            problem = ("not_mp4", f"{shown} is not an .mp4 video")
        out.append(Found(p.name, shown, problem))
    return out


def subfolders(root: Path, rel_dir: str) -> list[str]:
    """Names of the real (non-link) sub-folders of ``root/rel_dir``, sorted."""
    folder = root / rel_dir
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.is_symlink())


def stem(name: str) -> str:
    """A file name without its ``.mp4`` ending (any case)."""
    return name[:-4] if name.lower().endswith(".mp4") else name


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a corpus list file (UTF-8; a BOM is dropped)."""
    from dfmask.errors import DfmaskError

    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise DfmaskError(f"{path}: cannot read the corpus list: {err}") from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def problem_record(part: int, found: Found, prefix: str) -> Record:
    """The record of a file with a problem: its id is its path (unique), label unknown."""
    assert found.problem is not None
    vid = re.sub(r"[^A-Za-z0-9_.()-]", "_", f"{prefix}{found.rel or found.name}")
    status, detail = found.problem
    return Record(
        part, vid, found.name, found.rel if status != "bad_name" else None, None, status=status, detail=detail
    )


def by_id(records: Iterable[Record]) -> list[Record]:
    """Records sorted by video_id (ingest's table order)."""
    return sorted(records, key=lambda r: r.video_id)


class ListedCorpus:
    """The `Adapter` methods of a layout listed whole once (its ``_records``), parts
    served from that list: FaceForensics++, Celeb-DF v2, DeeperForensics, FakeAVCeleb,
    whose parts are not folders (each adapter's module says how it numbers them)."""

    root: Path
    #: The corpus's published name, for messages.
    title: str

    @property
    def _records(self) -> list[Record]:
        raise NotImplementedError

    def parts(self) -> list[int]:
        return sorted({r.part for r in self._records})

    def videos(self, part: int) -> list[Record]:
        if part not in self.parts():
            raise DfmaskError(f"{self.root}: {self.title} has no part {part} (it has {self.parts()})")
        return by_id(r for r in self._records if r.part == part)
