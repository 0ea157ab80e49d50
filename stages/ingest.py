"""DVC stage ingest@N: probe every video of one part, as its inventory lists it.

Writes the part's videos table and report (paths from dvc.yaml, see dfmask.corpus.ingest).
"""

import argparse
from pathlib import Path

from dfmask.corpus.ingest import IngestPaths, run
from dfmask.params import ComputeParams, CorpusParams, IngestParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--part", type=int, required=True, help="corpus part N")
    ap.add_argument("--params", default="params.yaml", help="params file")
    ap.add_argument("--out", type=Path, required=True, help="the part's videos table (part=N.parquet)")
    ap.add_argument("--report", type=Path, required=True, help="the part's report JSON")
    ap.add_argument("--inventory", type=Path, required=True, help="the part's inventory (part=N.json)")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(IngestParams, "ingest", args.params)
    compute = load_section(ComputeParams, "compute", args.params)
    report = run(
        params, corpus, IngestPaths(out=args.out, report=args.report, inventory=args.inventory), args.part, compute
    )
    return report.summary()


if __name__ == "__main__":
    run_stage("ingest", main)
