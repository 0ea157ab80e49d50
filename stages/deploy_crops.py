"""deploy_crops: the crops export, quantize, quantize_vai and benchmark use, drawn once (dfmask.deploy.crop_sample)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.calib import deploy_draws
from dfmask.deploy.crop_sample import DeployCropsPaths, run
from dfmask.params import (
    BaseParams,
    BenchmarkParams,
    CorpusParams,
    DeployParams,
    ExportParams,
    QuantizeParams,
    load_section,
)
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--faces", type=Path, required=True, help="faces stage root (part=N/ shards)")
    parser.add_argument("--masks", type=Path, required=True, help="masks stage root (part=N/ shards)")
    parser.add_argument("--splits", type=Path, required=True, help="splits table")
    parser.add_argument("--out", type=Path, required=True, help="output folder: one <draw>.parquet per draw")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    corpus = load_section(CorpusParams, "corpus", args.params)
    draws = deploy_draws(
        load_section(ExportParams, "export", args.params),
        load_section(QuantizeParams, "quantize", args.params),
        load_section(DeployParams, "deploy", args.params),
        load_section(BenchmarkParams, "benchmark", args.params),
    )
    paths = DeployCropsPaths(args.faces, args.masks, args.splits, args.out)
    return run(draws, paths, base.seed, corpus.parts).summary()


if __name__ == "__main__":
    run_stage("deploy_crops", main)
