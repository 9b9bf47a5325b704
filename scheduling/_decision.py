"""Decisions: a scheduler's answer to one report, as a plain value for the event log."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Action(enum.Enum):
    """What the trial's runner does after a report."""

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"


@dataclass(frozen=True)
class Decision:
    """A scheduler's answer to one report.

    ``rung`` is the resource (step) of the rung the decision was taken at, or ``None`` when the
    report crossed no rung and so could not change anything. ``reason`` is for people: it is
    written to the event log and shown in progress output, never parsed.
    """

    action: Action
    reason: str
    rung: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            raise TypeError(f"Decision.action must be an Action, got {self.action!r}")
        if not isinstance(self.reason, str):
            raise TypeError(f"Decision.reason must be a str, got {type(self.reason).__name__}")
        if self.rung is not None and (
            isinstance(self.rung, bool) or not isinstance(self.rung, int)
        ):
            raise TypeError(f"Decision.rung must be an int or None, got {self.rung!r}")

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` reads it back to an equal Decision."""
        return {"action": self.action.value, "reason": self.reason, "rung": self.rung}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Decision:
        """Read back the output of :meth:`to_json`."""
        if set(d) != {"action", "reason", "rung"}:
            raise ValueError(
                f"a decision needs exactly the keys 'action', 'reason', 'rung'; got {sorted(d)}"
            )
        try:
            action = Action(d["action"])
        except ValueError:
            known = ", ".join(repr(a.value) for a in Action)
            raise ValueError(f"unknown action {d['action']!r}; expected one of {known}") from None
        return cls(action=action, reason=d["reason"], rung=d["rung"])


@dataclass(frozen=True)
class Promotion:
    """A paused trial to resume: it earned promotion from the rung at step ``rung``."""

    trial: int
    rung: int
    reason: str

    def __post_init__(self) -> None:
        for name in ("trial", "rung"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(f"Promotion.{name} must be an int, got {number!r}")
        if not isinstance(self.reason, str):
            raise TypeError(f"Promotion.reason must be a str, got {type(self.reason).__name__}")

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "rung": self.rung, "reason": self.reason}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Promotion:
        if set(d) != {"trial", "rung", "reason"}:
            raise ValueError(
                f"a promotion needs exactly the keys 'trial', 'rung', 'reason'; got {sorted(d)}"
            )
        return cls(trial=d["trial"], rung=d["rung"], reason=d["reason"])
