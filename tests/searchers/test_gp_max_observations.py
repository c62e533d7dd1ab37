"""GPSearcher(max_observations=k): the model is fitted on the best half of k observations plus a
seeded random sample of the rest; everything else stays seen."""

from __future__ import annotations

import numpy as np
import pytest

from jahs_bo.searchers._subset import model_subset
from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.spaces import nb201_space
from jahs_bo.types import Trial, TrialState

FAST = {"n_random": 64, "n_neighbours": 12, "local_rounds": 1, "fit_maxiter": 30}


def test_subset_keeps_the_best_half_and_a_seeded_sample_of_the_rest():
    losses = np.arange(100, dtype=float)[::-1, None]  # row 99 is the best
    keep = model_subset(losses, 20, np.random.default_rng(0))
    assert len(keep) == 20 and np.all(np.diff(keep) > 0)
    assert set(range(90, 100)) <= set(keep.tolist())  # the 10 best
    assert np.array_equal(keep, model_subset(losses, 20, np.random.default_rng(0)))
    assert not np.array_equal(keep, model_subset(losses, 20, np.random.default_rng(1)))
    assert np.array_equal(model_subset(losses[:5], 20, np.random.default_rng(0)), np.arange(5))


def test_subset_ranks_several_objectives_by_rank_sum():
    losses = np.array([[0.0, 9.0], [1.0, 1.0], [9.0, 0.0], [5.0, 5.0], [8.0, 8.0], [7.0, 7.0]])
    keep = model_subset(losses, 2, np.random.default_rng(0))
    assert 1 in keep  # ranks 1 + 1: best rank sum


def test_capped_searcher_fits_k_rows_and_never_repeats(nb201_accuracy):
    space = nb201_space()
    searcher = GPSearcher(space, ["maximize"], n_init=5, max_observations=12, **FAST)
    trials: list[Trial] = []
    for i in range(20):
        cfg = searcher.suggest(trials, [], np.random.default_rng((0, i)))
        trials.append(Trial(i, i, cfg, {}, TrialState.COMPLETE, (nb201_accuracy[cfg["arch"]],)))
    assert searcher.model is not None
    assert searcher.model.train_inputs[0].shape[-2] == 12
    assert searcher._n_observed == 19
    assert len({t.config["arch"] for t in trials}) == 20


def test_default_cap_is_1000_and_none_disables_it():
    assert GPSearcher(nb201_space(), ["maximize"]).max_observations == 1000
    assert GPSearcher(nb201_space(), ["maximize"], max_observations=None).max_observations is None


@pytest.mark.parametrize("bad", [0, 1, 3, 2.5, True])
def test_max_observations_is_validated(bad):
    with pytest.raises(ValueError):
        GPSearcher(nb201_space(), ["maximize"], n_init=4, max_observations=bad)
