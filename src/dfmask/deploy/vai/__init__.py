"""Vitis AI 3.0 entry point (Python 3.8 / torch 1.13): never imports the rest of dfmask.

``quantize_vai.py`` runs as a script inside the ``vitis-ai-pytorch`` conda env;
``uynet_py38.py`` is its self-contained copy of the U-YNet definition, proven
output-identical to `dfmask.model.uynet.UYNet` by tests/deploy/test_vai_model.py.
Both must stay clean under ``ruff check --target-version py38`` (``make lint-vai``).
"""
