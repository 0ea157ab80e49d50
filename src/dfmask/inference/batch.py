"""``dfmask predict``: score many files, one failure never stopping the others.

Inputs are files or folders (a folder gives its ``*.mp4`` files, recursively, sorted).
Each video's `VideoPrediction` is written as it is done: JSON Lines (one document per
line) or CSV rows with a header. A video that cannot be read gets its status
(``corrupt``, ``truncated``, ...), never an exception; the run's exit code is 1 when
any video failed (`SCORED` lists the statuses that did not), 0 otherwise.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dfmask.errors import DfmaskError
from dfmask.inference.detector import Detector
from dfmask.inference.result import CSV_COLUMNS, VideoPrediction

FORMATS = ("json", "csv")


def collect_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given, folders expanded to their ``*.mp4`` files (recursive, sorted)."""
    out: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".mp4")
            if not found:
                raise DfmaskError(f"{path}: folder holds no .mp4 file")
            out.extend(found)
        else:
            out.append(path)  # a missing file is that video's status, not the run's error
    if not out:
        raise DfmaskError("no input video given")
    return out


class Writer:
    """JSON Lines or CSV (with a header) to an open text stream, flushed per video."""

    def __init__(self, stream: IO[str], fmt: str) -> None:
        if fmt not in FORMATS:
            raise DfmaskError(f"--format {fmt!r}: expected json | csv")
        self.stream = stream
        self.csv = csv.DictWriter(stream, CSV_COLUMNS, lineterminator="\n") if fmt == "csv" else None
        if self.csv is not None:
            self.csv.writeheader()

    def write(self, pred: VideoPrediction) -> None:
        if self.csv is not None:
            self.csv.writerow(pred.csv_row())
        else:
            self.stream.write(json.dumps(pred.to_json(), sort_keys=False) + "\n")
        self.stream.flush()


@dataclass(frozen=True)
class BatchResult:
    videos: int
    statuses: dict[str, int]
    failed: int
    seconds: float

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        return f"{self.videos} videos in {self.seconds:.1f} s ({counts}); {self.failed} failed"


def _feedback(files: list[Path]) -> Iterable[Path]:
    """A tqdm bar on a terminal; otherwise the caller prints a line per video."""
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        yield from tqdm(files, desc="predict", unit="video", leave=False)
    else:
        yield from files


def predict_files(
    detector: Detector, files: list[Path], writer: Writer, overlay_dir: Path | None = None
) -> BatchResult:
    """Score ``files`` in order, writing each result as soon as it is known."""
    start = time.perf_counter()
    statuses: Counter[str] = Counter()
    tty = sys.stderr.isatty()
    names: dict[Path, str] = {}
    if overlay_dir is not None:
        from dfmask.inference.overlay import overlay_names, write_overlay

        names = overlay_names(files)
    for k, path in enumerate(_feedback(files), 1):
        scored = detector.score(path)
        pred = dataclasses.replace(scored.prediction, file=str(path))  # as given: names in subfolders stay apart
        writer.write(pred)
        statuses[pred.status] += 1
        if overlay_dir is not None and pred.frames:
            write_overlay(path, scored, overlay_dir, names[path])
        if not tty:
            score = "-" if pred.p_fake is None else f"{pred.p_fake:.3f}"
            print(f"predict [{k}/{len(files)}] {path}: {pred.status} p_fake={score}", file=sys.stderr, flush=True)
    failed = sum(n for s, n in statuses.items() if s not in ("ok", "no_face"))
    return BatchResult(len(files), dict(statuses), failed, time.perf_counter() - start)
