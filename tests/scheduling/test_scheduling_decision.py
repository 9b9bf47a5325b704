"""Decision values: JSON round trip and validation."""

from __future__ import annotations

import json

import pytest

from raysweep.scheduling import Action, Decision


@pytest.mark.parametrize(
    "decision",
    [
        Decision(Action.CONTINUE, "no rung crossed at step 2"),
        Decision(Action.STOP, "value 0.71 is below the rung-3 cutoff 0.8", rung=3),
        Decision(Action.PAUSE, "paused at rung 9", rung=9),
    ],
)
def test_json_round_trip(decision: Decision) -> None:
    text = json.dumps(decision.to_json())
    assert Decision.from_json(json.loads(text)) == decision


def test_json_form_is_plain() -> None:
    assert Decision(Action.STOP, "why", rung=3).to_json() == {
        "action": "stop",
        "reason": "why",
        "rung": 3,
    }


def test_from_json_rejects_unknown_action_and_keys() -> None:
    with pytest.raises(ValueError, match="unknown action 'halt'"):
        Decision.from_json({"action": "halt", "reason": "", "rung": None})
    with pytest.raises(ValueError, match="exactly the keys"):
        Decision.from_json({"action": "stop", "reason": ""})


def test_fields_are_type_checked() -> None:
    with pytest.raises(TypeError, match="action must be an Action"):
        Decision("stop", "why")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="rung must be an int or None"):
        Decision(Action.STOP, "why", rung=True)
    with pytest.raises(TypeError, match="reason must be a str"):
        Decision(Action.STOP, None)  # type: ignore[arg-type]
