"""The stage contract: what every `stages/*.py` script and its library module share.

A stage script parses its arguments (the paths dvc.yaml templates from params.yaml's
``paths:`` section, and the params file), loads its params sections, calls its library
module's ``run(...)`` and hands `run_stage` a one-line summary. ``run`` writes every
output of the stage itself (tables, report JSON) and returns a report object with a
``summary()`` line (`Report`).

`run_stage` turns a `DfmaskError` into one line on stderr and exit code 2, so users
see what to fix instead of a traceback. So does an `OSError` that names a file (a
read-only or full output folder, a path that is a file where a folder should be): that
is the machine's state, not a bug, and the line names the path. Any other exception is
a bug and keeps its traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Protocol

from dfmask.errors import DfmaskError


class Report(Protocol):
    """What a stage's ``run`` returns: its outcome, already written to disk."""

    def summary(self) -> str:
        """One line for the terminal, e.g. ``part=3: 1,843 videos, 58,976 crops, ...``."""
        ...


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
