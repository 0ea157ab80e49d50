"""DVC stage train: fit U-YNet on the train split (see dfmask.model.train).

Reads the faces, masks and splits tables; writes the model folder (uynet.ckpt,
uynet_config.json) and the report folder (DVCLive metrics/plots, train.json with
throughput).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.headline import write as write_headline
from dfmask.params import CorpusParams, TrainParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", type=Path, required=True, help="faces stage root (part=N/ shards)")
    ap.add_argument("--masks", type=Path, required=True, help="masks stage root (part=N/ shards)")
    ap.add_argument("--splits", type=Path, required=True, help="splits table")
    ap.add_argument("--models", type=Path, required=True, help="model folder (uynet.ckpt)")
    ap.add_argument("--report", type=Path, required=True, help="report folder (DVCLive, train.json)")
    ap.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(TrainParams, "train", args.params)

    from dfmask.model.train import TrainPaths, run

    paths = TrainPaths(args.faces, args.masks, args.splits, args.models, args.report)
    summary = run(params, paths, corpus.parts).summary()
    sources = {"report": args.report / "train.json", "dvclive": args.report / "metrics.json"}
    if args.headline is not None:
        write_headline("train", sources, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("train", main)
