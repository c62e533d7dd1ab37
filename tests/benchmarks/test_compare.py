"""benchmarks.compare: paired counts, per-problem normalisation and stall counts."""

from __future__ import annotations

import pandas as pd

from benchmarks.compare import regret_at, report, stall_counts


def _curves() -> pd.DataFrame:
    rows = []
    # problem "a": variant v is lower than gp on 2 of 3 seeds; problem "b" has regrets 100x larger
    finals = {
        ("a", "gp"): [1.0, 2.0, 0.0],
        ("a", "v"): [0.5, 1.0, 1.0],
        ("b", "gp"): [100.0, 200.0, 300.0],
        ("b", "v"): [200.0, 300.0, 400.0],
    }
    for (problem, opt), values in finals.items():
        for seed, final in enumerate(values):
            for k in (1, 2):
                regret = final + (10.0 if k == 1 else 0.0)
                rows.append(dict(problem=problem, optimizer=opt, seed=seed, eval=k, regret=regret))
    return pd.DataFrame(rows)


def test_paired_counts_and_normalised_difference():
    curves = _curves()
    r = regret_at(curves, 2)
    assert r.shape == (6, 2)
    text = report(curves, "gp", [2])
    row = next(line for line in text.splitlines() if line.startswith("| v |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:4] == ["6", "2", "4"]  # pairs, lower, higher
    # per problem: a: mean diff -1/6 over s.d. of its 6 runs; b: +100 over s.d. of its 6 runs
    a = pd.Series([1.0, 2.0, 0.0, 0.5, 1.0, 1.0]).std()
    b = pd.Series([100.0, 200.0, 300.0, 200.0, 300.0, 400.0]).std()
    expected = ((-1 / 6) / a + 100.0 / b) / 2
    assert cells[4] == f"{expected:+.2f} over 2 problems"


def test_stall_counts_the_most_common_non_optimal_final_incumbent():
    curves = _curves()
    curves.loc[(curves.problem == "a") & (curves.optimizer == "v"), "regret"] = 1.0
    stalls = stall_counts(curves)
    assert stalls.loc["a", "v"] == 3
    assert stalls.loc["a", "gp"] == 1  # 1.0 and 2.0 once each; 0.0 is optimal
