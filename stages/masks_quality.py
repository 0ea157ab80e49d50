"""DVC stage masks_quality: the SSIM masks against the sample corpus's true swap masks.

Reads the masks and faces folders and <sample>/ground_truth.parquet; writes the report
JSON (IoU/Dice per swap kind, the mean-mask baseline, valid agreement) and the preview
PNG. On a real corpus (corpus.root is not <sample>/corpus) there is no truth: both files
say so. The param sweep is a hand run: ``dfmask quality masks --sweep``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dfmask.headline import write as write_headline
from dfmask.masks.quality import MasksQualityPaths, run
from dfmask.params import CorpusParams, MasksParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file")
    ap.add_argument("--masks", type=Path, required=True, help="masks folder (part=N/)")
    ap.add_argument("--faces", type=Path, required=True, help="faces folder (part=N/)")
    ap.add_argument("--sample", type=Path, required=True, help="the sample folder (paths.sample)")
    ap.add_argument("--out", type=Path, required=True, help="report JSON")
    ap.add_argument("--preview", type=Path, required=True, help="preview PNG")
    ap.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(MasksParams, "masks", args.params)
    paths = MasksQualityPaths(args.masks, args.faces, args.sample, args.out, args.preview)
    summary = run(params, corpus, paths).summary()
    if args.headline is not None:
        write_headline("masks_quality", {"report": args.out}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("masks_quality", main)
