"""DVC stage inventory: list every part of the corpus and hash the files it holds.

Writes <paths.inventory>/part=N.json for each part in corpus.parts (see
dfmask.corpus.inventory); ingest@N depends on its part's file only.
"""

import argparse
from pathlib import Path

from dfmask.corpus.inventory import run
from dfmask.params import CorpusParams, load_section
from dfmask.stage import run_stage


def main() -> str:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml", help="params file")
    ap.add_argument("--out", type=Path, required=True, help="the inventory folder (part=N.json per part)")
    ap.add_argument("--work", type=Path, required=True, help="where the hash cache lives (paths.work)")
    args = ap.parse_args()
    corpus = load_section(CorpusParams, "corpus", args.params)
    return run(corpus, args.out, args.work).summary()


if __name__ == "__main__":
    run_stage("inventory", main)
