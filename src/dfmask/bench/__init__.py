"""Benchmarks of pipeline stages (python -m dfmask.bench.<stage>)."""
