"""DVC stage evaluate: metrics of the trained U-YNet on val and test (see dfmask.model.evaluate).

Reads models/train/uynet.ckpt, the faces/masks/splits tables and (sample corpus only)
the ground truth; writes reports/eval/ (metrics.json, DVCLive plots, reliability.png,
overlays.png).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.params import CorpusParams, EvaluateParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", default="data/interim/faces")
    ap.add_argument("--masks", default="data/processed/masks")
    ap.add_argument("--splits", default="data/interim/splits.parquet")
    ap.add_argument("--checkpoint", default="models/train/uynet.ckpt")
    ap.add_argument("--out", default="reports/eval")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(EvaluateParams, "evaluate", args.params)

    from dfmask.model.evaluate import EvalPaths, evaluate, summary

    paths = EvalPaths(Path(args.faces), Path(args.masks), Path(args.splits), Path(args.checkpoint), Path(args.out))
    doc = evaluate(params, paths, corpus.parts)
    return summary(doc, params) + f" (see {paths.out_dir}/metrics.json)"


if __name__ == "__main__":
    run_stage("evaluate", main)
