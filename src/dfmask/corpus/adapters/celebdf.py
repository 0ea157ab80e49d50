"""Celeb-DF v2, as released::

    <root>/Celeb-real/id0_0000.mp4            590 celebrity videos: id<A>_<NNNN>
    <root>/YouTube-real/00000.mp4             300 more real videos (one subject each, no id)
    <root>/Celeb-synthesis/id0_id1_0000.mp4   5639 fakes: id<A>_id<B>_<NNNN>
    <root>/List_of_testing_videos.txt         "1 YouTube-real/00170.mp4" (1 = real, 0 = fake)

A fake ``idA_idB_NNNN`` is ``Celeb-real/idA_NNNN.mp4`` with the face of ``idB``, so
identities are known (``celebdf:id0``). Parts: 0 holds Celeb-real and Celeb-synthesis
(every fake with its original), 1 holds YouTube-real. The official split is ``test`` for
the videos the testing list names and ``train`` for the others (Celeb-DF has no val list).
A listed video that is absent gets ``missing_file``; a list label that contradicts the
folder is a `DfmaskError` (the list or the tree is not Celeb-DF v2).
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from dfmask.corpus.adapters.base import ListedCorpus, Record, problem_record, read_lines, stem, walk
from dfmask.errors import DfmaskError

TEST_LIST = "List_of_testing_videos.txt"
_REAL = re.compile(r"^(id\d+)_(\d{4})$")
_YOUTUBE = re.compile(r"^(\d{5})$")
_FAKE = re.compile(r"^(id\d+)_(id\d+)_(\d{4})$")
_LINE = re.compile(r"^([01])\s+(\S.*)$")
#: folder → (part, label, name pattern)
FOLDERS = {
    "Celeb-real": (0, "REAL", _REAL),
    "Celeb-synthesis": (0, "FAKE", _FAKE),
    "YouTube-real": (1, "REAL", _YOUTUBE),
}


class CelebDfAdapter(ListedCorpus):
    """Celeb-DF v2 under ``root`` (see the module docstring)."""

    kind = "celebdf"
    title = "Celeb-DF v2"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir() or not any((self.root / f).is_dir() for f in FOLDERS):
            raise DfmaskError(
                f"corpus.root {root}: no Celeb-real/, YouTube-real/ or Celeb-synthesis/ folder "
                "(corpus.kind=celebdf wants the Celeb-DF v2 root)"
            )

    @cached_property
    def test_list(self) -> dict[str, str]:
        """Path (``YouTube-real/00170.mp4``) → label listed in the testing list."""
        path = self.root / TEST_LIST
        if not path.is_file():
            return {}
        out = {}
        for number, line in enumerate(read_lines(path), 1):
            match = _LINE.match(line)
            if not match:
                raise DfmaskError(f"{path} line {number}: expected '<1|0> <folder>/<name>.mp4', got {line!r}")
            out[match.group(2).strip()] = "REAL" if match.group(1) == "1" else "FAKE"
        return out

    @cached_property
    def _records(self) -> list[Record]:
        records: list[Record] = []
        present: set[str] = set()
        for folder, (part, label, pattern) in FOLDERS.items():
            for found in walk(self.root, folder):
                name = stem(found.name)
                match = pattern.match(name)
                if found.problem or not match:
                    if found.problem is None:
                        why = f"{found.rel}: expected {pattern.pattern[1:-1]}.mp4 in {folder}/"
                        found = type(found)(found.name, found.rel, ("bad_name", why))
                    records.append(problem_record(part, found, ""))
                    continue
                assert found.rel is not None
                present.add(found.rel)
                listed = self.test_list.get(found.rel)
                if listed is not None and listed != label:
                    raise DfmaskError(
                        f"{self.root / TEST_LIST}: lists {found.rel} as {listed}, but {folder}/ holds {label} videos"
                    )
                if label == "FAKE":
                    target, donor, clip = match.groups()
                    extra = {
                        "original_id": f"{target}_{clip}",
                        "method": "celeb-df",
                        "identity": f"celebdf:{target}",
                        "donor_identity": f"celebdf:{donor}",
                    }
                elif folder == "Celeb-real":
                    extra = {"identity": f"celebdf:{match.group(1)}"}
                else:
                    extra = {}
                records.append(
                    Record(
                        part=part,
                        video_id=name,
                        filename=found.name,
                        path=found.rel,
                        label=label,
                        official_split="test" if listed else "train",
                        group_id=name,
                        **extra,
                    )
                )
        ids = {r.video_id for r in records}
        out = []
        for r in records:
            if r.status == "ok" and r.label == "FAKE" and r.original_id not in ids:
                r = r.with_status(
                    "original_missing", f"{r.path}: its original Celeb-real/{r.original_id}.mp4 is absent"
                )
            out.append(r)
        for rel, label in sorted(self.test_list.items()):
            if rel not in present and not any(r.path == rel for r in out):
                folder = rel.split("/", 1)[0]
                part = FOLDERS[folder][0] if folder in FOLDERS else 0
                vid = re.sub(r"[^A-Za-z0-9_.()-]", "_", f"missing_{rel}")
                out.append(
                    Record(
                        part,
                        vid,
                        rel.rsplit("/", 1)[-1],
                        None,
                        label,
                        official_split="test",
                        status="missing_file",
                        detail=f"{TEST_LIST} lists {rel}, which does not exist",
                    )
                )
        return out
