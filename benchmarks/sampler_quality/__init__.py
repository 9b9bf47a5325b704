"""Sampler quality: our samplers against Optuna's and random search on BBOB, multi-objective
and constrained problems, bare samplers in-process (no Ray)."""
