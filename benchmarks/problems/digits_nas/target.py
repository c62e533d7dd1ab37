"""The issue-16 target on digits NAS: final architectures retrained with three seeds.

    python -m benchmarks.problems.digits_nas.target benchmarks/results/digits-nas/bo \\
        [--seeds 0,1,2] [--budget 100] [--out benchmarks/results/digits-nas/bo/target.md]

For every harness run (``benchmarks.run`` curve CSVs, or the folder's committed ``curves.csv.xz``)
of ``digits-nas/grammar`` and ``digits-nas/nb201`` the final architecture is the incumbent after
``--budget`` evaluations (best validation accuracy under training seed 0, what the searcher saw).
It is trained again with the other seeds through the :class:`TrainCache` (a look-up when done
before), and the table reports its test accuracy averaged over the seeds: per run, then mean and
standard error per (space, optimizer). Random search on the grammar also gets its exact expected
curve estimated from the table's random architectures (:func:`random_search_expectation`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.problems.digits_nas.cache import TrainCache
from benchmarks.problems.digits_nas.generate import DEFAULT_CACHE, DEFAULT_TABLE, sample_archs
from benchmarks.problems.digits_nas.problem import _arch
from benchmarks.problems.digits_nas.protocol import PROTOCOLS
from benchmarks.report import load_curves

SPACES = {
    "digits-nas/grammar": "grammar",
    "digits-nas/nb201": "nb201",
    "digits-nas-mf/grammar": "grammar",
    "digits-nas-mf/nb201": "nb201",
}


def random_search_expectation(values: np.ndarray, k: int) -> float:
    """Expected best of ``k`` draws without replacement from ``values`` (exact, order statistics).

    Args:
        values: Shape ``(N,)``, one value per architecture of a uniform random sample.
        k: Draws, ``1 <= k <= N``.
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = len(v)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    # P(max is the i-th smallest, 1-based) = C(i-1, k-1) / C(n, k), in logs for stability
    i = np.arange(1, n + 1)
    with np.errstate(divide="ignore"):
        logp = np.where(
            i >= k,
            _lcomb(i - 1, k - 1) - _lcomb(np.array([n]), np.array([k]))[0],
            -np.inf,
        )
    return float(np.sum(np.exp(logp) * v))


def _lcomb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    from scipy.special import gammaln

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def random_prefix(space: str, trained: Mapping[str, object], limit: int = 1000) -> list[str]:
    """The seeded sampler's architectures (``generate.sample_archs``) in order, up to the first
    one not in ``trained``: the uniform random sample of the table, without any network a
    search chose."""
    out = []
    for arch in sample_archs(space, limit):
        if arch not in trained:
            break
        out.append(arch)
    return out


def final_architectures(curves: pd.DataFrame, budget: int) -> pd.DataFrame:
    """One row per (problem, optimizer, seed): the incumbent after ``budget`` evaluations (with
    a fidelity: the best full-fidelity evaluation within ``budget`` full-run equivalents)."""
    rows = []
    for (problem, optimizer, seed), run in curves.groupby(["problem", "optimizer", "seed"]):
        if problem not in SPACES:
            continue
        run = run.sort_values("eval")
        if problem.startswith("digits-nas-mf/"):  # budget in full-run equivalents (epochs)
            full = float(PROTOCOLS["b16"].epochs)
            if float(run["cum_cost"].max()) < budget * full:
                continue
            run = run[(run["cum_cost"] <= budget * full) & (run["fidelity"] == full)]
        else:
            if int(run["eval"].max()) < budget:
                continue
            run = run[run["eval"] <= budget]
        if run.empty:  # no full-fidelity evaluation within the budget
            continue
        best = run.loc[run["value"].idxmax()]
        rows.append(
            {
                "problem": problem,
                "optimizer": optimizer,
                "seed": int(seed),
                "val_acc": float(best["value"]),
                "arch": _arch(SPACES[problem], json.loads(best["config"])),
            }
        )
    return pd.DataFrame(rows)


def retrain(finals: pd.DataFrame, seeds: Sequence[int], cache: TrainCache) -> pd.DataFrame:
    """``finals`` with ``test_mean`` / ``val_mean`` over the training ``seeds`` (trained as needed)."""
    protocol = PROTOCOLS["b16"]
    tests, vals = [], []
    for i, row in enumerate(finals.itertuples()):
        space = SPACES[row.problem]
        got = [cache.train_cached(space, row.arch, protocol, s) for s in seeds]
        tests.append(float(np.mean([g["test_acc"] for g in got])))
        vals.append(float(np.mean([g["val_acc"] for g in got])))
        print(
            f"[{i + 1}/{len(finals)}] {row.problem} {row.optimizer} seed {row.seed}: "
            f"test {tests[-1]:.2f} (seeds {list(seeds)})",
            flush=True,
        )
    return finals.assign(test_mean=tests, val_mean=vals)


def _mean_se(x: pd.Series) -> str:
    x = x.dropna()
    if len(x) == 0:
        return "-"
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
    return f"{x.mean():.2f} ± {se:.2f}" if len(x) > 1 else f"{x.mean():.2f}"


def table(done: pd.DataFrame, seeds: Sequence[int], budget: int, rs_rows: list[str]) -> str:
    """The markdown of ``target.md``."""
    lines = [
        f"# Digits NAS: final architectures after {budget} evaluations, retrained with seeds "
        f"{', '.join(map(str, seeds))}",
        "",
        f"The final architecture of a run is its incumbent after {budget} evaluations (best "
        "validation accuracy under training seed 0; for BOHB the best full-fidelity evaluation "
        "within the training time of that many full evaluations). Each was trained again under "
        "protocol "
        f"`b16` with training seeds {', '.join(map(str, seeds))}; columns give its validation "
        "and test accuracy (%) averaged over the seeds, then mean ± standard error over the runs.",
        "",
        "| space | optimizer | runs | seed-0 val acc | val acc, 3 seeds | test acc, 3 seeds |",
        "|---|---|---|---|---|---|",
    ]
    for (problem, optimizer), g in done.groupby(["problem", "optimizer"]):
        lines.append(
            f"| {SPACES[problem]} | {optimizer} | {len(g)} | {_mean_se(g['val_acc'])} | "
            f"{_mean_se(g['val_mean'])} | {_mean_se(g['test_mean'])} |"
        )
    lines += [
        "",
        "Per run:",
        "",
        "| space | optimizer | seed | seed-0 val | val, 3 seeds | test, 3 seeds |",
    ]
    lines.append("|---|---|---|---|---|---|")
    for r in done.sort_values(["problem", "optimizer", "seed"]).itertuples():
        lines.append(
            f"| {SPACES[r.problem]} | {r.optimizer} | {r.seed} | {r.val_acc:.1f} | "
            f"{r.val_mean:.2f} | {r.test_mean:.2f} |"
        )
    if rs_rows:
        lines += ["", *rs_rows]
    return "\n".join(lines) + "\n"


def rs_expectation_rows(table_path: Path, budgets: Sequence[int]) -> list[str]:
    """Markdown rows: random search's exact expected regret over the table's random archs."""
    frame = pd.read_csv(table_path)
    rows = []
    for space in ("grammar", "nb201"):
        sel = frame[(frame.space == space) & (frame.protocol == "b16") & (frame.seed == 0)]
        by_arch = dict(zip(sel["arch"], sel["val_acc"], strict=True))
        vals = np.array([by_arch[a] for a in random_prefix(space, by_arch)], dtype=float)
        vals = vals[np.isfinite(vals)]
        if len(vals) < max(budgets):
            continue
        cells = [f"{100 - random_search_expectation(vals, k):.2f}" for k in budgets]
        rows.append(f"| {space} | {len(vals)} | " + " | ".join(cells) + " |")
    if not rows:
        return []
    head = [
        "Random search from the table: the regret (100 - best validation accuracy) of k draws "
        "without replacement from the table's random architectures (`table.csv.xz`, `b16`, "
        "seed 0: the seeded sampler's architectures in order, none chosen by a search), averaged exactly over every k-subset (order statistics). This average is an "
        "unbiased estimate (a U-statistic) of random search's expected regret after k "
        "evaluations, with no seed noise of its own; its variance grows as k nears the number "
        "of architectures (at k = N it is the one best of the table).",
        "",
        "| space | architectures | " + " | ".join(f"regret @{k}" for k in budgets) + " |",
        "|---|---|" + "---|" * len(budgets),
    ]
    return head + rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("inputs", nargs="+", help="folders or curve files (as benchmarks.report)")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--cache", default=str(DEFAULT_CACHE))
    parser.add_argument("--table", default=str(DEFAULT_TABLE))
    parser.add_argument("--out", help="markdown file (printed when omitted)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    seeds = [int(s) for s in args.seeds.split(",")]
    finals = final_architectures(load_curves(args.inputs), args.budget)
    if finals.empty:
        print(f"no digits-NAS run reaches {args.budget} evaluations", file=sys.stderr)
        return 1
    done = retrain(finals, seeds, TrainCache(args.cache))
    text = table(done, seeds, args.budget, rs_expectation_rows(Path(args.table), (25, 50, 100)))
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
