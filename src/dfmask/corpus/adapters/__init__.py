"""Corpus adapters: one module per corpus layout, one interface (`base.Adapter`).

`adapter_for` builds the adapter that ``corpus.kind`` names; ingest asks it for the
part's `base.Record` rows and writes the same videos table whatever the layout.
docs/corpora.md describes every layout, its statuses and its params.
"""

from __future__ import annotations

from pathlib import Path

from dfmask.corpus.adapters.base import ADAPTER_STATUSES, Adapter, Record
from dfmask.corpus.adapters.celebdf import CelebDfAdapter
from dfmask.corpus.adapters.deeperforensics import DeeperForensicsAdapter
from dfmask.corpus.adapters.dfdc import DfdcAdapter
from dfmask.corpus.adapters.fakeavceleb import FakeAvCelebAdapter
from dfmask.corpus.adapters.ffpp import FfppAdapter
from dfmask.corpus.adapters.mixed import MixedAdapter, SourceInfo, namespaced, owners, source_of
from dfmask.params import CorpusParams, SourceParams

KINDS = ("dfdc", "ffpp", "celebdf", "deeperforensics", "fakeavceleb")

#: Each layout's published name (datasheets, model cards).
TITLES = {
    "dfdc": "DFDC",
    "ffpp": "FaceForensics++",
    "celebdf": "Celeb-DF v2",
    "deeperforensics": "DeeperForensics-1.0",
    "fakeavceleb": "FakeAVCeleb",
}

__all__ = [
    "ADAPTER_STATUSES",
    "KINDS",
    "TITLES",
    "Adapter",
    "MixedAdapter",
    "Record",
    "SourceInfo",
    "adapter_for",
    "adapter_from",
    "corpus_layouts",
    "corpus_titles",
    "namespaced",
    "owners",
    "present_sources",
    "source_info",
    "source_of",
]


def adapter_from(corpus: CorpusParams) -> Adapter:
    """The adapter the ``corpus`` params describe: one layout (`adapter_for`), or several
    under one root (``kind: mixed``, `MixedAdapter`)."""
    if corpus.kind == "mixed":
        return MixedAdapter(corpus.root, corpus.sources, adapter_for)
    return adapter_for(corpus.kind, corpus.root, corpus.qualities, corpus.label_policy, corpus.originals_root)


def present_sources(corpus: CorpusParams) -> list[SourceParams]:
    """A mixed run's sources that own a listed part (`owners`), in their listed order."""
    present = owners({s.name: s.part_offset for s in corpus.sources}, corpus.parts)
    return [s for s in corpus.sources if s.name in present]


def corpus_titles(corpus: CorpusParams) -> list[str]:
    """What a card calls the run's corpora: the layout's published name, or (mixed) each
    source's that owns a listed part, with its name."""
    if corpus.kind != "mixed":
        return [TITLES[corpus.kind]]
    return [f"{TITLES[s.kind]} (`{s.name}`)" for s in present_sources(corpus)]


def corpus_layouts(corpus: CorpusParams) -> list[str]:
    """The layout ids (`KINDS`) of the run's corpora, each once, in listed order."""
    kinds = [corpus.kind] if corpus.kind != "mixed" else [s.kind for s in present_sources(corpus)]
    return list(dict.fromkeys(kinds))


def source_info(adapter: Adapter, part: int) -> SourceInfo | None:
    """The source of ``part`` when ``adapter`` reads several corpora, else None."""
    return adapter.source(part) if isinstance(adapter, MixedAdapter) else None



def adapter_for(
    kind: str,
    root: str | Path,
    qualities: tuple[str, ...] = ("c23",),
    label_policy: str = "visual",
    originals_root: str | None = None,
) -> Adapter:
    """The adapter of ``corpus.kind`` over ``corpus.root``, with its per-kind options.

    Args:
        kind: one of `KINDS`.
        root: the corpus root.
        qualities: FaceForensics++ compressions to read (``c0``/``c23``/``c40``); the first
            is also the quality of DeeperForensics' FaceForensics++ targets.
        label_policy: FakeAVCeleb's RealVideo-FakeAudio: ``visual``/``fake``/``exclude``.
        originals_root: DeeperForensics: the FaceForensics++ root, relative to ``root``.
    """
    if kind == "dfdc":
        return DfdcAdapter(root)
    if kind == "ffpp":
        return FfppAdapter(root, qualities)
    if kind == "celebdf":
        return CelebDfAdapter(root)
    if kind == "deeperforensics":
        return DeeperForensicsAdapter(root, originals_root, qualities[0])
    if kind == "fakeavceleb":
        return FakeAvCelebAdapter(root, label_policy)
    raise ValueError(f"unknown corpus kind {kind!r}; expected one of {', '.join(KINDS)}")
