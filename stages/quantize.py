"""quantize: Quark XINT8 (DPU numerics) + ORT static int8 (CPU speed), parity vs fp32 (dfmask.deploy.quant_report)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.deploy.quant_report import QuantizePaths, run
from dfmask.headline import write as write_headline
from dfmask.params import QuantizeParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file")
    parser.add_argument("--onnx", type=Path, required=True, help="export folder")
    parser.add_argument("--calib-crops", type=Path, required=True, help="deploy_crops table of the calibration crops")
    parser.add_argument("--test-crops", type=Path, required=True, help="deploy_crops table of the parity crops")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--report", type=Path, required=True, help="parity report (JSON)")
    parser.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = parser.parse_args()
    params = load_section(QuantizeParams, "quantize", args.params)
    paths = QuantizePaths(args.onnx, args.calib_crops, args.test_crops, args.out, args.report)
    summary = run(params, paths).summary()
    if args.headline is not None:
        write_headline("quantize", {"report": args.report}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("quantize", main)
