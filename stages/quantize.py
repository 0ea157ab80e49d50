"""quantize: Quark XINT8 (DPU numerics) + ORT static int8 (CPU speed), parity vs fp32 (dfmask.deploy.quant_report)."""

from __future__ import annotations

import argparse

from dfmask.deploy.quant_report import run_quantize, summary
from dfmask.params import BaseParams, QuantizeParams, load_section
from dfmask.stage import run_stage
from dfmask.tables import write_json


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", default="models/onnx", help="export folder")
    parser.add_argument("--out", default="models/int8", help="output folder")
    parser.add_argument("--report", default="reports/quant.json", help="parity report")
    args = parser.parse_args()
    base = load_section(BaseParams, "base", args.params)
    params = load_section(QuantizeParams, "quantize", args.params)
    report = run_quantize(params, args.onnx, args.out, base.seed)
    write_json(args.report, report)
    return summary(report)


if __name__ == "__main__":
    run_stage("quantize", main)
