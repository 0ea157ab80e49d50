"""DVC stage sample: generate the DFDC-layout sample corpus under data/sample/.

Writes data/sample/ (corpus/dfdc_train_part_N/, ground_truth.parquet) and
reports/sample_preview.png; when corpus.root points elsewhere, only
data/sample/NOT_GENERATED.md and a placeholder preview.
"""

import argparse
from pathlib import Path

from dfmask.corpus.sample import generate
from dfmask.params import BaseParams, CorpusParams, SampleParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--preview", default="reports/sample_preview.png")
    args = ap.parse_args()
    base = load_section(BaseParams, "base", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(SampleParams, "sample", args.params)
    summary = generate(params, corpus.root, corpus.parts, base.seed, Path(args.preview))
    return summary.line()


if __name__ == "__main__":
    run_stage("sample", main)
