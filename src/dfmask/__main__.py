"""``python -m dfmask``: the ``dfmask`` command (`dfmask.cli`)."""

from dfmask.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
