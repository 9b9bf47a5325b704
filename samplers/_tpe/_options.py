"""TPESampler's configuration: the named strategies for gamma and weights, and argument checks.

Strategies are strings rather than functions so that the sampler's configuration stays plain
JSON in the event log and a replay rebuilds exactly the same sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WEIGHTS = ("uniform", "decay")
# Optuna's cap: past 25 good trials the "below" estimator gets no sharper, only slower.
_GAMMA_FORMS = "'linear:BETA', 'linear:BETA:CAP', 'sqrt:BETA' or 'sqrt:BETA:CAP'"
# The newest trials keep full weight under "decay" (Bergstra et al. 2013, as Optuna).
_DECAY_FLAT = 25


@dataclass(frozen=True)
class Gamma:
    """How many of ``n`` ranked trials form the "below" (good) set.

    ``linear``: ``ceil(beta * n)``; ``sqrt``: ``ceil(beta * sqrt(n))``; at most ``cap`` when set,
    and at least 1 once there is a trial.
    """

    rule: str
    beta: float
    cap: int | None

    def __call__(self, n: int) -> int:
        if n <= 0:
            return 0
        scale = n if self.rule == "linear" else math.sqrt(n)
        count = max(1, math.ceil(self.beta * scale))
        return min(count, n) if self.cap is None else min(count, self.cap, n)

    def spec(self) -> str:
        tail = "" if self.cap is None else f":{self.cap}"
        return f"{self.rule}:{self.beta!r}{tail}"


def parse_gamma(spec: object) -> Gamma:
    """Read a gamma strategy string; ``ValueError`` naming the accepted forms otherwise."""
    fail = f"TPESampler: gamma={spec!r} is not a gamma strategy; pass {_GAMMA_FORMS}"
    if not isinstance(spec, str):
        raise ValueError(fail + " (or None for the default)")
    parts = spec.split(":")
    if len(parts) not in (2, 3) or parts[0] not in ("linear", "sqrt"):
        raise ValueError(fail)
    try:
        beta = float(parts[1])
        cap = int(parts[2]) if len(parts) == 3 else None
    except ValueError:
        raise ValueError(fail) from None
    if not (math.isfinite(beta) and beta > 0) or (parts[0] == "linear" and beta > 1):
        raise ValueError(fail + ", with BETA > 0 (and <= 1 for linear)")
    if cap is not None and cap < 1:
        raise ValueError(fail + ", with CAP >= 1")
    return Gamma(parts[0], beta, cap)


def strategy_weights(strategy: str, numbers: np.ndarray) -> np.ndarray:
    """Kernel weights for trials with these numbers: ``uniform``, or ``decay`` (Optuna's ramp:
    all but the newest 25 down-weighted linearly with age)."""
    n = len(numbers)
    weights = np.ones(n)
    if strategy == "uniform" or n <= _DECAY_FLAT:
        return weights
    age_rank = np.empty(n, dtype=np.intp)
    age_rank[np.argsort(numbers, kind="stable")] = np.arange(n)
    ramp = np.linspace(1.0 / n, 1.0, num=n - _DECAY_FLAT)
    old = age_rank < n - _DECAY_FLAT
    weights[old] = ramp[age_rank[old]]
    return weights


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"TPESampler: {name}={value!r}; pass an int >= {minimum}")
    return int(value)


def check_real(name: str, value: object, minimum: float, *, inclusive: bool) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    number = float(value) if ok else math.nan  # type: ignore[arg-type]
    ok = ok and math.isfinite(number) and (number >= minimum if inclusive else number > minimum)
    if not ok:
        relation = ">=" if inclusive else ">"
        raise ValueError(f"TPESampler: {name}={value!r}; pass a finite number {relation} {minimum}")
    return number


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"TPESampler: {name}={value!r}; pass True or False")
    return bool(value)


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"TPESampler: {name}={value!r}; pass one of {list(choices)}")
    return value
