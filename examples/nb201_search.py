"""Search the NAS-Bench-201 cell space on real benchmark data, in a resumable SQLite study.

Each evaluation looks up the 200-epoch validation accuracy that the NAS-Bench-201 authors measured
for the proposed cell (shipped in ``benchmarks/data``; no download). The study lives in a SQLite
file: run the script again, or kill it and run it again, and it continues where it stopped.

    python examples/nb201_search.py                       # regularized evolution, 100 evaluations
    python examples/nb201_search.py --searcher gp --dataset cifar100 --storage other.db
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

import jahs_bo
from jahs_bo.spaces import nb201_space

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "nb201.csv.gz"
COLUMNS = {  # dataset -> (validation column, test column, table optimum of the validation column)
    "cifar10": ("c10v_valid_acc_200", "c10_test_acc_200", 91.606667),
    "cifar100": ("c100_valid_acc_200", "c100_test_acc_200", 73.493333),
    "imagenet16": ("in16_valid_acc_200", "in16_test_acc_200", 46.733333),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=sorted(COLUMNS), default="cifar10")
    parser.add_argument("--searcher", default="re", help="random, re, ls, gp")
    parser.add_argument("--n-trials", type=int, default=100, help="total evaluations of the study")
    parser.add_argument("--storage", default="nb201_search.db", help="SQLite file of the study")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    valid_col, test_col, optimum = COLUMNS[args.dataset]
    table = pd.read_csv(DATA, usecols=["arch_str", valid_col, test_col]).set_index("arch_str")
    if abs(table[valid_col].max() - optimum) > 1e-3:
        raise SystemExit(f"benchmark table {DATA} does not hold the published optimum {optimum}")

    study = jahs_bo.create_study(
        nb201_space(),
        direction="maximize",
        searcher=args.searcher,
        storage=f"sqlite:///{args.storage}",
        study_name=f"nb201-{args.dataset}-{args.searcher}-seed{args.seed}",
        seed=args.seed,
        load_if_exists=True,
    )
    console = Console()
    done = len(study.trials)
    if done:
        console.print(
            f"resuming study {study.study_name!r}: {done} trials already in {args.storage}"
        )

    def objective(trial: jahs_bo.Trial) -> float:
        return float(table.at[trial.config["arch"], valid_col])

    remaining = max(0, args.n_trials - done)
    study.optimize(objective, n_trials=remaining, show_progress=True)

    best = study.best_trial
    arch = best.config["arch"]
    summary = Table(
        title=f"NAS-Bench-201 {args.dataset}: {args.searcher}, {len(study.trials)} evaluations"
    )
    summary.add_column("incumbent cell", overflow="fold")
    summary.add_column("valid acc (%)", justify="right")
    summary.add_column("regret", justify="right")
    summary.add_column("test acc (%)", justify="right")
    summary.add_row(
        arch, f"{best.value:.4f}", f"{optimum - best.value:.4f}", f"{table.at[arch, test_col]:.4f}"
    )
    console.print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
