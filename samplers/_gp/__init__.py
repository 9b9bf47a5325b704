"""The Gaussian-process Bayesian optimization family behind :class:`GPSampler`.

A GP with a Matérn-5/2 kernel and a Hamming term for categoricals (:mod:`._kernel`, fitted by
maximum a posteriori) models the COMPLETE trials over a design of normalized columns
(:mod:`._space`); the next point maximizes log expected improvement times the probability of
feasibility (:mod:`._acquisition`). :mod:`._sampler` turns the history into that model and the
model's best point into a proposal.

Its modules may import numpy, scipy, each other, and the shared core of ``raysweep.samplers``
(``_base``, ``_random``, the distributions, ``_trial``); never another sampler family,
``raysweep.scheduling``, Ray or pyarrow. Code outside the family uses only the
:class:`GPSampler` named here.
"""

from raysweep.samplers._gp._sampler import GPSampler

__all__ = ["GPSampler"]
