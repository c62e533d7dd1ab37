"""Production weights as an expert prior on grammar spaces (``GrammarDomain(production_prior=)``)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from jahs_bo.exceptions import InvalidSpaceError
from jahs_bo.spaces import SearchSpace, hierarchical_nb201_space
from jahs_bo.spaces.grammar import GrammarDomain
from jahs_bo.study import create_study

TOY = """
start: S
S -> "Linear2" OP OP
OP -> "a" | "b" | "b" | "c"
"""
CONVS = ("conv3x3o", "conv1x1o", "dconv3x3o")
PRIOR = {"CONV": {"conv3x3o": 8, "conv1x1o": 1, "dconv3x3o": 1}}


def _terminals(value: str) -> list[str]:
    return [tok.strip("()") for tok in value.split()]


def test_prior_samples_follow_the_weights_and_uniform_sampling_does_not():
    dom = hierarchical_nb201_space(production_prior=PRIOR).architectures["arch"]
    rng = np.random.default_rng(0)
    prior = Counter(t for _ in range(40) for t in _terminals(dom.sample_prior(rng)) if t in CONVS)
    plain = Counter(t for _ in range(40) for t in _terminals(dom.sample(rng)) if t in CONVS)
    share = prior["conv3x3o"] / sum(prior.values())
    assert sum(prior.values()) > 1000  # thousands of CONV expansions: the share is tight
    assert share == pytest.approx(0.8, abs=0.03)
    assert plain["conv3x3o"] / sum(plain.values()) == pytest.approx(1 / 3, abs=0.03)


def test_zero_weight_and_a_twice_listed_alternative():
    """Left-out alternatives are never drawn; an alternative listed twice gets its stated weight
    in total (uniform sampling draws it twice as often)."""
    dom = GrammarDomain(TOY, production_prior={"OP": {'"a"': 1, "b": 1}})
    rng = np.random.default_rng(1)
    ops = Counter(t for _ in range(2000) for t in _terminals(dom.sample_prior(rng))[1:])
    assert ops["c"] == 0
    assert ops["a"] / (ops["a"] + ops["b"]) == pytest.approx(0.5, abs=0.03)
    plain = Counter(t for _ in range(2000) for t in _terminals(dom.sample(rng))[1:])
    assert plain["b"] / sum(plain.values()) == pytest.approx(0.5, abs=0.03)


def test_log_prior_is_the_log_probability_ratio():
    dom = GrammarDomain(TOY, production_prior={"OP": {"a": 3, "b": 1}})
    # prior: a 3/4, b 1/4, c 0; uniform over the 4 listed alternatives: a 1/4, b 2/4, c 1/4
    assert dom.log_prior("(Linear2 a a)") == pytest.approx(2 * math.log(3))
    assert dom.log_prior("(Linear2 a b)") == pytest.approx(math.log(3) + math.log(0.5))
    assert dom.log_prior("(Linear2 c a)") < -600  # weight 0: as unlikely as a float allows
    assert GrammarDomain(TOY).log_prior("(Linear2 c a)") == 0.0  # no prior: 0 everywhere
    big = hierarchical_nb201_space(production_prior=PRIOR).architectures["arch"]
    rng = np.random.default_rng(2)
    from_prior = np.mean([big.log_prior(big.sample_prior(rng)) for _ in range(10)])
    uniform = np.mean([big.log_prior(big.sample(rng)) for _ in range(10)])
    assert from_prior > 0 > uniform


def test_the_prior_round_trips_through_the_space_json():
    readme_prior = {  # the README's example
        "CONV": {"conv3x3o": 4, "conv1x1o": 1, "dconv3x3o": 1},
        "OPS": {'"Linear1" CONVBLOCK': 3, "id": 1, "avg_pool": 1},
    }
    space = hierarchical_nb201_space(production_prior=readme_prior)
    back = SearchSpace.from_json(space.to_json())
    dom, dom2 = space.architectures["arch"], back.architectures["arch"]
    assert back.has_prior and dom2.prior.to_dict() == dom.prior.to_dict()
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [dom.sample_prior(a) for _ in range(3)] == [dom2.sample_prior(b) for _ in range(3)]
    assert "production_prior" not in hierarchical_nb201_space().to_dict()["architectures"]["arch"]


def test_random_search_with_use_prior_draws_from_the_production_prior():
    space = GrammarDomain(TOY, production_prior={"OP": {"c": 1}})
    study = create_study(
        SearchSpace(None, {"arch": space}),
        searcher="random",
        searcher_options={"use_prior": True},
        seed=0,
    )
    trial = study.ask()
    assert trial.config["arch"] == "(Linear2 c c)"


@pytest.mark.parametrize(
    ("prior", "fragment"),
    [
        ({"NOPE": {"a": 1}}, "'NOPE', not a nonterminal"),
        ({"OP": {"d": 1}}, "not an alternative of OP"),
        ({"OP": {"a": -1}}, "finite weight >= 0"),
        ({"OP": {"a": float("nan")}}, "finite weight >= 0"),
        ({"OP": {"a": "1"}}, "must be a number"),
        ({"OP": {"a": 0}}, "every alternative weight 0"),
        ({"OP": ["a"]}, "must map alternatives to weights"),
        ({}, "must map nonterminals"),
    ],
)
def test_bad_production_priors_raise_typed_errors(prior, fragment):
    with pytest.raises(InvalidSpaceError, match=fragment) as info:
        GrammarDomain(TOY, production_prior=prior)
    assert isinstance(info.value, ValueError)
