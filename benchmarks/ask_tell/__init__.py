"""Samplers through ask/tell: the latency of one proposal, and near-duplicates among parallel
asks; ours (bare and on Ray) beside Optuna's TPE."""
