"""Helpers that several benchmark families use: RESULTS.md sections, statistics, run caches,
the local Ray session, how the peers are set up."""
