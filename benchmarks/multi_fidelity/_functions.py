"""Multi-fidelity Branin and Hartmann-6: formulas, and a synthetic learning curve built on them.

Both take a fidelity z in (0, 1]; z = 1 is the ordinary function. Both are minimised.

Branin (Kandasamy, Dasarathy, Schneider and Poczos, "Multi-fidelity Bayesian optimisation with
continuous approximations", ICML 2017, appendix), on x1 in [-5, 10], x2 in [0, 15]:

    f(x, z) = a (x2 - b(z) x1^2 + c(z) x1 - r)^2 + s (1 - t(z)) cos(x1) + s
    a = 1, r = 6, s = 10,
    b(z) = 5.1 / (4 pi^2) - 0.01 (1 - z),  c(z) = 5 / pi - 0.1 (1 - z),
    t(z) = 1 / (8 pi) + 0.05 (1 - z)

The paper has one fidelity coordinate per constant (z1, z2, z3); here all three are the same z.
At z = 1 the minimum is 5 / (4 pi) = 0.397887..., at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).

Hartmann-6 (the same paper; the one-fidelity form is BoTorch's `AugmentedHartmann`), on [0, 1]^6:

    f(x, z) = - sum_{i=1..4} alpha_i(z) exp(- sum_{j=1..6} A_ij (x_j - P_ij)^2)
    alpha(z) = (1.0 - 0.1 (1 - z), 1.2, 3.0, 3.2)

with the standard A and P below. At z = 1 the minimum is -3.32237 near (0.20169, 0.150011,
0.476874, 0.275332, 0.311652, 0.6573). Lowering z makes only the first of the four wells
shallower, so points there look worse early: low-fidelity rankings are correlated with, but not
equal to, the full-budget one.

A configuration's curve is f(x, step / max_steps) plus, when asked for, Gaussian observation
noise drawn from a generator keyed by the bits of x and the step, so a curve is the same every
time it is read. A step costs `1.0 * (0.75 + 0.5 * mean(u))` seconds, u being x scaled to the unit
cube: a fixed, mild per-configuration factor in [0.75, 1.25] (as bigger models train slower).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from raysweep.samplers import FloatDistribution

BASE_STEP_SECONDS = 1.0

_HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_HARTMANN_A = np.array(
    [
        [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ]
)
_HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN6_ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
BRANIN_ARGMIN = (math.pi, 2.275)


def branin_mf_value(x: np.ndarray, z: float) -> np.ndarray:
    """Multi-fidelity Branin at points `x` (shape (..., 2)) and fidelity `z`."""
    x1, x2 = x[..., 0], x[..., 1]
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    return np.asarray((x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1 - t) * np.cos(x1) + 10.0)


def hartmann6_mf_value(x: np.ndarray, z: float) -> np.ndarray:
    """Multi-fidelity Hartmann-6 at points `x` (shape (..., 6)) and fidelity `z`."""
    alpha = _HARTMANN_ALPHA.copy()
    alpha[0] -= 0.1 * (1 - z)
    inner = np.sum(_HARTMANN_A * (x[..., None, :] - _HARTMANN_P) ** 2, axis=-1)
    return np.asarray(-np.sum(alpha * np.exp(-inner), axis=-1))


@dataclass(frozen=True)
class PointConfig:
    """A point of a synthetic function's box, in the function's own coordinates."""

    x: tuple[float, ...]


@dataclass(frozen=True, eq=False)
class SyntheticCurves:
    """Curves of `function` over the box `space`, `max_steps` steps to the full fidelity."""

    function: Callable[[np.ndarray, float], np.ndarray]
    space: dict[str, FloatDistribution]
    max_steps: int
    noise_std: float

    def _unit(self, x: tuple[float, ...]) -> np.ndarray:
        low = np.array([d.low for d in self.space.values()])
        high = np.array([d.high for d in self.space.values()])
        return np.asarray((np.asarray(x) - low) / (high - low))

    def curve(self, config: PointConfig, step: int) -> tuple[float, float]:
        """(f at fidelity step / max_steps, plus keyed noise when asked, seconds of the step)."""
        value = float(self.function(np.asarray(config.x), step / self.max_steps))
        if self.noise_std > 0:
            words = np.frombuffer(np.asarray(config.x, dtype=np.float64).tobytes(), np.uint32)
            rng = np.random.default_rng([*words.tolist(), step])
            value += self.noise_std * float(rng.standard_normal())
        factor = 0.75 + 0.5 * float(np.mean(self._unit(config.x)))
        return value, BASE_STEP_SECONDS * factor

    def full_value(self, config: PointConfig) -> float:
        """Noise-free f at full fidelity."""
        return float(self.function(np.asarray(config.x), 1.0))

    def random_config(self, rng: np.random.Generator) -> PointConfig:
        """A uniform point of the box."""
        return PointConfig(tuple(float(rng.uniform(d.low, d.high)) for d in self.space.values()))

    def from_params(self, params: Mapping[str, Any]) -> PointConfig:
        """The point whose coordinates `params` names; every name needed, every value in range."""
        missing = sorted(set(self.space) - set(params))
        if missing:
            raise ValueError(f"params lack {missing}; pass a value for each of {list(self.space)}")
        x = []
        for name, distribution in self.space.items():
            value = float(params[name])
            if not distribution.low <= value <= distribution.high:
                raise ValueError(
                    f"{name}={value!r} is outside [{distribution.low}, {distribution.high}]; "
                    "pass a value inside the box"
                )
            x.append(value)
        return PointConfig(tuple(x))

    def random_values(self, count: int, seed: int) -> np.ndarray:
        """Full-fidelity values of `count` uniform points drawn with generator seed `seed`."""
        rng = np.random.default_rng(seed)
        low = np.array([d.low for d in self.space.values()])
        high = np.array([d.high for d in self.space.values()])
        return self.function(rng.uniform(low, high, size=(count, len(low))), 1.0)
