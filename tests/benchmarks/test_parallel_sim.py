"""The simulated asynchronous workers (benchmarks/parallel_sim.py) and their report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from benchmarks import parallel_report, parallel_sim
from benchmarks.problems import columns_for, get_problem


def test_two_workers_tell_every_trial_once_in_time_order(tmp_path):
    argv = ["--problem", "nb201/cifar10", "--optimizer", "random", "--workers", "1,2"]
    argv += ["--seeds", "0-1", "--budget", "12", "--out", str(tmp_path)]
    assert parallel_sim.main(argv) == 0
    problem = get_problem("nb201/cifar10")
    path = parallel_sim.sim_path(tmp_path, problem.name, "random", 2, 0)
    df = pd.read_csv(path)
    assert list(df.columns) == [*columns_for(problem), *parallel_sim.SIM_COLUMNS]
    assert df["eval"].tolist() == list(range(1, 13))
    assert (df["optimizer"] == "random-w2").all() and (df["workers"] == 2).all()
    assert (np.diff(df["sim_time"]) >= 0).all() and (df["sim_time"] > 0).all()
    configs = [json.loads(c)["arch"] for c in df["config"]]
    assert len(set(configs)) == 12  # each trial told once, none repeated
    assert set(df["pending"]) <= {0, 1} and (df["pending"] == 1).any()
    assert (df["regret"].diff().dropna() <= 1e-12).all()
    # One worker: evaluations back to back, so the clock is the running sum of the durations.
    one = pd.read_csv(parallel_sim.sim_path(tmp_path, problem.name, "random", 1, 0))
    assert (one["pending"] == 0).all()
    # Two workers finish the same budget sooner; seeds give other durations.
    assert df["sim_time"].iloc[-1] < one["sim_time"].iloc[-1]
    other = pd.read_csv(parallel_sim.sim_path(tmp_path, problem.name, "random", 2, 1))
    assert not np.allclose(other["sim_time"], df["sim_time"])

    out = tmp_path / "report"
    assert parallel_report.main([str(tmp_path), "--out", str(out)]) == 0
    text = (out / "quality.md").read_text()
    assert "| random | 2 | 2 |" in text and "random, 2 workers" in text
    assert (out / "curves.csv.xz").exists()


def test_time_to_target_uses_the_mean_curve_over_time():
    a = pd.DataFrame({"sim_time": [1.0, 3.0], "regret": [2.0, 0.0]})
    b = pd.DataFrame({"sim_time": [2.0, 4.0], "regret": [2.0, 1.0]})
    # mean regret: 2 from t=2, 1 from t=3, 0.5 from t=4
    assert parallel_report.time_to([a, b], 1.0) == 3.0
    assert parallel_report.time_to([a, b], 0.5) == 4.0
    assert np.isnan(parallel_report.time_to([a, b], 0.1))
    assert parallel_report.split_name("gp-w32") == ("gp", 32)
