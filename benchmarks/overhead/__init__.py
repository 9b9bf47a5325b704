"""Overhead: how fast raysweep runs no-op trials, against Ray Tune and Optuna."""
