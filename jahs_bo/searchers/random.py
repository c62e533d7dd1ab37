"""Random search: uniform samples from the space, never repeating a seen configuration."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.types import Config, Trial


def seen_keys(searcher: Searcher, *groups: Sequence[Trial]) -> set[str]:
    """Keys of every configuration in ``groups`` (finished and pending trials)."""
    keys: set[str] = set()
    for g in groups:
        keys.update(searcher.space.trial_keys(g))  # C-level: it runs over every trial in every ask
    return keys


def fresh_sample(
    searcher: Searcher, seen: set[str], rng: np.random.Generator, tries: int = 50
) -> Config:
    """A random configuration not in ``seen`` (the last draw if the space is nearly exhausted)."""
    cfg = searcher.space.sample(rng)
    for _ in range(tries):
        if searcher.space.config_key(cfg) not in seen:
            break
        cfg = searcher.space.sample(rng)
    return cfg


@register_searcher("random")
class RandomSearcher(Searcher):
    """Uniform random search (ConfigSpace priors for hyperparameters)."""

    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        return fresh_sample(self, seen_keys(self, trials, pending), rng)
