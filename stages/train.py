"""DVC stage train: fit U-YNet on the train split (see dfmask.model.train).

Reads data/interim/faces/, data/processed/masks/ and data/interim/splits.parquet;
writes models/train/ (uynet.ckpt, uynet_config.json) and reports/train/ (DVCLive
metrics/plots, train.json with throughput).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.params import CorpusParams, TrainParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--faces", default="data/interim/faces")
    ap.add_argument("--masks", default="data/processed/masks")
    ap.add_argument("--splits", default="data/interim/splits.parquet")
    ap.add_argument("--models", default="models/train")
    ap.add_argument("--report", default="reports/train")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(TrainParams, "train", args.params)

    from dfmask.model.train import TrainPaths, train

    paths = TrainPaths(Path(args.faces), Path(args.masks), Path(args.splits), Path(args.models), Path(args.report))
    r = train(params, paths, corpus.parts)
    value = r["best_val_loss"] if r["best_val_loss"] is not None else r["last_val_loss"]
    loss = "n/a" if value is None else f"{value:.4f}"
    return (
        f"{r['epochs']} epochs on {r['train_crops']} crops ({r['parameters']:,} params, {r['device']}), "
        f"kept {r['monitor']} (val loss {loss}), {r['epoch_crops_per_s']} crops/s; {paths.checkpoint} "
        f"(see {paths.report_dir}/train.json)"
    )


if __name__ == "__main__":
    run_stage("train", main)
