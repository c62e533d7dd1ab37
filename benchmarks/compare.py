"""Paired comparison of optimizer variants against a baseline, across problems.

    python -m benchmarks.compare benchmarks/results/gp-small-budget --baseline gp \\
        [--checkpoints 25,50,100] [--seeds 0-9]

Reads run CSVs (folders searched recursively, or ``curves.csv.xz`` files) and prints markdown:
the mean regret of every (problem, optimizer) at each checkpoint (``(n=k)`` where fewer seeds
than the problem's most), and per variant the paired differences against the baseline on the
same (problem, seed) pairs: how often it is lower, higher, and the mean difference of the
regrets normalised per problem by the standard deviation of all runs' regrets there (so that
problems with large regrets do not dominate). Also the "stall" count: how many seeds end on the most
common non-optimal final incumbent (a search that converges to one basin shows a high count).
Defaults are chosen on such tables over several spaces, never on one problem.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import load_curves
from benchmarks.run import parse_seeds


def regret_at(curves: pd.DataFrame, k: int) -> pd.DataFrame:
    """``(problem, seed) x optimizer`` regret after ``k`` evaluations."""
    at = curves[curves["eval"] == k]
    return at.pivot_table(index=["problem", "seed"], columns="optimizer", values="regret")


def stall_counts(curves: pd.DataFrame) -> pd.DataFrame:
    """``problem x optimizer``: seeds whose last incumbent is the most common non-optimal one."""
    last = curves.loc[curves.groupby(["problem", "optimizer", "seed"])["eval"].idxmax()]

    def count(r: pd.Series) -> int:
        r = r.round(6)
        r = r[r > 1e-9]
        return int(r.value_counts().iloc[0]) if len(r) else 0

    return last.groupby(["problem", "optimizer"]).regret.apply(count).unstack()


def report(curves: pd.DataFrame, baseline: str, checkpoints: Sequence[int]) -> str:
    """The markdown tables (see the module docstring)."""
    lines = []
    for k in checkpoints:
        r = regret_at(curves, k)
        mean = r.groupby(level="problem").mean()
        count = r.groupby(level="problem").count()
        n = count.max(axis=1)
        lines.append(f"### Mean regret after {k} evaluations\n")
        lines.append("| problem | seeds | " + " | ".join(mean.columns) + " |")
        lines.append("|---|---|" + "---|" * len(mean.columns))
        for p, row in mean.iterrows():
            cells = " | ".join(
                ""
                if np.isnan(v)
                else f"{v:.3f}" + ("" if count.loc[p, o] == n[p] else f" (n={count.loc[p, o]})")
                for o, v in row.items()
            )
            lines.append(f"| {p} | {int(n[p])} | {cells} |")
        lines.append("")
        if baseline not in r:
            continue
        scale = r.stack().groupby(level="problem").std(ddof=1).replace(0.0, np.nan)
        lines.append(f"Paired against `{baseline}` after {k} evaluations:\n")
        lines.append(
            "| variant | pairs | lower | higher | mean difference / s.d. of the problem's runs |"
        )
        lines.append("|---|---|---|---|---|")
        for o in r.columns:
            if o == baseline:
                continue
            d = (r[o] - r[baseline]).dropna()
            if d.empty:
                continue
            z = d / scale.reindex(d.index.get_level_values("problem")).to_numpy()
            per_problem = z.groupby(level="problem").mean().dropna()
            lines.append(
                f"| {o} | {len(d)} | {int((d < 0).sum())} | {int((d > 0).sum())} | "
                f"{per_problem.mean():+.2f} over {len(per_problem)} problems |"
            )
        lines.append("")
    stalls = stall_counts(curves)
    lines.append("### Seeds ending on the most common non-optimal incumbent\n")
    lines.append("| problem | " + " | ".join(stalls.columns) + " |")
    lines.append("|---|" + "---|" * len(stalls.columns))
    for p, row in stalls.iterrows():
        lines.append(
            f"| {p} | " + " | ".join("" if np.isnan(v) else str(int(v)) for v in row) + " |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__)
    parser.add_argument("inputs", nargs="+", help="folders (searched recursively) or CSV files")
    parser.add_argument("--baseline", default="gp")
    parser.add_argument("--checkpoints", default="25,50,100")
    parser.add_argument("--seeds", default=None, help="e.g. 0-9 (default: all)")
    parser.add_argument("--problems", default=None, help="comma-separated (default: all)")
    args = parser.parse_args(argv)
    curves = load_curves([Path(p) for p in args.inputs])
    if args.seeds:
        curves = curves[curves.seed.isin(parse_seeds(args.seeds))]
    if args.problems:
        curves = curves[curves.problem.isin(args.problems.split(","))]
    checkpoints = [int(k) for k in args.checkpoints.split(",")]
    print(report(curves, args.baseline, checkpoints), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
