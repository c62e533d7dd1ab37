"""Compact the peers' per-run CSVs into committed curves and a summary table.

``python -m benchmarks.peers.aggregate benchmarks/results/nb201 [--rescore]`` reads
``<dir>/runs/<problem with / as __>/<optimizer>/seed_<k>.csv`` for every peer optimizer and writes

- ``<dir>/curves_<optimizer>.csv.gz``: one row per (problem, seed, eval) with ``value``, ``best``,
  ``regret``, ``incumbent_test``, ``cum_cost`` and ``ask_seconds`` (the per-run CSVs without
  ``config``; ``runs/`` itself is not committed);
- ``<dir>/peers.md``: mean +- standard error of regret over seeds at 25 / 50 / 100 evaluations, the
  incumbent's test accuracy at the last checkpoint, and the optimizer's overhead per ask (median and
  p90, ms), per problem and optimizer, with the number of seeds.

``--rescore`` first re-scores every per-run CSV with ``benchmarks.problems.CurveRecorder`` from its
``config``/``fidelity``/``ask_seconds`` columns (for runs written by an older recorder) and
reports any row whose derived columns change. Runs in jahs-bo's environment (numpy, pandas).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.peers.common import OPTIMIZERS

CHECKPOINTS = (25, 50, 100)
CURVE_COLUMNS = [
    "problem",
    "optimizer",
    "seed",
    "eval",
    "fidelity",
    "value",
    "best",
    "regret",
    "incumbent_test",
    "cum_cost",
    "ask_seconds",
]


def run_files(results: Path, optimizer: str) -> list[Path]:
    """Every per-run CSV of ``optimizer`` under ``results/runs``."""
    return sorted((results / "runs").glob(f"*/{optimizer}/seed_*.csv"))


def rescore(path: Path) -> int:
    """Re-score one per-run CSV with ``CurveRecorder``; returns how many rows changed."""
    from benchmarks.problems import CurveRecorder, get_problem

    old = pd.read_csv(path, keep_default_na=False)
    problem = get_problem(str(old["problem"].iloc[0]))
    rec = CurveRecorder(problem, optimizer=str(old["optimizer"].iloc[0]), seed=int(old["seed"][0]))
    for _, row in old.iterrows():
        config = json.loads(row["config"])
        fid = None
        if problem.fidelity is not None and row["fidelity"] != "":
            fid = {problem.fidelity.name: float(row["fidelity"])}
        ask = None if row["ask_seconds"] == "" else float(row["ask_seconds"])
        rec.add(config, fid, problem.evaluate(config, fid), ask_seconds=ask)
    rec.write_csv(path)
    new = pd.read_csv(path)
    changed = 0
    for col in ("best", "regret", "incumbent_test", "cum_cost"):
        a = pd.to_numeric(old[col], errors="coerce").to_numpy(float)
        b = new[col].to_numpy(float)
        changed = max(changed, int((~np.isclose(a, b, equal_nan=True)).sum()))
    return changed


def load_curves(results: Path, optimizer: str) -> pd.DataFrame:
    """All runs of ``optimizer`` as one frame with :data:`CURVE_COLUMNS`."""
    frames = [pd.read_csv(f) for f in run_files(results, optimizer)]
    if not frames:
        return pd.DataFrame(columns=CURVE_COLUMNS)
    df = pd.concat(frames, ignore_index=True)
    return df[[c for c in CURVE_COLUMNS if c in df.columns]]


def _mean_se(x: np.ndarray) -> str:
    if len(x) == 0:
        return "-"
    se = float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return f"{np.mean(x):.3f} ± {se:.3f}"


def summarize(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (problem, optimizer): regret mean/se at the checkpoints, test acc, overhead."""
    rows = []
    for opt, df in curves.items():
        for problem, g in df.groupby("problem"):
            row: dict[str, object] = {
                "problem": problem,
                "optimizer": opt,
                "seeds": g["seed"].nunique(),
            }
            for t in CHECKPOINTS:
                at = g[g["eval"] == t]
                row[f"regret@{t}"] = _mean_se(at["regret"].to_numpy(float))
                row[f"mean@{t}"] = float(at["regret"].mean()) if len(at) else math.nan
            last = g[g["eval"] == g.groupby("seed")["eval"].transform("max")]
            row["test@last"] = _mean_se(last["incumbent_test"].to_numpy(float))
            ask = pd.to_numeric(g["ask_seconds"], errors="coerce").dropna().to_numpy(float) * 1e3
            row["ask ms median"] = f"{np.median(ask):.1f}" if len(ask) else "-"
            row["ask ms p90"] = f"{np.percentile(ask, 90):.1f}" if len(ask) else "-"
            rows.append(row)
    return pd.DataFrame(rows).sort_values(["problem", "optimizer"]).reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    cols = ["problem", "optimizer", "seeds", *[f"regret@{t}" for t in CHECKPOINTS]]
    cols += ["test@last", "ask ms median", "ask ms p90"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in table.iterrows():
        lines.append("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="e.g. benchmarks/results/nb201")
    p.add_argument("--optimizers", default=",".join(OPTIMIZERS))
    p.add_argument("--rescore", action="store_true")
    args = p.parse_args(argv)
    curves: dict[str, pd.DataFrame] = {}
    for opt in args.optimizers.split(","):
        files = run_files(args.results, opt)
        if not files:
            continue
        if args.rescore:
            changed = sum(rescore(f) for f in files)
            print(f"{opt}: re-scored {len(files)} runs, {changed} rows changed")
        df = load_curves(args.results, opt)
        df.to_csv(args.results / f"curves_{opt}.csv.gz", index=False, float_format="%.6g")
        curves[opt] = df
    table = summarize(curves)
    md = (
        "# Peer optimizers on " + args.results.name + "\n\n"
        "Regret = optimum - validation accuracy (%) of the incumbent after t evaluations, "
        "mean ± standard error over seeds; test@last = the incumbent's test accuracy (%) after "
        "the last evaluation; ask ms = the optimizer's own seconds per proposal (ask + tell, "
        "excluding the objective), median and 90th percentile over all evaluations.\n\n"
        + to_markdown(table)
        + "\n"
    )
    (args.results / "peers.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
