"""Several corpora in one run (``corpus.kind: mixed``, ``corpus.sources``).

Each source is one corpus in its own published layout, in its own folder under
``corpus.root`` (``sources[].dir``; a link there to the real download is followed), read
by its own adapter. The mixed adapter only renumbers and renames what they give:

- **Parts.** A source's part N is the run's part ``part_offset + N``, so per-part stages,
  paths (``part=N``) and ``corpus.parts`` stay plain numbers, and adding a source adds
  parts without renumbering any. A run part belongs to the source with the largest
  ``part_offset`` not above it; a source whose parts would reach the next source's offset
  is refused with the offset to raise.
- **Ids.** ``video_id``, ``original_id`` and ``group_id`` become ``<name>-<id>``
  (``namespace: true``): two corpora may both have a ``000.mp4``. A source names are
  lower-case letters and digits, so the first ``-`` always ends the name. With
  ``namespace: false`` a source keeps its ids (an existing DFDC run's split groups are keyed
  by its ids, so they do not move when a second corpus is added; docs/corpora.md).
- **Paths** (video and true-mask) gain ``<dir>/``: they stay relative to ``corpus.root``,
  so ingest, faces and the true-mask readers open them unchanged.

A source folder may be a link to the download elsewhere, but DVC does not look through a
linked folder when it hashes ``corpus.root`` (measured: a dep folder holding only a link
hashes as empty), so ``dvc repro`` would not see that source change. A linked source is
read, with one warning naming it and the remedy: a bind mount (DVC sees a real folder),
or ``dvc repro -f inventory`` after changing that corpus.

Identities (``identity``/``donor_identity``) are kept: they are already ``<corpus>:<id>``,
so the same FF++ actor met through FF++ and through DeeperForensics is one person. Every
record keeps its status: nothing a source lists is dropped.
"""

from __future__ import annotations

import contextlib
import posixpath
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from dfmask.corpus.adapters.base import Adapter, Record
from dfmask.errors import DfmaskError
from dfmask.params import SourceParams

#: Between a source's name and a video's own id.
SEPARATOR = "-"


@contextlib.contextmanager
def _named(source: SourceParams) -> Iterator[None]:
    """Errors of a source's own adapter name the source: its keys are ``corpus.sources``'s
    (the adapter's messages speak of ``corpus.root``, ``corpus.originals_root``)."""
    try:
        yield
    except DfmaskError as err:
        if str(err).startswith("corpus.sources "):
            raise
        raise DfmaskError(f"corpus.sources {source.name} (dir {source.dir}): {err}") from err


def namespaced(source: SourceParams, video_id: str) -> str:
    """``video_id`` as the run names it (``<name>-<id>``, or unchanged without a namespace)."""
    return f"{source.name}{SEPARATOR}{video_id}" if source.namespace else video_id


def source_of(sources: Sequence[SourceParams], part: int) -> tuple[SourceParams, int]:
    """The source that owns run part ``part`` and that source's own part number."""
    owners = [s for s in sources if s.part_offset <= part]
    if not owners:
        lowest = min(s.part_offset for s in sources)
        raise DfmaskError(f"corpus.parts lists {part}, below every source's part_offset (the lowest is {lowest})")
    owner = max(owners, key=lambda s: s.part_offset)
    return owner, part - owner.part_offset


def owners(offsets: Mapping[str, int], parts: Iterable[int]) -> set[str]:
    """The names (of ``offsets``: source name → part_offset) that own one of ``parts``
    (`source_of`'s rule: the largest offset not above the part); a source no part reads
    is not in the run's data."""
    out = set()
    for part in parts:
        below = [(off, name) for name, off in offsets.items() if off <= part]
        if below:
            out.add(max(below)[1])
    return out


@dataclass(frozen=True)
class SourceInfo:
    """What a part's inventory and ingest table record of its source."""

    name: str
    kind: str


class MixedAdapter:
    """The corpora of ``sources`` under ``root`` (module docstring)."""

    kind = "mixed"

    def __init__(self, root: str | Path, sources: Sequence[SourceParams], make: Callable[..., Adapter]) -> None:
        """``make(kind, root, qualities, label_policy, originals_root)`` builds one source's
        adapter (`dfmask.corpus.adapters.adapter_for`)."""
        self.root = Path(root)
        self.sources = tuple(sorted(sources, key=lambda s: s.part_offset))
        self._make = make
        self._adapters: dict[str, Adapter] = {}
        self._checked: dict[str, list[int]] = {}

    def _adapter(self, source: SourceParams) -> Adapter:
        if source.name not in self._adapters:
            folder = self.root / source.dir
            if not folder.is_dir():
                raise DfmaskError(
                    f"corpus.sources {source.name}: {source.dir} is not a folder under corpus.root {self.root} "
                    f"(put the {source.kind} corpus there, or a link to it)"
                )
            if folder.is_symlink():
                print(
                    f"inventory: warning: corpus.sources {source.name}: {source.dir} is a link, and DVC does not "
                    "look through links: `dvc repro` will not notice a change in that corpus. Bind-mount it "
                    "instead, or run `dvc repro -f inventory` after changing it (docs/corpora.md)",
                    file=sys.stderr,
                )
            with _named(source):
                self._adapters[source.name] = self._make(
                    source.kind, folder, source.qualities, source.label_policy, source.originals_root
                )
        return self._adapters[source.name]

    def source(self, part: int) -> SourceInfo:
        owner, _ = source_of(self.sources, part)
        return SourceInfo(owner.name, owner.kind)

    def _own_parts(self, source: SourceParams) -> list[int]:
        """``source``'s own parts, refused when one would reach the next source's offset
        (that run part is the next source's: the user would lose this part unseen)."""
        if source.name not in self._checked:
            with _named(source):
                own = self._adapter(source).parts()
            later = [s for s in self.sources if s.part_offset > source.part_offset]
            if later and own and source.part_offset + max(own) >= later[0].part_offset:
                nxt = later[0]
                p = min(q for q in own if source.part_offset + q >= nxt.part_offset)
                raise DfmaskError(
                    f"corpus.sources {source.name}: its part {p} would be run part {source.part_offset + p}, "
                    f"which is {nxt.name}'s (part_offset {nxt.part_offset}); raise "
                    f"{nxt.name}'s part_offset above {source.part_offset + max(own)}"
                )
            self._checked[source.name] = own
        return self._checked[source.name]

    def parts(self) -> list[int]:
        """Every source's parts as run parts (each source must be on disk)."""
        return sorted(s.part_offset + p for s in self.sources for p in self._own_parts(s))

    def videos(self, part: int) -> list[Record]:
        owner, own = source_of(self.sources, part)
        self._own_parts(owner)  # its range is checked before any of its parts is read; a
        # source that owns no listed part is never opened (it need not be on this machine)
        with _named(owner):
            listed = self._adapter(owner).videos(own)
        records = (self._renamed(owner, part, r) for r in listed)
        return sorted(records, key=lambda r: r.video_id)

    def _renamed(self, source: SourceParams, part: int, rec: Record) -> Record:
        def ns(value: str | None) -> str | None:
            return None if value is None else namespaced(source, value)

        def under(path: str | None) -> str | None:
            if path is None:
                return None
            joined = posixpath.normpath(f"{source.dir}/{path}")
            if ".." not in path.split("/"):
                return joined
            # a DeeperForensics source reaches its FF++ targets through originals_root
            # (``../ffpp``): the text, normalised, must stay under corpus.root and name the
            # file the adapter found (through a linked source dir, ``..`` leaves the link's
            # target, not corpus.root)
            found = (self.root / source.dir / path).resolve()
            if joined.startswith("../") or joined == ".." or (self.root / joined).resolve() != found:
                raise DfmaskError(
                    f"corpus.sources {source.name}: originals_root {source.originals_root!r} reaches {path} "
                    f"outside {self.root}/<another source's dir> (through a link, or out of corpus.root); "
                    "point it at a real folder under corpus.root, e.g. another source's dir"
                )
            return joined

        return replace(
            rec,
            part=part,
            video_id=namespaced(source, rec.video_id),
            original_id=ns(rec.original_id),
            group_id=ns(rec.group_id),
            path=under(rec.path),
            mask_path=under(rec.mask_path),
            detail=f"{source.name}: {rec.detail}" if rec.detail else rec.detail,
        )
