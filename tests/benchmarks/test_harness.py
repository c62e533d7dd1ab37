"""Smoke runs of the benchmark harness and report through jahs-bo's public study API."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmarks import report, run
from benchmarks.problems import columns_for, get_problem


def _read(out, problem, optimizer, seed):
    return pd.read_csv(run.run_path(out, problem, optimizer, seed))


def test_smoke_run_random_two_seeds_ten_evals(tmp_path):
    argv = ["--problem", "nb201/cifar10", "--optimizer", "random"]
    assert run.main([*argv, "--quick", "--out", str(tmp_path)]) == 0  # 2 seeds x 10 evaluations
    problem = get_problem("nb201/cifar10")
    frames = [_read(tmp_path, "nb201/cifar10", "random", s) for s in (0, 1)]
    for seed, df in enumerate(frames):
        assert list(df.columns) == columns_for(problem)
        assert df["eval"].tolist() == list(range(1, 11))
        assert (df["seed"] == seed).all() and (df["optimizer"] == "random").all()
        assert (df["best"] == df["value"].cummax()).all()
        np.testing.assert_allclose(df["regret"], problem.optimum - df["best"])
        np.testing.assert_allclose(df["cum_cost"], 200.0 * df["eval"])
        assert (df["ask_seconds"] >= 0).all()
    assert not frames[0]["config"].equals(frames[1]["config"])  # seeds differ
    assert "--quick" in (tmp_path / "commands.log").read_text()

    # Same seed, same trials; an existing CSV is skipped unless --overwrite.
    first = frames[0]["config"].tolist()
    again = [*argv, "--seeds", "0-1", "--budget", "10", "--out", str(tmp_path), "--overwrite"]
    assert run.main(again) == 0
    assert _read(tmp_path, "nb201/cifar10", "random", 0)["config"].tolist() == first
    assert run.plan(["nb201/cifar10"], ["random"], [0, 1], 10, tmp_path) == []


def test_multi_fidelity_budget_is_cost_and_schedulers_skip_single_fidelity(tmp_path):
    tasks = run.plan(["nb201-mf/cifar10", "nb201/cifar10"], ["re", "hyperband"], [0], 3, tmp_path)
    assert {(t.problem, t.optimizer) for t in tasks} == {
        ("nb201-mf/cifar10", "re"),
        ("nb201-mf/cifar10", "hyperband"),
        ("nb201/cifar10", "re"),
    }
    by = {(t.problem, t.optimizer): t for t in tasks}
    assert by["nb201-mf/cifar10", "re"].cost_budget == 600.0
    assert by["nb201/cifar10", "re"].budget == 3
    for task in tasks:
        assert run.run_task(task)[2] is None
    df = _read(tmp_path, "nb201-mf/cifar10", "hyperband", 0)
    assert df["cum_cost"].iloc[-1] >= 600.0 > df["cum_cost"].iloc[-2]
    assert set(df["fidelity"]) <= {12.0, 200.0} and 12.0 in set(df["fidelity"])


def test_prior_optimizers_sample_from_the_problem_prior(tmp_path):
    kwargs, peer = run.resolve_optimizer("re-prior-bad")
    assert peer is None and kwargs["prior"] == "misleading"
    assert kwargs["searcher_options"] == {"use_prior": True}
    problems = ["nb201/cifar10", "nb201-mf/cifar10", "lcbench/3945"]
    tasks = run.plan(problems, ["random-prior-good", "random-prior-bad"], [0], 30, tmp_path)
    assert {(t.problem, t.optimizer) for t in tasks} == {
        (p, o)
        for p in ("nb201/cifar10", "lcbench/3945")
        for o in ("random-prior-good", "random-prior-bad")
    }
    for task in tasks:
        assert run.run_task(task)[2] is None
    counts = {}
    for kind in ("good", "bad"):
        df = _read(tmp_path, "nb201/cifar10", f"random-prior-{kind}", 0)
        counts[kind] = df["config"].str.count("nor_conv_3x3").sum()
    assert counts["good"] > 2 * counts["bad"]  # the good prior favours 3x3 convolutions


def test_report_tables_and_plots(tmp_path):
    runs = tmp_path / "runs"
    for problem in ("nb201/cifar100", "nb201-mo/cifar10"):
        for optimizer in ("random", "ls"):
            recorder = None
            for seed in (0, 1):
                recorder = run.run_jahs(get_problem(problem), optimizer, seed, budget=10)
                recorder.write_csv(run.run_path(runs, problem, optimizer, seed))
    path = report.write_report([runs], tmp_path / "out", command="CMD", checkpoints=[5, 10])
    text = path.read_text()
    assert "CMD" in text and "botorch" in text and "logical cores" in text
    assert "### nb201/cifar100" in text and "hypervolume regret" in text
    section = text.split("### nb201/cifar100")[1].split("###")[0]
    row = next(line for line in section.splitlines() if line.startswith("| random | 2 |"))
    df = pd.concat([pd.read_csv(run.run_path(runs, "nb201/cifar100", "random", s)) for s in (0, 1)])
    at10 = df[df["eval"] == 10]["regret"]
    assert f"{at10.mean():.3f} ± {at10.std(ddof=1) / np.sqrt(2):.3f}" in row
    assert (tmp_path / "out" / "nb201__cifar100.png").stat().st_size > 1000
    assert (tmp_path / "out" / "nb201-mo__cifar10.png").exists()
    assert "| nb201/cifar100 | ls | 20 |" in text  # overhead table: 2 seeds x 10 asks
    # The one curves file (what a results folder commits) reads back as the per-run CSVs.
    stored = report.load_curves([tmp_path / "out" / report.CURVES_FILE])
    per_run = report.load_curves([runs])
    key = ["problem", "optimizer", "seed", "eval"]
    pd.testing.assert_frame_equal(
        stored, per_run[stored.columns].sort_values(key).reset_index(drop=True), check_exact=True
    )
    assert stored.columns[:4].tolist() == key and stored.columns[-1] == "config"


def test_hypervolume_regret_decreases_to_zero_on_the_front():
    problem = get_problem("nb201-mo/cifar10")
    front = problem.pareto_front()
    rows = [
        {"optimizer": "x", "seed": 0, "eval": i + 1, "value": y[0], "value_1": y[1]}
        for i, y in enumerate(front[::-1])
    ]
    curves = report.hv_regret_curves(pd.DataFrame(rows), problem)
    regret = curves["regret"].to_numpy()
    assert (np.diff(regret) <= 1e-12).all()
    assert regret[-1] == pytest.approx(0.0, abs=1e-12)


def test_cli_parsing_helpers():
    assert run.parse_seeds("0-2,7") == [0, 1, 2, 7]
    assert run.expand("nb201/*,re", ["nb201/a", "nb201/b", "lc/c"]) == ["nb201/a", "nb201/b", "re"]
    with pytest.raises(ValueError, match="bad seed list"):
        run.parse_seeds("a-b")
    with pytest.raises(KeyError, match="unknown optimizer"):
        run.resolve_optimizer("no-such-optimizer")
    assert run.slug("nb201-mo/cifar10:device=raspi4") == "nb201-mo__cifar10@device=raspi4"
    assert report.mean_se([1.0, 3.0]) == (2.0, 1.0, 2)


def test_peer_registry_follows_the_peers_layout():
    peers = run.peer_registry()
    for name, entry in peers.items():
        assert entry["module"].startswith("benchmarks.peers.")
        assert name in entry["args"] or not entry.get("args")


@pytest.mark.slow  # spawns two interpreters (~8 s on the shared machine)
def test_parallel_seeds_match_serial_seeds(tmp_path):
    tasks = run.plan(["nb201/imagenet16"], ["re"], [0, 1], 5, tmp_path / "par")
    results = run.execute(tasks, jobs=2)
    assert [r[2] for r in results] == [None, None]
    serial = run.run_jahs(get_problem("nb201/imagenet16"), "re", 1, budget=5)
    par = _read(tmp_path / "par", "nb201/imagenet16", "re", 1)
    assert par["config"].tolist() == [r["config"] for r in serial.rows]


def test_per_run_csvs_take_precedence_over_aggregated_curves(tmp_path):
    recorder = run.run_jahs(get_problem("nb201/cifar10"), "random", 0, budget=3)
    recorder.write_csv(run.run_path(tmp_path / "runs", "nb201/cifar10", "random", 0))
    rows = pd.DataFrame(recorder.rows)
    report.write_curves(rows.assign(ask_seconds=77.0), tmp_path / report.CURVES_FILE)
    rows.assign(ask_seconds=99.0).to_csv(tmp_path / "curves_random.csv.gz", index=False)
    df = report.load_curves([tmp_path])
    assert len(df) == 3 and (df["ask_seconds"] < 77.0).all()
    (run.run_path(tmp_path / "runs", "nb201/cifar10", "random", 0)).unlink()
    assert (report.load_curves([tmp_path])["ask_seconds"] == 99.0).all()  # .csv.gz before .csv.xz


def test_reach_table_finds_first_budget_where_the_mean_regret_is_low_enough():
    problem = get_problem("nb201/cifar10")
    rows = []
    # Seed 0 reaches regret 0.2 at eval 3, seed 1 at eval 5: the mean is <= 0.3 first at eval 5
    # (eval 3: (0.2 + 1.0) / 2 = 0.6), and never <= 0.1.
    for seed, curve in ((0, [2.0, 1.0, 0.2, 0.2, 0.2]), (1, [2.0, 1.0, 1.0, 1.0, 0.2])):
        for i, r in enumerate(curve, start=1):
            rows.append({"optimizer": "x", "seed": seed, "eval": i, "regret": r})
    table = report.reach_table(pd.DataFrame(rows), problem, [0.3, 0.1])
    assert table.splitlines()[-1] == "| x | 2 | 5 | - (> 5) |"
