"""Benchmarks run by hand (see benchmarks/README.md); each prints ratios against a baseline measured in the same run."""
