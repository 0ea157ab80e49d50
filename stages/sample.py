"""DVC stage sample: generate the DFDC-layout sample corpus (see dfmask.corpus.sample).

Writes --out (corpus/dfdc_train_part_N/, ground_truth.parquet, codec_pairs/) and the --preview PNG;
when corpus.root is not <out>/corpus, only <out>/NOT_GENERATED.md and a placeholder preview.
"""

import argparse
from pathlib import Path

from dfmask.corpus.sample import SamplePaths, run
from dfmask.params import BaseParams, CorpusParams, SampleParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml", help="params file")
    ap.add_argument("--out", type=Path, required=True, help="the sample folder (paths.sample)")
    ap.add_argument("--preview", type=Path, required=True, help="the preview PNG")
    args = ap.parse_args()
    base = load_section(BaseParams, "base", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(SampleParams, "sample", args.params)
    return run(params, corpus, base, SamplePaths(out=args.out, preview=args.preview)).summary()


if __name__ == "__main__":
    run_stage("sample", main)
