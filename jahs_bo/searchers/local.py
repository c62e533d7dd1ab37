"""Local search (White et al., UAI 2021: "Local search is state of the art for NAS").

First-improvement hill climbing: evaluate unseen neighbours of the current centre in random
order; move to the first that improves on it; after ``patience`` non-improving evaluations
(or when the centre's neighbourhood is exhausted) restart from a random configuration. Single
objective (the first objective is used for several).

The walk is replayed from the trial list on every call (stateless), so resuming continues it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jahs_bo.multiobjective import OutcomeConstraint
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.searchers.random import fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial


@register_searcher("ls")
class LocalSearch(Searcher):
    """Hill climbing with random restarts.

    Args:
        space: The search space.
        directions: Objective directions (the first is optimized).
        patience: Non-improving neighbours evaluated before a restart. ``None`` means the
            number of neighbours where the space lists them all (24 for NB201), else 20.
    """

    def __init__(
        self,
        space,
        directions: Sequence[Direction | str] = ("minimize",),
        patience: int | None = None,
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        self.patience = patience

    def _patience(self, config: Config) -> int:
        if self.patience is not None:
            return self.patience
        if not self.space.hp_names and len(self.space.architectures) == 1:
            ((key, dom),) = self.space.architectures.items()
            listed = dom.neighbours(config[key])
            if listed is not None:
                return len(listed)
        return 20

    def _centre(self, trials: Sequence[Trial]) -> Trial | None:
        """Replay the walk; ``None`` when the next proposal is a (re)start."""
        done, losses = self.losses(trials)
        centre: int | None = None
        since = 0
        for i in range(len(done)):
            if centre is None or losses[i, 0] < losses[centre, 0]:
                centre, since = i, 0
            else:
                since += 1
            if since >= self._patience(done[centre].config):
                centre = None
        return None if centre is None else done[centre]

    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        seen = seen_keys(self, trials, pending)
        centre = self._centre(trials)
        if centre is not None:
            for cfg in self.space.neighbours(centre.config, rng, k=50):
                if self.space.config_key(cfg) not in seen:
                    return cfg
        return fresh_sample(self, seen, rng)
