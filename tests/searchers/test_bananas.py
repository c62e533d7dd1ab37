"""BANANAS searcher: registry, encodings, proposals, reproducibility and NB201 regret."""

from __future__ import annotations

from datetime import datetime

import ConfigSpace as CS
import numpy as np
import pytest
import torch

from jahs_bo.encoding.features import FeatureEncoder
from jahs_bo.encoding.paths import (
    NB101AdjacencyEncoding,
    NB201PathEncoding,
    WLBagEncoding,
    architecture_encoding,
)
from jahs_bo.exceptions import InputError
from jahs_bo.models.ensemble import EnsembleSettings, MLPEnsemble
from jahs_bo.searchers import available_searchers, make_searcher
from jahs_bo.searchers.bananas import BananasSearcher, independent_thompson_sample
from jahs_bo.spaces import (
    NB101Cell,
    NB201Cell,
    SearchSpace,
    hierarchical_nb201_space,
    nb201_space,
)
from jahs_bo.study import create_study
from jahs_bo.types import Trial, TrialState

FAST = {"n_init": 4, "epochs": 20, "n_members": 3, "n_neighbours": 8, "n_random": 8}
OPTIMUM = 91.606667  # best c10v_valid_acc_200 of the NB201 table


def done(k: int, config: dict, value: float) -> Trial:
    return Trial(
        k, k, config, state=TrialState.COMPLETE, values=(value,), datetime_start=datetime.now()
    )


# ---------------------------------------------------------------------- registry


def test_registered_and_built_by_create_study() -> None:
    assert "bananas" in available_searchers()
    study = create_study(nb201_space(), searcher="bananas", searcher_options=FAST, seed=0)
    assert isinstance(study.searcher, BananasSearcher)
    assert study.searcher.name == "bananas"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_init": 0}, "n_init"),
        ({"n_members": 0}, "n_members"),
        ({"loss": "huber"}, "loss"),
        ({"hidden": ()}, "hidden"),
        ({"n_neighbours": 0, "n_random": 0}, "n_random"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_bad_options_raise_input_errors(options: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        make_searcher("bananas", nb201_space(), ["minimize"], **options)


# ---------------------------------------------------------------------- encodings

CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_path_encoding_feature_count_and_facts() -> None:
    enc = NB201PathEncoding(NB201Cell())
    assert enc.dim == 4 + 4**2 + 4**3 == 84  # paths of 1..3 ops, none excluded
    x = enc.encode([ALL_NONE, CELL])
    assert x.shape == (2, 84)
    assert x[0].sum() == 0  # a cell of all 'none' has no input-to-output path
    assert enc.cell_paths(CELL) == {
        ("skip_connect",),
        ("nor_conv_3x3", "nor_conv_3x3"),
        ("nor_conv_3x3", "avg_pool_3x3"),
        ("nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3"),
    }
    assert x[1].sum() == 4


def test_isomorphic_cells_share_their_path_encoding() -> None:
    enc = NB201PathEncoding(NB201Cell())
    # edge 2<-1 is none: nodes 1 and 2 swap (edges 1<-0/2<-0 and 3<-1/3<-2 exchanged)
    a = "|nor_conv_1x1~0|+|avg_pool_3x3~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    b = "|avg_pool_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
    # an edge off every path (from node 1, which the input does not reach) acts as none
    c = "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    d = "|none~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
    dom = NB201Cell()
    assert dom.same_network_key(a) == dom.same_network_key(b)
    assert dom.same_network_key(c) == dom.same_network_key(d)
    x = enc.encode([a, b, c, d])
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_array_equal(x[2], x[3])
    assert not np.array_equal(x[0], x[2])
    # every pair of same-network cells in a sample shares its encoding
    rng = np.random.default_rng(0)
    cells = [dom.sample(rng) for _ in range(3000)]
    by_key: dict[str, np.ndarray] = {}
    for cell, row in zip(cells, enc.encode(cells), strict=True):
        first = by_key.setdefault(dom.same_network_key(cell), row)
        np.testing.assert_array_equal(first, row)


def test_nb101_adjacency_encoding() -> None:
    dom = NB101Cell()
    enc = architecture_encoding(dom)
    assert isinstance(enc, NB101AdjacencyEncoding)
    assert enc.dim == 7 * 6 // 2 + 5 * len(dom.ops)
    rng = np.random.default_rng(0)
    values = [dom.sample(rng) for _ in range(5)]
    x = enc.encode(values)
    assert x.shape == (5, enc.dim)
    for row, value in zip(x, values, strict=True):
        matrix, labels = dom.to_spec(value)
        assert row[:21].sum() == np.asarray(matrix).sum()  # every edge, once
        assert row[21:].sum() == len(labels) - 2  # one op per interior node


def test_other_domains_fall_back_to_wl_counts() -> None:
    dom = hierarchical_nb201_space().architectures["arch"]
    enc = architecture_encoding(dom)
    assert isinstance(enc, WLBagEncoding)
    rng = np.random.default_rng(0)
    values = [dom.sample(rng) for _ in range(3)]
    x = enc.encode(values)
    assert x.shape[0] == 3 and x.shape[1] > 0 and (x >= 0).all()


def test_hyperparameters_unit_cube_and_one_hot() -> None:
    cs = CS.ConfigurationSpace(seed=0)
    cs.add(CS.Float("lr", (1e-4, 1e-1), log=True), CS.Categorical("act", ["relu", "mish", "tanh"]))
    space = SearchSpace(cs, {"arch": NB201Cell()})
    enc = FeatureEncoder(space)
    x = enc.encode(
        [{"lr": 1e-4, "act": "mish", "arch": CELL}, {"lr": 1e-1, "act": "tanh", "arch": CELL}]
    )
    assert x.shape == (2, 84 + 3 + 1)
    assert space.hp_names == ["act", "lr"]  # ConfigSpace order: one-hot act, then lr
    np.testing.assert_array_equal(x[:, 84:87], [[0, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(x[:, 87], [0.0, 1.0])


# ---------------------------------------------------------------------- model and ITS


def test_ensemble_members_are_seeded_and_learn() -> None:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(40, 3, generator=g)
    y = X.sum(-1) - 1.5
    settings = EnsembleSettings(n_members=3, epochs=100, loss="mse")
    a = MLPEnsemble(3, settings, [1, 2, 3]).fit(X, y)
    b = MLPEnsemble(3, settings, [1, 2, 3]).fit(X, y)
    mean_a, std_a = a.predict(X)
    mean_b, std_b = b.predict(X)
    torch.testing.assert_close(mean_a, mean_b)
    torch.testing.assert_close(std_a, std_b)
    assert bool((std_a > 0).any())  # members differ
    assert float((mean_a - y).abs().mean()) < 0.5 * float(y.abs().mean())


def test_independent_thompson_sample_is_gaussian_per_candidate() -> None:
    mean = torch.tensor([0.0, 5.0, -3.0])
    std = torch.tensor([1.0, 0.0, 2.0])
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([independent_thompson_sample(mean, std, g) for _ in range(4000)])
    torch.testing.assert_close(draws.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(draws.std(0), std, atol=0.1, rtol=0)
    assert abs(float(torch.corrcoef(draws[:, [0, 2]].T)[0, 1])) < 0.05  # independent


# ---------------------------------------------------------------------- proposals


def _history(space: SearchSpace, n: int, seed: int) -> list[Trial]:
    rng = np.random.default_rng(seed)
    return [
        done(k, c, float(c["arch"].count("conv"))) for k, c in enumerate(space.sample_many(n, rng))
    ]


def test_never_proposes_seen_or_pending_configurations() -> None:
    space = nb201_space()
    searcher = make_searcher("bananas", space, ["maximize"], **FAST)
    trials = _history(space, 12, 0)
    pending = [
        Trial(100 + k, 100 + k, space.sample(np.random.default_rng(50 + k))) for k in range(5)
    ]
    seen = {space.config_key(t.config) for t in (*trials, *pending)}
    for k in range(5):
        cfg = searcher.suggest(trials, pending, np.random.default_rng(k))
        assert space.config_key(cfg) not in seen
    assert searcher.model is not None


def test_failed_trials_are_ignored() -> None:
    space = nb201_space()
    trials = _history(space, 8, 1)
    failed = [
        Trial(50 + k, 50 + k, space.sample(np.random.default_rng(90 + k)), state=TrialState.FAILED)
        for k in range(6)
    ]
    searcher = make_searcher("bananas", space, ["maximize"], **{**FAST, "n_init": 8})
    cfg = searcher.suggest([*trials, *failed], [], np.random.default_rng(0))
    assert (
        searcher.model is not None
    )  # 8 complete trials reached n_init; the failed ones did not count
    assert space.config_key(cfg) not in {space.config_key(t.config) for t in [*trials, *failed]}


def test_same_seed_same_proposal_other_seed_other_proposal() -> None:
    space = nb201_space()
    trials = _history(space, 15, 2)

    def propose(seed: int) -> dict:
        searcher = make_searcher("bananas", space, ["maximize"], **FAST)
        return searcher.suggest(trials, [], np.random.default_rng(seed))

    assert propose(0) == propose(0)
    assert len({space.config_key(propose(s)) for s in range(4)}) > 1


def test_several_objectives_are_scalarized() -> None:
    space = nb201_space()
    rng = np.random.default_rng(3)
    configs = space.sample_many(10, rng)
    trials = [
        Trial(
            k,
            k,
            c,
            state=TrialState.COMPLETE,
            values=(float(c["arch"].count("conv")), float(c["arch"].count("pool"))),
            datetime_start=datetime.now(),
        )
        for k, c in enumerate(configs)
    ]
    searcher = make_searcher("bananas", space, ["maximize", "minimize"], **FAST)
    cfg = searcher.suggest(trials, [], np.random.default_rng(0))
    assert space.validate(cfg) == cfg


# ---------------------------------------------------------------------- NB201 table


def _regret_curve(
    name: str, seed: int, budget: int, acc: dict[str, float], **options
) -> list[float]:
    space = nb201_space()
    searcher = make_searcher(name, space, ["maximize"], **options)
    trials: list[Trial] = []
    best, curve = -np.inf, []
    for k in range(budget):
        cfg = space.validate(searcher.suggest(trials, [], np.random.default_rng([seed, k])))
        trials.append(done(k, cfg, acc[cfg["arch"]]))
        best = max(best, acc[cfg["arch"]])
        curve.append(OPTIMUM - best)
    return curve


@pytest.fixture(scope="module")
def acc(nb201_table) -> dict[str, float]:
    return dict(zip(nb201_table["arch_str"], nb201_table["c10v_valid_acc_200"], strict=True))


def test_grammar_space_proposals_are_valid() -> None:
    space = hierarchical_nb201_space()
    rng = np.random.default_rng(0)
    trials = [
        done(k, c, float(len(c["arch"]) % 7)) for k, c in enumerate(space.sample_many(6, rng))
    ]
    searcher = make_searcher("bananas", space, ["minimize"], **{**FAST, "n_neighbours": 4})
    cfg = searcher.suggest(trials, [], np.random.default_rng(1))
    assert space.validate(cfg) == cfg


@pytest.mark.slow
def test_beats_random_search_on_nb201_cifar10(acc: dict[str, float]) -> None:
    """3 seeds x 40 evaluations: BANANAS' mean final regret is below random search's (about
    35 s of CPU, more on a loaded machine, hence slow)."""
    seeds, budget = range(3), 40
    bananas = np.mean([_regret_curve("bananas", s, budget, acc)[-1] for s in seeds])
    random = np.mean([_regret_curve("random", s, budget, acc)[-1] for s in seeds])
    assert bananas < random, (bananas, random)
