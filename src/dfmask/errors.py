"""The one exception type for user-facing problems.

A `DfmaskError` message names the file, key or video at fault and says what to do.
Stage scripts print it as one line and exit non-zero (see `dfmask.stage.run_stage`);
anything else is a bug and keeps its traceback.
"""


class DfmaskError(Exception):
    """A problem the user can fix: bad input, bad params, a missing tool."""
