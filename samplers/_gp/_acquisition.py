"""Log expected improvement (with feasibility terms) and its maximization over a design.

``log_h`` follows Ament et al. (2023), "Unexpected Improvements to Expected Improvement for
Bayesian Optimization" (NeurIPS): EI = sigma * h(z) with h(z) = phi(z) + z * Phi(z)
underflows to 0 (and its log to -inf, with a zero gradient) once z is a few tens below 0, which
leaves the optimizer with flat ground away from the data. Their form stays finite and monotone for
every finite z.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.special
from scipy.stats import qmc

from raysweep.samplers._gp._kernel import BoolArray, FloatArray, Posterior
from raysweep.samplers._gp._space import Design

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_SQRT_HALF_PI = 0.5 * math.log(0.5 * math.pi)
_SQRT_HALF = math.sqrt(0.5)
# Past -1/sqrt(machine epsilon) the asymptotic form is exact to double precision.
_ASYMPTOTIC_Z = -1.0 / math.sqrt(np.finfo(np.float64).eps)
_N_ANCHORS = 5
_N_REFINED = 5
_PERTURBATION_SD = 0.05


def _log1mexp(x: FloatArray) -> FloatArray:
    """log(1 - exp(x)) for x < 0, accurate near 0 and for very negative x (Mächler, 2012)."""
    return np.where(
        x > -math.log(2.0), np.log(-np.expm1(np.minimum(x, -1e-300))), np.log1p(-np.exp(x))
    )


def _log_one_minus_tail(z: FloatArray) -> FloatArray:
    """log(1 - sqrt(pi / 2) |z| erfcx(-z / sqrt(2))) for z <= -1: log(h(z) / phi(z))."""
    return _log1mexp(np.log(scipy.special.erfcx(-_SQRT_HALF * z) * np.abs(z)) + _LOG_SQRT_HALF_PI)


def log_h(z: FloatArray) -> FloatArray:
    """log(phi(z) + z * Phi(z)), finite and increasing for every finite z."""
    z = np.asarray(z, dtype=np.float64)
    direct = np.maximum(z, -1.0)
    upper = np.log(np.exp(-0.5 * direct**2 - _LOG_SQRT_2PI) + direct * scipy.special.ndtr(direct))
    middle_z = np.clip(z, _ASYMPTOTIC_Z, -1.0)
    middle = -0.5 * middle_z**2 - _LOG_SQRT_2PI + _log_one_minus_tail(middle_z)
    far_z = np.minimum(z, _ASYMPTOTIC_Z)
    far = -0.5 * far_z**2 - _LOG_SQRT_2PI - 2.0 * np.log(np.abs(far_z))
    return np.where(z > -1.0, upper, np.where(z > _ASYMPTOTIC_Z, middle, far))


def log_h_slope(z: FloatArray) -> FloatArray:
    """d log_h / dz = Phi(z) / h(z), with the common factor exp(-z**2 / 2) cancelled."""
    z = np.asarray(z, dtype=np.float64)
    direct = np.maximum(z, -1.0)
    upper = scipy.special.ndtr(direct) / np.exp(log_h(direct))
    middle_z = np.clip(z, _ASYMPTOTIC_Z, -1.0)
    middle = np.exp(
        np.log(scipy.special.erfcx(-_SQRT_HALF * middle_z))
        + _LOG_SQRT_HALF_PI
        - _log_one_minus_tail(middle_z)
    )
    # Phi(z) / h(z) = |z| (1 + O(1 / z**2)) far in the tail.
    return np.where(z > -1.0, upper, np.where(z > _ASYMPTOTIC_Z, middle, np.abs(z)))


class Acquisition:
    """log EI of the objective model (minimized) plus log P(c_i <= 0) of each constraint model.

    With ``best`` None (no feasible point yet), only the feasibility terms count, as in Gardner et
    al. (2014), "Bayesian Optimization with Inequality Constraints".
    """

    def __init__(
        self,
        objective: Posterior,
        best: float | None,
        constraints: Sequence[tuple[Posterior, float]] = (),
    ) -> None:
        self.objective, self.best, self.constraints = objective, best, tuple(constraints)

    def values(self, rows: FloatArray) -> FloatArray:
        total = np.zeros(len(rows))
        if self.best is not None:
            mean, var = self.objective.mean_var(rows)
            sd = np.sqrt(var)
            total += np.log(sd) + log_h((self.best - mean) / sd)
        for model, threshold in self.constraints:
            mean, var = model.mean_var(rows)
            total += scipy.special.log_ndtr((threshold - mean) / np.sqrt(var))
        return total

    def value_and_grad(self, row: FloatArray) -> tuple[float, FloatArray]:
        value, grad = 0.0, np.zeros_like(row)
        if self.best is not None:
            mean, var, dmean, dvar = self.objective.mean_var_grad(row)
            sd = math.sqrt(var)
            dsd = dvar / (2.0 * sd)
            z = np.array((self.best - mean) / sd)
            lh = log_h(z)
            value += math.log(sd) + float(lh)
            grad += dsd / sd + float(log_h_slope(z)) * (-dmean - float(z) * dsd) / sd
        for model, threshold in self.constraints:
            mean, var, dmean, dvar = model.mean_var_grad(row)
            sd = math.sqrt(var)
            dsd = dvar / (2.0 * sd)
            u = (threshold - mean) / sd
            log_cdf = float(scipy.special.log_ndtr(u))
            value += log_cdf
            # d log Phi(u) / du = phi(u) / Phi(u).
            grad += math.exp(-0.5 * u * u - _LOG_SQRT_2PI - log_cdf) * (-dmean - u * dsd) / sd
        return value, grad


def maximize_acquisition(
    acquisition: Acquisition,
    design: Design,
    rng: np.random.Generator,
    n_candidates: int,
    anchors: FloatArray,
) -> FloatArray:
    """The best row found: scored Sobol points and perturbed anchors, the best few refined.

    ``anchors`` are rows worth searching around (the best observed points). Every row scored is
    snapped to the grids first. Refinement runs L-BFGS-B over the numeric columns (grids relaxed)
    and then moves one categorical column at a time while that helps.
    """
    sobol = qmc.Sobol(design.dim, scramble=True, rng=rng)
    unit = sobol.random_base2(max(0, math.ceil(math.log2(n_candidates))))[:n_candidates]
    rows = [design.from_unit(unit)]
    if len(anchors):
        anchors = anchors[:_N_ANCHORS]
        per_anchor = max(1, n_candidates // (4 * len(anchors)))
        local = np.repeat(anchors, per_anchor, axis=0)
        numeric = ~design.is_categorical
        local[:, numeric] += rng.normal(0.0, _PERTURBATION_SD, (len(local), int(numeric.sum())))
        resample = rng.random(local.shape) < 1.0 / max(design.dim, 2)
        random_choices = design.from_unit(rng.random(local.shape))
        local = np.where(resample & design.is_categorical, random_choices, local)
        rows.append(local)
    candidates = design.snap(np.vstack(rows))
    scores = acquisition.values(candidates)
    order = np.argsort(-scores, kind="stable")
    best_row: FloatArray = candidates[order[0]]
    best_score = float(scores[order[0]])
    for index in order[:_N_REFINED]:
        row, score = _refine(acquisition, design, candidates[index], float(scores[index]))
        if score > best_score:
            best_row, best_score = row, score
    return best_row


def _refine(
    acquisition: Acquisition, design: Design, row: FloatArray, score: float
) -> tuple[FloatArray, float]:
    """Alternate L-BFGS-B over the numeric columns with the best change of one categorical,
    while the categorical change helps (three rounds at most)."""
    numeric = ~design.is_categorical
    for _ in range(3):
        if numeric.any():
            candidate = design.snap(_lbfgs(acquisition, row, numeric)[None, :])[0]
            candidate_score = float(acquisition.values(candidate[None, :])[0])
            if candidate_score > score:
                row, score = candidate, candidate_score
        neighbours = design.neighbours(row)
        if not len(neighbours):
            break
        neighbour_scores = acquisition.values(neighbours)
        best = int(np.argmax(neighbour_scores))
        if neighbour_scores[best] <= score:
            break
        row, score = neighbours[best], float(neighbour_scores[best])
    return row, score


def _lbfgs(acquisition: Acquisition, row: FloatArray, numeric: BoolArray) -> FloatArray:
    """L-BFGS-B over the numeric columns of ``row`` (grids relaxed), the rest fixed."""
    base = row.copy()

    def negative(values: FloatArray) -> tuple[float, FloatArray]:
        base[numeric] = values
        value, grad = acquisition.value_and_grad(base)
        return -value, -grad[numeric]

    result = scipy.optimize.minimize(
        negative,
        row[numeric],
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * int(np.count_nonzero(numeric)),
        options={"maxiter": 100},
    )
    moved = row.copy()
    moved[numeric] = result.x
    return moved
