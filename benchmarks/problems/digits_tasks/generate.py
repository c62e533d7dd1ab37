"""Train every configuration of the digits-tasks space on every task, then pack the table.

    python -m benchmarks.problems.digits_tasks.generate train --shard 0/2   # in one process
    python -m benchmarks.problems.digits_tasks.generate train --shard 1/2   # in another
    python -m benchmarks.problems.digits_tasks.generate pack

``train`` appends one JSON line per trained network to ``<runs>/train-<k>of<n>.jsonl`` (git-ignored)
and skips what is there, so an interrupted run resumes; shard ``k/n`` trains the configurations
whose index is ``k`` modulo ``n``. ``pack`` writes the committed table
(``benchmarks/results/digits-tasks/table.csv.xz``: task, arch, lr, val_acc, test_acc, seconds,
params) once every task is complete. About 0.33 s per network on one core: 6 x 1,458 networks took
24 minutes on two cores.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.problems.digits_tasks.space import PROTOCOL, TRAIN_SEED, all_configs  # noqa: E402
from benchmarks.problems.digits_tasks.tasks import TASKS, load_task  # noqa: E402

RESULTS = Path(__file__).resolve().parents[2] / "results" / "digits-tasks"
TABLE = RESULTS / "table.csv.xz"


def _done(runs: Path) -> set[tuple[str, str, float]]:
    """``(task, arch, lr)`` of every line already written under ``runs``."""
    done: set[tuple[str, str, float]] = set()
    for path in sorted(runs.glob("train-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done.add((row["task"], row["arch"], float(row["lr"])))
    return done


def train_all(tasks: Sequence[str], shard: tuple[int, int], runs: Path) -> int:
    """Train this shard's missing networks; returns how many were trained."""
    import torch

    from benchmarks.problems.digits_nas.train import train

    torch.set_num_threads(1)
    runs.mkdir(parents=True, exist_ok=True)
    k, n = shard
    done = _done(runs)
    out = runs / f"train-{k}of{n}.jsonl"
    count, start = 0, time.perf_counter()
    configs = [c for i, c in enumerate(all_configs()) if i % n == k]
    with out.open("a") as f:
        for task in tasks:
            data, classes = load_task(task)
            for arch, lr in configs:
                if (task, arch, lr) in done:
                    continue
                protocol = dataclasses.replace(PROTOCOL, lr=lr)
                row = train("nb201", arch, protocol, TRAIN_SEED, data=data, num_classes=classes)
                f.write(json.dumps({"task": task, "arch": arch, "lr": lr, **row}) + "\n")
                f.flush()
                count += 1
                if count % 100 == 0:
                    rate = (time.perf_counter() - start) / count
                    print(f"shard {k}/{n}: {count} trained ({rate:.2f} s each), {task}", flush=True)
    return count


def pack(runs: Path, table: Path) -> None:
    """Write the compressed table from the JSON lines; every task must be complete."""
    import pandas as pd

    rows = [
        json.loads(line)
        for path in sorted(runs.glob("train-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    df = pd.DataFrame(rows).drop_duplicates(["task", "arch", "lr"], keep="last")
    expected = set(all_configs())
    for task in TASKS:
        rows_of = df[df["task"] == task]
        got = set(zip(rows_of["arch"], rows_of["lr"].astype(float), strict=True))
        if got != expected:
            raise SystemExit(
                f"task {task!r} has {len(got & expected)} of {len(expected)} networks; train first"
            )
    diverged = df[df["val_acc"].isna()]
    if len(diverged):
        raise SystemExit(
            f"{len(diverged)} networks diverged (val_acc NaN), e.g. {diverged.iloc[0].to_dict()}; "
            "the protocol is too aggressive for them: change it, delete the runs and train again"
        )
    df = df.sort_values(["task", "arch", "lr"])[
        ["task", "arch", "lr", "val_acc", "test_acc", "seconds", "params"]
    ]
    df["seconds"] = df["seconds"].round(3)
    df["params"] = df["params"].round(6)
    table.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(table, index=False)
    print(f"wrote {table}: {len(df)} rows, {len(TASKS)} tasks")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.problems.digits_tasks.generate",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("command", choices=["train", "pack"])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated task names")
    parser.add_argument("--shard", default="0/1", help="k/n: train configurations k mod n")
    parser.add_argument("--runs", default=str(RESULTS / "runs"))
    parser.add_argument("--table", default=str(TABLE))
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    if args.command == "pack":
        pack(runs, Path(args.table))
        return 0
    tasks = [t for t in args.tasks.split(",") if t]
    for t in tasks:
        if t not in TASKS:
            parser.error(f"unknown task {t!r}; use some of {', '.join(TASKS)}")
    k, n = (int(v) for v in args.shard.split("/"))
    if not 0 <= k < n:
        parser.error(f"--shard must be k/n with 0 <= k < n, got {args.shard!r}")
    trained = train_all(tasks, (k, n), runs)
    print(f"shard {k}/{n}: trained {trained}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
