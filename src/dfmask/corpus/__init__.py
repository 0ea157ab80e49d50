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


def corpus_kind(corpus_root: str | os.PathLike[str], sample_root: str | os.PathLike[str]) -> str:
    """``"sample"`` when ``corpus.root`` is the sample stage's corpus folder
    (``<paths.sample>/corpus``, compared resolved), else ``"dfdc"``.

    The one rule for "is this the generated sample": the sample stage generates only
    then, and only then does ``<paths.sample>/ground_truth.parquet`` describe the corpus
    that the pipeline reads (mask QA, evaluation and the release datasheet rely on it).
    """
    return "sample" if Path(corpus_root).resolve() == sample_corpus_dir(sample_root).resolve() else "dfdc"
