"""Acquisition optimization over a mixed architecture x hyperparameter space.

:func:`optimize_acquisition` scores a candidate pool (random samples plus the neighbourhoods of
the best observed configurations, de-duplicated against each other and against observed and
running trials), runs a few rounds of local search from the best scored candidates, optionally
refines the continuous hyperparameters of the best ones by gradient ascent, and returns the
candidates best first. It knows nothing about trials: a searcher decodes the winner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from torch import Tensor

from jahs_bo.acquisition.candidates import neighbourhood, row_keys, unique_rows
from jahs_bo.acquisition.refine import refine_continuous
from jahs_bo.acquisition.scoring import score_candidates, thompson_scores

if TYPE_CHECKING:
    from jahs_bo.models.encoder import JointEncoder
    from jahs_bo.spaces.space import SearchSpace

#: Candidate rows ``N x d`` -> ``N`` values (higher is better).
Scorer = Callable[[Tensor], Tensor]


def make_scorer(
    acqf: AcquisitionFunction | None, model: Model, generator: torch.Generator
) -> Scorer:
    """Scores of ``acqf`` (in chunks, no gradients), or Thompson samples of ``model`` if ``None``."""
    if acqf is None:
        return lambda X: thompson_scores(model, X, generator)
    return lambda X: score_candidates(acqf, X)


#: Random candidates per suggestion (GP searcher default).
N_RANDOM = 256
#: Random candidates per suggestion in spaces with a grammar architecture. A random derivation of
#: the hierarchical NB201 grammar is a whole new tree to draw and featurize (~17 ms, a mutation
#: ~3 ms), and the trees and subtree summaries it leaves in the caches are most of what Python's
#: garbage collector scans. In the GP's searches on real training (digits NAS, 270 asks) the
#: winner was never a random candidate, always one of local search's second round, as in 24
#: asks on a synthetic objective before; 16 keep some exploration, and a full-store ask costs
#: about half of what it did with 64 (``benchmarks/results/gp-overhead.md``,
#: ``benchmarks/results/digits-nas/candidates/``).
N_RANDOM_GRAMMAR = 16


def default_n_random(space: SearchSpace) -> int:
    """:data:`N_RANDOM_GRAMMAR` when an architecture of ``space`` is a grammar derivation, else
    :data:`N_RANDOM`."""
    grammar = any(d.kind == "grammar" for d in space.architectures.values())
    return N_RANDOM_GRAMMAR if grammar else N_RANDOM


@dataclass(frozen=True)
class CandidateSearch:
    """Sizes of the candidate search.

    Args:
        n_random: Random candidates (the GP searcher's default: :func:`default_n_random`).
        n_parents: Best observed configurations whose neighbourhoods become candidates.
        n_neighbours: Neighbours drawn per parent (domains that list all neighbours give up to
            this many).
        local_rounds: Rounds of local search from the 5 best scored candidates.
        n_refine: Best candidates whose continuous hyperparameters get gradient refinement (0
            disables it).
        n_ranked: Length of the returned ranking.
    """

    n_random: int = N_RANDOM
    n_parents: int = 10
    n_neighbours: int = 30
    local_rounds: int = 2
    n_refine: int = 0
    n_ranked: int = 50


def optimize_acquisition(
    score: Scorer,
    encoder: JointEncoder,
    X_observed: Tensor,
    X_pending: Tensor,
    order: np.ndarray,
    rng: np.random.Generator,
    search: CandidateSearch = CandidateSearch(),
    acqf: AcquisitionFunction | None = None,
    X_extra: Tensor | None = None,
) -> Tensor:
    """The best new candidates, best first.

    Args:
        score: Candidate scorer (see :func:`make_scorer`).
        encoder: Encoder of the rows (samples, moves, de-duplication keys).
        X_observed: ``n x d`` observed rows at full fidelity.
        X_pending: ``p x d`` running trials at full fidelity (never proposed again).
        order: Indices of the observed rows, best first (parents of the local search).
        rng: Randomness of sampling and moves.
        search: Sizes of the search.
        acqf: A differentiable acquisition for the continuous refinement (``None``: no
            refinement, e.g. Thompson sampling).
        X_extra: ``e x d`` rows always among the candidates (e.g. configurations that were
            best on related tasks), unless observed or pending.

    Returns:
        ``k x d`` candidates (``k <= search.n_ranked``, possibly ``0``), best first.
    """
    seen_rows = set(row_keys(encoder, torch.cat([X_observed, X_pending])))
    parents = unique_rows(encoder, X_observed[torch.from_numpy(order.copy())], set())
    parents = parents[: search.n_parents]
    parts = [
        encoder.sample_rows(search.n_random, rng),
        neighbourhood(encoder, parents, rng, search.n_neighbours),
    ]
    if X_extra is not None and len(X_extra):
        parts.insert(0, X_extra)
    pool = torch.cat(parts)
    X_c = unique_rows(encoder, pool, seen_rows)
    if len(X_c) == 0:
        return X_c
    scores = score(X_c)
    for _ in range(search.local_rounds):
        top = torch.topk(scores, min(5, len(X_c))).indices
        scored = seen_rows | set(row_keys(encoder, X_c))
        X_m = unique_rows(
            encoder, neighbourhood(encoder, X_c[top], rng, search.n_neighbours), scored
        )
        if len(X_m) == 0:
            break
        X_c = torch.cat([X_c, X_m])
        scores = torch.cat([scores, score(X_m)])
    if search.n_refine > 0 and acqf is not None and encoder.continuous_dims:
        X_c, scores = _refine(acqf, encoder, X_c, scores, search.n_refine)
    ranked = torch.argsort(scores, descending=True)[: search.n_ranked]
    return X_c[ranked]


def _refine(
    acqf: AcquisitionFunction, encoder: JointEncoder, X_c: Tensor, scores: Tensor, n: int
) -> tuple[Tensor, Tensor]:
    """Append gradient-refined copies of the ``n`` best candidates (continuous columns only)."""
    top = torch.topk(scores, min(n, len(X_c))).indices
    starts = X_c[top]
    dims = [d for d in encoder.continuous_dims if bool((starts[:, d] >= 0).all())]
    if not dims:
        return X_c, scores
    refined, values = refine_continuous(acqf, starts, dims)
    return torch.cat([X_c, refined]), torch.cat([scores, values])
