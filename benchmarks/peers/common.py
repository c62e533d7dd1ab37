"""What every peer runner shares: the problem, the budget, the run record and the CLI.

This module runs inside the peers' own virtual environments, so it imports only the standard
library, numpy and ``benchmarks.problems`` (jahs_bo-free: numpy, pandas, onnxruntime). It never
imports jahs_bo or a peer library. Every peer sees the problem's own plain space
(``problem.params``; NB201 is six categoricals ``Op1``..``Op6`` over the five operations), is scored
by ``benchmarks.problems.CurveRecorder`` and writes the per-run CSV of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from benchmarks.peers.recorder import make_recorder
from benchmarks.problems import get_problem

#: Optimizer name -> peer (the virtual environment and runner module that run it).
OPTIMIZERS: dict[str, str] = {
    "optuna-tpe": "optuna",
    "optuna-gp": "optuna",
    "optuna-nsga2": "optuna",
    "smac-hpo": "smac",
    "smac-mf": "smac",
    "dehb": "dehb",
    "neps": "neps",
}


class BudgetExhausted(Exception):
    """Raised inside an objective to stop a library that has no evaluation-count budget."""


class Run:
    """One optimizer run: evaluates configs, enforces the budget and records the curve.

    Args:
        problem: A ``benchmarks.problems.Problem``.
        optimizer: Optimizer name written in the CSV.
        seed: Seed of the run.
        budget: Number of evaluations (``cost_budget is None``).
        cost_budget: Stop once the cumulative cost reaches this (multi-fidelity problems).
    """

    def __init__(
        self,
        problem: Any,
        optimizer: str,
        seed: int,
        budget: int | None,
        cost_budget: float | None = None,
    ) -> None:
        self.problem = problem
        self.optimizer = optimizer
        self.seed = seed
        self.budget = budget
        self.cost_budget = cost_budget
        self.recorder = make_recorder(problem, optimizer, seed)
        self.n_evals = 0
        self.cum_cost = 0.0
        self.best = math.nan

    @property
    def done(self) -> bool:
        """Whether the budget (evaluations, or cumulative cost) is used up."""
        if self.cost_budget is not None:
            return self.cum_cost >= self.cost_budget
        return self.budget is not None and self.n_evals >= self.budget

    def fidelity(self, value: float | None) -> dict[str, float] | None:
        """A peer's numeric fidelity as the problem's fidelity dict (snapped to allowed values)."""
        spec = self.problem.fidelity
        if spec is None or value is None:
            return None
        if spec.values is not None:
            v = min(spec.values, key=lambda a: abs(a - float(value)))
        else:
            v = min(max(float(value), spec.lower), spec.upper)
            v = float(round(v)) if spec.integer else v
        return {spec.name: v}

    def evaluate(
        self, config: Mapping[str, Any], ask_seconds: float, fidelity: float | None = None
    ) -> float:
        """Evaluate ``config``, record it and return the loss (first objective, to minimise).

        Args:
            config: The configuration (keys of ``problem.params``), plain values.
            ask_seconds: Seconds the optimizer spent proposing it.
            fidelity: The peer's fidelity value (e.g. epochs), ``None`` for full fidelity.

        Raises:
            BudgetExhausted: The budget was used up before this evaluation.
        """
        return self.evaluate_all(config, ask_seconds, fidelity)[0]

    def evaluate_all(
        self, config: Mapping[str, Any], ask_seconds: float, fidelity: float | None = None
    ) -> list[float]:
        """Like :meth:`evaluate`, but the losses of every objective (each to minimise)."""
        if self.done:
            raise BudgetExhausted
        config = {p.name: _plain(config[p.name]) for p in self.problem.params}
        fid = self.fidelity(fidelity)
        metrics = self.problem.evaluate(config, fid)
        self.recorder.add(config, fid, metrics, ask_seconds=ask_seconds)
        self.n_evals += 1
        self.cum_cost += self.problem.cost(fid)
        values = [float(metrics[o]) for o in self.problem.objectives]
        tracked = not self.problem.multi_objective and (
            fid is None or fid == self.problem.max_fidelity()
        )
        if tracked and (math.isnan(self.best) or self.problem.better(values[0], self.best)):
            self.best = values[0]
        return [
            -v if d == "maximize" else v
            for v, d in zip(values, self.problem.directions, strict=True)
        ]

    def write_csv(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.recorder.write_csv(path)


def _plain(v: Any) -> Any:
    """numpy scalars to plain Python values."""
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


class Stopwatch:
    """Accumulates the seconds spent inside the optimizer library between two evaluations."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def time(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - start

    def take(self) -> float:
        """Return the accumulated seconds and reset to zero."""
        out, self.seconds = self.seconds, 0.0
        return out


class CallbackTimer:
    """Overhead of libraries that call the objective themselves (no ask/tell).

    The seconds between the end of one objective call (or ``start()``) and the start of the next are
    charged to the library. Wrap the objective body in ``objective()``.
    """

    def __init__(self) -> None:
        self._mark = time.perf_counter()

    def start(self) -> None:
        self._mark = time.perf_counter()

    @contextmanager
    def objective(self) -> Iterator[float]:
        """Context of one objective call; yields the library's seconds since the previous call."""
        try:
            yield time.perf_counter() - self._mark
        finally:
            self._mark = time.perf_counter()


def parse_seeds(text: str) -> list[int]:
    """Parse ``"3"``, ``"0-19"`` or ``"0,2,5"`` into a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds.extend(range(int(lo), int(hi or lo) + 1))
    return seeds


def parse_args(peer: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the runner CLI shared by every peer (the harness contract of ``benchmarks/README.md``).

    One run: ``--seed 3 --budget 100 --out run.csv`` (or ``--cost-budget C`` for multi-fidelity
    problems). Several seeds in one process (saves start-up time): ``--seed 0-19 --out-dir DIR``
    writes ``DIR/seed_<k>.csv``. ``--quick``: budget 10, seeds as given, CSVs under a temp dir
    unless ``--out``/``--out-dir`` is given.
    """
    names = [k for k, v in OPTIMIZERS.items() if v == peer]
    p = argparse.ArgumentParser(description=f"Run {peer} on a jahs-bo benchmark problem.")
    p.add_argument("--problem", default="nb201/cifar10")
    p.add_argument("--optimizer", choices=names, default=names[0])
    p.add_argument("--seed", "--seeds", dest="seed", default="0", help="'3', '0-19' or '0,2,5'")
    p.add_argument("--budget", type=int, default=100, help="number of evaluations")
    p.add_argument("--cost-budget", type=float, default=None, help="stop at this cumulative cost")
    p.add_argument("--out", default=None, help="CSV path (one seed)")
    p.add_argument("--out-dir", default=None, help="directory for one CSV per seed")
    p.add_argument("--quick", action="store_true", help="smoke run: budget 10")
    p.add_argument("--skip-existing", action="store_true", help="skip seeds whose CSV exists")
    args = p.parse_args(argv)
    args.seeds = parse_seeds(args.seed)
    if args.quick:
        args.budget, args.cost_budget = 10, None
    if args.out is None and args.out_dir is None:
        args.out_dir = str(Path("/tmp") / "jahs_bo_peer_quick" / args.optimizer)
    if args.out is not None and len(args.seeds) != 1:
        p.error("--out takes one seed; use --out-dir for several")
    return args


def out_path(args: argparse.Namespace, seed: int) -> Path:
    """The CSV path of one seed's run."""
    return Path(args.out) if args.out is not None else Path(args.out_dir) / f"seed_{seed}.csv"


def main_loop(peer: str, run_one: Callable[[Run], None], argv: Sequence[str] | None = None) -> None:
    """Parse the CLI, call ``run_one(run)`` per seed until its budget is used, write the CSVs."""
    args = parse_args(peer, argv)
    problem = get_problem(args.problem)
    for seed in args.seeds:
        path = out_path(args, seed)
        if args.skip_existing and path.exists():
            continue
        start = time.perf_counter()
        run = Run(problem, args.optimizer, seed, args.budget, args.cost_budget)
        with suppress(BudgetExhausted):
            run_one(run)
        if not run.done:
            raise RuntimeError(
                f"{args.optimizer} stopped after {run.n_evals} evaluations (cost "
                f"{run.cum_cost}) before its budget; see the runner"
            )
        run.write_csv(path)
        regret = math.nan if math.isnan(run.best) else problem.regret(run.best)
        print(
            f"{args.optimizer} {args.problem} seed={seed} evals={run.n_evals} "
            f"cost={run.cum_cost:g} best={run.best:.4f} regret={regret:.4f} "
            f"wall={time.perf_counter() - start:.1f}s -> {path}",
            flush=True,
        )
