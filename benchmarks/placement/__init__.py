"""Placement, simulated: raysweep's placement planner against first-come-first-served placement
with one fixed shape per trial, on a heterogeneous cluster, with ASHA in promote mode."""
