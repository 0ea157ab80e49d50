"""Fast vs exact faces when scoring: ``python -m tools.bench.predict_exact`` → reports/predict_exact.json.

`dfmask.Detector` runs MTCNN in float32 on every core by default and as the faces stage
does with ``exact_faces`` (docs/predict.md, "Fast or exact faces"). This scores the
same videos both ways and reports what the default changes: how many videos score
differently, the largest and mean |p_fake| change, the largest crop-window shift (px),
label flips and status changes, and the seconds each way.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfmask.errors import DfmaskError
from dfmask.tables import write_json


def compare(videos: Sequence[Path], **load: Any) -> dict[str, Any]:
    """Score ``videos`` with ``Detector.load(**load)`` fast and exact; the report."""
    from dfmask.inference.detector import Detector

    fast, exact = Detector.load(**load), Detector.load(**load, exact_faces=True)
    seconds = {"fast": 0.0, "exact": 0.0}
    dp: list[float] = []
    shift, flips, status_differs, frames_differ = 0, 0, 0, 0
    for video in videos:
        start = time.perf_counter()
        a = fast.predict(video)
        seconds["fast"] += time.perf_counter() - start
        start = time.perf_counter()
        b = exact.predict(video)
        seconds["exact"] += time.perf_counter() - start
        if a.status != b.status:
            status_differs += 1
        if a.p_fake is None or b.p_fake is None:
            continue
        dp.append(abs(a.p_fake - b.p_fake))
        flips += a.label != b.label
        if [(f.frame_idx, f.track_id) for f in a.frames] != [(f.frame_idx, f.track_id) for f in b.frames]:
            frames_differ += 1
            continue
        for f, g in zip(a.frames, b.frames, strict=True):
            shift = max(shift, int(np.abs(np.subtract(f.crop_box, g.crop_box)).max()))
    return {
        "videos": len(videos),
        "scored_both": len(dp),
        "videos_scored_differently": sum(d > 1e-6 for d in dp),
        "max_abs_dp": round(max(dp, default=0.0), 6),
        "mean_abs_dp": round(float(np.mean(dp)) if dp else 0.0, 6),
        "max_crop_box_shift_px": shift,
        "frames_or_tracks_differ": frames_differ,
        "label_flips": flips,
        "status_differs": status_differs,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--videos", type=Path, default=Path("data/sample/corpus/dfdc_train_part_1"))
    parser.add_argument("--limit", type=int, default=40, help="first N videos by name")
    parser.add_argument("--models", default="models")
    parser.add_argument("--backend", default=None)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--calibration", type=Path, default=Path("reports/eval/calibration.json"))
    parser.add_argument("--out", type=Path, default=Path("reports/predict_exact.json"))
    args = parser.parse_args(argv)
    videos = sorted(args.videos.glob("*.mp4"))[: args.limit]
    try:
        if not videos:
            raise DfmaskError(f"--videos {args.videos}: no .mp4 file")
        calibration = args.calibration if args.calibration.is_file() else None
        load = {"model": args.models, "backend": args.backend, "faces": args.params, "calibration": calibration}
        doc = {"videos_dir": str(args.videos), **compare(videos, **load)}
    except DfmaskError as err:
        print(f"predict exact: error: {err}", file=sys.stderr)
        return 2
    write_json(args.out, doc)
    print(
        f"predict exact: {doc['videos_scored_differently']} of {doc['scored_both']} videos score differently, "
        f"max |dp| {doc['max_abs_dp']}, {doc['label_flips']} label flips -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
