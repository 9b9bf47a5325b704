"""Multi-fidelity scheduling: ASHA / Hyperband against Optuna's pruners in the simulator, and
against Ray Tune's ASHA live on Ray, on LC-Digits and synthetic curves."""
