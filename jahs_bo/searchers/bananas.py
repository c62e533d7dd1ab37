"""BANANAS: neural predictor ensemble with independent Thompson sampling (White et al., 2021).

Each suggestion after ``n_init`` random configurations:

1. Encodes the complete trials (:class:`~jahs_bo.encoding.features.FeatureEncoder`: NB201 path
   encoding, NB101 adjacency and operations, WL counts for grammars; unit-cube and one-hot
   hyperparameters) and standardizes their targets (higher is better).
2. Trains an ensemble of ``n_members`` MLPs on them (:class:`~jahs_bo.models.ensemble.MLPEnsemble`,
   member seeds drawn from the study's generator).
3. Builds candidates as BANANAS does, by mutation: the neighbours (one part changed) of the
   ``n_parents`` best configurations, plus ``n_random`` random samples (default none, as in the
   paper: on NB201 CIFAR-10, 8 seeds x 40 evaluations, adding 50 random samples raised the mean
   regret from 0.28 to 0.48); configurations of finished or running trials are dropped. When
   every neighbour has been seen, the proposal is a random unseen configuration.
4. Scores every candidate by independent Thompson sampling: a draw from
   ``N(mean_i, std_i**2)`` of the ensemble's mean and standard deviation at candidate ``i``,
   independently per candidate, and proposes the candidate with the best draw.

Several objectives are scalarized per suggestion with a random ParEGO weighting
(:func:`jahs_bo.multiobjective.parego_scalarize`). Outcome constraints are not modelled; the
study's incumbents still respect them. Failed trials are ignored. Under a fidelity scheduler
this searcher receives the trials of one fidelity level (the highest with enough results, see
:mod:`jahs_bo.schedulers.base`), and the scheduler sets the fidelity of the proposal.

All state is rebuilt from the trials at every call, so a resumed study continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

import numpy as np
import torch

from jahs_bo.encoding.features import FeatureEncoder
from jahs_bo.exceptions import InputError
from jahs_bo.models.ensemble import EnsembleSettings, MLPEnsemble
from jahs_bo.multiobjective import OutcomeConstraint, parego_scalarize, sample_simplex_weights
from jahs_bo.searchers._torch import torch_threads
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.searchers.random import fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["BananasSearcher", "independent_thompson_sample"]


def independent_thompson_sample(
    mean: torch.Tensor, std: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """One draw per candidate from ``N(mean_i, std_i**2)``, independent across candidates.

    Args:
        mean: ``n`` predictive means.
        std: ``n`` predictive standard deviations.
        generator: Source of the normal draws.

    Returns:
        ``n`` sampled values.
    """
    z = torch.randn(mean.shape, generator=generator, dtype=mean.dtype)
    return mean + std * z


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


@register_searcher("bananas")
class BananasSearcher(Searcher):
    """BANANAS-style search: an MLP ensemble, independent Thompson sampling, mutation candidates.

    Args:
        space: The search space.
        directions: Objective directions (several: a random ParEGO scalarization per suggestion).
        n_init: Random configurations before the first model-based proposal.
        n_members: MLPs in the ensemble.
        hidden: Hidden layer widths of each MLP.
        epochs: Training epochs per suggestion.
        batch_size: Training minibatch size.
        lr: Adam learning rate.
        loss: ``"mae"`` (the paper's) or ``"mse"``.
        n_parents: Best configurations whose neighbours become candidates.
        n_neighbours: Neighbours drawn per parent (NB201 cells have 24 architecture neighbours).
        n_random: Random candidates per suggestion.
        num_threads: torch threads while suggesting (restored afterwards; ``None`` keeps
            torch's setting).
        constraints: Outcome constraints (not modelled, see the module docstring).
        screened: Whether a scheduler screens the proposals at low fidelity first.
    """

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction | str] = ("minimize",),
        n_init: int = 10,
        n_members: int = 5,
        hidden: Sequence[int] = (32, 32, 32),
        epochs: int = 150,
        batch_size: int = 32,
        lr: float = 0.01,
        loss: str = "mae",
        n_parents: int = 10,
        n_neighbours: int = 30,
        n_random: int = 0,
        num_threads: int | None = 1,
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        self.n_init = _check_int("n_init", n_init, 1)
        self.n_parents = _check_int("n_parents", n_parents, 1)
        self.n_neighbours = _check_int("n_neighbours", n_neighbours, 0)
        self.n_random = _check_int("n_random", n_random, 0)
        if self.n_neighbours == 0 and self.n_random == 0:
            raise InputError("n_neighbours and n_random are both 0: set one of them >= 1")
        if num_threads is not None:
            _check_int("num_threads", num_threads, 1)
        self.num_threads = num_threads
        self.settings = EnsembleSettings(
            n_members=n_members,
            hidden=tuple(hidden),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=0.0,
            loss=loss,
        )
        self.encoder = FeatureEncoder(space)
        #: The last trained ensemble (for inspection and tests).
        self.model: MLPEnsemble | None = None

    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        with torch_threads(self.num_threads):
            return self._suggest(trials, pending, rng)

    def _scores(self, losses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n`` scalar losses of the ``n x m`` losses (ParEGO with several objectives)."""
        if losses.shape[1] == 1:
            return losses[:, 0]
        return parego_scalarize(losses, sample_simplex_weights(losses.shape[1], rng))

    def _candidates(
        self, parents: list[Config], seen: AbstractSet[str], rng: np.random.Generator
    ) -> list[Config]:
        """Unseen, distinct neighbours of ``parents`` and random samples."""
        out: dict[str, Config] = {}
        pool: list[Config] = []
        if self.n_neighbours:
            for cfg in parents:
                pool.extend(self.space.neighbours(cfg, rng, self.n_neighbours))
        pool.extend(self.space.sample_many(self.n_random, rng) if self.n_random else [])
        for cfg in pool:
            key = self.space.config_key(cfg)
            if key not in seen:
                out.setdefault(key, cfg)
        return list(out.values())

    def _suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        seen = seen_keys(self, trials, pending)
        done, losses = self.losses(trials)
        finite = np.isfinite(losses).all(axis=1)
        done = [t for t, ok in zip(done, finite, strict=True) if ok]
        losses = losses[finite]
        if len(done) < self.n_init:
            return fresh_sample(self, seen, rng)
        scores = self._scores(losses, rng)
        order = np.lexsort((np.arange(len(done)), scores))  # best first, ties by age
        parents = [done[i].config for i in order[: self.n_parents]]
        candidates = self._candidates(parents, seen, rng)
        if not candidates:
            return fresh_sample(self, seen, rng)

        features = self.encoder.encode([t.config for t in done] + candidates)
        X = torch.as_tensor(features, dtype=torch.float32)
        spread = scores.std()
        y = -(scores - scores.mean()) / (spread if spread > 0 else 1.0)  # higher is better
        seeds = rng.integers(2**62, size=self.settings.n_members + 1)
        model = MLPEnsemble(X.shape[1], self.settings, [int(s) for s in seeds[:-1]])
        model.fit(X[: len(done)], torch.as_tensor(y, dtype=torch.float32))
        self.model = model
        mean, std = model.predict(X[len(done) :])
        draws = independent_thompson_sample(
            mean, std, torch.Generator().manual_seed(int(seeds[-1]))
        )
        return candidates[int(torch.argmax(draws))]
