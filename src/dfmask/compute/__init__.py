"""Where per-video work runs: the executors a stage fans its items out to.

Stages keep owning what is written (WorkDir items, shards, tables); this package
only decides where each per-video function call runs (``compute.executor``), so
the outputs do not depend on the executor. It is infrastructure: it imports no
stage package, and the stage packages hand it their functions.
"""
