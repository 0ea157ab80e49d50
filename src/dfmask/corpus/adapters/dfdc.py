"""DFDC: ``<root>/dfdc_train_part_N/metadata.json`` plus its mp4s (`dfmask.corpus.metadata`).

The DFDC archives unpack as ``dfdc_train_part_N/dfdc_train_part_N/`` on some machines
(the zip holds the folder again): when the part folder has no metadata.json but its
same-named sub-folder has one, that sub-folder is the part, and paths read
``dfdc_train_part_N/dfdc_train_part_N/<name>``. A flat part reads exactly as before.
"""

from __future__ import annotations

from pathlib import Path

from dfmask.corpus.adapters.base import Record
from dfmask.corpus.metadata import list_parts, safe_name, validate_part, video_id
from dfmask.errors import DfmaskError


def part_folder(root: str | Path, part: int) -> tuple[Path, str]:
    """The folder holding part ``part``'s metadata.json, and its path relative to root."""
    name = f"dfdc_train_part_{part}"
    outer = Path(root) / name
    if not (outer / "metadata.json").exists() and (outer / name / "metadata.json").is_file():
        return outer / name, f"{name}/{name}"
    return outer, name


class DfdcAdapter:
    """The DFDC layout under ``root`` (flat or archive-nested parts)."""

    kind = "dfdc"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def parts(self) -> list[int]:
        return list(list_parts(self.root))

    def videos(self, part: int) -> list[Record]:
        shown = self.root / f"dfdc_train_part_{part}"
        if not shown.is_dir():
            raise DfmaskError(f"{shown}: part folder not found (corpus.root={self.root}, corpus.parts lists {part})")
        folder, rel = part_folder(self.root, part)
        out = []
        for entry in validate_part(folder, self.root):
            safe = safe_name(entry.filename) is None  # a traversing name never becomes a path
            out.append(
                Record(
                    part=part,
                    video_id=video_id(entry.filename),
                    filename=entry.filename,
                    path=f"{rel}/{entry.filename}" if safe else None,
                    label=entry.label,
                    original_id=video_id(entry.original) if entry.original else None,
                    dfdc_split=entry.dfdc_split,
                    official_split=entry.dfdc_split,
                    status=entry.status,
                    detail=entry.detail,
                )
            )
        return out
