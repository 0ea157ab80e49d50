"""split: identity clusters, groups and the stable train/val/test split (see dfmask.splits)."""

from __future__ import annotations

import argparse

from dfmask.params import BaseParams, CorpusParams, SplitParams, load_section
from dfmask.splits.build import run_split, summary
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--videos", default="data/interim/videos", help="ingest tables folder")
    parser.add_argument("--embeddings", default="data/interim/embeddings", help="embeddings folder")
    parser.add_argument("--out", default="data/interim/splits.parquet", help="splits table")
    parser.add_argument("--report", default="reports/split.json", help="report JSON")
    parser.add_argument("--state", default="data/.work/split", help="last assignment (for moves)")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(SplitParams, "split", args.params)
    report = run_split(
        corpus.parts,
        args.videos,
        args.embeddings,
        args.out,
        args.report,
        params,
        base.seed,
        state_dir=args.state,
    )
    return summary(report)


if __name__ == "__main__":
    run_stage("split", main)
