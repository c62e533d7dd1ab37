"""Simulated asynchronous workers: search quality and wall time with W evaluations in flight.

    python -m benchmarks.parallel_sim --problem nb201/cifar10 --optimizer gp --workers 1,8,32 \\
        --seeds 0-9 --budget 100 --out benchmarks/results/parallel/runs [--sigma 0.5]

An event-driven simulation of ``W`` workers sharing one jahs-bo study (``create_study`` +
``ask()``/``tell()``, in memory). At simulated time 0 every worker asks for a trial; each ask
sees the trials already handed out and not yet told as running (pending) trials. The duration of
each evaluation is ``problem.cost(fidelity) * exp(sigma * z)`` with ``z`` standard normal, drawn
from ``numpy.random.default_rng([seed, 7919])`` (a lognormal around the problem's cost, median =
the cost, ``sigma = 0.5`` by default: the middle 50% of durations lie within about 0.71x-1.40x
of it), independent of the optimizer's own generator. The clock jumps to the next finishing
worker; that trial is told and the worker asks again until ``budget`` trials were handed out, then
the rest finish. The optimizer's own seconds are not added to the simulated clock (they are
recorded separately); simulated time is in the problem's cost units (epochs).

One CSV per (problem, optimizer, workers, seed) at
``<out>/<problem>/<optimizer>-w<W>/seed_<seed>.csv``: the per-run schema of
``benchmarks/README.md`` (rows in completion order, ``optimizer`` = ``<optimizer>-w<W>``) plus
``sim_time`` (simulated time at which the evaluation finished), ``workers`` and ``pending``
(trials running when it was asked, itself excluded). ``ask_seconds`` is the ask of the trial plus
its tell. ``python -m benchmarks.parallel_report`` turns the runs into tables.
"""

from __future__ import annotations

import os

# One thread per run: the machine is shared. Set before numpy/torch load.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import csv  # noqa: E402
import heapq  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.problems import CurveRecorder, Problem, columns_for, get_problem  # noqa: E402
from benchmarks.run import expand, parse_seeds, resolve_optimizer, slug  # noqa: E402

#: Columns the simulation adds to the per-run schema.
SIM_COLUMNS: tuple[str, ...] = ("sim_time", "workers", "pending")
#: Spread of the lognormal durations (standard deviation of their logarithm).
DEFAULT_SIGMA = 0.5
#: Mixed into the seed of the duration generator so it differs from the optimizer's.
DURATION_STREAM = 7919


@dataclass(order=True)
class _Running:
    """One evaluation in flight, ordered by finishing time (then by hand-out order)."""

    finish: float
    order: int
    trial: Any
    pending: int
    ask_seconds: float


def simulate(
    problem: Problem,
    optimizer: str,
    seed: int,
    workers: int,
    budget: int,
    *,
    sigma: float = DEFAULT_SIGMA,
    study_kwargs: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run ``budget`` evaluations of ``problem`` with ``workers`` simulated asynchronous workers.

    Args:
        problem: A single-objective benchmark problem.
        optimizer: Name in the ``optimizer`` column (``-w<W>`` is appended).
        seed: Seed of the study and of the durations.
        workers: Evaluations in flight at once.
        budget: Evaluations in all.
        sigma: Standard deviation of the log-durations (0: every evaluation takes its cost).
        study_kwargs: ``create_study`` keyword arguments (default ``{"searcher": optimizer}``).

    Returns:
        The rows, in completion order: the per-run schema plus :data:`SIM_COLUMNS`.
    """
    from jahs_bo import create_study

    if workers < 1 or budget < 1:
        raise ValueError(f"workers and budget must be >= 1, got {workers} and {budget}")
    kwargs = dict(study_kwargs or {"searcher": optimizer})
    study = create_study(
        problem.space(),
        directions=list(problem.directions),
        seed=seed,
        grace_period=None,
        **kwargs,
    )
    durations = np.random.default_rng([seed, DURATION_STREAM])
    recorder = CurveRecorder(problem, f"{optimizer}-w{workers}", seed)
    running: list[_Running] = []
    rows: list[dict[str, Any]] = []
    handed_out = 0

    def hand_out(now: float) -> None:
        nonlocal handed_out
        start = time.perf_counter()
        trial = study.ask()
        seconds = time.perf_counter() - start
        fidelity = dict(trial.fidelity) or None
        duration = problem.cost(fidelity) * float(np.exp(sigma * durations.standard_normal()))
        heapq.heappush(running, _Running(now + duration, handed_out, trial, len(running), seconds))
        handed_out += 1

    while handed_out < min(workers, budget):
        hand_out(0.0)
    while running:
        done = heapq.heappop(running)
        trial = done.trial
        fidelity = dict(trial.fidelity) or None
        metrics = problem.evaluate(trial.config, fidelity)
        values = problem.objective_values(metrics)
        start = time.perf_counter()
        study.tell(trial, values[0])
        seconds = done.ask_seconds + time.perf_counter() - start
        row = recorder.add(trial.config, fidelity, metrics, seconds)
        rows.append({**row, "sim_time": done.finish, "workers": workers, "pending": done.pending})
        if handed_out < budget:
            hand_out(done.finish)
    return rows


def write_rows(rows: Sequence[dict[str, Any]], problem: Problem, path: Path) -> Path:
    """Write one simulated run's rows as CSV (creating parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*columns_for(problem), *SIM_COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def sim_path(out: Path, problem: str, optimizer: str, workers: int, seed: int) -> Path:
    """Where the CSV of one simulated run goes."""
    return out / slug(problem) / f"{optimizer}-w{workers}" / f"seed_{seed}.csv"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.parallel_sim", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("--problem", required=True, help="names, comma-separated")
    parser.add_argument("--optimizer", required=True, help="jahs-bo optimizers, comma-separated")
    parser.add_argument("--workers", default="1,8,32", help="worker counts, comma-separated")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9 or 0,3,5")
    parser.add_argument("--budget", type=int, default=100, help="evaluations")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA, help="log-duration spread")
    parser.add_argument("--out", default="benchmarks/results/parallel/runs", help="output folder")
    parser.add_argument("--overwrite", action="store_true", help="redo runs whose CSV exists")
    args = parser.parse_args(argv)

    from benchmarks.problems import list_problems

    problems = expand(args.problem, list_problems())
    optimizers = [o.strip() for o in args.optimizer.split(",") if o.strip()]
    worker_counts = [int(w) for w in args.workers.split(",") if w.strip()]
    seeds = parse_seeds(args.seeds)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "commands.log").open("a") as log:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        args_text = shlex.join(sys.argv[1:] if argv is None else list(argv))
        log.write(f"{stamp} python -m benchmarks.parallel_sim {args_text}\n")
    failed = 0
    # Seeds outermost: a run cut short still has every worker count for its first seeds.
    for seed in seeds:
        for name in problems:
            problem = get_problem(name)
            for optimizer in optimizers:
                kwargs, peer = resolve_optimizer(optimizer)
                if peer is not None or "scheduler" in kwargs:
                    raise SystemExit(f"{optimizer!r}: only plain jahs-bo searchers are simulated")
                for w in worker_counts:
                    path = sim_path(out, problem.name, optimizer, w, seed)
                    if path.exists() and not args.overwrite:
                        continue
                    start = time.perf_counter()
                    try:
                        rows = simulate(
                            problem, optimizer, seed, w, args.budget,
                            sigma=args.sigma, study_kwargs=kwargs,
                        )  # fmt: skip
                        write_rows(rows, problem, path)
                        status = "ok"
                    except Exception as exc:  # one failed run must not stop the table
                        failed += 1
                        status = f"FAILED {type(exc).__name__}: {exc}"
                    print(
                        f"{problem.name} {optimizer} w={w} seed {seed}: "
                        f"{time.perf_counter() - start:.1f} s {status}",
                        flush=True,
                    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
