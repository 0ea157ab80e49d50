"""Benchmarks of pipeline stages (`make bench-*` = python -m tools.bench.<stage>),
kept outside the installed library."""
