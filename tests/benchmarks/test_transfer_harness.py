"""The transfer benchmark harness: held-out tasks, their sources, runs and the target table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from benchmarks.transfer import report
from benchmarks.transfer.run import main, study_kwargs
from benchmarks.transfer.sources import N_LCBENCH, PORTFOLIO_SIZE, benchmark, source


def test_lcbench_holds_out_ten_tasks_and_sources_are_the_other_tasks():
    bench = benchmark("lcbench")
    assert len(bench.heldout) == 10 and len(set(bench.heldout)) == 10
    assert bench.heldout[:3] == ("3945", "7593", "168329")
    names = [s.name for s in bench.sources("7593")]
    assert len(names) == len(bench.tasks) - 1 and "7593" not in names
    a, b = source("lcbench", "3945"), source("lcbench", "7593")
    assert len(a) == N_LCBENCH and a.configs == b.configs  # the same draws, other values
    assert not np.allclose(a.values, b.values)
    with pytest.raises(ValueError, match="unknown lcbench task"):
        bench.sources("nope")


def test_methods_map_to_studies(tmp_path):
    bench = benchmark("nb201")
    kw = study_kwargs("portfolio", bench, "imagenet16", tmp_path)
    assert kw["searcher"] == "gp" and kw["warm_start_size"] == PORTFOLIO_SIZE
    assert [s.name for s in kw["warm_start"]] == ["cifar10", "cifar100"]
    kw = study_kwargs("transfer-noguard", bench, "cifar10", tmp_path)
    assert kw["searcher_options"] == {"meta": str(tmp_path), "guard": False}
    with pytest.raises(ValueError, match="unknown method"):
        study_kwargs("bogus", bench, "cifar10", tmp_path)
    # without dataset samples there is nothing for transfer-nodata to leave out
    with pytest.raises(SystemExit):
        main(["--bench", "nb201", "--methods", "transfer-nodata", "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def _curve(task: str, method: str, seed: int, regrets: list[float]) -> pd.DataFrame:
    n = len(regrets)
    return pd.DataFrame(
        {
            "problem": f"nb201/{task}",
            "optimizer": method,
            "seed": seed,
            "eval": np.arange(1, n + 1),
            "regret": regrets,
        }
    )


def test_target_table_checks_each_target():
    frames = {}
    for task, t in (("cifar10", 0.1), ("imagenet16", 0.5)):
        parts = []
        for seed in range(3):
            parts.append(_curve(task, "transfer", seed, [1.0] * 9 + [t] * 41))
            parts.append(_curve(task, "portfolio", seed, [1.0] * 9 + [0.3] * 41))
            parts.append(_curve(task, "gp", seed, [2.0] * 29 + [0.4] * 21))
        frames[task] = pd.concat(parts, ignore_index=True)
    lines = report.target_lines(frames)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("|")}
    assert "| yes |" in rows["cifar10"]  # 0.1 at 10 <= gp's 0.4 at 50
    assert "| NO |" in rows["imagenet16"]  # 0.5 at 10 > 0.4
    assert "1/2" in rows["**mean over 2 tasks**"]
    assert "**NO**" in lines[-1]  # mean 0.3 at 10 is not below the portfolio's 0.3


def test_run_and_report_end_to_end(tmp_path):
    out = tmp_path / "t"
    methods = ["--methods", "transfer,portfolio"]
    argv = ["--bench", "nb201", "--heldout", "cifar100", *methods, "--seeds", "0"]
    assert main([*argv, "--budget", "5", "--meta-steps", "2", "--out", str(out)]) == 0
    info = json.loads((out / "meta" / "cifar100" / "train.json").read_text())
    assert info["sources"] == ["cifar10", "imagenet16"] and info["steps"] == 2
    curve = pd.read_csv(out / "runs" / "nb201__cifar100" / "portfolio" / "seed_0.csv")
    assert len(curve) == 5
    assert main(["report", "--bench", "nb201", "--out", str(out)]) == 0
    text = (out / "results.md").read_text()
    assert "### cifar100" in text and "| portfolio | 1 |" in text and "| transfer | 1 |" in text
    assert json.loads((out / "summary.json").read_text())["meta"]["cifar100"]["steps"] == 2
