"""DeeperForensics-1.0, whose real class lives in FaceForensics++::

    <root>/manipulated_videos/<variant>/<target>_<source>.mp4    e.g. end_to_end/000_M101.mp4
    <root>/lists/splits/{train,val,test}.txt                       one fake name per line
    <originals>/original_sequences/youtube/<quality>/videos/<target>.mp4   (FaceForensics++)

``<target>`` is the three-digit FaceForensics++ youtube video the face was swapped onto,
``<source>`` the DeeperForensics actor (``M004``, ``W101``) whose face it carries. The 11
variants (``end_to_end``, ``end_to_end_level_<1-5>``, ``end_to_end_random_level``,
``end_to_end_mix_<2-4>_distortions``, ``reenact_postprocess``) are the same swaps under
other perturbations, so the variants of one ``<target>_<source>`` share a group.

DeeperForensics ships no real videos: its real class is the FaceForensics++ target videos
(at c23, its authors say). ``corpus.originals_root`` names the FaceForensics++ root,
relative to ``corpus.root`` (``../FaceForensics++``); ingest then pairs every fake with
its target there (the ``path`` column reads ``<originals_root>/original_sequences/...``,
still relative to ``corpus.root``). Without it every fake gets ``original_not_available``;
a target missing from that root gives ``original_missing``. Parts: target ``NNN`` is in
part ``NNN // 100``, as in the FaceForensics++ adapter.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path, PurePosixPath

from dfmask.corpus.adapters.base import (
    Found,
    ListedCorpus,
    Record,
    problem_record,
    read_lines,
    stem,
    subfolders,
    walk,
)
from dfmask.corpus.metadata import link_problem
from dfmask.errors import DfmaskError

VARIANTS = (
    "end_to_end",
    *(f"end_to_end_level_{i}" for i in range(1, 6)),
    "end_to_end_random_level",
    *(f"end_to_end_mix_{j}_distortions" for j in range(2, 5)),
    "reenact_postprocess",
)
_FAKE = re.compile(r"^(\d{3})_([MW]\d{3})$")


class DeeperForensicsAdapter(ListedCorpus):
    """DeeperForensics-1.0 under ``root``; FaceForensics++ targets under ``originals_root``."""

    kind = "deeperforensics"
    title = "DeeperForensics-1.0"

    def __init__(self, root: str | Path, originals_root: str | None = None, quality: str = "c23") -> None:
        self.root = Path(root)
        self.originals_root = originals_root
        self.quality = quality
        if not (self.root / "manipulated_videos").is_dir():
            raise DfmaskError(
                f"corpus.root {root}: no manipulated_videos/ folder (corpus.kind=deeperforensics wants the "
                "DeeperForensics-1.0 root)"
            )
        if originals_root is not None:
            rel = PurePosixPath(originals_root)
            if rel.is_absolute() or not (self.root / originals_root / "original_sequences").is_dir():
                raise DfmaskError(
                    f"corpus.originals_root {originals_root}: expected a FaceForensics++ root (with "
                    "original_sequences/) given relative to corpus.root"
                )

    @cached_property
    def official_split(self) -> dict[str, str]:
        """Fake file name (``000_M101.mp4``) → split, from ``lists/splits/*.txt``."""
        out = {}
        for split in ("train", "val", "test"):
            path = self.root / "lists" / "splits" / f"{split}.txt"
            if path.is_file():
                for line in read_lines(path):
                    out[PurePosixPath(line.split()[0]).name] = split
        return out

    @cached_property
    def _records(self) -> list[Record]:
        fakes: list[Record] = []
        for variant in subfolders(self.root, "manipulated_videos"):
            for found in walk(self.root, f"manipulated_videos/{variant}"):
                match = _FAKE.match(stem(found.name))
                if found.problem or not match or variant not in VARIANTS:
                    if found.problem is None:
                        why = (
                            f"{found.rel}: expected <target NNN>_<actor M/W NNN>.mp4"
                            if variant in VARIANTS
                            else f"{found.rel}: variant folder {variant!r} is not a DeeperForensics-1.0 variant"
                        )
                        found = Found(
                            found.name, found.rel, ("bad_name" if variant in VARIANTS else "unknown_folder", why)
                        )
                    fakes.append(problem_record(int(match.group(1)) // 100 if match else 0, found, ""))
                    continue
                target, actor = match.groups()
                fakes.append(
                    Record(
                        part=int(target) // 100,
                        video_id=f"{variant}_{target}_{actor}",
                        filename=found.name,
                        path=found.rel,
                        label="FAKE",
                        original_id=f"youtube_{self.quality}_{target}",
                        method=f"DF-VAE/{variant}",
                        identity=f"ffpp:{target}",
                        donor_identity=f"deeperforensics:{actor}",
                        official_split=self.official_split.get(found.name),
                        group_id=f"dfr_{target}_{actor}",
                    )
                )
        return fakes + self._originals(fakes)

    def _originals(self, fakes: list[Record]) -> list[Record]:
        """One FaceForensics++ target per target the fakes use (or a status on the fakes)."""
        targets = sorted({r.original_id for r in fakes if r.status == "ok" and r.original_id})
        if self.originals_root is None:
            for i, r in enumerate(fakes):
                if r.status == "ok":
                    fakes[i] = r.with_status(
                        "original_not_available",
                        f"{r.path}: its real target lives in FaceForensics++; set corpus.originals_root",
                    )
            return []
        base = self.root / self.originals_root
        allowed = (self.root.resolve(), base.resolve())
        originals, usable = [], set()
        for original_id in targets:
            target = original_id.rsplit("_", 1)[1]
            rel = f"{self.originals_root}/original_sequences/youtube/{self.quality}/videos/{target}.mp4"
            path = self.root / rel
            problem = link_problem(path, allowed, rel)
            if problem is None and not path.is_file():
                continue  # the fakes get original_missing below
            usable.add(original_id)
            split = {r.official_split for r in fakes if r.original_id == original_id} - {None}
            originals.append(
                Record(
                    part=int(target) // 100,
                    video_id=original_id,
                    filename=f"{target}.mp4",
                    path=rel,
                    label="REAL",
                    identity=f"ffpp:{target}",
                    official_split=split.pop() if len(split) == 1 else None,
                    quality=self.quality,
                    group_id=f"youtube_{target}",
                    status=problem[0] if problem else "ok",
                    detail=problem[1] if problem else "",
                )
            )
        for i, r in enumerate(fakes):
            if r.status == "ok" and r.original_id not in usable:
                fakes[i] = r.with_status(
                    "original_missing", f"{r.path}: its target {r.original_id} is not under corpus.originals_root"
                )
        return originals
