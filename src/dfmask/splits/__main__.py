"""``python -m dfmask.splits quality``: measure the split against the sample's ground truth."""

from __future__ import annotations

import sys

from dfmask.stage import run_stage


def _main(argv: list[str]) -> None:
    if not argv or argv[0] != "quality":
        print("usage: python -m dfmask.splits quality [--splits ...] [--truth ...] [--out ...]")
        raise SystemExit(2)
    from dfmask.splits.quality import main

    run_stage("split quality", lambda: str(main(argv[1:])) and None)


if __name__ == "__main__":
    _main(sys.argv[1:])
