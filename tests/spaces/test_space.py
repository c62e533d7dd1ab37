"""SearchSpace: sampling, validation, local moves, JSON and ConfigSpace round trips."""

from __future__ import annotations

import json

import ConfigSpace as CS
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces import (
    Fidelity,
    SearchSpace,
    jahs_bench_201_space,
    lcbench_space,
    nb201_space,
)
from jahs_bo.spaces.nb201 import NB201Cell


def conditional_space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="cond")
    opt = CS.Categorical("optimizer", ["sgd", "adam"])
    mom = CS.Float("momentum", (0.0, 0.99))
    lr = CS.Float("lr", (1e-5, 1e-1), log=True)
    layers = CS.Integer("layers", (1, 4))
    cs.add([opt, mom, lr, layers])
    cs.add(CS.EqualsCondition(mom, opt, "sgd"))
    cs.add(
        CS.ForbiddenAndConjunction(
            CS.ForbiddenEqualsClause(opt, "adam"), CS.ForbiddenEqualsClause(layers, 4)
        )
    )
    return SearchSpace(
        cs, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 81, log=True, integer=True)], name="cond"
    )


ALL_SPACES = [nb201_space, jahs_bench_201_space, lcbench_space, conditional_space]


@pytest.mark.parametrize("factory", ALL_SPACES)
def test_samples_are_valid_plain_json_and_reproducible(factory):
    space = factory()
    a = space.sample_many(20, np.random.default_rng(1))
    b = space.sample_many(20, np.random.default_rng(1))
    c = space.sample_many(20, np.random.default_rng(2))
    assert a == b
    assert a != c
    for cfg in a:
        assert space.validate(cfg) == cfg
        assert json.loads(json.dumps(cfg)) == cfg


@pytest.mark.parametrize("factory", ALL_SPACES)
def test_json_round_trip(factory, tmp_path):
    space = factory()
    assert SearchSpace.from_json(space.to_json()) == space
    path = tmp_path / "space.json"
    space.to_json(str(path))
    again = SearchSpace.from_json(str(path))
    assert again == space
    cfg = space.sample(np.random.default_rng(0))
    assert again.validate(cfg) == cfg


def test_conditions_and_forbiddens_are_honoured():
    space = conditional_space()
    for cfg in space.sample_many(200, np.random.default_rng(0)):
        assert ("momentum" in cfg) == (cfg["optimizer"] == "sgd")
        assert not (cfg["optimizer"] == "adam" and cfg["layers"] == 4)
    base = {
        "optimizer": "adam",
        "lr": 1e-3,
        "layers": 2,
        "arch": NB201Cell().sample(np.random.default_rng(0)),
    }
    assert space.validate(base)["optimizer"] == "adam"
    with pytest.raises(InvalidConfigError, match="momentum"):
        space.validate({**base, "momentum": 0.9})  # inactive value given
    with pytest.raises(InvalidConfigError):
        space.validate({**base, "layers": 4})  # forbidden
    with pytest.raises(InvalidConfigError, match="lr"):
        space.validate({**base, "lr": 10.0})


def test_bad_configs_name_the_problem():
    space = jahs_bench_201_space()
    cfg = space.sample(np.random.default_rng(0))
    with pytest.raises(InvalidConfigError, match="unknown keys.*'foo'"):
        space.validate({**cfg, "foo": 1})
    with pytest.raises(InvalidConfigError, match="fidelities go beside"):
        space.validate({**cfg, "epoch": 3})
    with pytest.raises(InvalidConfigError, match="lacks the architecture"):
        space.validate({k: v for k, v in cfg.items() if k != "arch"})
    with pytest.raises(InvalidConfigError, match="Activation"):
        space.validate({**cfg, "Activation": "tanh"})
    with pytest.raises(ValueError):  # input errors are ValueErrors too
        space.validate("not a mapping")


def test_bad_spaces_are_rejected():
    with pytest.raises(InvalidSpaceError, match="at least one"):
        SearchSpace()
    with pytest.raises(InvalidSpaceError, match="ArchitectureDomain"):
        SearchSpace(architectures={"arch": "nb201"})
    with pytest.raises(InvalidSpaceError, match="more than one part"):
        SearchSpace(CS.ConfigurationSpace({"arch": (0.0, 1.0)}), {"arch": NB201Cell()})
    with pytest.raises(InvalidSpaceError, match="format"):
        SearchSpace.from_json('{"hello": 1}')
    with pytest.raises(InvalidSpaceError, match="version"):
        d = nb201_space().to_dict()
        d["version"] = 99
        SearchSpace.from_dict(d)
    with pytest.raises(InvalidSpaceError, match="cannot read"):
        SearchSpace.from_json("/nonexistent/space.json")


def test_fidelities():
    f = Fidelity("epochs", 1, 81, log=True, integer=True)
    assert f.normalize(1) == 0.0 and f.normalize(81) == 1.0
    assert f.normalize(9) == pytest.approx(0.5)
    assert f.unnormalize(0.5) == 9
    d = Fidelity("N", values=[1, 3, 5])
    assert (d.lower, d.upper, d.integer) == (1, 5, True)
    assert d.validate(3) == 3
    with pytest.raises(InvalidConfigError, match=r"allowed values are \[1, 3, 5\]"):
        d.validate(2)
    with pytest.raises(InvalidConfigError, match="outside"):
        f.validate(100)
    with pytest.raises(InvalidSpaceError, match="increasing"):
        Fidelity("x", values=[3, 1])
    with pytest.raises(InvalidSpaceError, match="not positive"):
        Fidelity("x", 0, 1, log=True)
    space = jahs_bench_201_space()
    assert space.max_fidelity() == {"N": 5, "W": 16, "Resolution": 1.0, "epoch": 200}
    assert space.validate_fidelity({"epoch": 12}) == {
        "N": 5,
        "W": 16,
        "Resolution": 1.0,
        "epoch": 12,
    }
    with pytest.raises(InvalidConfigError, match="unknown fidelities"):
        space.validate_fidelity({"epochs": 12})
    np.testing.assert_allclose(space.fidelity_vector(space.max_fidelity()), np.ones(4))


def test_mutation_and_neighbours_change_one_part():
    space = jahs_bench_201_space()
    rng = np.random.default_rng(0)
    cfg = space.sample(rng)
    for _ in range(30):
        child = space.mutate(cfg, rng)
        assert space.validate(child) == child
        changed = [k for k in cfg if cfg[k] != child.get(k)]
        assert len(changed) <= 1
    nbs = space.neighbours(cfg, rng, k=40)
    keys = {space.config_key(n) for n in nbs}
    assert len(keys) == len(nbs) == 40
    assert space.config_key(cfg) not in keys
    nb = nb201_space()
    full = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    # 6 x 4 single-edge edits, two of them one network: cutting 1<-0 leaves 0->2->3 plus the
    # direct edge, cutting 3<-2 leaves 0->1->3 plus the direct edge.
    assert len(nb.neighbours({"arch": full}, rng, k=100)) == 23
    # Neighbours are distinct networks: edits of edges cut off from the output change nothing.
    cut = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|none~2|"
    nbs = nb.neighbours({"arch": cut}, rng, k=100)
    assert len({nb.config_key(n) for n in nbs} | {nb.config_key({"arch": cut})}) == len(nbs) + 1
    assert len(nbs) == 12
    child = space.crossover(cfg, space.sample(rng), rng)
    assert space.validate(child) == child


def test_configspace_round_trip_jahs_bench_201():
    space = jahs_bench_201_space()
    cs = space.to_configspace()
    names = set(cs.keys())
    assert {f"Op{i}" for i in range(1, 7)} <= names
    assert {"N", "W", "Resolution", "epoch", "LearningRate"} <= names
    assert SearchSpace.from_configspace(cs) == space
    rng = np.random.default_rng(3)
    cfg = space.sample(rng)
    values = space.config_to_configspace(cfg, {"N": 3, "W": 8, "Resolution": 0.5, "epoch": 20})
    CS.Configuration(cs, values=values)  # valid in the exported space
    assert space.config_from_configspace(values) == (
        cfg,
        {"N": 3, "W": 8, "Resolution": 0.5, "epoch": 20},
    )


def test_plain_configspace_imports_as_hyperparameters():
    cs = CS.ConfigurationSpace({"a": (0.0, 1.0), "b": ["x", "y"]})
    space = SearchSpace.from_configspace(cs)
    assert space.hp_names == ["a", "b"] and not space.architectures
    assert isinstance(space.hyperparameters["b"], CS.CategoricalHyperparameter)


def test_hp_vector_is_configspace_unit_cube():
    space = lcbench_space()
    cfg = space.validate(
        {
            "batch_size": 16,
            "learning_rate": 0.1,
            "momentum": 0.1,
            "weight_decay": 1e-5,
            "num_layers": 5,
            "max_units": 1024,
            "max_dropout": 0.5,
        }
    )
    v = dict(zip(space.hp_names, space.hp_vector(cfg)))
    assert v["batch_size"] == pytest.approx(0.0, abs=0.02)
    assert v["learning_rate"] == pytest.approx(1.0, abs=1e-6)
    assert v["max_dropout"] == pytest.approx(0.5)
    assert space.hp_vector(cfg).shape == (7,)
    assert np.isnan(
        conditional_space().hp_vector(
            {"optimizer": "adam", "lr": 1e-3, "layers": 1, "arch": cfg_arch()}
        )
    ).any()


def cfg_arch() -> str:
    return NB201Cell().sample(np.random.default_rng(0))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_property_sample_validate_mutate(seed):
    space = conditional_space()
    rng = np.random.default_rng(seed)
    cfg = space.sample(rng)
    assert space.validate(cfg) == cfg
    assert space.validate(space.validate(cfg)) == cfg
    child = space.mutate(cfg, rng)
    assert space.validate(child) == child
    assert SearchSpace.from_json(space.to_json()).validate(child) == child


def test_bad_space_descriptions_get_invalid_space_errors() -> None:
    import json

    from jahs_bo.exceptions import InvalidSpaceError
    from jahs_bo.spaces import Fidelity, NB101Cell, SearchSpace, nb201_space

    d = json.loads(nb201_space().to_json())
    with pytest.raises(InvalidSpaceError, match='"architectures" must be an object'):
        SearchSpace.from_dict({**d, "architectures": True})
    with pytest.raises(InvalidSpaceError, match="JSON text or a file path"):
        SearchSpace.from_json(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidSpaceError, match="beyond"):
        Fidelity("epochs", 1, 10**40, integer=True)
    with pytest.raises(InvalidSpaceError, match="not a number"):
        Fidelity("epochs", "1", 9)  # type: ignore[arg-type]
    with pytest.raises(InvalidSpaceError, match=r"max_nodes must be an integer in \[2, 9\]"):
        NB101Cell(max_nodes=10**6)
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(InvalidSpaceError, match="nested too deeply"):
        SearchSpace.from_json(deep)


@pytest.mark.parametrize(
    "kw",
    [
        {"lower": 1, "upper": 10**6, "log": True, "integer": True},
        {"lower": 1.0, "upper": 3.0, "log": True, "integer": True},
        {"lower": 1e-9, "upper": 1.0, "log": True},
        {"values": [1, 3, 5], "log": True},
    ],
)
def test_a_fidelity_that_loads_survives_its_json_round_trip(kw: dict) -> None:
    cs = CS.ConfigurationSpace(name="f", seed=0)
    cs.add(CS.Float("x", (0.0, 1.0)))
    space = SearchSpace(cs, fidelities=[Fidelity("e", **kw)])
    again = SearchSpace.from_json(space.to_json())
    assert again == space and again.fidelities == space.fidelities


@pytest.mark.parametrize(
    "kw",
    [
        {"lower": 0.5, "upper": 100, "log": True, "integer": True},  # int() made it 0
        {"lower": 0.5, "upper": 100, "integer": True},
        {"values": [0.5, 1.5], "integer": True},  # int() made it [0, 1]
        {"values": [1, float("nan")]},
        {"values": ["a", "b"]},
        {"values": "135"},
    ],
)
def test_an_integer_fidelity_with_fractional_bounds_is_refused(kw: dict) -> None:
    with pytest.raises(InvalidSpaceError, match="fidelity 'e'"):
        Fidelity("e", **kw)
