"""Throughput of trivial trials on Ray versus the local executors, measured in one run.

Each configuration runs the same optimize loop (random searcher, in-memory study, a trial that
returns at once) so the numbers are the cost of the machinery: asking, handing the trial to a
worker, getting the result back and telling it. The first ``--warmup`` finished trials are left
out (worker processes start and import jahs-bo then); from there on the table gives

* ``trials/min``: finished trials per minute of wall time;
* ``driver ms/trial``: CPU time of the driver process (the one that runs the loop) per trial;
* ``x in-process``: throughput relative to the in-process executor of the same run.

Ray runs on a local Ray instance started here with ``--ray-cpus`` logical CPUs, so that up to 8
one-CPU tasks can run at once whatever the machine has; ``ray N`` allows N trials at once.

Usage::

    python -m benchmarks.bench_ray_throughput --trials 200 --warmup 10 --sleep 0 0.1 \
        --sleep-trials 80 --out benchmarks/results/parallel/throughput.md
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import ConfigSpace as CS

from jahs_bo.spaces import SearchSpace
from jahs_bo.study import TrialContext, create_study
from jahs_bo.types import Trial


def trivial(config: dict, ctx: TrialContext) -> float:
    """A trial that does no work but sleep ``config["sleep"]`` seconds (0 by default)."""
    if config["sleep"] > 0:
        time.sleep(config["sleep"])
    return float(config["x"])


def _measure(
    executor: Any, n_workers: int | None, trials: int, warmup: int, sleep: float
) -> dict[str, float]:
    space = SearchSpace(CS.ConfigurationSpace({"x": (0.0, 1.0), "sleep": [float(sleep)]}))
    study = create_study(space, searcher="random", seed=0)
    marks: list[tuple[float, float]] = []

    def mark(study: Any, trial: Trial) -> None:
        marks.append((time.perf_counter(), time.process_time()))

    t0 = time.perf_counter()
    study.optimize(
        trivial,
        n_trials=warmup + trials,
        n_workers=n_workers,
        executor=executor,
        callbacks=[mark],
        show_progress=False,
    )
    total = time.perf_counter() - t0
    (w0, c0), (w1, c1) = marks[warmup - 1], marks[-1]
    n = len(marks) - warmup
    return {
        "per_min": 60.0 * n / (w1 - w0),
        "driver_ms": 1000.0 * (c1 - c0) / n,
        "total_s": total,
    }


def _table(rows: list[tuple[str, dict[str, float]]]) -> str:
    base = rows[0][1]["per_min"]
    lines = [
        "| executor (trials at once) | trials/min | driver ms/trial | x in-process | wall s |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['per_min']:.0f} | {r['driver_ms']:.1f} | "
            f"{r['per_min'] / base:.2f} | {r['total_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120, help="measured trials per executor")
    parser.add_argument("--warmup", type=int, default=10, help="first trials left out")
    parser.add_argument("--ray-workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--process-workers", type=int, default=2)
    parser.add_argument("--ray-cpus", type=int, default=8)
    parser.add_argument(
        "--sleep",
        type=float,
        nargs="+",
        default=[0.0, 0.1],
        help="seconds each trial sleeps; one table per value (0: trivial trials)",
    )
    parser.add_argument(
        "--sleep-trials", type=int, default=80, help="measured trials when a trial sleeps"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here")
    args = parser.parse_args()

    import ray

    from jahs_bo.study.ray_executor import RayExecutor

    tables = []
    ray.init(num_cpus=args.ray_cpus, include_dashboard=False, log_to_driver=False)
    try:
        for sleep in args.sleep:
            n = args.trials if sleep == 0 else args.sleep_trials
            runs: list[tuple[str, Any, int | None]] = [
                ("in-process (1)", "local", 1),
                (f"process ({args.process_workers})", "local", args.process_workers),
            ]
            for k in args.ray_workers:
                ex = RayExecutor(resources_per_trial={"cpu": 1}, max_concurrent=k)
                runs.append((f"ray ({k})", ex, None))
            rows = []
            for name, ex, workers in runs:
                rows.append((name, _measure(ex, workers, n, args.warmup, sleep)))
                print(sleep, rows[-1], flush=True)
            tables.append((sleep, n, _table(rows)))
    finally:
        ray.shutdown()
    for sleep, n, table in tables:
        print(f"\ntrials sleeping {sleep:g} s ({n} measured)\n{table}")
    if args.out is not None:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        cmd = (
            f"python -m benchmarks.bench_ray_throughput --trials {args.trials} "
            f"--warmup {args.warmup} --sleep {' '.join(f'{x:g}' for x in args.sleep)} "
            f"--sleep-trials {args.sleep_trials} --out {args.out}"
        )
        header = [
            "# Trial throughput: Ray versus the local executors",
            "",
            f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- Machine: {os.cpu_count()} logical cores, {platform.platform()} (shared with other "
            "work while measured)",
            f"- Versions: python {platform.python_version()}, ray {ray.__version__}, git commit "
            f"{commit}",
            "",
            "Reproduce:",
            "",
            f"```\nOMP_NUM_THREADS=1 {cmd}\n```",
            "",
            f"Trials per executor after {args.warmup} warm-up trials (random searcher, "
            "in-memory study). `driver ms/trial` is the CPU time of the process that runs the "
            "loop; `x in-process` the throughput relative to the in-process executor. Ray: a "
            f"local instance with {args.ray_cpus} logical CPUs, one per trial.",
            "",
        ]
        for sleep, n, table in tables:
            what = "trivial trials" if sleep == 0 else f"trials that sleep {sleep:g} s"
            header += [f"## {what} ({n} measured)", "", table, ""]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(header))


if __name__ == "__main__":
    main()
