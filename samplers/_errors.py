"""Errors raised by the search-space types.

Both subclass ``ValueError`` so a caller that validates user input can catch the built-in, and a
caller that wants to tell a malformed distribution from a clash between trials can catch ours.
"""


class InvalidDistributionError(ValueError):
    """A distribution was built from values that cannot describe a search space."""


class IncompatibleDistributionError(ValueError):
    """One parameter name was given two distributions that cannot share its history."""


class SearchSpaceExhaustedError(Exception):
    """The sampler has no new point left to propose (every grid point is taken, for example).

    Not a ``ValueError``: nothing is wrong with the input. The orchestrator stops starting trials
    when it sees this, lets running trials finish, and ``ask`` raises it to the caller.
    """


class SamplerConfigurationError(ValueError):
    """The sampler's configuration does not fit what the objective asks for (a grid value outside
    the parameter's distribution, a parameter the grid does not name).

    Every trial would fail the same way, so ``optimize`` stops with it instead of going on.
    """
