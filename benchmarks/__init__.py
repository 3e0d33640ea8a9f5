"""Benchmarks that print figures (never assert timings). Run from the repo root: `python -m benchmarks.<name>`."""
