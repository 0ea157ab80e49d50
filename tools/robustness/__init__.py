"""The hostile-input catalogue of issue 14 (``make robustness``; docs/robustness.md).

Lives outside the installed ``dfmask`` package: it drives the stage scripts the way
DVC runs them and reads their outputs, like a user would.
"""
