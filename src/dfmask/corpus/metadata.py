"""Parse and validate one DFDC part's ``metadata.json``.

DFDC layout: ``dfdc_train_part_N/metadata.json`` maps file names to entries::

    {"abc.mp4": {"label": "FAKE", "split": "train", "original": "xyz.mp4"},
     "xyz.mp4": {"label": "REAL", "split": "train"}}

`read_metadata` refuses a file that is not a JSON object of objects (that is a broken
part, not a broken video): it raises `DfmaskError` naming the file and the JSON error.
Everything else is a per-entry problem and becomes a status on that entry, so one bad
name never costs the rest of the part:

==========================  ============================================================
status                      meaning
==========================  ============================================================
``ok``                      listed, present, links fine (the probe may still fail)
``bad_name``                name with ``/``, ``\\``, ``..``, an absolute path, or empty
``not_mp4``                 name does not end in ``.mp4``
``bad_label``               label is not REAL or FAKE
``bad_entry``               entry is not an object, or a field has the wrong type
``missing_file``            listed in metadata.json, no such file in the folder
``unlisted_file``           an mp4 in the folder that metadata.json does not list
``missing_original``        a FAKE without an ``original`` field
``original_not_in_part``    the original is not listed in this part (DFDC keeps a fake and
                            its original in one part; `dfmask.corpus.ingest.check_corpus`
                            tells, across all parts, whether it lives in another part)
``original_is_fake``        the original is itself labelled FAKE
``original_unusable``       the original is listed but has a problem of its own
``duplicate_key``           the name is listed more than once in metadata.json (JSON
                            objects keep the last; we keep none)
``duplicate_name``          two names of the part give the same video id, ignoring case
                            (``a.mp4``/``a.MP4``, ``x``/``x.mp4``): every one of them
``dangling_link``           a symlink whose target does not exist
``link_outside_corpus``     a symlink that leaves the (resolved) corpus root
==========================  ============================================================

Symlinks: the corpus root and the part folder are resolved first (data often lives on
another disk), then every symlink inside the part must resolve inside the resolved root
or the resolved part folder; see docs/corpus.md.

The probe (`dfmask.video.probe`) adds ``corrupt`` / ``truncated`` / ``empty`` later, and
ingest ``rotation_mismatch`` (a fake whose display rotation differs from its original's).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from dfmask.errors import DfmaskError

LABELS = ("REAL", "FAKE")
PART_DIR = re.compile(r"^dfdc_train_part_(\d+)$")


@dataclass(frozen=True)
class Entry:
    """One video as metadata.json (and the folder) describe it.

    Attributes:
        filename: the name as listed (or found, for unlisted files).
        label: ``"REAL"``/``"FAKE"``, or whatever odd value was listed.
        dfdc_split: metadata's ``split`` field (DFDC's own; not ours), or None.
        original: the listed original's file name for fakes, else None.
        status: ``"ok"`` or a reason (see the module docstring).
        detail: a human-readable explanation for a non-ok status.
    """

    filename: str
    label: str | None
    dfdc_split: str | None
    original: str | None
    status: str
    detail: str = ""


def part_dir(root: str | Path, part: int) -> Path:
    return Path(root) / f"dfdc_train_part_{part}"


def safe_name(name: str) -> str | None:
    """Why ``name`` is unsafe as a file name inside a part folder, or None if safe."""
    if not name or name.strip() != name:
        return "empty or padded with whitespace"
    if "\x00" in name:
        return "contains a NUL byte"
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or PureWindowsPath(name).drive:
        return "is an absolute path"
    if "/" in name or "\\" in name:
        return "contains a path separator"
    if name in (".", "..") or ".." in PurePosixPath(name).parts:
        return "traverses out of the part folder"
    return None


class _Listing(dict[str, object]):
    """metadata.json's top-level object, plus the names it lists more than once."""

    duplicates: dict[str, int]


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """``object_pairs_hook``: a dict that remembers keys listed more than once."""
    plain = dict(pairs)
    if len(plain) == len(pairs):
        return plain  # the common case stays a plain dict (200k entries: no slower)
    out = _Listing(plain)
    out.duplicates = {k: n for k, n in Counter(k for k, _ in pairs).items() if n > 1}
    return out


def read_metadata(path: str | Path) -> dict[str, object]:
    """Load metadata.json as a dict of entries; malformed files raise `DfmaskError`.

    Names listed more than once in the top-level object are in `listed_twice`.
    """
    path = Path(path)
    if not path.exists():
        raise DfmaskError(f"{path}: metadata.json not found; every DFDC part folder needs one")
    if not path.is_file():
        raise DfmaskError(f"{path}: metadata.json is not a regular file (a folder?)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_pairs)
    except UnicodeDecodeError as err:
        raise DfmaskError(f"{path}: not UTF-8 text: {err}") from err
    except json.JSONDecodeError as err:
        raise DfmaskError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from err
    except RecursionError:
        raise DfmaskError(f"{path}: JSON nested too deeply; expected an object of flat entries") from None
    except OSError as err:
        raise DfmaskError(f"{path}: cannot read: {err.strerror or err}") from err
    if not isinstance(doc, dict):
        raise DfmaskError(f"{path}: expected a JSON object mapping file names to entries, got {type(doc).__name__}")
    return doc


def listed_twice(listing: dict[str, object]) -> dict[str, int]:
    """Names that `read_metadata`'s file lists more than once, with how often."""
    return dict(getattr(listing, "duplicates", {}))


def _entry(name: str, raw: object) -> Entry:
    why = safe_name(name)
    if why:
        return Entry(name, None, None, None, "bad_name", f"file name {name!r} {why}")
    if not isinstance(raw, dict):
        return Entry(name, None, None, None, "bad_entry", f"entry is {type(raw).__name__}, not an object")
    twice = sorted(listed_twice(raw))
    if twice:
        return Entry(name, None, None, None, "duplicate_key", f"field {twice[0]!r} listed twice in its entry")
    label, split, original = raw.get("label"), raw.get("split"), raw.get("original")
    for key, value in (("label", label), ("split", split), ("original", original)):
        if value is not None and not isinstance(value, str):
            return Entry(name, None, None, None, "bad_entry", f"'{key}' is {type(value).__name__}, not a string")
    assert label is None or isinstance(label, str)
    assert split is None or isinstance(split, str)
    assert original is None or isinstance(original, str)
    if not name.lower().endswith(".mp4"):
        return Entry(name, label, split, original, "not_mp4", "only .mp4 videos are part of a DFDC corpus")
    if label not in LABELS:
        return Entry(name, label, split, original, "bad_label", f"label {label!r} is not REAL or FAKE")
    if label == "REAL":
        original = None  # DFDC reals carry no original; ignore any stray value
    return Entry(name, label, split, original, "ok")


def video_id(filename: str) -> str:
    """The video id of a file name: the name without a ``.mp4`` ending (any case)."""
    return filename[:-4] if filename.lower().endswith(".mp4") else filename


def _link_problem(path: Path, allowed: tuple[Path, ...], shown: str) -> tuple[str, str] | None:
    """(status, detail) for a symlink that dangles or leaves ``allowed``; None if fine."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing target, or a loop of links
        return "dangling_link", f"{shown} is a symlink to something that does not exist"
    if not any(target == a or target.is_relative_to(a) for a in allowed):
        return "link_outside_corpus", f"{shown} is a symlink that leaves the corpus root"
    return None


#: Public name of the symlink check, shared with the corpus adapters.
link_problem = _link_problem


def validate_part(folder: str | Path, root: str | Path | None = None) -> list[Entry]:
    """Validate one part folder: metadata.json against the files present.

    Only this part's folder is read, so ``ingest@N`` depends on nothing else.

    Args:
        folder: the ``dfdc_train_part_N`` folder.
        root: the corpus root (default: ``folder``'s parent). Symlinks inside the part
            must resolve inside the resolved root or the resolved part folder.

    Returns:
        One `Entry` per listed name plus one per unlisted mp4, sorted by file name.
        Details name files relative to the corpus root, never by absolute path.
    """
    folder = Path(folder)
    allowed = (Path(root if root is not None else folder.parent).resolve(), folder.resolve())
    listing = read_metadata(folder / "metadata.json")
    entries = {name: _entry(name, raw) for name, raw in listing.items()}
    for name, times in listed_twice(listing).items():
        if entries[name].status == "bad_name":
            continue  # never turned into a path
        # which listing is right is unknown: keep no label, no original
        entries[name] = Entry(name, None, None, None, "duplicate_key", f"listed {times} times in metadata.json")
    links: dict[str, tuple[str, str]] = {}
    present = set()
    for p in folder.iterdir():
        if p.name == "metadata.json":
            continue
        problem = _link_problem(p, allowed, f"{folder.name}/{p.name}")
        if problem is not None:
            links[p.name] = problem
            present.add(p.name)
        elif p.is_file():
            present.add(p.name)

    for name, entry in list(entries.items()):
        if entry.status == "ok" and name not in present:
            entries[name] = _with(
                entry, "missing_file", f"listed in metadata.json but {folder.name}/{name} does not exist"
            )
    for name in sorted(present - set(listing)):
        if name.lower().endswith(".mp4"):
            entries[name] = Entry(
                name, None, None, None, "unlisted_file", "an mp4 in the folder that metadata.json does not list"
            )
    for name, (status, detail) in links.items():
        if name in entries and entries[name].status not in ("bad_name", "duplicate_key"):
            entries[name] = _with(entries[name], status, detail)
    by_id: dict[str, list[str]] = {}
    for name in entries:
        by_id.setdefault(video_id(name).casefold(), []).append(name)
    for names in by_id.values():
        if len(names) > 1:
            for name in names:
                if entries[name].status == "bad_name":
                    continue  # never turned into a path
                others = ", ".join(repr(n) for n in sorted(names) if n != name)
                entries[name] = _with(entries[name], "duplicate_name", f"same video id as {others} (ignoring case)")

    for name, entry in list(entries.items()):
        if entry.status != "ok" or entry.label != "FAKE":
            continue
        orig = entry.original
        if not orig:
            entries[name] = _with(entry, "missing_original", "FAKE entry without an 'original' field")
        elif orig not in listing:
            entries[name] = _with(
                entry, "original_not_in_part", f"original {orig} is not listed in this part's metadata.json"
            )
        else:
            orig_entry = entries[orig]
            if orig_entry.label == "FAKE":
                entries[name] = _with(entry, "original_is_fake", f"original {orig} is itself labelled FAKE")
            elif orig_entry.status != "ok":
                entries[name] = _with(entry, "original_unusable", f"original {orig} has status {orig_entry.status}")
    return [entries[k] for k in sorted(entries)]


def _with(entry: Entry, status: str, detail: str) -> Entry:
    return Entry(entry.filename, entry.label, entry.dfdc_split, entry.original, status, detail)


def list_parts(root: str | Path) -> dict[int, Path]:
    """The ``dfdc_train_part_N`` folders under ``root``, by N."""
    root = Path(root)
    if not root.is_dir():
        raise DfmaskError(f"corpus.root {root} is not a folder; point it at a DFDC download or run the sample stage")
    out = {}
    for p in root.iterdir():
        m = PART_DIR.match(p.name)
        if m and p.is_dir():
            out[int(m.group(1))] = p
    return dict(sorted(out.items()))
