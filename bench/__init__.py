"""Benchmarks: `make bench` (or `python -m bench`) prints a table of medians and ratios."""
