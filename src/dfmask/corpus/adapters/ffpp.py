"""FaceForensics++ (with DeepFakeDetection and FaceShifter), as its download script lays it out.

::

    <root>/original_sequences/youtube/<quality>/videos/000.mp4          1000 targets, 000-999
    <root>/original_sequences/actors/<quality>/videos/01__<scene>.mp4    DeepFakeDetection originals
    <root>/manipulated_sequences/<method>/<quality>/videos/000_003.mp4   target_source
    <root>/manipulated_sequences/DeepFakeDetection/<quality>/videos/01_02__<scene>__<code>.mp4
    <root>/manipulated_sequences/<method>/masks/videos/000_003.mp4       true masks (one copy)
    <root>/splits/{train,val,test}.json                                   [["071", "054"], ...]

``<quality>`` is ``c0`` (raw), ``c23`` or ``c40`` (``raw`` is read as ``c0``). A fake
``000_003`` shows target video 000 with the face of 003; its original is ``000.mp4`` of the
same quality. Parts: youtube target ``NNN`` is in part ``NNN // 100`` (parts 0-9, 100
targets each), the actors and DeepFakeDetection in part 10, so a fake and its original
always meet. Copies of one video at several qualities share a ``group_id`` (the split keeps
them together). Masks: a method's own ``masks/videos/<name>.mp4``; NeuralTextures, which
ships none in some releases, falls back to Face2Face's mask of the same pair; FaceShifter
has none.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from dfmask.corpus.adapters.base import Found, ListedCorpus, Record, problem_record, stem, subfolders, walk
from dfmask.errors import DfmaskError

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")
QUALITIES = ("c0", "c23", "c40")
#: The folder name each quality may have on disk (``raw`` is the c0 download).
_FOLDERS = {"c0": ("c0", "raw"), "c23": ("c23",), "c40": ("c40",)}
ACTORS_PART = 10
_YT = re.compile(r"^(\d{3})$")
_YT_FAKE = re.compile(r"^(\d{3})_(\d{3})$")
_ACTOR = re.compile(r"^(\d{2})__(.+)$")
_DFD_FAKE = re.compile(r"^(\d{2})_(\d{2})__(.+)__([A-Za-z0-9]+)$")


class FfppAdapter(ListedCorpus):
    """FaceForensics++ under ``root`` at ``qualities`` (see the module docstring)."""

    kind = "ffpp"
    title = "FaceForensics++"

    def __init__(self, root: str | Path, qualities: tuple[str, ...] = ("c23",)) -> None:
        self.root = Path(root)
        self.qualities = qualities
        if not self.root.is_dir():
            raise DfmaskError(f"corpus.root {root} is not a folder (corpus.kind=ffpp)")
        if not (self.root / "original_sequences").is_dir() and not (self.root / "manipulated_sequences").is_dir():
            raise DfmaskError(
                f"{root}: no original_sequences/ or manipulated_sequences/ folder; corpus.root must be "
                "the FaceForensics++ download root (corpus.kind=ffpp)"
            )

    # ------------------------------------------------------------------ reading

    def _quality_dir(self, base: str, quality: str) -> str | None:
        for name in _FOLDERS[quality]:
            if (self.root / base / name / "videos").is_dir():
                return f"{base}/{name}/videos"
        return None

    @cached_property
    def official_split(self) -> dict[str, str]:
        """Video id (``"071"``) → ``train``/``val``/``test`` from ``splits/*.json``."""
        out: dict[str, str] = {}
        for split in ("train", "val", "test"):
            path = self.root / "splits" / f"{split}.json"
            if not path.is_file():
                continue
            try:
                pairs = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise DfmaskError(f"{path}: not a readable JSON list of id pairs: {err}") from err
            if not isinstance(pairs, list) or not all(
                isinstance(p, list) and all(isinstance(i, str) for i in p) for p in pairs
            ):
                raise DfmaskError(f'{path}: expected a JSON list of id pairs like [["071", "054"], ...]')
            for pair in pairs:
                for vid in pair:
                    out[vid] = split
        return out

    @cached_property
    def _records(self) -> list[Record]:
        records: list[Record] = []
        for quality in self.qualities:
            records += self._originals(quality)
            records += self._fakes(quality)
        ids = {r.video_id for r in records}
        fallback = min((r.part for r in records if r.status == "ok"), default=0)
        out = []
        for r in records:
            if r.part < 0:  # a name that gives no part: reported in the lowest part
                r = Record(**{**r.__dict__, "part": fallback})
            if r.status == "ok" and r.label == "FAKE" and r.original_id not in ids:
                r = r.with_status("original_missing", f"{r.path}: its original {r.original_id} is not in the corpus")
            out.append(r)
        return out

    def _originals(self, quality: str) -> list[Record]:
        out = []
        for source, pattern in (("youtube", _YT), ("actors", _ACTOR)):
            rel = self._quality_dir(f"original_sequences/{source}", quality)
            for found in walk(self.root, rel) if rel else []:
                name = stem(found.name)
                match = pattern.match(name)
                if found.problem or not match:
                    out.append(self._bad(found, quality, f"{source}: expected {pattern.pattern[1:-1]}.mp4"))
                    continue
                who = match.group(1)
                part = int(who) // 100 if source == "youtube" else ACTORS_PART
                out.append(
                    Record(
                        part=part,
                        video_id=f"{source}_{quality}_{name}",
                        filename=found.name,
                        path=found.rel,
                        label="REAL",
                        identity=f"{'ffpp' if source == 'youtube' else 'dfd'}:{who}",
                        official_split=self.official_split.get(who) if source == "youtube" else None,
                        quality=quality,
                        group_id=f"{source}_{name}",
                    )
                )
        return out

    def _fakes(self, quality: str) -> list[Record]:
        out = []
        for method in subfolders(self.root, "manipulated_sequences"):
            rel = self._quality_dir(f"manipulated_sequences/{method}", quality)
            for found in walk(self.root, rel) if rel else []:
                if method not in METHODS:
                    out.append(
                        self._bad(
                            found,
                            quality,
                            f"method folder {method!r} is not one of {', '.join(METHODS)}",
                            status="unknown_folder",
                        )
                    )
                    continue
                name = stem(found.name)
                dfd = method == "DeepFakeDetection"
                match = (_DFD_FAKE if dfd else _YT_FAKE).match(name)
                if found.problem or not match:
                    expect = "AA_BB__<scene>__<code>.mp4" if dfd else "NNN_MMM.mp4 (target_source)"
                    out.append(self._bad(found, quality, f"{method}: expected {expect}"))
                    continue
                target, donor = match.group(1), match.group(2)
                if dfd:
                    original = f"actors_{quality}_{target}__{match.group(3)}"
                    part, ids, split = ACTORS_PART, ("dfd:" + target, "dfd:" + donor), None
                else:
                    original = f"youtube_{quality}_{target}"
                    part, ids = int(target) // 100, ("ffpp:" + target, "ffpp:" + donor)
                    split = self.official_split.get(target)
                out.append(
                    Record(
                        part=part,
                        video_id=f"{method}_{quality}_{name}",
                        filename=found.name,
                        path=found.rel,
                        label="FAKE",
                        original_id=original,
                        method=method,
                        identity=ids[0],
                        donor_identity=ids[1],
                        official_split=split,
                        mask_path=self._mask(method, found.name),
                        quality=quality,
                        group_id=f"{method}_{name}",
                    )
                )
        return out

    def _mask(self, method: str, filename: str) -> str | None:
        for owner in (method, "Face2Face") if method == "NeuralTextures" else (method,):
            rel = f"manipulated_sequences/{owner}/masks/videos/{filename}"
            path = self.root / rel
            if path.is_file() and not path.is_symlink():
                return rel
        return None

    def _bad(self, found: Found, quality: str, why: str, status: str = "bad_name") -> Record:
        if found.problem is None:
            found = Found(found.name, found.rel, (status, f"{found.rel}: {why}"))
        return Record(**{**problem_record(0, found, f"{quality}_").__dict__, "part": -1, "quality": quality})
