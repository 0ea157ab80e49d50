"""DVC stage evaluate: metrics of the trained U-YNet on val and test (see dfmask.model.evaluate).

Reads the trained checkpoint, the faces/masks/splits tables and, when corpus.root is
the generated sample, its ground truth; writes the report folder (metrics.json,
DVCLive plots, reliability.png, overlays.png, breakdown.json, calibration.json, and
MODEL_CARD.md from metrics.json and the train stage's train.json: dfmask.model.card).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.headline import write as write_headline
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
    ap.add_argument("--videos", type=Path, help="the ingest tables (a corpus's own methods and qualities)")
    ap.add_argument("--out", type=Path, required=True, help="report folder")
    ap.add_argument("--train-report", type=Path, help="the train stage's train.json, quoted in MODEL_CARD.md")
    ap.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(EvaluateParams, "evaluate", args.params)

    from dfmask.corpus import corpus_kind
    from dfmask.corpus.adapters import corpus_layouts, corpus_titles
    from dfmask.model.card import CARD_NAME, write_model_card
    from dfmask.model.evaluate import EvalPaths, run

    first, *extra = args.checkpoint
    paths = EvalPaths(args.faces, args.masks, args.splits, first, args.sample, args.out, tuple(extra), args.videos)
    summary = run(params, paths, corpus).summary()
    kind = corpus_kind(corpus.root, args.sample, corpus.kind)
    corpora, layouts = (corpus_titles(corpus), corpus_layouts(corpus)) if kind != "sample" else ((), ())
    write_model_card(args.out / "metrics.json", args.out / CARD_NAME, kind, args.train_report, corpora, layouts)
    if args.headline is not None:
        write_headline("evaluate", {"report": args.out / "metrics.json"}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("evaluate", main)
