"""Train on a `write_synthetic_corpus` root from a command line: ``python ddp_train.py ROOT RUN OVERRIDES_JSON``.

test_distributed runs it with ``train.strategy: ddp``, which re-runs this same command
once per extra process (Lightning's subprocess launcher), as the train stage is re-run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from model_synthetic import tiny_train_params, train_paths

from dfmask.model import train

if __name__ == "__main__":
    root, run, overrides = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    report = train.run(tiny_train_params(**overrides), train_paths(root, run), (0, 1))
    print(report.summary())
