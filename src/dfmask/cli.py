"""Helpers shared by the thin scripts in ``stages/``.

`run_stage` turns a `DfmaskError` into one line on stderr and exit code 2, so users
see what to fix instead of a traceback. So does an `OSError` that names a file (a
read-only or full output folder, a path that is a file where a folder should be): that
is the machine's state, not a bug, and the line names the path. Any other exception is
a bug and keeps its traceback. `progress` is tqdm that stays quiet when stderr is not a terminal (CI).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

from dfmask.errors import DfmaskError

T = TypeVar("T")


def run_stage(name: str, main: Callable[[], str | None]) -> None:
    """Run a stage's ``main``; print its one-line summary, or a one-line error and exit 2."""
    try:
        summary = main()
    except DfmaskError as err:
        print(f"{name}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:
        if err.filename is None:
            raise
        where = os.fsdecode(err.filename)
        if err.filename2 is not None:
            where += f" -> {os.fsdecode(err.filename2)}"
        print(f"{name}: error: {where}: {err.strerror or type(err).__name__}", file=sys.stderr)
        raise SystemExit(2) from None
    if summary:
        print(f"{name}: {summary}")


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """A tqdm progress bar on stderr, disabled when stderr is not a TTY."""
    yield from tqdm(iterable, desc=desc, total=total, unit=unit, disable=not sys.stderr.isatty(), leave=False)
