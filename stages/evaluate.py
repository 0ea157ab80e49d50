"""DVC stage evaluate: metrics of the trained U-YNet on val and test (see dfmask.model.evaluate).

Reads the trained checkpoint, the faces/masks/splits tables and, when corpus.root is
the generated sample, its ground truth; writes the report folder (metrics.json,
DVCLive plots, reliability.png, overlays.png, breakdown.json, calibration.json).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.params import CorpusParams, EvaluateParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", type=Path, required=True, help="faces stage root (part=N/ shards)")
    ap.add_argument("--masks", type=Path, required=True, help="masks stage root (part=N/ shards)")
    ap.add_argument("--splits", type=Path, required=True, help="splits table")
    ap.add_argument(
        "--checkpoint",
        type=Path,
        nargs="+",
        required=True,
        help="trained checkpoint (uynet.ckpt); several = an ensemble (logits averaged)",
    )
    ap.add_argument("--sample", type=Path, required=True, help="sample stage folder (ground_truth.parquet)")
    ap.add_argument("--out", type=Path, required=True, help="report folder")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(EvaluateParams, "evaluate", args.params)

    from dfmask.model.evaluate import EvalPaths, run

    first, *extra = args.checkpoint
    paths = EvalPaths(args.faces, args.masks, args.splits, first, args.sample, args.out, tuple(extra))
    return run(params, paths, corpus).summary()


if __name__ == "__main__":
    run_stage("evaluate", main)
