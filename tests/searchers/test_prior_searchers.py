"""Searchers with expert priors: random search and evolution sample from the prior, piBO."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ConfigSpace import (
    ConfigurationSpace,
    NormalFloatHyperparameter,
    UniformFloatHyperparameter,
)

import jahs_bo
from jahs_bo.acquisition import JointLogEI, PriorWeightedAcquisition, encoded_log_prior
from jahs_bo.acquisition.prior import (
    DEFAULT_PRIOR_FLOOR,
    MIN_LOG_PRIOR,
    floored_log_prior,
    pibo_exponent,
)
from jahs_bo.exceptions import InputError
from jahs_bo.searchers import RandomSearcher, RegularizedEvolution, make_searcher
from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace, nb201_space
from jahs_bo.types import Trial, TrialState

FAST = {"n_random": 64, "n_neighbours": 12, "local_rounds": 1, "fit_maxiter": 30}
PRIOR = {"nor_conv_3x3": 0.7, "skip_connect": 0.1, "nor_conv_1x1": 0.1, "avg_pool_3x3": 0.1}
GRAMMAR_PRIOR = {"CONV": {"conv3x3o": 8, "conv1x1o": 1, "dconv3x3o": 1}}


def prior_space() -> SearchSpace:
    return SearchSpace(None, {"arch": NB201Cell(op_prior=PRIOR)}, [Fidelity("epochs", 1, 200)])


def conv_share(configs, op: str = "nor_conv_3x3") -> float:
    dom = NB201Cell()
    ops = [o for c in configs for o in dom.to_ops(c["arch"])]
    return ops.count(op) / len(ops)


def run(searcher, objective, budget: int, seed: int = 0) -> list[Trial]:
    trials: list[Trial] = []
    for i in range(budget):
        cfg = searcher.suggest(trials, [], np.random.default_rng((seed, i)))
        trials.append(Trial(i, i, cfg, {}, TrialState.COMPLETE, (objective(cfg),)))
    return trials


def n_pool(cfg) -> float:
    """A toy loss: the number of avg-pool edges (the prior does not favour them)."""
    return float(NB201Cell().to_ops(cfg["arch"]).count("avg_pool_3x3"))


def test_random_search_samples_from_the_prior_on_request():
    space = prior_space()
    with_prior = run(make_searcher("random", space, ["minimize"], use_prior=True), n_pool, 300)
    uniform = run(RandomSearcher(space), n_pool, 300)
    # Never repeating a network moves draws off the prior's mode (all-conv cells repeat often),
    # so the share stays below the prior's 0.7, but far above uniform's 0.2.
    assert 0.5 < conv_share([t.config for t in with_prior]) < 0.75
    assert abs(conv_share([t.config for t in uniform]) - 0.2) < 0.03
    assert len({t.config["arch"] for t in with_prior}) == 300  # still never repeats


def test_evolution_initial_population_comes_from_the_prior():
    space = prior_space()
    re = RegularizedEvolution(space, population_size=40, sample_size=5, use_prior=True)
    trials = run(re, n_pool, 40)
    assert 0.55 < conv_share([t.config for t in trials]) < 0.8


@pytest.mark.parametrize("cls", [RandomSearcher, RegularizedEvolution, GPSearcher])
def test_use_prior_needs_a_space_with_a_prior(cls):
    with pytest.raises(InputError, match="states no prior"):
        cls(nb201_space(), use_prior=True)
    with pytest.raises(InputError, match="True or False"):
        RandomSearcher(prior_space(), use_prior="yes")


def test_pibo_needs_a_log_acquisition_and_a_valid_beta():
    with pytest.raises(InputError, match="logei"):
        GPSearcher(prior_space(), use_prior=True, acquisition="ucb")
    for bad in (-1.0, float("inf"), "10", True):
        with pytest.raises(InputError, match="prior_beta"):
            GPSearcher(prior_space(), use_prior=True, prior_beta=bad)


def test_pibo_weight_decays_with_the_number_of_observations():
    space = prior_space()
    searcher = GPSearcher(space, n_init=5, use_prior=True, prior_init_fraction=1.0, **FAST)
    trials = run(searcher, n_pool, 6)
    assert searcher.model is not None
    # The initial design came from the prior.
    assert conv_share([t.config for t in trials[:5]]) > 0.4
    configs = space.sample_many(64, np.random.default_rng(1))
    X = searcher.encoder.encode(configs)
    lp = encoded_log_prior(searcher.encoder, X)
    # "none" has prior weight 0: the encoded log prior is clipped at MIN_LOG_PRIOR.
    expected = np.maximum(space.log_prior(configs), MIN_LOG_PRIOR)
    torch.testing.assert_close(lp, torch.from_numpy(expected).to(lp))
    assert (expected == MIN_LOG_PRIOR).any() and (expected > 0).any()
    base = JointLogEI(searcher.model, best_f=0.0)
    with torch.no_grad():
        plain = base(X.unsqueeze(-2))
        terms = {}
        for n in (1, 50):
            weighted = PriorWeightedAcquisition(base, searcher.encoder, pibo_exponent(10.0, n))
            terms[n] = weighted(X.unsqueeze(-2)) - plain
    torch.testing.assert_close(terms[1], 10.0 * lp)
    torch.testing.assert_close(terms[50], 0.2 * lp)
    torch.testing.assert_close(terms[1], 50 * terms[50])
    with pytest.raises(InputError):
        pibo_exponent(10.0, 0)


def test_pibo_proposals_follow_the_prior_early_on():
    space = prior_space()

    def proposals(use_prior: bool) -> list[dict]:
        out = []
        for seed in range(2):
            s = GPSearcher(space, n_init=4, use_prior=use_prior, **FAST)
            init = run(make_searcher("random", space, ["minimize"]), n_pool, 4, seed=seed)
            for i in range(3):
                out.append(s.suggest(init, [], np.random.default_rng((seed, 10 + i))))
        return out

    pibo, plain = proposals(True), proposals(False)
    assert space.log_prior(pibo).mean() > space.log_prior(plain).mean() + 1.0
    assert conv_share(pibo) > conv_share(plain)


def test_floored_log_prior_mixes_the_prior_with_uniform():
    lp = torch.tensor([-50.0, -4.0, 0.0, 2.0])
    torch.testing.assert_close(floored_log_prior(lp, 0.0), lp)
    floored = floored_log_prior(lp, 0.01)
    expected = torch.log(0.01 + 0.99 * torch.exp(lp))
    torch.testing.assert_close(floored, expected)
    # bounded below by log(floor), order kept, uniform's weight kept
    assert floored.min() >= np.log(0.01) - 1e-6 and torch.all(floored.diff() > 0)
    assert abs(float(floored_log_prior(torch.tensor([0.0]), 0.3))) < 1e-6
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(InputError, match="prior_floor"):
            floored_log_prior(lp, bad)
    for bad in (-0.1, 1.0, "0.1", True):
        with pytest.raises(InputError, match="prior_floor"):
            GPSearcher(prior_space(), use_prior=True, prior_floor=bad)
    with pytest.raises(InputError, match="prior_mode_first"):
        GPSearcher(prior_space(), use_prior=True, prior_mode_first="yes")


def test_the_floor_bounds_the_penalty_of_a_region_the_prior_rules_out():
    space = prior_space()
    searcher = GPSearcher(space, n_init=5, use_prior=True, **FAST)
    run(searcher, n_pool, 6)
    configs = space.sample_many(64, np.random.default_rng(2))
    X = searcher.encoder.encode(configs).unsqueeze(-2)
    base = JointLogEI(searcher.model, best_f=0.0)
    with torch.no_grad():
        plain = base(X)
        term = PriorWeightedAcquisition(base, searcher.encoder, 1.0, floor=0.01)(X) - plain
        raw = PriorWeightedAcquisition(base, searcher.encoder, 1.0)(X) - plain
    # cells with a "none" edge (prior 0) are clipped at -50 without the floor, at log 0.01 with it
    assert raw.min() == MIN_LOG_PRIOR and term.min() >= np.log(0.01) - 1e-6
    assert searcher.prior_floor == DEFAULT_PRIOR_FLOOR


def test_prior_mode_is_the_users_best_guess():
    rng = np.random.default_rng(0)
    cell = NB201Cell(op_prior=PRIOR)
    assert set(cell.to_ops(cell.prior_mode(rng))) == {"nor_conv_3x3"}
    # without a prior every cell is as likely: a random one (never the all-"none" cell)
    assert len({NB201Cell().prior_mode(np.random.default_rng(s)) for s in range(5)}) > 1
    cs = ConfigurationSpace(
        {"lr": UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True, default_value=3e-3)}
    )
    cs.add(NormalFloatHyperparameter("wd", mu=0.2, sigma=0.1, lower=0.0, upper=1.0))
    space = SearchSpace(cs, {"arch": cell}, prior_confidence={"lr": "high"})
    mode = space.prior_mode(rng)
    assert mode["lr"] == pytest.approx(3e-3) and mode["wd"] == pytest.approx(0.2)
    assert space.log_prior([mode])[0] >= space.log_prior(space.sample_prior(200, rng)).max()


def test_a_domain_without_an_exact_mode_takes_its_most_probable_draw():
    from jahs_bo.spaces import hierarchical_nb201_space

    dom = hierarchical_nb201_space(production_prior=GRAMMAR_PRIOR).architectures["arch"]
    mode = dom.prior_mode(np.random.default_rng(0), draws=16)
    assert dom.validate(mode) == mode
    rng = np.random.default_rng(0)
    same = [dom.sample_prior(rng) for _ in range(16)]  # the draws prior_mode made
    assert dom.log_prior(mode) == max(dom.log_prior(v) for v in same)
    assert dom.log_prior(mode) > np.median([dom.log_prior(v) for v in same])


def test_pibo_suggests_the_prior_mode_first_then_draws_from_the_prior():
    space = prior_space()
    searcher = GPSearcher(space, n_init=4, use_prior=True, **FAST)
    trials = run(searcher, n_pool, 4)
    assert set(NB201Cell().to_ops(trials[0].config["arch"])) == {"nor_conv_3x3"}
    assert len({t.config["arch"] for t in trials}) == 4
    off = GPSearcher(
        space, n_init=4, use_prior=True, prior_mode_first=False, prior_init_fraction=1.0, **FAST
    )
    firsts = {off.suggest([], [], np.random.default_rng(s))["arch"] for s in range(6)}
    assert len(firsts) > 1  # plain prior draws
    # a resumed study (trials present) does not go back to the mode
    again = GPSearcher(space, n_init=4, use_prior=True, **FAST)
    assert again.suggest(trials[1:2], [], np.random.default_rng(9)) != trials[0].config


def test_prior_init_fraction_spreads_uniform_draws_through_the_initial_design():
    space = prior_space()
    searcher = GPSearcher(space, n_init=81, use_prior=True, prior_init_fraction=0.5, **FAST)
    trials = run(searcher, n_pool, 81)
    assert set(NB201Cell().to_ops(trials[0].config["arch"])) == {"nor_conv_3x3"}
    prior_draws = [t.config for t in trials[1::2]]  # k = 1, 3, 5, ...
    uniform_draws = [t.config for t in trials[2::2]]
    assert conv_share(prior_draws) > 0.5 and conv_share(uniform_draws) < 0.3
    assert GPSearcher(space, use_prior=True).prior_init_fraction == 0.5
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(InputError, match="prior_init_fraction"):
            GPSearcher(space, use_prior=True, prior_init_fraction=bad)


@pytest.mark.parametrize("scheduler", ["asha", "hyperband"])
def test_under_a_bracket_scheduler_the_mode_comes_once_and_the_design_mixes(scheduler):
    from jahs_bo.study import create_study

    cs = ConfigurationSpace({"x": UniformFloatHyperparameter("x", 0.0, 1.0, default_value=0.2)})
    space = SearchSpace(cs, None, [Fidelity("epochs", 1, 9)], prior_confidence={"x": "high"})
    study = create_study(
        space,
        searcher="gp",
        searcher_options={"use_prior": True, "n_init": 12, **FAST},
        scheduler=scheduler,
        scheduler_options={"eta": 3},
        seed=0,
    )
    new = []
    for _ in range(12):
        trial = study.ask()
        if trial.config not in new:
            new.append(trial.config)
        study.tell(trial, (trial.config["x"] - 0.7) ** 2)
    # the scheduler shows the searcher no trials at first: the mode must not repeat
    assert new[0]["x"] == pytest.approx(0.2)
    assert sum(c["x"] == pytest.approx(0.2) for c in new) == 1
    # after the mode, prior draws (near 0.2) and uniform draws alternate
    near = [abs(c["x"] - 0.2) < 0.25 for c in new[1:7]]
    assert sum(near) >= 3 and not all(near)


def test_a_per_edge_cell_prior_reaches_the_gp_and_the_bracket_mix():
    edge_prior = {"0->3": {"skip_connect": 1.0}, "2->3": {"nor_conv_1x1": 3.0, "none": 1.0}}
    space = SearchSpace(
        None, {"arch": NB201Cell(op_prior=edge_prior)}, [Fidelity("epochs", 1, 200)]
    )
    searcher = GPSearcher(space, n_init=6, use_prior=True, **FAST)
    trials = run(searcher, n_pool, 10)
    dom = NB201Cell()
    first = dom.to_ops(trials[0].config["arch"])
    assert first[3] == "skip_connect" and first[5] == "nor_conv_1x1"  # the mode, per edge
    prior_draws = [dom.to_ops(t.config["arch"]) for t in trials[1:6:2]]
    assert all(ops[3] == "skip_connect" for ops in prior_draws)
    # piBO's weight (a skip on 0->3 has all the prior mass there) steers the model's suggestions
    model_based = [dom.to_ops(t.config["arch"])[3] for t in trials[6:]]
    assert model_based.count("skip_connect") >= 3
    study = jahs_bo.create_study(
        space,
        searcher="random",
        seed=0,
        scheduler="hyperband",
        scheduler_options={"prior_mix": True},
    )
    asked = [study.ask() for _ in range(30)]
    share = np.mean([dom.to_ops(t.config["arch"])[3] == "skip_connect" for t in asked])
    assert share > 0.45  # 0.73 here; 0.23 without the mix
