"""Measurements of this machine, never timed tests: each script prints and writes JSON to
benchmarks/results/."""
