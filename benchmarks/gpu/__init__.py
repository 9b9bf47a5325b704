"""GPU checks, run on a lent GPU machine: raysweep and Ray Tune's baseline side by side."""
