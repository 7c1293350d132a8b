"""Pareto selection: the points no other point beats on every objective (all objectives maximised)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pareto_optimal(values: Sequence[Sequence[float]]) -> list[bool]:
    """For each point, whether it is non-dominated. A point is dominated when another is at least as
    good on every objective and strictly better on one; identical points therefore all stay optimal."""
    if len(values) == 0:
        return []
    points = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if np.isnan(points).any():
        raise ValueError("objective values contain NaN; a NaN cannot be ranked")
    at_least = (points[:, None, :] <= points[None, :, :]).all(axis=2)  # [i, j]: j >= i everywhere
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)  # [i, j]: j > i somewhere
    dominated = (at_least & better).any(axis=1)
    return [not d for d in dominated.tolist()]
