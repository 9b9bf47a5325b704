"""What the study asks of Ray's autoscaler (the live test: test_autoscaling_ray.py)."""

from __future__ import annotations

from raysweep.orchestrator._ray._autoscale import demand_bundles
from raysweep.scheduling import Shape


def test_the_autoscaler_is_asked_for_what_runners_hold_and_trials_wait_for() -> None:
    held = [Shape.of({"CPU": 1, "GPU": 0.5})]
    waiting = [
        Shape.of({"CPU": 1, "GPU": 1}, accelerator_type="H100"),
        Shape.of({"CPU": 2, "memory": 2**30}),
        Shape.of({"TPU": 4, "CPU": 1}, hosts=2, pod_type="v5p-16"),
    ]
    assert demand_bundles(held, waiting) == [
        {"CPU": 1.0, "GPU": 0.5},
        {"CPU": 1.0, "GPU": 1.0, "accelerator_type:H100": 0.001},
        {"CPU": 2.0},  # node types seldom declare memory: such a bundle would be infeasible
        # A gang: one bundle per host; host 0's names the slice's head resource, which Ray
        # gives worker 0 of every slice, so that an autoscaler launches a whole slice.
        {"CPU": 1.0, "TPU": 4.0, "TPU-v5p-16-head": 1.0},
        {"CPU": 1.0, "TPU": 4.0},
    ]
    assert demand_bundles([], []) == []
