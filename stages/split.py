"""split: identity clusters, groups and the stable train/val/test split (see dfmask.splits)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.headline import write as write_headline
from dfmask.params import BaseParams, CorpusParams, SplitParams, load_section
from dfmask.splits.build import SplitPaths, run
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--videos", type=Path, required=True, help="ingest tables folder (part=N.parquet)")
    parser.add_argument("--embeddings", type=Path, required=True, help="embeddings folder (part=N.parquet)")
    parser.add_argument("--out", type=Path, required=True, help="splits table")
    parser.add_argument("--report", type=Path, required=True, help="report JSON")
    parser.add_argument("--work", type=Path, required=True, help="resume folder (paths.work): the last assignment")
    parser.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(SplitParams, "split", args.params)
    paths = SplitPaths(args.videos, args.embeddings, args.out, args.report, args.work)
    summary = run(params, corpus, base, paths).summary()
    if args.headline is not None:
        write_headline("split", {"report": args.report}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("split", main)
