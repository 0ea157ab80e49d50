"""benchmark: latency, throughput, accuracy per backend + VCK5000 (measured or ESTIMATED) (dfmask.deploy.benchmark)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.benchmark import BenchmarkPaths, run
from dfmask.headline import write as write_headline
from dfmask.params import BenchmarkParams, DeployParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", type=Path, required=True, help="export folder")
    parser.add_argument("--int8", type=Path, required=True, help="quantize folder")
    parser.add_argument("--compiled", type=Path, required=True, help="compile folder")
    parser.add_argument("--test-crops", type=Path, required=True, help="deploy_crops table of the accuracy crops")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument("--work", type=Path, required=True, help="scratch for the VART run")
    parser.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = parser.parse_args()
    deploy = load_section(DeployParams, "deploy", args.params)
    params = load_section(BenchmarkParams, "benchmark", args.params)
    paths = BenchmarkPaths(args.onnx, args.int8, args.compiled, args.test_crops, args.out, args.work)
    summary = run(deploy, params, paths).summary()
    if args.headline is not None:
        write_headline("benchmark", {"report": args.out / "bench.json"}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("benchmark", main)
