"""The acquisition optimizer: candidate pool, de-duplication, ranking; the incumbent helper."""

from __future__ import annotations

import numpy as np
import torch

from jahs_bo.acquisition import (
    CandidateSearch,
    JointLogEI,
    incumbent_value,
    make_scorer,
    optimize_acquisition,
)
from jahs_bo.acquisition.candidates import neighbourhood, row_keys, unique_rows
from jahs_bo.models import JointEncoder, JointGPFactory, WarmStart
from jahs_bo.spaces import nb201_space


def _fitted(n: int = 8):
    space = nb201_space()
    enc = JointEncoder(space, iterations=1)
    configs = space.sample_many(n, np.random.default_rng(0))
    X = enc.encode(configs)
    Y = torch.tensor([[c["arch"].count("conv_3x3") * 1.0] for c in configs], dtype=torch.double)
    model = JointGPFactory()(X, Y, enc, WarmStart(maxiter=15))
    return enc, X, Y, model


def test_optimizer_ranks_new_unique_candidates_best_first():
    enc, X, Y, model = _fitted()
    acqf = JointLogEI(model, best_f=float(Y.max()))
    score = make_scorer(acqf, model, torch.Generator().manual_seed(0))
    search = CandidateSearch(n_random=40, n_parents=3, n_neighbours=8, local_rounds=1, n_ranked=20)
    pending = X[:0]
    order = np.argsort(-Y.squeeze(-1).numpy(), kind="stable")
    ranked = optimize_acquisition(
        score, enc, X, pending, order, np.random.default_rng(1), search, acqf
    )
    assert 0 < len(ranked) <= 20
    keys = row_keys(enc, ranked)
    assert len(set(keys)) == len(keys)  # no two candidates the same to the model
    assert not set(keys) & set(row_keys(enc, X))  # nothing observed again
    values = score(ranked)
    assert bool((values[:-1] >= values[1:]).all())
    again = optimize_acquisition(
        score, enc, X, pending, order, np.random.default_rng(1), search, acqf
    )
    assert torch.equal(again, ranked)  # same rng, same candidates


def test_neighbourhood_moves_one_architecture_and_dedup_excludes():
    enc, X, _, _ = _fitted()
    moves = neighbourhood(enc, X[:2], np.random.default_rng(0), 5)
    assert moves.shape[1] == X.shape[1] and len(moves) >= 10
    kept = unique_rows(enc, torch.cat([moves, moves]), set(row_keys(enc, X[:2])))
    assert len(kept) == len(set(row_keys(enc, moves)) - set(row_keys(enc, X[:2])))


def test_incumbent_value():
    enc, X, Y, model = _fitted()
    y = Y.squeeze(-1)
    feasible = torch.ones(len(y), dtype=torch.bool)
    assert incumbent_value(model, y, X, feasible, by_posterior=False) == float(y.max())
    assert incumbent_value(model, y, X, ~feasible, by_posterior=False) == float(y.min())
    with torch.no_grad():
        mean = model.posterior(X).mean
    assert incumbent_value(model, y, X, feasible, by_posterior=True) == float(mean.max())
    believed = incumbent_value(model, y, X, ~feasible, by_posterior=False, X_believed=X)
    assert believed == max(float(y.min()), float(mean.max()))
