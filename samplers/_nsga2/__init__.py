"""The NSGA-II family behind :class:`NSGA2Sampler`: multi-objective search by evolution.

Parents are chosen by NSGA-II's elitist survival and binary tournaments on non-dominated rank and
crowding distance (:mod:`._selection`), children are bred by crossover and mutation on internal
coordinates (:mod:`._genetic`), and :mod:`._sampler` rebuilds the generations from the trial
numbers of the history on every proposal.

Its modules may import numpy, each other, and the shared core of ``raysweep.samplers``
(``_base``, ``_random``, the distributions, ``_trial``, ``_pareto``); never another sampler
family, ``raysweep.scheduling``, Ray or pyarrow. Code outside the family uses only the
:class:`NSGA2Sampler` named here.
"""

from raysweep.samplers._nsga2._sampler import NSGA2Sampler

__all__ = ["NSGA2Sampler"]
