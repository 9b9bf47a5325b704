"""Optuna as a quiet peer: what every benchmark that runs Optuna sets before it does."""

from __future__ import annotations

import warnings


def quiet_optuna() -> None:
    """No log line per trial, no warning that an argument is experimental: on thousands of
    trials, printing them would cost the peer time that ours does not pay."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
