"""Group decomposition of a conditional search space, for TPE's joint estimators.

Two parameters belong to one group exactly when they appear in the same trials: the groups are
the classes of names with equal sets of trials (Optuna's group-decomposed search space gives the
same partition, built incrementally). Every trial then holds each group entirely or not at all,
so a group's joint estimator is fitted on the trials that hold it without any gaps. In the usual
conditional network space (``n_layers``, per-layer ``n_units_l{i}`` and ``dropout_l{i}``, an
optimizer and a learning rate) the groups are the always-present parameters plus one group per
layer index beyond the first.
"""

from __future__ import annotations

from collections.abc import Iterable


def decompose(name_sets: Iterable[frozenset[str]]) -> list[tuple[str, ...]]:
    """The groups of names, each sorted, in the order of their first name."""
    distinct = sorted({names for names in name_sets if names}, key=sorted)
    membership: dict[str, list[int]] = {}
    for index, names in enumerate(distinct):
        for name in names:
            membership.setdefault(name, []).append(index)
    groups: dict[tuple[int, ...], list[str]] = {}
    for name, where in membership.items():
        groups.setdefault(tuple(where), []).append(name)
    return sorted(tuple(sorted(names)) for names in groups.values())
