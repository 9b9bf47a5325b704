"""Quasi-Monte Carlo search: trial n takes point n of a scrambled Sobol' or Halton sequence."""

from __future__ import annotations

import functools
import threading
import warnings
import zlib
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import qmc

from raysweep.samplers._base import Sampler, SamplingContext
from raysweep.samplers._distributions import Distribution

QMCType = Literal["sobol", "halton"]
_QMC_TYPES: tuple[QMCType, ...] = ("sobol", "halton")

# Keep the joint sequence's scrambling apart from each name's 1-D sequence, and both apart from
# the other streams derived from the study seed.
_JOINT_TAG = 0x514D434A  # "QMCJ"
_NAME_TAG = 0x514D434E  # "QMCN"

# Engines are stateful (a position in the sequence), so a cached engine is reset and moved to
# the wanted point under this lock; the lock keeps the cache pure when threads share it.
_ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def _engine(
    qmc_type: QMCType, scramble: bool, entropy: tuple[int, ...], dimension: int
) -> qmc.QMCEngine:
    # Scrambling draws its random matrices (Sobol') or digit permutations (Halton) once here.
    rng = np.random.default_rng(list(entropy))
    if qmc_type == "sobol":
        return qmc.Sobol(dimension, scramble=scramble, rng=rng)
    return qmc.Halton(dimension, scramble=scramble, rng=rng)


def qmc_point(
    qmc_type: QMCType, scramble: bool, entropy: tuple[int, ...], dimension: int, index: int
) -> npt.NDArray[np.float64]:
    """Point ``index`` (from 0) of the sequence scrambled from ``entropy``, in ``[0, 1)^dimension``.

    A pure function of its arguments: the cached engine is rewound before every draw.
    """
    with _ENGINE_LOCK:
        engine = _engine(qmc_type, scramble, entropy, dimension)
        engine.reset()
        with warnings.catch_warnings():
            # scipy warns when a Sobol' draw is not a whole power-of-2 block, because only such
            # blocks keep the sequence's balance. Here each draw is one trial's point: the
            # balance holds over consecutive trials (points 0..2^k-1), which is what matters, and
            # pytest would otherwise turn the warning into an error.
            warnings.filterwarnings(
                "ignore", message="The balance properties of Sobol", category=UserWarning
            )
            if qmc_type == "halton":
                # A Halton point depends only on its index (scrambling is fixed at construction),
                # so jump there directly: the engine's own fast_forward draws every skipped point.
                engine.num_generated = index
            elif index:
                engine.fast_forward(index)
            point: npt.NDArray[np.float64] = engine.random(1)[0].copy()
    return point


def unit_to_value(distribution: Distribution, u: float) -> Any:
    """The external value at fraction ``u`` of the search coordinate's range.

    Ints, stepped floats and categoricals get equal shares thanks to the half-step bounds;
    log-scaled ones are spread evenly in the logarithm.
    """
    low, high = distribution.internal_bounds()
    return distribution.to_external(low + u * (high - low))


class QMCSampler(Sampler):
    """Low-discrepancy search: trial ``n`` takes point ``n`` of a quasi-random sequence.

    ``qmc_type`` is ``"sobol"`` or ``"halton"`` (``scipy.stats.qmc``). With ``scramble`` the
    sequence is randomized (Owen-type LMS + digital shift for Sobol', permuted digits for Halton)
    from the study seed: it keeps its low discrepancy while every study gets its own points and
    the first point is not the corner 0. Without it the sequence is the textbook one, the same
    for every seed.

    At trial start every name seen so far (``context.seen_distributions``, names sorted) is
    proposed jointly from one sequence whose dimension is the number of names; a coordinate in
    ``[0, 1)`` is spread over the distribution's search coordinate, so ints and categoricals get
    equal shares and log scales are respected. A name met for the first time is drawn from its
    own 1-D sequence (scrambled from the study seed and the name), at point ``n`` too, so even
    the first trials are evenly spread along each parameter. When the set of seen names grows,
    the joint sequence restarts over the new names: trial ``n`` takes point ``n`` of the new
    sequence, keeping the property that consecutive trials fill the space evenly.

    The point depends only on the trial number, not on results, so running trials need no
    special handling: distinct trial numbers get distinct points.
    """

    def __init__(
        self, *, qmc_type: QMCType = "sobol", scramble: bool = True, seed: int | None = None
    ) -> None:
        super().__init__(seed=seed)
        if qmc_type not in _QMC_TYPES:
            raise ValueError(
                f"QMCSampler: qmc_type={qmc_type!r} is not supported; pass one of "
                + ", ".join(repr(t) for t in _QMC_TYPES)
            )
        if not isinstance(scramble, bool):
            raise TypeError(f"QMCSampler: scramble={scramble!r} must be True or False")
        self.qmc_type: QMCType = qmc_type
        self.scramble = scramble

    def infer_relative_search_space(self, context: SamplingContext) -> dict[str, Distribution]:
        """Every name seen in a started trial, in sorted order (the sequence's axis order)."""
        return dict(sorted(context.seen_distributions.items()))

    def sample_relative(
        self, context: SamplingContext, search_space: dict[str, Distribution]
    ) -> dict[str, Any]:
        names = sorted(search_space)
        if not names:
            return {}
        entropy = (context.study_seed, _JOINT_TAG, len(names))
        point = qmc_point(self.qmc_type, self.scramble, entropy, len(names), context.trial_number)
        return {
            name: unit_to_value(search_space[name], float(u))
            for name, u in zip(names, point, strict=True)
        }

    def sample_independent(
        self, context: SamplingContext, name: str, distribution: Distribution
    ) -> Any:
        # CRC-32, not hash(): the same name must give the same sequence in every process.
        entropy = (context.study_seed, _NAME_TAG, zlib.crc32(name.encode("utf-8")))
        point = qmc_point(self.qmc_type, self.scramble, entropy, 1, context.trial_number)
        return unit_to_value(distribution, float(point[0]))
