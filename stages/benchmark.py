"""benchmark: latency, throughput, accuracy per backend + VCK5000 (measured or ESTIMATED) (dfmask.deploy.benchmark)."""

from __future__ import annotations

import argparse

from dfmask.deploy.benchmark import run_benchmark_stage, summary
from dfmask.params import BaseParams, BenchmarkParams, DeployParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", default="models/onnx", help="export folder")
    parser.add_argument("--int8", default="models/int8", help="quantize folder")
    parser.add_argument("--compiled", default="models/compiled", help="compile folder")
    parser.add_argument("--out", default="reports/bench", help="report folder")
    parser.add_argument("--work", default="data/.work/benchmark", help="scratch for the VART run")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    deploy = load_section(DeployParams, "deploy", args.params)
    params = load_section(BenchmarkParams, "benchmark", args.params)
    doc = run_benchmark_stage(deploy, params, args.onnx, args.int8, args.compiled, args.out, args.work, base.seed)
    return summary(doc)


if __name__ == "__main__":
    run_stage("benchmark", main)
