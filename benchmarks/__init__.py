"""raysweep's benchmarks against its peers (Optuna, Ray Tune); see README.md and RESULTS.md.

A package so that every benchmark runs as `python -m benchmarks.<family>.<name>` from the
repository root, and the families' helpers import one another by one absolute name.
"""
