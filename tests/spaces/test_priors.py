"""Expert priors of a search space: serialization, sampling statistics, densities, errors."""

from __future__ import annotations

import json

import ConfigSpace as CS
import numpy as np
import pytest
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    NormalFloatHyperparameter,
    UniformFloatHyperparameter,
)

from jahs_bo.exceptions import InvalidSpaceError
from jahs_bo.spaces import Fidelity, NB101Cell, NB201Cell, SearchSpace
from jahs_bo.spaces.nb201 import NB201_EDGE_NAMES, NB201_OPS
from jahs_bo.spaces.prior import CONFIDENCE_SIGMA, CONFIDENCE_WEIGHT

N = 4000
CONV_PRIOR = {"nor_conv_3x3": 0.5, "nor_conv_1x1": 0.25, "skip_connect": 0.25}


def prior_space() -> SearchSpace:
    cs = CS.ConfigurationSpace(seed=0)
    cs.add(
        [
            NormalFloatHyperparameter("mom", mu=0.9, sigma=0.05, lower=0.5, upper=1.0),
            UniformFloatHyperparameter("lr", 1e-4, 1e-1, log=True, default_value=1e-2),
            UniformFloatHyperparameter("wd", 0.0, 1.0, default_value=0.2),
            CategoricalHyperparameter("act", ["relu", "gelu", "tanh"], weights=[6, 3, 1]),
            CategoricalHyperparameter("opt", ["adam", "sgd", "rms"], default_value="sgd"),
        ]
    )
    return SearchSpace(
        cs,
        {"arch": NB201Cell(op_prior=CONV_PRIOR)},
        [Fidelity("epochs", 1, 200, integer=True)],
        prior_confidence={"lr": "high", "wd": "medium", "opt": "high"},
    )


def test_priors_round_trip_through_json():
    space = prior_space()
    back = SearchSpace.from_json(space.to_json())
    assert back == space
    assert back.prior_confidence == {"lr": "high", "wd": "medium", "opt": "high"}
    assert back.architectures["arch"].op_probs.tolist() == pytest.approx([0, 0.25, 0.25, 0.5, 0])
    cs = back.hyperparameters
    assert isinstance(cs["mom"], NormalFloatHyperparameter)
    assert tuple(cs["act"].weights) == (6, 3, 1)
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    assert back.sample_prior(20, rng_a) == space.sample_prior(20, rng_b)
    cell = NB101Cell(op_prior={"maxpool3x3": 1.0, "conv3x3-bn-relu": 3.0})
    assert NB101Cell.from_dict(cell.to_dict()) == cell
    assert cell.to_dict()["op_prior"] == pytest.approx(
        {"maxpool3x3": 0.25, "conv3x3-bn-relu": 0.75}
    )


def test_a_space_without_priors_serializes_as_before():
    space = SearchSpace(CS.ConfigurationSpace({"x": (0.0, 1.0)}), {"arch": NB201Cell()})
    data = space.to_dict()
    assert "prior_confidence" not in data and "op_prior" not in data["architectures"]["arch"]
    assert not space.has_prior
    configs = space.sample_many(10, np.random.default_rng(0))
    assert space.log_prior(configs).tolist() == [0.0] * 10


def test_prior_samples_match_the_stated_distributions():
    space = prior_space()
    configs = space.sample_prior(N, np.random.default_rng(0))
    mom = np.array([c["mom"] for c in configs])
    assert abs(mom.mean() - 0.9) < 0.005 and abs(mom.std() - 0.05) < 0.005
    # "medium" on a uniform float: normal(default, 0.25 of the range) truncated to [0, 1].
    wd = np.array([c["wd"] for c in configs])
    z = np.random.default_rng(1).normal(0.2, CONFIDENCE_SIGMA["medium"], 200_000)
    z = z[(z >= 0) & (z <= 1)]
    assert abs(wd.mean() - z.mean()) < 0.01 and abs(wd.std() - z.std()) < 0.01
    # "high" on a log-scaled float: normal in log space around log(1e-2), sd 0.125 of 3 decades.
    log_lr = np.log10([c["lr"] for c in configs])
    assert abs(np.median(log_lr) + 2.0) < 0.03
    assert abs(log_lr.std() - 0.125 * 3) < 0.03
    act = [c["act"] for c in configs]
    for choice, p in (("relu", 0.6), ("gelu", 0.3), ("tanh", 0.1)):
        assert abs(act.count(choice) / N - p) < 0.025
    w = CONFIDENCE_WEIGHT["high"]
    assert abs([c["opt"] for c in configs].count("sgd") / N - w / (w + 2)) < 0.025
    cells = [space.architectures["arch"].to_ops(c["arch"]) for c in configs]
    ops = [op for cell in cells for op in cell]
    for op in NB201_OPS:
        assert abs(ops.count(op) / len(ops) - CONV_PRIOR.get(op, 0.0)) < 0.015


def test_uniform_sampling_ignores_confidence_priors():
    space = prior_space()
    wd = np.array([c["wd"] for c in space.sample_many(N, np.random.default_rng(0))])
    assert abs(wd.mean() - 0.5) < 0.02


def test_log_prior_orders_configurations_by_the_prior():
    space = prior_space()
    base = space.sample_prior(1, np.random.default_rng(0))[0]
    near = {**base, "lr": 1e-2, "wd": 0.2, "opt": "sgd", "mom": 0.9}
    far = {**near, "lr": 1e-4, "wd": 1.0, "opt": "adam", "mom": 0.6}
    conv = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    pool = "|avg_pool_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    lp = space.log_prior([{**near, "arch": conv}, {**far, "arch": conv}, {**near, "arch": pool}])
    assert lp[0] > lp[1] and lp[0] > lp[2]
    # Each edge with nor_conv_3x3 adds log(0.5 * 5); avg_pool has weight 0 (clipped far below).
    assert lp[0] - lp[2] > 50
    dom = space.architectures["arch"]
    assert dom.log_prior(conv) == pytest.approx(6 * np.log(2.5))


def test_prior_sampling_respects_conditions_and_forbiddens():
    cs = CS.ConfigurationSpace({"opt": ["adam", "sgd"], "mom": (0.0, 1.0), "bs": ["s", "l"]})
    cs.add(CS.EqualsCondition(cs["mom"], cs["opt"], "sgd"))
    cs.add(
        CS.ForbiddenAndConjunction(
            CS.ForbiddenEqualsClause(cs["opt"], "adam"), CS.ForbiddenEqualsClause(cs["bs"], "l")
        )
    )
    space = SearchSpace(cs, prior_confidence={"opt": "high", "mom": "high"})
    configs = space.sample_prior(500, np.random.default_rng(0))
    for cfg in configs:
        assert space.validate(cfg) == cfg
        assert ("mom" in cfg) == (cfg["opt"] == "sgd")
        assert (cfg["opt"], cfg["bs"]) != ("adam", "l")
    # Draws are 8:1 for the default "adam", then (adam, l) is rejected: P(adam) = 8/(8 + 2).
    share_adam = sum(c["opt"] == "adam" for c in configs) / 500
    assert abs(share_adam - 0.8) < 0.05


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"op_prior": {"nor_conv_3x3": -0.5}}, ">= 0"),
        ({"op_prior": {"conv5x5": 1.0}}, "unknown op 'conv5x5'"),
        ({"op_prior": {"none": 0.0}}, "weight 0"),
        ({"op_prior": ["none"]}, "must map op names"),
        ({"op_prior": {"none": float("nan")}}, "finite"),
        ({"op_prior": {"none": "1"}}, "must be a number"),
        ({"op_prior": {"3->0": {"none": 1.0}}}, "unknown edge '3->0'"),
        ({"op_prior": {"0->1": {"none": 1.0}, "0->3": 0.5}}, r"mixes the shared form .*'0->3'"),
        ({"op_prior": {"none": 0.5, "0->1": {"none": 1.0}}}, r"mixes the shared form .*'none'"),
        ({"op_prior": {"0->1": {"conv5x5": 1.0}}}, "edge 0->1: op_prior names unknown op"),
        ({"op_prior": {"0->1": {"none": 0.0}}}, "edge 0->1: op_prior gives every op weight 0"),
        ({"op_prior": {"none": 1e308, "skip_connect": 1e308}}, "scale them down"),
    ],
)
def test_bad_op_priors_raise_typed_errors(kwargs, fragment):
    with pytest.raises(InvalidSpaceError, match=fragment):
        NB201Cell(**kwargs)
    with pytest.raises(InvalidSpaceError):
        NB201Cell.from_dict({"kind": "nb201_cell", "ops": list(NB201_OPS), **kwargs})


@pytest.mark.parametrize(
    ("confidence", "fragment"),
    [
        ({"lr": "very high"}, "not a confidence level"),
        ({"nope": "low"}, "not a hyperparameter"),
        ({"mom": "low"}, "already states its prior"),
        ({"act": "high"}, "already states its prior"),
        (["lr"], "must map hyperparameter names"),
    ],
)
def test_bad_confidences_raise_typed_errors(confidence, fragment):
    space = prior_space()
    with pytest.raises(InvalidSpaceError, match=fragment) as err:
        SearchSpace(space.hyperparameters, prior_confidence=confidence)
    assert isinstance(err.value, ValueError)
    data = space.to_dict() | {"prior_confidence": confidence}
    with pytest.raises(InvalidSpaceError):
        SearchSpace.from_dict(data)


EDGE_PRIOR = {"0->3": {"skip_connect": 0.8, "nor_conv_3x3": 0.2}, "1->2": {"nor_conv_1x1": 1.0}}


def test_per_edge_op_prior_samples_each_edge_from_its_own_prior():
    cell = NB201Cell(op_prior=EDGE_PRIOR)
    assert cell.has_prior and cell.op_probs is None and cell.edge_probs.shape == (6, 5)
    rng = np.random.default_rng(0)
    ops = np.array([cell.to_ops(cell.sample_prior(rng)) for _ in range(N)])
    # edges in NB201_EDGES order: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3
    assert abs((ops[:, 3] == "skip_connect").mean() - 0.8) < 0.02
    assert abs((ops[:, 3] == "nor_conv_3x3").mean() - 0.2) < 0.02
    assert set(ops[:, 3]) == {"skip_connect", "nor_conv_3x3"}  # unstated ops weigh 0
    assert set(ops[:, 2]) == {"nor_conv_1x1"}
    for e in (0, 1, 4, 5):  # unstated edges stay uniform
        shares = [(ops[:, e] == op).mean() for op in NB201_OPS]
        assert max(abs(x - 0.2) for x in shares) < 0.025
    value = cell.from_ops(["none", "none", "nor_conv_1x1", "skip_connect", "none", "none"])
    assert cell.log_prior(value) == pytest.approx(np.log(0.8 * 5) + np.log(1.0 * 5))
    uniform_elsewhere = cell.from_ops(["none"] * 6)
    assert cell.log_prior(uniform_elsewhere) < -100  # 'none' on a fully stated edge: weight 0


def test_per_edge_op_prior_mode_and_round_trip():
    cell = NB201Cell(op_prior=EDGE_PRIOR)
    modes = {cell.prior_mode(np.random.default_rng(s)) for s in range(20)}
    for mode in modes:
        ops = cell.to_ops(mode)
        assert ops[3] == "skip_connect" and ops[2] == "nor_conv_1x1"
    assert len(modes) > 1  # uniform edges break their ties at random
    full = {e: {"nor_conv_3x3": 2.0, "none": 1.0} for e in NB201_EDGE_NAMES}
    full["0->3"] = {"skip_connect": 3.0, "none": 1.0}
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    mode = NB201Cell(op_prior=full).prior_mode(rng)
    assert rng.bit_generator.state == state  # no ties: nothing drawn
    assert (
        NB201Cell().from_ops(["nor_conv_3x3"] * 3 + ["skip_connect"] + ["nor_conv_3x3"] * 2) == mode
    )
    space = SearchSpace(None, {"arch": cell})
    back = SearchSpace.from_json(space.to_json())
    assert back == space
    assert np.allclose(back.architectures["arch"].edge_probs, cell.edge_probs)
    assert back.sample_prior(30, np.random.default_rng(4)) == space.sample_prior(
        30, np.random.default_rng(4)
    )
    # the shared form still serializes as one mapping, and equals nothing per edge
    shared = NB201Cell(op_prior=CONV_PRIOR)
    assert set(shared.to_dict()["op_prior"]) == set(CONV_PRIOR)
    assert shared != NB201Cell(op_prior={e: CONV_PRIOR for e in full})


def test_op_priors_round_trip_exactly_and_keep_the_shared_form_unchanged():
    rng = np.random.default_rng(0)
    edges = list(NB201_EDGE_NAMES)
    for _ in range(300):
        weights = rng.random(5) * (rng.random(5) < 0.8) + 1e-3
        shared = NB201Cell(op_prior=dict(zip(NB201_OPS, weights.tolist(), strict=True)))
        per_edge = NB201Cell(
            op_prior={
                e: dict(zip(NB201_OPS, (rng.random(5) + 1e-3).tolist(), strict=True))
                for e in edges[: rng.integers(1, 7)]
            }
        )
        for cell in (shared, per_edge):
            back = NB201Cell.from_dict(json.loads(json.dumps(cell.to_dict())))
            assert back == cell and np.array_equal(back.edge_probs, cell.edge_probs)
            space = SearchSpace(None, {"arch": cell})
            assert SearchSpace.from_json(space.to_json()) == space
        # the shared form: numpy's categorical draws and the first most probable op, as before
        probs = shared.op_probs
        a, b = np.random.default_rng(1), np.random.default_rng(1)
        assert shared.sample_prior(a) == shared.from_index_tuple(
            b.choice(5, size=6, p=probs).tolist()
        )
        assert shared.prior_mode(a) == shared.from_index_tuple([int(np.argmax(probs))] * 6)
    tied = NB201Cell(op_prior={"nor_conv_1x1": 1.0, "nor_conv_3x3": 1.0})
    assert {tied.prior_mode(np.random.default_rng(s)) for s in range(10)} == {
        tied.from_ops(["nor_conv_1x1"] * 6)
    }
