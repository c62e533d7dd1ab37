"""Per-run curves: one row per evaluation, scored the same way for every optimizer.

The CSV schema is documented in ``benchmarks/README.md``; jahs-bo runs and peer runners both write it
with :class:`CurveRecorder`, so best-so-far, regret and incumbent test accuracy come from one place.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.problems.base import Problem

#: Columns of every curve CSV (``value_1``.. follow ``value`` for multi-objective problems).
BASE_COLUMNS: tuple[str, ...] = (
    "problem",
    "optimizer",
    "seed",
    "eval",
    "fidelity",
    "cost",
    "cum_cost",
    "value",
)
TAIL_COLUMNS: tuple[str, ...] = ("best", "regret", "incumbent_test", "ask_seconds", "config")


def columns_for(problem: Problem) -> list[str]:
    """The CSV header for ``problem``."""
    extra = [f"value_{i}" for i in range(1, len(problem.objectives))]
    return [*BASE_COLUMNS, *extra, *TAIL_COLUMNS]


def config_json(config: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys (numpy scalars become plain numbers)."""
    return json.dumps(
        dict(config), sort_keys=True, separators=(",", ":"), default=lambda o: o.item()
    )


class CurveRecorder:
    """Accumulates the evaluations of one run and writes its curve CSV.

    Incumbent rule (single objective): the best observed configuration among those evaluated at the
    highest fidelity evaluated so far; its full-fidelity value is looked up with
    ``problem.evaluate`` (free for table problems) and scored against ``problem.optimum``.

    Args:
        problem: The problem being optimized.
        optimizer: Optimizer name for the ``optimizer`` column.
        seed: Seed of the run.
    """

    def __init__(self, problem: Problem, optimizer: str, seed: int):
        self.problem = problem
        self.optimizer = optimizer
        self.seed = int(seed)
        self.rows: list[dict[str, Any]] = []
        self.cum_cost = 0.0
        self._top_fidelity = -math.inf
        self._inc_value: float | None = None
        self._inc_full: dict[str, float] | None = None

    def add(
        self,
        config: Mapping[str, Any],
        fidelity: Mapping[str, float] | None,
        metrics: Mapping[str, float],
        ask_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Record one completed evaluation and return its row.

        Args:
            config: The evaluated configuration (as passed to ``problem.evaluate``).
            fidelity: The fidelity it ran at (``None``: the full fidelity).
            metrics: What ``problem.evaluate(config, fidelity)`` returned.
            ask_seconds: Seconds the optimizer spent proposing ``config`` (``None``: unknown).
        """
        p = self.problem
        fid = p.complete_fidelity(fidelity)
        cost = p.cost(fid)
        self.cum_cost += cost
        values = p.objective_values(metrics)
        row: dict[str, Any] = {
            "problem": p.name,
            "optimizer": self.optimizer,
            "seed": self.seed,
            "eval": len(self.rows) + 1,
            "fidelity": "" if fid is None else next(iter(fid.values())),
            "cost": cost,
            "cum_cost": self.cum_cost,
            "value": values[0],
        }
        for i, v in enumerate(values[1:], start=1):
            row[f"value_{i}"] = v
        row.update(best="", regret="", incumbent_test="")
        if not p.multi_objective:
            self._update_incumbent(config, fid, metrics, values[0])
            assert self._inc_full is not None
            best = float(self._inc_full[p.objectives[0]])
            row["best"] = best
            row["regret"] = p.regret(best)
            if p.test_metric is not None:
                row["incumbent_test"] = float(self._inc_full[p.test_metric])
        row["ask_seconds"] = "" if ask_seconds is None else float(ask_seconds)
        row["config"] = config_json(config)
        self.rows.append(row)
        return row

    def _update_incumbent(self, config, fid, metrics, value: float) -> None:
        level = -math.inf if fid is None else next(iter(fid.values()))
        if self._inc_value is not None and (
            level < self._top_fidelity
            or (level == self._top_fidelity and not self.problem.better(value, self._inc_value))
        ):
            return
        self._top_fidelity = level
        self._inc_value = value
        full = self.problem.max_fidelity()
        at_full = fid is None or fid == full
        self._inc_full = dict(metrics) if at_full else self.problem.evaluate(config, full)

    def write_csv(self, path: str | Path) -> Path:
        """Write the curve (creating parent folders); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns_for(self.problem))
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(path)
        return path
