"""Digits NAS: the protocol key and split, training both spaces on a tiny protocol, the cache."""

from __future__ import annotations

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
