"""Progress feedback for long loops: a tqdm bar on a terminal, plain lines off one.

Off a terminal (piped through ``tee``, a batch scheduler's log, CI) a bar would be
either silent or a flood of carriage returns, so `Ticker` prints one plain line
(``faces part=0: 120/1843 videos (7%), 2m00s elapsed, ~28m left``) every ``every_s``
seconds (30) or every ``every_frac`` of the total (10 %), whichever comes first, and
never two lines less than ``min_gap_s`` seconds (5) apart: a loop that ends within
5 s prints nothing, the stage's summary line says it all. Lines carry no carriage
return and no ANSI code.

`plain_stderr` does the same for what libraries write: inside it, off a terminal,
lines drawn with carriage returns (their progress bars) are dropped and ANSI colour
codes removed, including the output of logging handlers bound to stderr (Quark's).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

EVERY_S = 30.0  # a line at least this often (seconds) while the loop advances
EVERY_FRAC = 0.1  # and at every tenth of the total
MIN_GAP_S = 5.0  # but never two lines closer than this (seconds)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def on_terminal(stream: IO[str] | None = None) -> bool:
    """True when ``stream`` (default: the current stderr) is an interactive terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def _duration(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Ticker:
    """Rate-limited plain progress lines for a loop of ``total`` items (see module docstring).

    Args:
        desc: what advances, first word of every line (``"train"``, ``"faces part=0"``).
        total: the items expected, or None (then lines come on time only, without %).
        unit: the item's name, as in ``"120/1843 videos"`` (no plural is made).
        stream: where lines go (default: the current stderr).
        clock: seconds, monotonic (``time.monotonic``; tests pass a fake one).
    """

    def __init__(
        self,
        desc: str,
        total: int | None = None,
        unit: str = "it",
        *,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_s: float | None = None,
        every_frac: float | None = None,
        min_gap_s: float | None = None,
    ) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream = stream
        self.clock = clock
        # None: the module's EVERY_S / EVERY_FRAC / MIN_GAP_S, read now
        self.every_s = EVERY_S if every_s is None else every_s
        self.every_frac = EVERY_FRAC if every_frac is None else every_frac
        self.min_gap_s = MIN_GAP_S if min_gap_s is None else min_gap_s
        self.done = 0
        self.lines = 0  # lines printed so far
        self._start = clock()
        self._last = self._start  # time of the last line (or the start)
        self._last_done = -1  # items done at the last line
        self._next_mark = self._mark_after(0)

    def _mark_after(self, done: int) -> float:
        """The next multiple of ``every_frac`` of the total above ``done`` (inf without a total)."""
        if not self.total:
            return float("inf")
        step = self.total * self.every_frac
        return (int(done / step) + 1) * step

    def line(self, note: str = "") -> str:
        """The progress line for the current state (no newline)."""
        elapsed = self.clock() - self._start
        if self.total:
            text = f"{self.desc}: {self.done}/{self.total} {self.unit} ({100 * self.done // self.total}%)"
            text += f", {_duration(elapsed)} elapsed"
            if 0 < self.done < self.total:
                text += f", ~{_duration(elapsed * (self.total - self.done) / self.done)} left"
        else:
            text = f"{self.desc}: {self.done} {self.unit}, {_duration(elapsed)} elapsed"
        return f"{text}; {note}" if note else text

    def _emit(self, note: str) -> None:
        stream = sys.stderr if self.stream is None else self.stream
        print(_ANSI.sub("", self.line(note)), file=stream, flush=True)
        self.lines += 1
        self._last = self.clock()
        self._last_done = self.done
        self._next_mark = self._mark_after(self.done)

    def update(self, n: int = 1, note: str = "") -> None:
        """Count ``n`` more items done; print a line if one is due (``note`` appended)."""
        self.done += n
        now = self.clock()
        if now - self._last < self.min_gap_s:
            return
        if self.done >= self._next_mark or now - self._last >= self.every_s:
            self._emit(note)

    def close(self, note: str = "") -> None:
        """A last line with the final count, if any line was printed and it is not the last state."""
        if self.lines and self.done != self._last_done:
            self._emit(note)


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate ``iterable`` with a tqdm bar on a terminal, `Ticker` lines off one (stderr)."""
    if on_terminal():
        yield from tqdm(iterable, desc=desc, total=total, unit=unit, leave=False)
        return
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    ticker = Ticker(desc, total, unit)
    for item in iterable:
        yield item
        ticker.update()
    ticker.close()


class _PlainLines:
    """A text stream that writes whole lines to ``target``, without ANSI codes, and
    drops lines redrawn with carriage returns (progress bars)."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target
        self._buffer = ""

    def write(self, text: str) -> int:
        self._buffer += text
        *lines, self._buffer = self._buffer.split("\n")
        for line in lines:
            plain = _ANSI.sub("", line)
            if "\r" not in plain and plain.strip():  # no bars, no blank lines left by colour codes
                self.target.write(plain + "\n")
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        """Write what is left of a last unterminated line (unless it is a bar)."""
        if self._buffer and "\r" not in self._buffer:
            self.target.write(_ANSI.sub("", self._buffer) + "\n")
        self._buffer = ""
        self.target.flush()


@contextlib.contextmanager
def plain_stderr() -> Iterator[None]:
    """Off a terminal: inside the block, library output on stderr loses its progress
    bars and colour codes (see module docstring). On a terminal: nothing changes.

    Logging handlers that write to the real stderr (handlers bound at import time, as
    Quark's are) are pointed at the filter for the block too.
    """
    if on_terminal():
        yield
        return
    real = sys.stderr
    plain = _PlainLines(real)
    # handlers holding the stream itself (a _StderrHandler looks sys.stderr up: redirected below)
    handlers = {
        id(h): h
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        if isinstance(logger, logging.Logger)
        for h in logger.handlers
        if type(h) is logging.StreamHandler and h.stream in (real, sys.__stderr__)
    }
    previous = {key: h.setStream(plain) for key, h in handlers.items()}
    try:
        with contextlib.redirect_stderr(plain):
            yield
    finally:
        for key, h in handlers.items():
            h.setStream(previous[key])
        plain.close()
