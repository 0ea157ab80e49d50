"""FakeAVCeleb (v1.2), an audio-video corpus read for its pictures::

    <root>/<category>/<race>/<gender>/id<NNNNN>/<name>.mp4
    <root>/meta_data.csv    source,target1,target2,method,category,type,race,gender,path,<folder>

Categories: ``RealVideo-RealAudio`` (A, the originals, ``00109.mp4``),
``RealVideo-FakeAudio`` (B, a real picture with cloned speech), ``FakeVideo-RealAudio`` (C)
and ``FakeVideo-FakeAudio`` (D), whose names start with the original's clip number
(``00109_10_id00476_wavtolip.mp4`` is made from ``RealVideo-RealAudio/.../id00076/00109.mp4``
of the same folder id, with the face of ``id00476``). Races are ``African``,
``Asian (East)``, ``Asian (South)``, ``Caucasian (American)``, ``Caucasian (European)``;
genders ``men``/``women``.

Parts: one per race, in that order (0-4): a fake and its original share their folder, so
they meet. ``meta_data.csv`` gives each fake's method (``faceswap``, ``fsgan``,
``wav2lip``, ``faceswap-wav2lip``, ``fsgan-wav2lip``); without it the method is null.

``corpus.label_policy`` decides category B, whose pixels are real: ``visual`` (default)
labels it REAL, ``fake`` labels it FAKE with its category-A clip as original (its true mask
is empty), ``exclude`` gives it the status ``excluded_by_label_policy``.
"""

from __future__ import annotations

import csv
import re
from functools import cached_property
from pathlib import Path

from dfmask.corpus.adapters.base import Found, ListedCorpus, Record, problem_record, stem, subfolders, walk
from dfmask.errors import DfmaskError

CATEGORIES = {
    "RealVideo-RealAudio": "A",
    "RealVideo-FakeAudio": "B",
    "FakeVideo-RealAudio": "C",
    "FakeVideo-FakeAudio": "D",
}
RACES = ("African", "Asian (East)", "Asian (South)", "Caucasian (American)", "Caucasian (European)")
GENDERS = ("men", "women")
LABEL_POLICIES = ("visual", "fake", "exclude")
META = "meta_data.csv"
_ID = re.compile(r"^id\d+$")
_CLIP = re.compile(r"^(\d{5})(?:_|$)")
_DONOR = re.compile(r"_(id\d+)")


class FakeAvCelebAdapter(ListedCorpus):
    """FakeAVCeleb under ``root`` with a label policy for RealVideo-FakeAudio."""

    kind = "fakeavceleb"
    title = "FakeAVCeleb"

    def __init__(self, root: str | Path, label_policy: str = "visual") -> None:
        self.root = Path(root)
        if label_policy not in LABEL_POLICIES:
            raise DfmaskError(f"corpus.label_policy {label_policy!r}: expected one of {', '.join(LABEL_POLICIES)}")
        self.label_policy = label_policy
        if not any((self.root / c).is_dir() for c in CATEGORIES):
            raise DfmaskError(
                f"corpus.root {root}: none of {', '.join(CATEGORIES)} (corpus.kind=fakeavceleb wants the "
                "FakeAVCeleb root)"
            )

    @cached_property
    def methods(self) -> dict[tuple[str, str, str, str, str], str]:
        """(category folder, race, gender, id, file name) → method, from meta_data.csv."""
        path = self.root / META
        if not path.is_file():
            return {}
        out = {}
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                for number, row in enumerate(csv.DictReader(f), 2):
                    try:
                        key = (row["type"], row["race"], row["gender"], row["source"], row["path"])
                    except KeyError as err:
                        raise DfmaskError(f"{path} line {number}: no column {err}") from None
                    out[key] = row.get("method") or ""
        except (OSError, UnicodeDecodeError, csv.Error) as err:
            raise DfmaskError(f"{path}: cannot read the metadata table: {err}") from err
        return out

    @cached_property
    def _records(self) -> list[Record]:
        records: list[Record] = []
        for category, code in CATEGORIES.items():
            for race in subfolders(self.root, category):
                part = RACES.index(race) if race in RACES else 0
                for gender in subfolders(self.root, f"{category}/{race}"):
                    for person in subfolders(self.root, f"{category}/{race}/{gender}"):
                        folder = f"{category}/{race}/{gender}/{person}"
                        odd = race not in RACES or gender not in GENDERS or not _ID.match(person)
                        for found in walk(self.root, folder):
                            if odd and found.problem is None:
                                why = f"{found.rel}: its folder is not <race>/<men|women>/id<N>"
                                found = Found(found.name, found.rel, ("unknown_folder", why))
                            records.append(self._record(part, code, category, race, gender, person, found))
        ids = {r.video_id for r in records if r.status == "ok"}
        out = []
        for r in records:
            if r.status == "ok" and r.label == "FAKE" and r.original_id not in ids:
                r = r.with_status(
                    "original_missing", f"{r.path}: its original {r.original_id} is not in RealVideo-RealAudio"
                )
            out.append(r)
        return out

    def _record(self, part: int, code: str, category: str, race: str, gender: str, person: str, found: Found) -> Record:
        name = stem(found.name)
        clip = _CLIP.match(name)
        if found.problem or not clip or (code == "A" and name != clip.group(1)):
            if found.problem is None:
                found = Found(found.name, found.rel, ("bad_name", f"{found.rel}: expected <NNNNN>[_...].mp4"))
            return problem_record(part, found, "")
        original = f"A_{person}_{clip.group(1)}"
        base = Record(
            part=part,
            video_id=f"{code}_{person}_{name}",
            filename=found.name,
            path=found.rel,
            label="REAL",
            identity=f"fakeavceleb:{person}",
            group_id=original,
        )
        if code == "A":
            return base
        method = self.methods.get((category, race, gender, person, found.name)) or None
        if code == "B":
            if self.label_policy == "visual":
                return Record(**{**base.__dict__, "method": method})
            if self.label_policy == "exclude":
                return base.with_status(
                    "excluded_by_label_policy", f"{found.rel}: real video, fake audio (label_policy=exclude)"
                )
            return Record(**{**base.__dict__, "label": "FAKE", "original_id": original, "method": method})
        donor = _DONOR.search(name[5:])
        return Record(
            **{
                **base.__dict__,
                "label": "FAKE",
                "original_id": original,
                "method": method,
                "donor_identity": f"fakeavceleb:{donor.group(1)}" if donor else None,
            }
        )
