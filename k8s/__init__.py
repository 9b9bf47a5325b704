"""raysweep.k8s."""
