"""PriorBand-style sampling: the mix of prior, incumbent and uniform draws in brackets."""

from __future__ import annotations

from collections import Counter

import ConfigSpace as CS
import numpy as np
import pytest

from jahs_bo.exceptions import InputError
from jahs_bo.schedulers import BOHB, Hyperband, PriorMix
from jahs_bo.searchers import RandomSearcher
from jahs_bo.spaces import Fidelity, SearchSpace


def prior_space() -> SearchSpace:
    """``x`` in [0, 1] with a "high" prior at 0.8; epochs 1..9."""
    cs = CS.ConfigurationSpace()
    cs.add(CS.UniformFloatHyperparameter("x", 0.0, 1.0, default_value=0.8))
    fids = [Fidelity("epochs", 1, 9, integer=True, log=True)]
    return SearchSpace(cs, None, fids, name="toy", prior_confidence={"x": "high"})


def test_mix_proportions_with_and_without_an_incumbent():
    space = prior_space()
    mix = PriorMix.parse({"prior": 0.5, "incumbent": 0.3, "uniform": 0.2})
    rng = np.random.default_rng(0)
    n = 4000
    with_inc = Counter(mix.draw(space, {"x": 0.1}, rng)[1] for _ in range(n))
    assert abs(with_inc["prior"] / n - 0.5) < 0.025
    assert abs(with_inc["incumbent"] / n - 0.3) < 0.025
    assert abs(with_inc["uniform"] / n - 0.2) < 0.025
    without = Counter(mix.draw(space, None, rng)[1] for _ in range(n))
    assert without["incumbent"] == 0 and abs(without["prior"] / n - 0.8) < 0.025
    # Incumbent draws stay near the incumbent (one-exchange neighbours of x = 0.1).
    near = [mix.draw(space, {"x": 0.1}, rng) for _ in range(400)]
    xs = [c["x"] for c, src in near if src == "incumbent"]
    assert np.mean(np.abs(np.array(xs) - 0.1)) < 0.2


def test_hyperband_with_random_search_and_a_mix_draws_around_prior_and_incumbent(drive):
    space = prior_space()

    def loss(cfg, fid):  # the optimum, 0.2, is far from the prior's 0.8
        return (cfg["x"] - 0.2) ** 2 + 1.0 / fid["epochs"]

    sched = Hyperband(space, RandomSearcher(space), prior_mix={"prior": 1.0})
    trials = drive(sched, loss, 40)
    new = [t.config["x"] for t in trials if t.parent_id is None]
    assert abs(np.median(new) - 0.8) < 0.1  # pure prior draws
    plain = drive(Hyperband(space, RandomSearcher(space)), loss, 40)
    new_plain = [t.config["x"] for t in plain if t.parent_id is None]
    assert np.std(new) < np.std(new_plain)
    mixed = drive(Hyperband(space, RandomSearcher(space), prior_mix=True), loss, 80)
    assert len(mixed) == 80 and all(0.0 <= t.config["x"] <= 1.0 for t in mixed)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ({"prior": -1.0}, ">= 0"),
        ({"prior": 0.0, "uniform": 0.0}, "weight 0"),
        ({"priors": 1.0}, "unknown sources"),
        ({"prior": "a lot"}, "finite number"),
        ([0.5, 0.5], "True or a mapping"),
    ],
)
def test_bad_mixes_raise_typed_errors(value, fragment):
    with pytest.raises(InputError, match=fragment):
        PriorMix.parse(value)


def test_a_mix_needs_a_space_with_a_prior(toy_space):
    space = toy_space()
    with pytest.raises(InputError, match="prior_mix needs a space"):
        BOHB(space, RandomSearcher(space), prior_mix=True)
    assert PriorMix.parse(None) is None and PriorMix.parse(False) is None
    assert PriorMix.parse(True).probabilities(True).tolist() == pytest.approx([1 / 3] * 3)
