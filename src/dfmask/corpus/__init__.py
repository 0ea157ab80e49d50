"""The DFDC corpus layout: metadata, ingest, and the sample-corpus generator."""

from __future__ import annotations

import os
from pathlib import Path


def sample_corpus_dir(sample_root: str | os.PathLike[str]) -> Path:
    """Where the sample stage writes its corpus: ``<paths.sample>/corpus``."""
    return Path(sample_root) / "corpus"


def sample_truth(sample_root: str | os.PathLike[str]) -> Path:
    """The sample's ground truth: ``<paths.sample>/ground_truth.parquet`` (every frame's
    boxes, actors and true swap masks; never read by the pipeline's own stages)."""
    return Path(sample_root) / "ground_truth.parquet"


def corpus_kind(
    corpus_root: str | os.PathLike[str], sample_root: str | os.PathLike[str], layout: str = "dfdc"
) -> str:
    """``"sample"`` when ``corpus.root`` is the sample stage's corpus folder
    (``<paths.sample>/corpus``, compared resolved), else ``layout`` (``corpus.kind``:
    ``dfdc``, ``ffpp``, ..., ``mixed``).

    The one rule for "is this the generated sample": the sample stage generates only
    then, and only then does ``<paths.sample>/ground_truth.parquet`` describe the corpus
    that the pipeline reads (mask QA, evaluation and the release datasheet rely on it).
    """
    return "sample" if Path(corpus_root).resolve() == sample_corpus_dir(sample_root).resolve() else layout


def quoted_root(root: str | os.PathLike[str] | None) -> str | None:
    """``corpus.root`` as an output may quote it: as given when it is a relative path
    inside the repository (the sample's ``data/sample/corpus``), else None. An absolute,
    ``~`` or ``../`` root is where the corpus lies on the machine that ran the stage, and
    outputs never name it (DESIGN: no absolute paths in outputs; two machines with the
    corpus in two places write the same bytes)."""
    text = "" if root is None else os.fspath(root)
    if not text or text.startswith("~") or os.path.isabs(text):
        return None
    return None if os.path.normpath(text).split(os.sep)[0] == os.pardir else text


def codec_pairs_dir(sample_root: str | os.PathLike[str]) -> Path:
    """The codec-noise fixture of the sample: ``<paths.sample>/codec_pairs`` (a few
    originals re-encoded at another CRF, and ``codec_pairs.parquet`` naming them; outside
    the corpus, never read by the pipeline's own stages)."""
    return Path(sample_root) / "codec_pairs"
