"""The Tree-structured Parzen Estimator family behind :class:`TPESampler`.

TPE splits the finished trials into a good "below" set and the rest, fits a Parzen estimator to
each (:mod:`._parzen`, over the unit-interval coordinates of :mod:`._parzen_space`, with the
vectorized kernels of :mod:`._parzen_kernels`) and proposes the candidate with the best density
ratio (:mod:`._acquisition`). The split for pruned trials, constraints and several objectives is
:mod:`._split`; the history is encoded once into numpy columns by :mod:`._history` and
:mod:`._prepare`; the strategy strings and argument checks are :mod:`._options`; the sampler that
ties them together is :mod:`._sampler`.

Its modules may import numpy, scipy, each other, and the shared core of ``raysweep.samplers``
(``_base``, ``_random``, the distributions, ``_trial``, ``_pareto``, ``_hypervolume``); never
another sampler family, ``raysweep.scheduling``, Ray or pyarrow. Code outside the family uses only
the :class:`TPESampler` named here.
"""

from raysweep.samplers._tpe._sampler import TPESampler

__all__ = ["TPESampler"]
