"""Benchmark problems: known optima, surrogate check values, Pareto fronts, curve scoring."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.problems import CurveRecorder, get_problem, list_problems, nb201_arch_str, nb201_ops
from benchmarks.problems.lcbench import LCBENCH_PARAMS, load_reference, predict
from benchmarks.problems.nb201 import NB201_OPS, TNB_OPS, check_optima, load_table
from benchmarks.problems.nb201_mo import hypervolume, non_dominated_mask

ROOT = Path(__file__).resolve().parents[2]
BEST_C10 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


def test_registry_lists_every_problem():
    names = list_problems()
    assert len(list_problems("lcbench/*")) == 34
    for d in ("cifar10", "cifar100", "imagenet16"):
        assert f"nb201/{d}" in names and f"nb201-mf/{d}" in names
    assert "nb201-mo/cifar10" in names
    assert list_problems("nb201-4op/*") == [
        f"nb201-4op/{d}" for d in ("cifar10", "cifar100", "imagenet16")
    ]
    with pytest.raises(KeyError, match="nb201/cifar10"):
        get_problem("nb201/mnist")


@pytest.mark.parametrize(
    ("name", "optimum"),
    [("nb201/cifar10", 91.6067), ("nb201/cifar100", 73.4933), ("nb201/imagenet16", 46.7333)],
)
def test_nb201_optima_are_the_published_values(name, optimum):
    problem = get_problem(name)
    assert problem.optimum == pytest.approx(optimum, abs=1e-3)
    assert problem.directions == ("maximize",)
    assert problem.cost() == 200.0


def test_nb201_best_cell_golden_values():
    problem = get_problem("nb201/cifar10")
    assert load_table().loc[BEST_C10, "index"] == 6111
    metrics = problem.evaluate({"arch": BEST_C10})
    assert metrics["valid_acc"] == pytest.approx(91.6067, abs=1e-3)
    assert metrics["test_acc"] == pytest.approx(94.3733, abs=1e-3)
    assert problem.regret(metrics["valid_acc"]) == pytest.approx(0.0, abs=1e-9)
    # The same cell as six categoricals (the form peers use).
    ops = dict(zip([f"Op{i}" for i in range(1, 7)], nb201_ops(BEST_C10), strict=True))
    assert problem(ops) == metrics["valid_acc"]


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100", "imagenet16"])
def test_nb201_four_op_problem_is_the_restricted_table(dataset):
    problem = get_problem(f"nb201-4op/{dataset}")
    full = get_problem(f"nb201/{dataset}")
    column = {"cifar10": "c10v", "cifar100": "c100", "imagenet16": "in16"}[dataset]
    table = load_table()
    inside = table.arch_str.map(lambda a: set(nb201_ops(a)) <= set(TNB_OPS)).to_numpy()
    assert inside.sum() == 4**6
    valid = table[f"{column}_valid_acc_200"]
    assert problem.optimum == pytest.approx(valid[inside].max())
    space = problem.space()
    assert tuple(space.architectures["arch"].ops) == TNB_OPS
    rng = np.random.default_rng(0)
    samples = problem.sample(rng, 50) + [space.sample(rng) for _ in range(50)]
    for config in samples:
        assert set(nb201_ops(config["arch"])) <= set(TNB_OPS)
        assert problem(config) == full(config)
    with pytest.raises(ValueError, match="avg_pool_3x3"):
        problem({"arch": nb201_arch_str(["avg_pool_3x3"] * 6)})


def test_corrupt_table_is_rejected():
    table = load_table().reset_index(drop=True).copy()
    table.loc[6111, "c10v_valid_acc_200"] = 50.0
    with pytest.raises(RuntimeError, match="c10v_valid_acc_200"):
        check_optima(table)


def test_arch_strings_round_trip_and_match_jahs_bo():
    from jahs_bo.spaces.nb201 import NB201Cell

    cell = NB201Cell()
    table = load_table()
    for arch in table["arch_str"]:
        ops = nb201_ops(arch)
        assert nb201_arch_str(ops) == arch
    for ops in itertools.islice(itertools.product(NB201_OPS, repeat=6), 0, 15625, 97):
        assert nb201_arch_str(ops) == cell.from_ops(ops)
    assert len(set(table["arch_str"])) == 15625
    with pytest.raises(ValueError, match="unknown NB201 operation"):
        nb201_arch_str(["conv"] * 6)
    with pytest.raises(ValueError, match="not an NB201 cell string"):
        get_problem("nb201/cifar10").evaluate({"arch": "|conv~0|"})


def test_nb201_multi_fidelity_epochs_and_cost():
    problem = get_problem("nb201-mf/cifar100")
    row = load_table().loc[BEST_C10]
    low = problem.evaluate({"arch": BEST_C10}, {"epochs": 12})
    assert low["valid_acc"] == row["c100_valid_acc_12"]
    assert problem.evaluate({"arch": BEST_C10})["valid_acc"] == row["c100_valid_acc_200"]
    assert problem.cost({"epochs": 12}) == 12.0 and problem.cost() == 200.0
    with pytest.raises(ValueError, match="not one of"):
        problem.evaluate({"arch": BEST_C10}, {"epochs": 50})
    with pytest.raises(ValueError, match="no fidelity"):
        get_problem("nb201/cifar100").evaluate({"arch": BEST_C10}, {"epochs": 12})


def test_problem_spaces_match_the_jahs_bo_spaces():
    rng = np.random.default_rng(0)
    nb = get_problem("nb201-mf/cifar10").space()
    assert list(nb.fidelities) == ["epochs"]
    for config in [nb.sample(rng) for _ in range(5)]:
        assert get_problem("nb201-mf/cifar10")(config, {"epochs": 12}) > 0
    lc = get_problem("lcbench/3945")
    space = lc.space()
    assert list(space.fidelities) == ["epoch"]
    for p in LCBENCH_PARAMS:
        hp = space.hyperparameters[p.name]
        assert (hp.lower, hp.upper, hp.log) == (p.lower, p.upper, p.log)
    for config in [space.sample(rng) for _ in range(5)]:
        assert 0 < lc(config, {"epoch": 3}) <= 100


def test_lcbench_surrogate_check_values():
    config = dict(
        batch_size=64,
        learning_rate=3e-3,
        momentum=0.9,
        weight_decay=1e-3,
        num_layers=3,
        max_units=256,
        max_dropout=0.2,
    )
    acc = predict("3945", [config] * 4, [1, 5, 20, 52])[:, 1]
    np.testing.assert_allclose(acc, [41.9, 90.9, 92.3, 93.3], atol=0.05)
    problem = get_problem("lcbench/3945")
    assert problem(config, {"epoch": 5}) == pytest.approx(acc[1], abs=1e-4)
    assert problem.cost({"epoch": 5}) == 5.0 and problem.cost() == 52.0
    with pytest.raises(ValueError, match="outside"):
        problem.evaluate({**config, "num_layers": 9})


def test_lcbench_reference_is_reproduced_by_its_stored_configs():
    ref = load_reference()
    assert ref["n_samples"] >= 20_000 and len(ref["tasks"]) == 34
    for task in ("3945", "168329", "189909"):
        entry = ref["tasks"][task]
        assert get_problem(f"lcbench/{task}")(entry["config"]) == pytest.approx(
            entry["val_accuracy"], abs=1e-3
        )
        assert get_problem(f"lcbench/{task}").optimum == entry["val_accuracy"]


def test_reference_generator_is_seeded():
    from benchmarks.problems.make_lcbench_reference import reference

    a, b = reference(500, seed=1), reference(500, seed=1)
    assert a["tasks"]["3945"] == b["tasks"]["3945"]
    assert a["tasks"]["3945"]["val_accuracy"] <= load_reference()["tasks"]["3945"]["val_accuracy"]


def test_non_dominated_mask_matches_brute_force_and_botorch():
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    rng = np.random.default_rng(0)
    Y = np.round(rng.random((300, 3)), 1)  # rounding makes ties and duplicates
    mask = non_dominated_mask(Y)
    brute = [
        not any((Y[j] <= Y[i]).all() and (Y[j] < Y[i]).any() for j in range(len(Y)))
        for i in range(len(Y))
    ]
    assert mask.tolist() == brute
    theirs = is_non_dominated(-torch.as_tensor(Y), deduplicate=False).numpy()
    assert mask.tolist() == theirs.tolist()


def test_true_pareto_front_of_nb201_mo():
    problem = get_problem("nb201-mo/cifar10")
    assert problem.directions == ("minimize", "minimize")
    front = problem.pareto_front()
    assert front.shape[1] == 2 and 10 <= len(front) <= 200
    # Non-dominated among themselves, and every cell is weakly dominated by a front point.
    assert non_dominated_mask(front).all()
    rng = np.random.default_rng(1)
    configs = problem.sample(rng, 400)
    Y = np.array([problem(c) for c in configs])
    dominated = (front[None, :, :] <= Y[:, None, :]).all(-1).any(1)
    assert dominated.all()
    # The best error on the front is the table's best validation error.
    assert front[:, 0].min() == pytest.approx(100 - 91.606667, abs=1e-4)
    # Hypervolume: the front scores highest, a sample strictly less, nothing scores 0.
    hv_front = hypervolume(front, front)
    assert 1.0 < hv_front <= 1.21
    assert 0 < hypervolume(Y, front) < hv_front
    assert hypervolume(front.max(0, keepdims=True) * 10, front) == 0.0


def test_nb201_mo_options_build_a_named_variant():
    p = get_problem("nb201-mo/cifar10:device=raspi4,params=true")
    assert p.name == "nb201-mo/cifar10:device=raspi4,params=true"
    assert p.objectives == ("valid_error", "latency_raspi4", "params_M")
    assert get_problem(p.name) is p
    assert p.pareto_front().shape[1] == 3
    with pytest.raises(ValueError, match="unknown latency device"):
        get_problem("nb201-mo/cifar10", device="abacus")


def test_curve_recorder_incumbent_rule_for_multi_fidelity():
    problem = get_problem("nb201-mf/cifar10")
    table = load_table()
    a, b = table["arch_str"].iloc[0], BEST_C10
    rec = CurveRecorder(problem, "test", 0)
    r1 = rec.add({"arch": a}, {"epochs": 12}, problem.evaluate({"arch": a}, {"epochs": 12}))
    # Low fidelity only: the incumbent is scored at full fidelity by look-up.
    assert r1["best"] == table.loc[a, "c10v_valid_acc_200"]
    assert r1["incumbent_test"] == table.loc[a, "c10_test_acc_200"]
    rec.add({"arch": b}, {"epochs": 12}, problem.evaluate({"arch": b}, {"epochs": 12}))
    r3 = rec.add({"arch": a}, None, problem.evaluate({"arch": a}), ask_seconds=0.5)
    # A full-fidelity evaluation takes over, even though b looked better at 12 epochs.
    assert r3["best"] == table.loc[a, "c10v_valid_acc_200"]
    assert [r["cum_cost"] for r in rec.rows] == [12.0, 24.0, 224.0]
    assert [r["fidelity"] for r in rec.rows] == [12.0, 12.0, 200.0]


def test_curve_csv_schema(tmp_path):
    problem = get_problem("nb201/cifar10")
    rec = CurveRecorder(problem, "test", 3)
    for config in problem.sample(np.random.default_rng(0), 20):
        rec.add(config, None, problem.evaluate(config), ask_seconds=0.001)
    path = rec.write_csv(tmp_path / "x" / "seed_3.csv")
    import pandas as pd

    df = pd.read_csv(path)
    assert list(df.columns) == [
        "problem", "optimizer", "seed", "eval", "fidelity", "cost", "cum_cost", "value",
        "best", "regret", "incumbent_test", "ask_seconds", "config",
    ]  # fmt: skip
    assert (df["best"] == df["value"].cummax()).all()
    assert (np.diff(df["regret"]) <= 0).all() and (df["regret"] >= 0).all()
    assert df["eval"].tolist() == list(range(1, 21))
    # The config column rebuilds the evaluation.
    assert problem(json.loads(df["config"][4])) == df["value"][4]


def test_problems_import_without_torch_or_jahs_bo():
    code = (
        "import sys\n"
        "sys.modules['torch'] = None; sys.modules['jahs_bo'] = None\n"
        "import numpy as np\n"
        "from benchmarks.problems import get_problem, CurveRecorder\n"
        "for name in ['nb201/cifar10', 'nb201-mf/imagenet16', 'nb201-mo/cifar10', 'lcbench/7593']:\n"
        "    p = get_problem(name)\n"
        "    c = p.sample(np.random.default_rng(0))[0]\n"
        "    r = CurveRecorder(p, 'x', 0); r.add(c, None, p.evaluate(c))\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
