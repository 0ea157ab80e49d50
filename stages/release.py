"""release: join faces, masks and splits into data/release (shards, datasheet, checksums)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.params import CorpusParams, ReleaseParams, SampleParams, load_section
from dfmask.release.inputs import ReleaseInputs
from dfmask.release.stage import one_line, run_release
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--faces", type=Path, default=Path("data/interim/faces"))
    ap.add_argument("--masks", type=Path, default=Path("data/processed/masks"))
    ap.add_argument("--splits", type=Path, default=Path("data/interim/splits.parquet"))
    ap.add_argument("--videos", type=Path, default=Path("data/interim/videos"))
    ap.add_argument("--reports", type=Path, default=Path("reports"))
    ap.add_argument("--out", type=Path, default=Path("data/release"))
    ap.add_argument("--report", type=Path, default=Path("reports/release.json"))
    args = ap.parse_args()
    params = load_section(ReleaseParams, "release", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    sample = load_section(SampleParams, "sample", args.params)
    inputs = ReleaseInputs(args.faces, args.masks, args.splits, args.videos, args.reports, corpus.parts)
    summary = run_release(inputs, args.out, params, corpus, sample.out, args.report)
    return one_line(summary, args.out)


if __name__ == "__main__":
    run_stage("release", main)
