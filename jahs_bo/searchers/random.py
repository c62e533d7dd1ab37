"""Random search: uniform (or expert-prior) samples from the space, never repeating a seen one."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.types import Config, Direction, FinishedTrials, Trial

if TYPE_CHECKING:
    from jahs_bo.multiobjective import OutcomeConstraint
    from jahs_bo.spaces.space import SearchSpace


def seen_keys(searcher: Searcher, *groups: Sequence[Trial]) -> AbstractSet[str]:
    """Keys of every configuration in ``groups`` (finished and pending trials); read-only.

    When the first group is a study's :class:`~jahs_bo.types.FinishedTrials` with its ``seen``
    keys, that set (the study's own, kept as trials arrive) is returned without keying the
    study again, joined with the keys of the other groups' trials the study does not hold yet.
    """
    if groups and type(groups[0]) is FinishedTrials and groups[0].seen is not None:
        seen = groups[0].seen
        extra = {k for g in groups[1:] for k in searcher.space.trial_keys(g) if k not in seen}
        return set(seen) | extra if extra else seen
    keys: set[str] = set()
    for g in groups:
        keys.update(searcher.space.trial_keys(g))  # C-level: it runs over every trial in every ask
    return keys


def fresh_sample(
    searcher: Searcher,
    seen: AbstractSet[str],
    rng: np.random.Generator,
    tries: int = 50,
    prior: bool = False,
) -> Config:
    """A random configuration not in ``seen`` (the last draw if the space is nearly exhausted).

    With ``prior`` it is drawn from the space's expert prior (:meth:`SearchSpace.sample_prior
    <jahs_bo.spaces.SearchSpace.sample_prior>`) instead of uniformly.
    """
    space = searcher.space

    def draw() -> Config:
        return space.sample_prior(1, rng)[0] if prior else space.sample(rng)

    cfg = draw()
    for _ in range(tries):
        if space.config_key(cfg) not in seen:
            break
        cfg = draw()
    return cfg


def check_use_prior(space: SearchSpace, use_prior: bool, who: str) -> bool:
    """``use_prior`` as a bool; an error when it is set and ``space`` states no prior."""
    if not isinstance(use_prior, (bool, np.bool_)):
        raise InputError(f"{who}: use_prior must be True or False, got {use_prior!r}")
    if use_prior and not space.has_prior:
        raise InputError(
            f"{who}: use_prior=True but the space states no prior; give it one "
            "(SearchSpace(prior_confidence=...), ConfigSpace normal/beta hyperparameters or "
            "categorical weights, NB201Cell(op_prior=...)) or drop use_prior"
        )
    return bool(use_prior)


@register_searcher("random")
class RandomSearcher(Searcher):
    """Random search: uniform, or from the space's expert prior.

    Args:
        space: The search space.
        directions: Objective directions (unused; random search ignores the results).
        use_prior: Draw from :meth:`SearchSpace.sample_prior
            <jahs_bo.spaces.SearchSpace.sample_prior>` instead of uniformly (the space must
            state a prior).
    """

    #: Proposals ignore the history (schedulers may replace them by their own draws).
    samples_independently = True

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction | str] = ("minimize",),
        use_prior: bool = False,
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        self.use_prior = check_use_prior(space, use_prior, "RandomSearcher")

    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        return fresh_sample(self, seen_keys(self, trials, pending), rng, prior=self.use_prior)
