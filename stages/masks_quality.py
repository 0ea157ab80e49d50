"""DVC stage masks_quality: the SSIM masks against true masks (the sample's, or a corpus's own).

Reads the masks and faces folders, the splits table and <sample>/ground_truth.parquet
(and <sample>/codec_pairs/ when the generator wrote it); writes the report JSON (IoU/Dice
and valid flags per method, CRF band and case on the test split, next to the mean-mask
baseline fitted on train; targets pass/fail) and the preview PNG. On another corpus the
truth is the corpus's own mask videos when its ingest tables (--videos) name them
(FaceForensics++'s mask_path); without them there is no truth, and both files say so. The param
sweep is a hand run: ``dfmask quality masks --sweep``.
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
    ap.add_argument("--splits", type=Path, required=True, help="the splits table (paths.splits)")
    ap.add_argument("--videos", type=Path, help="the ingest tables (paths.videos): a corpus's own masks")
    ap.add_argument("--out", type=Path, required=True, help="report JSON")
    ap.add_argument("--preview", type=Path, required=True, help="preview PNG")
    ap.add_argument("--headline", type=Path, help="headline metrics JSON (dfmask.headline); none when omitted")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    params = load_section(MasksParams, "masks", args.params)
    paths = MasksQualityPaths(args.masks, args.faces, args.sample, args.out, args.preview, args.splits, args.videos)
    summary = run(params, corpus, paths).summary()
    if args.headline is not None:
        write_headline("masks_quality", {"report": args.out}, args.headline)
    return summary


if __name__ == "__main__":
    run_stage("masks_quality", main)
