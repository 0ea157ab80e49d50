"""Progress off a terminal: plain, rate-limited lines (fake clock, fake non-TTY streams)."""

from __future__ import annotations

import io
import logging
import re
import sys

import pytest

from dfmask import progress
from dfmask.progress import Ticker, on_terminal, plain_stderr

ANSI_OR_CR = re.compile(r"\x1b|\r")


class Clock:
    """A fake monotonic clock the test advances."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_fast_loop_prints_one_line_per_tenth_at_most_and_never_within_the_gap() -> None:
    out, clock = io.StringIO(), Clock()
    t = Ticker("faces part=0", 1000, "videos", stream=out, clock=clock)
    for _ in range(1000):
        clock.now += 0.5  # 500 s in all: a tenth every 50 s, more than the 30 s rule
        t.update()
    t.close()
    lines = _lines(out)
    # 30 s rule: a line every 60 items; 10 % rule at 100, 200, ...: whichever first.
    assert 10 <= len(lines) <= 20
    assert lines[-1].startswith("faces part=0: 1000/1000 videos (100%), 8m20s elapsed")
    assert not any(ANSI_OR_CR.search(line) for line in lines)
    first = lines[0]
    assert re.fullmatch(r"faces part=0: 60/1000 videos \(6%\), 30s elapsed, ~7m\d\ds left", first), first


def test_tenths_come_first_when_items_are_slow_and_the_gap_holds_back_a_burst() -> None:
    out, clock = io.StringIO(), Clock()
    t = Ticker("train", 20, "steps", stream=out, clock=clock)
    for _ in range(20):
        clock.now += 1.0  # 2 items = 10 % every 2 s, but lines at least 5 s apart
        t.update(note="loss 0.5")
    t.close()
    lines = _lines(out)
    assert [int(re.search(r": (\d+)/20", line).group(1)) for line in lines] == [5, 10, 15, 20]  # type: ignore[union-attr]
    assert all(line.endswith("; loss 0.5") for line in lines)


def test_no_total_prints_on_time_only() -> None:
    out, clock = io.StringIO(), Clock()
    t = Ticker("ingest", None, "videos", stream=out, clock=clock)
    for _ in range(100):
        clock.now += 1.0
        t.update()
    assert _lines(out) == [
        "ingest: 30 videos, 30s elapsed",
        "ingest: 60 videos, 1m00s elapsed",
        "ingest: 90 videos, 1m30s elapsed",
    ]


def test_a_loop_shorter_than_the_gap_prints_nothing() -> None:
    out, clock = io.StringIO(), Clock()
    t = Ticker("sample", 3, "originals", stream=out, clock=clock)
    for _ in range(3):
        clock.now += 1.0
        t.update()
    t.close()
    assert out.getvalue() == ""


def test_progress_off_a_terminal_writes_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()  # StringIO.isatty() is False: a pipe, a log file
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(progress, "MIN_GAP_S", 0.0)
    assert not on_terminal()
    assert list(progress.progress(range(10), desc="masks part=1", unit="videos")) == list(range(10))
    lines = _lines(err)
    assert lines and lines[-1].startswith("masks part=1: 10/10 videos (100%)")
    assert len(lines) == 10 and not ANSI_OR_CR.search(err.getvalue())


def test_plain_stderr_drops_bars_and_colours_of_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    lib = logging.getLogger("dfmask-test-lib_screen")  # a library logger bound to stderr at import
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("\033[33m[LIB-%(levelname)s]: %(message)s\033[0m"))
    lib.addHandler(handler)
    lib.propagate = False
    try:
        with plain_stderr():
            sys.stderr.write("\r  0%|          | 0/10\r 50%|#####     | 5/10\r100%|##########| 10/10\n")
            lib.warning("calibration used 8 images")
            sys.stderr.write("\033[32mdone\033[0m\n")
        assert handler.stream is err  # restored
    finally:
        lib.removeHandler(handler)
    assert err.getvalue() == "[LIB-WARNING]: calibration used 8 images\ndone\n"
