"""Regularized (aging) evolution, Real et al. (AAAI 2019).

The population is the ``population_size`` most recent complete trials (the oldest dies, whatever
its quality). Each step draws ``sample_size`` members uniformly, takes the best as the parent and
proposes a mutation of it. Until the population is full, configurations are random. With several
objectives the parent is drawn uniformly from the non-dominated members of the sample. With outcome
constraints (``searcher.constraints``, set by ``create_study(constraints=...)``) the sample is
ranked by constrained domination (Deb 2002, :func:`jahs_bo.multiobjective.non_dominated_sort`):
feasible members first, infeasible ones by how much they violate.

The state is rebuilt from the trial list on every call, so a resumed study or a second worker
continues exactly where the history says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.multiobjective import OutcomeConstraint
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.searchers.random import check_use_prior, fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial


def non_dominated(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``losses`` (``n x m``, lower is better) on the Pareto front."""
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    return is_non_dominated(-torch.as_tensor(losses, dtype=torch.double)).numpy()


@register_searcher("re")
class RegularizedEvolution(Searcher):
    """Aging evolution.

    Args:
        space: The search space.
        directions: Objective directions.
        population_size: Members kept alive (P). Default 30.
        sample_size: Tournament size (S). Default 10.
        max_retries: Mutations tried to avoid proposing an already seen configuration.
        use_prior: Draw the initial population from the space's expert prior
            (:meth:`SearchSpace.sample_prior <jahs_bo.spaces.SearchSpace.sample_prior>`)
            instead of uniformly.
    """

    def __init__(
        self,
        space,
        directions: Sequence[Direction | str] = ("minimize",),
        population_size: int = 30,
        sample_size: int = 10,
        max_retries: int = 20,
        use_prior: bool = False,
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        if population_size < 2 or not 1 <= sample_size <= population_size:
            raise InputError(
                f"need population_size >= 2 and 1 <= sample_size <= population_size, got "
                f"population_size={population_size}, sample_size={sample_size}"
            )
        self.population_size = population_size
        self.sample_size = sample_size
        self.max_retries = max_retries
        self.use_prior = check_use_prior(space, use_prior, "RegularizedEvolution")

    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        seen = seen_keys(self, trials, pending)
        done, losses = self.losses(trials)
        if len(done) < self.population_size:
            return fresh_sample(self, seen, rng, prior=self.use_prior)
        population = done[-self.population_size :]
        pop_losses = losses[-self.population_size :]
        idx = rng.choice(len(population), size=self.sample_size, replace=False)
        if self.constraints:
            from jahs_bo.multiobjective import non_dominated_sort, violations

            viol = violations([population[i] for i in idx], self.constraints)
            ranks = non_dominated_sort(pop_losses[idx], viol)
            front = idx[ranks == 0]
            if pop_losses.shape[1] == 1:  # ties at the best feasible value: the first, as below
                parent = population[int(front[0])]
            else:
                parent = population[int(rng.choice(front))]
        elif pop_losses.shape[1] == 1:
            parent = population[idx[int(np.argmin(pop_losses[idx, 0]))]]
        else:
            front = idx[non_dominated(pop_losses[idx])]
            parent = population[int(rng.choice(front))]
        child = self.space.mutate(parent.config, rng)
        for _ in range(self.max_retries):
            if self.space.config_key(child) not in seen:
                break
            child = self.space.mutate(parent.config, rng)
        return child
