"""The ``release`` stage: shards, schema.json, DATASHEET.md, SHA256SUMS, and its report.

`run` is what ``stages/release.py`` calls. Order matters: the shards first, then the
files describing them, and SHA256SUMS last so that it covers everything else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfmask import tables
from dfmask.corpus import corpus_kind
from dfmask.params import CorpusParams, ReleaseParams, to_dict
from dfmask.release import datasheet, manifest
from dfmask.release.build import ReleaseSummary, build_release
from dfmask.release.inputs import ReleaseInputs, upstream_metadata


@dataclass(frozen=True)
class ReleasePaths:
    """Where ``release`` reads and writes (dvc.yaml passes each, from params.yaml's ``paths:``)."""

    faces: Path  # paths.faces: part=N/ folders of faces shards
    masks: Path  # paths.masks: part=N/ folders of masks shards
    splits: Path  # paths.splits: the splits table
    videos: Path  # paths.videos: part=N.parquet ingest tables
    reports: Path  # paths.reports: masks/part=N.json, split.json, masks_quality.json are quoted
    sample: Path  # paths.sample: corpus_kind (is corpus.root <sample>/corpus)
    out: Path  # paths.release: the release folder
    report: Path  # <paths.reports>/release.json


@dataclass(frozen=True)
class ReleaseReport:
    """What `run` wrote: the release's summary, its folder and the corpus kind."""

    release: ReleaseSummary
    out: Path
    kind: str

    def summary(self) -> str:
        return one_line(self.release, self.out)


def _reports(inputs: ReleaseInputs, kind: str) -> dict[str, dict[str, Any]]:
    """Mask QA and split reports present under ``inputs.reports``, by their path as given
    (``reports/split.json`` from dvc.yaml: the datasheet names where a figure comes from).

    ``masks_quality.json`` (masks against true masks) has figures for the generated
    sample and for a corpus with its own mask videos (FaceForensics++); it is quoted only
    when ``kind`` is ``"sample"`` (a DFDC release must not carry the sample's figures;
    quoting a corpus's own figures is not built yet). It is the ``masks_quality`` stage's
    output and a declared dependency of ``release``, so it is never stale.
    """
    names = [f"masks/part={p}.json" for p in inputs.parts] + ["split.json"]
    if kind == "sample":
        names.append("masks_quality.json")
    found = {}
    for name in names:
        path = inputs.reports / name
        if path.exists():
            doc = json.loads(path.read_text())
            if isinstance(doc, dict):
                found[path.as_posix()] = doc
    return found


def run(params: ReleaseParams, corpus: CorpusParams, paths: ReleasePaths) -> ReleaseReport:
    """Build ``paths.out`` (the release folder) from the upstream tables of ``corpus.parts``
    and write the stage's report."""
    inputs = ReleaseInputs(paths.faces, paths.masks, paths.splits, paths.videos, paths.reports, corpus.parts)
    out = Path(paths.out)
    summary = build_release(inputs, out, params)
    manifest.write_schema(out, params.pixels)
    kind = corpus_kind(corpus.root, paths.sample, corpus.kind)
    sources = datasheet.release_sources(corpus, kind)  # mixed: every source's terms
    text = datasheet.render(
        summary,
        artifact=params.artifact,
        params=to_dict(params),
        corpus=to_dict(corpus),
        kind=kind,
        sources=sources,
        upstream=upstream_metadata(inputs),
        reports=_reports(inputs, kind),
    )
    (out / "DATASHEET.md").write_text(text)
    manifest.write_sums(out)
    doc: dict[str, Any] = {**summary.to_dict(), "corpus_kind": kind}
    if kind == "mixed":
        doc["sources"] = sources
    tables.write_json(paths.report, doc)
    return ReleaseReport(summary, out, kind)


def one_line(summary: ReleaseSummary, out: Path) -> str:
    """E.g. ``12,480 crops (train 8,700 / val 1,880 / test 1,900), pixels=true → data/release
    (3 shards, 410 MB)``."""
    order = {"train": 0, "val": 1, "validation": 1, "test": 2}
    per_split = " / ".join(
        f"{s} {sum(c.values()):,}"
        for s, c in sorted(summary.crops.items(), key=lambda kv: (order.get(kv[0], 9), kv[0]))
    )
    missing = summary.mask_source.get("missing", 0)
    excluded = sum(summary.excluded.values())
    extra = ""
    if missing or excluded:
        extra = f"; {missing:,} fake crops without mask, {excluded:,} crops without split (see DATASHEET.md)"
    return (
        f"{summary.total_crops:,} crops ({per_split}), pixels={str(summary.pixels).lower()} → {out} "
        f"({len(summary.shards)} shards, {summary.total_bytes / 1e6:,.1f} MB){extra}"
    )
