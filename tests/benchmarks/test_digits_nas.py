"""Digits NAS: the protocol key and split, training both spaces on a tiny protocol, the cache."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from benchmarks.problems import get_problem, list_problems
from benchmarks.problems.digits_nas import Protocol, TrainCache, load_data
from benchmarks.problems.digits_nas.protocol import PROTOCOLS
from benchmarks.problems.digits_nas.train import space, train

TINY = Protocol(n_train=40, n_val=30, n_test=30, resolution=8, channels=4, epochs=1, batch_size=20)


def test_protocol_key_is_stable_and_covers_every_field():
    assert Protocol().key() == Protocol().key() == PROTOCOLS["b16"].key()
    assert Protocol(epochs=4).key() != Protocol().key()
    assert Protocol(optimizer="adam").key() != Protocol().key()
    # a field added later leaves the keys of cached runs alone at its default
    assert Protocol(optimizer="sgd").key() == Protocol().key()
    with pytest.raises(ValueError, match="> 1797"):
        Protocol(n_train=1000, n_val=500, n_test=500)


def test_split_is_disjoint_stratified_and_transformed():
    data = load_data(TINY)
    assert data["train"][0].shape == (40, 1, 8, 8)
    assert np.bincount(data["train"][1].numpy()).tolist() == [4] * 10
    assert len(data["val"][1]) == len(data["test"][1]) == 30
    again = load_data(Protocol(**{**TINY.__dict__}))
    assert np.array_equal(data["val"][0].numpy(), again["val"][0].numpy())


@pytest.mark.parametrize("space_name", ["grammar", "nb201"])
def test_train_returns_sane_values_and_is_seeded(space_name):
    arch = str(space(space_name).sample(np.random.default_rng(3))["arch"])
    a = train(space_name, arch, TINY, seed=0)
    assert set(a) == {"val_acc", "test_acc", "seconds", "params"}
    assert 0.0 <= a["val_acc"] <= 100.0 and 0.0 <= a["test_acc"] <= 100.0
    assert a["seconds"] > 0 and a["params"] > 0
    b = train(space_name, arch, TINY, seed=0)
    assert (a["val_acc"], a["test_acc"]) == (b["val_acc"], b["test_acc"])


def test_cache_round_trips_and_skips_cached_runs(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "runs.jsonl"
    cache = TrainCache(path)
    cache.put(
        "nb201", "|a|", TINY, 0, {"val_acc": 50.0, "test_acc": 40.0, "seconds": 1.5, "params": 0.1}
    )
    cache.put(
        "nb201",
        "|a|",
        TINY,
        1,
        {"val_acc": math.nan, "test_acc": math.nan, "seconds": 1.0, "params": 0.1},
    )
    again = TrainCache(path)
    assert len(again) == 2
    assert again.get("nb201", "|a|", TINY, 0)["val_acc"] == 50.0
    assert math.isnan(again.get("nb201", "|a|", TINY.key(), 1)["val_acc"])
    assert again.get("nb201", "|a|", Protocol(), 0) is None

    def no_training(*args, **kwargs):
        raise AssertionError("a cached run was trained again")

    monkeypatch.setattr("benchmarks.problems.digits_nas.train.train", no_training)
    assert again.train_cached("nb201", "|a|", TINY, 0)["test_acc"] == 40.0


def test_problem_is_registered_and_evaluates_through_the_cache(tmp_path):
    assert {"digits-nas/grammar", "digits-nas/nb201"} <= set(list_problems("digits-nas/*"))
    cache = tmp_path / "c.jsonl"
    problem = get_problem("digits-nas/nb201", cache=str(cache))
    config = problem.sample(np.random.default_rng(0))[0]
    metrics = {"val_acc": 61.0, "test_acc": 60.0, "seconds": 2.0, "params": 0.05}
    TrainCache(cache).put("nb201", config["arch"], PROTOCOLS["b16"], 0, metrics)
    assert problem(config) == 61.0
    assert problem.regret(61.0) == pytest.approx(39.0)


def test_multi_fidelity_problem_trains_fewer_epochs_at_a_third_of_the_cost(tmp_path):
    assert {"digits-nas-mf/grammar", "digits-nas-mf/nb201"} <= set(list_problems("digits-nas-mf/*"))
    cache = tmp_path / "c.jsonl"
    problem = get_problem("digits-nas-mf/nb201", cache=str(cache))
    assert list(problem.space_factory().fidelities) == ["epochs"]
    config = problem.sample(np.random.default_rng(0))[0]
    full = PROTOCOLS["b16"]
    one = dataclasses.replace(full, epochs=1)
    TrainCache(cache).put(
        "nb201",
        config["arch"],
        full,
        0,
        {"val_acc": 80.0, "test_acc": 79.0, "seconds": 3.0, "params": 0.05},
    )
    TrainCache(cache).put(
        "nb201",
        config["arch"],
        one,
        0,
        {"val_acc": 12.0, "test_acc": 11.0, "seconds": 1.0, "params": 0.05},
    )
    assert problem(config, {"epochs": 1}) == 12.0  # looked up under the 1-epoch protocol
    assert problem(config) == problem(config, {"epochs": 3}) == 80.0
    assert problem.cost({"epochs": 1}) * 3 == problem.cost(None) == 3.0
    with pytest.raises(ValueError, match="epochs"):
        problem(config, {"epochs": 2})
    assert get_problem("digits-nas/nb201").cost(None) == 1.0  # single fidelity unchanged


def test_grammar_kernel_bench_runs_on_a_small_table(tmp_path):
    import pandas as pd

    from benchmarks.bench_grammar_kernels import KERNELS, compare, load_grammar_table, render

    rng = np.random.default_rng(0)
    sp = space("grammar")
    archs = [str(sp.sample(rng)["arch"]) for _ in range(10)]
    rows = [
        {"space": "grammar", "protocol": "b16", "seed": 0, "val_acc": 50 + 3 * i, "arch": a}
        for i, a in enumerate(archs)
    ]
    path = tmp_path / "table.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    archs, y = load_grammar_table(path, "b16")
    scores, weights, n_levels = compare(archs, y, [6], repeats=1)
    assert set(scores) == {(k, 6) for k in KERNELS}
    for name in ("hierarchical", "level-sum"):
        assert weights[(name, 6)].shape == (1, n_levels)
        assert weights[(name, 6)].sum() == pytest.approx(1.0)
    assert "| hierarchical |" in render(scores, weights, n_levels, 10, 1, "# t")


def test_random_search_expectation_equals_enumeration():
    import itertools

    from benchmarks.problems.digits_nas.target import random_search_expectation

    values = np.array([71.2, 10.0, 88.4, 64.0, 90.8, 77.0, 80.6])
    for k in range(1, len(values) + 1):
        brute = np.mean([max(c) for c in itertools.combinations(values, k)])
        assert random_search_expectation(values, k) == pytest.approx(brute, rel=1e-12)
    with pytest.raises(ValueError, match="k must be"):
        random_search_expectation(values, 8)


def test_import_fills_the_cache_from_the_table_and_target_reads_finals(tmp_path):
    """A committed table row becomes a cache hit; a run's final architecture is its incumbent."""
    import json

    import pandas as pd

    from benchmarks.problems.digits_nas.generate import main as generate
    from benchmarks.problems.digits_nas.target import final_architectures

    arch = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|"
    table = tmp_path / "t.csv.xz"
    pd.DataFrame(
        [
            {
                "space": "nb201",
                "protocol": "b16",
                "seed": 0,
                "val_acc": 81.0,
                "test_acc": 80.0,
                "seconds": 1.0,
                "params": 0.03,
                "arch": arch,
            }
        ]
    ).to_csv(table, index=False)
    cache = tmp_path / "c.jsonl"
    generate(["import", "--table", str(table), "--cache", str(cache)])
    generate(["import", "--table", str(table), "--cache", str(cache)])  # idempotent
    rows = list(TrainCache(cache))
    assert len(rows) == 1 and rows[0]["val_acc"] == 81.0
    assert TrainCache(cache).get("nb201", arch, PROTOCOLS["b16"], 0) is not None

    curves = pd.DataFrame(
        {
            "problem": "digits-nas/nb201",
            "optimizer": "gp",
            "seed": 0,
            "eval": [1, 2, 3],
            "value": [70.0, 81.0, 75.0],
            "config": [json.dumps({"arch": a}) for a in ("x", arch, "y")],
        }
    )
    finals = final_architectures(curves, budget=3)
    assert finals.loc[0, "arch"] == arch and finals.loc[0, "val_acc"] == 81.0
    assert final_architectures(curves, budget=4).empty  # runs shorter than the budget are left out


def test_target_finals_of_a_multi_fidelity_run_are_full_fidelity_within_the_budget():
    """BOHB's final architecture: the best 3-epoch evaluation within ``budget`` x 3 epochs."""
    import json

    import pandas as pd

    from benchmarks.problems.digits_nas.target import final_architectures

    curves = pd.DataFrame(
        {
            "problem": "digits-nas-mf/nb201",
            "optimizer": "bohb",
            "seed": 0,
            "eval": [1, 2, 3, 4, 5],
            "fidelity": [1.0, 1.0, 3.0, 3.0, 3.0],
            "cum_cost": [1.0, 2.0, 5.0, 8.0, 11.0],
            "value": [95.0, 60.0, 70.0, 81.0, 90.0],  # a 1-epoch value never counts
            "config": [json.dumps({"arch": a}) for a in ("v", "w", "x", "best", "late")],
        }
    )
    finals = final_architectures(curves, budget=3)  # 9 epochs: the 5th run is past it
    assert finals.loc[0, "arch"] == "best" and finals.loc[0, "val_acc"] == 81.0
    assert final_architectures(curves, budget=4).empty  # 12 epochs were not spent
    early = curves.assign(fidelity=1.0)  # only screening runs: no final architecture
    assert final_architectures(early, budget=3).empty
    assert final_architectures(curves, budget=1).empty  # the first 3-epoch run ends at 5 epochs
