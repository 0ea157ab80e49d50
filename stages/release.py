"""release: join faces, masks and splits into the release folder (shards, datasheet, checksums)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.params import CorpusParams, ReleaseParams, load_section
from dfmask.release.stage import ReleasePaths, run
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    ap.add_argument("--faces", type=Path, required=True, help="faces folder (part=N/)")
    ap.add_argument("--masks", type=Path, required=True, help="masks folder (part=N/)")
    ap.add_argument("--splits", type=Path, required=True, help="splits table")
    ap.add_argument("--videos", type=Path, required=True, help="ingest tables folder (part=N.parquet)")
    ap.add_argument("--reports", type=Path, required=True, help="reports folder (quoted in DATASHEET.md)")
    ap.add_argument("--sample", type=Path, required=True, help="the sample folder (paths.sample)")
    ap.add_argument("--out", type=Path, required=True, help="release folder")
    ap.add_argument("--report", type=Path, required=True, help="report JSON")
    args = ap.parse_args()
    params = load_section(ReleaseParams, "release", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    paths = ReleasePaths(
        args.faces, args.masks, args.splits, args.videos, args.reports, args.sample, args.out, args.report
    )
    return run(params, corpus, paths).summary()


if __name__ == "__main__":
    run_stage("release", main)
