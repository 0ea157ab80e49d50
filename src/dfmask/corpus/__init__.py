"""The DFDC corpus layout: metadata, ingest, and the sample-corpus generator."""

from __future__ import annotations

from pathlib import Path


def corpus_kind(corpus_root: str, sample_out: str) -> str:
    """``"sample"`` when ``corpus.root`` lies inside the sample stage's folder, else ``"dfdc"``."""
    root, sample = Path(corpus_root).resolve(), Path(sample_out).resolve()
    return "sample" if root == sample or sample in root.parents else "dfdc"
