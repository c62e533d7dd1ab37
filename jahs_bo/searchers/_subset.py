"""Which observations a capped surrogate model keeps (``GPSearcher(max_observations=k)``).

An exact GP costs ``O(n^3)`` per fit and ``O(n)`` per candidate, so past a few thousand
observations the ask slows down whatever else is done. The cap keeps the best half of ``k``
(where expected improvement decides between candidates, the model should stay sharp) and a
uniformly drawn, seeded sample of the rest (so the model still sees the whole space and does
not believe unexplored regions are good). Keeping the most recent ``k`` instead would drop the
incumbent's neighbourhood as soon as the search moves on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["model_subset"]


def model_subset(losses: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (ascending) of the ``k`` rows of ``losses`` a capped model is fitted on.

    Args:
        losses: ``n x m`` losses (lower is better), one row per observation.
        k: How many to keep (``k >= 2``); all of them if ``n <= k``.
        rng: Draws the random part (the suggestion's generator, so it is seeded).

    Returns:
        The best ``k // 2`` rows (several objectives: lowest sum of per-objective ranks; ties
        by position) and ``k - k // 2`` of the others drawn without replacement, sorted.
    """
    n = len(losses)
    if n <= k:
        return np.arange(n)
    ranks = np.argsort(np.argsort(losses, axis=0, kind="stable"), axis=0, kind="stable")
    score = ranks.sum(axis=1)
    order = np.argsort(score, kind="stable")
    best = order[: k // 2]
    rest = rng.choice(order[k // 2 :], size=k - k // 2, replace=False)
    return np.sort(np.concatenate([best, rest]))
