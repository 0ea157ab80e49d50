"""DVC stage masks_quality: the SSIM masks against the sample corpus's true swap masks.

Reads data/processed/masks, data/interim/faces and <sample.out>/ground_truth.parquet;
writes reports/masks_quality.json (IoU/Dice per swap kind, the mean-mask baseline,
valid agreement) and reports/masks_preview.png. On a real corpus (corpus.root outside
sample.out) there is no truth: both files say so. The param sweep is a hand run:
``dfmask quality masks --sweep``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.corpus import corpus_kind
from dfmask.masks.quality import measure, not_applicable
from dfmask.params import CorpusParams, MasksParams, SampleParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--masks", type=Path, default=Path("data/processed/masks"))
    ap.add_argument("--faces", type=Path, default=Path("data/interim/faces"))
    ap.add_argument("--out", type=Path, default=Path("reports/masks_quality.json"))
    ap.add_argument("--preview", type=Path, default=Path("reports/masks_preview.png"))
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    sample = load_section(SampleParams, "sample", args.params)
    if corpus_kind(corpus.root, sample.out) != "sample":
        return not_applicable(args.out, args.preview, f"corpus.root {corpus.root} has no ground truth")
    params = load_section(MasksParams, "masks", args.params)
    truth = Path(sample.out) / "ground_truth.parquet"
    return measure(params, corpus.parts, args.masks, args.faces, truth, args.out, args.preview)


if __name__ == "__main__":
    run_stage("masks_quality", main)
