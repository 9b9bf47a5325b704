"""Joint proposals for the next trials, asked of the SamplerService ahead of need.

Handing a trial to a runner should not wait for the sampler: proposals for the next few trial
numbers are asked for in one request while earlier trials run, and kept until their trial
starts. Requests are made outside the TrialScheduler's lock (pickling the history updates that
go with them is the costliest thing the scheduler does per trial), so that reports are never
held up behind them.

A proposal fetched ahead saw the history as it was then — for a model-based sampler, like a
trial started a little earlier. The runner checks each proposed value against the distribution
the objective asks for, so nothing out of range is ever used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from raysweep.orchestrator._core._protocol import ProposalOrNone, Updates
from raysweep.orchestrator._errors import SamplerOutOfStepError
from raysweep.samplers import Distribution


class PendingProposals(Protocol):
    def result(self) -> dict[int, ProposalOrNone]: ...


class SamplerClient(Protocol):
    def propose(self, numbers: tuple[int, ...], updates: Updates) -> PendingProposals:
        """Start proposing for `numbers` and return at once."""
        ...

    def suggest(
        self, number: int, name: str, distribution: Distribution, updates: Updates
    ) -> Any: ...


class _Request:
    """A request being sent: waiters block until it is on its way, then on its answer."""

    def __init__(self, numbers: tuple[int, ...]) -> None:
        self.numbers = numbers
        self._sent = threading.Event()
        self._pending: PendingProposals | None = None
        self._error: BaseException | None = None

    def sent(self, pending: PendingProposals | None, error: BaseException | None = None) -> None:
        self._pending, self._error = pending, error
        self._sent.set()

    def result(self) -> dict[int, ProposalOrNone]:
        self._sent.wait()
        if self._error is not None:
            raise self._error
        assert self._pending is not None
        return self._pending.result()


class ProposalSource:
    """Called with the scheduler's lock NOT held; takes it for its own bookkeeping."""

    def __init__(
        self,
        lock: threading.RLock,
        *,
        take_updates: Callable[[], Updates],
        next_number: Callable[[], int],
        send_all: Callable[[], None],
    ) -> None:
        self._lock = lock
        self._take_updates = take_updates
        self._next_number = next_number
        self._send_all = send_all
        self._sampler: SamplerClient | None = None
        self._ready: dict[int, ProposalOrNone] = {}
        self._inflight: _Request | None = None
        self.ahead = 1  # how many new trial numbers to hold proposals for

    @property
    def sampler(self) -> SamplerClient:
        if self._sampler is None:
            raise RuntimeError("the TrialScheduler has no sampler attached")
        return self._sampler

    def attach(self, sampler: SamplerClient) -> None:
        """A new sampler service (lock held): what was fetched from the old one is dropped."""
        self._sampler = sampler
        self._ready.clear()
        self._inflight = None

    def get(self, number: int, *, refill: bool, consume: bool = True) -> ProposalOrNone:
        """The proposal for trial `number`; with `refill`, ask ahead for the next trials.

        Without `consume` the proposal stays held (see `discard`): a new trial is created only
        once its proposal is known, so callers racing for the same number share one request.
        """
        while True:
            with self._lock:
                proposal = self._ready.pop(number, None) if consume else self._ready.get(number)
                if proposal is not None:
                    request = self._plan(self._wanted(exclude=-1)) if refill else None
                elif self._inflight is not None and number in self._inflight.numbers:
                    request = None
                else:
                    request = self._plan((number, *self._wanted(exclude=number)), force=True)
                waiting_on = self._inflight
            if request is not None:
                self._send(*request)
            if proposal is not None:
                return proposal
            assert waiting_on is not None
            try:
                result = waiting_on.result()
            except SamplerOutOfStepError:
                self._resync(waiting_on)
                continue
            with self._lock:
                if self._inflight is waiting_on:
                    self._ready.update(result)
                    self._inflight = None
                elif number not in self._ready and number in result:
                    return result[number]  # a request that was superseded before it answered

    def prefetch(self) -> None:
        """Ask ahead for the next trials now, without waiting (lock NOT held).

        Called when a trial is told: the next `ask` then finds its proposal computed, or on its
        way, and the proposal has seen the result just told.
        """
        with self._lock:
            request = self._plan(self._wanted(exclude=-1))
        if request is not None:
            self._send(*request)

    def ready(self, number: int) -> ProposalOrNone | None:
        """The proposal for `number` if it was fetched already (lock held); None if not."""
        return self._ready.get(number)

    def discard(self, number: int) -> None:
        """The trial `number` was created with its proposal (lock held): stop holding it."""
        self._ready.pop(number, None)

    def suggest(self, number: int, name: str, distribution: Distribution, updates: Updates) -> Any:
        """An independent proposal (lock not held); resends the history if the service asks."""
        try:
            return self.sampler.suggest(number, name, distribution, updates)
        except SamplerOutOfStepError:
            self._resync(None)
            with self._lock:
                updates = self._take_updates()
            return self.sampler.suggest(number, name, distribution, updates)

    def _resync(self, failed: _Request | None) -> None:
        """The service restarted: its next request carries every trial again."""
        with self._lock:
            self._send_all()
            if failed is not None and self._inflight is failed:
                self._inflight = None

    def _wanted(self, *, exclude: int) -> tuple[int, ...]:
        first = self._next_number()
        wanted = range(first, first + self.ahead)
        return tuple(n for n in wanted if n != exclude and n not in self._ready)

    def _plan(
        self, numbers: tuple[int, ...], *, force: bool = False
    ) -> tuple[_Request, Updates] | None:
        """Reserve a request (lock held); it is sent by `_send`, outside the lock."""
        if not numbers or (self._inflight is not None and not force):
            return None
        self._inflight = _Request(numbers)
        return self._inflight, self._take_updates()

    def _send(self, request: _Request, updates: Updates) -> None:
        try:
            pending = self.sampler.propose(request.numbers, updates)
        except BaseException as exc:
            request.sent(None, exc)
            raise
        request.sent(pending)
