"""The per-run CSV writer used by the peer runners.

``benchmarks.problems.CurveRecorder`` is the one scorer shared with jahs-bo's own runs; this module
returns it when it is importable and otherwise a stand-in that writes the same columns with the same
definitions (``benchmarks/README.md``: "Per-run CSV schema"), so the peers never score themselves
differently from jahs-bo.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLUMNS = (
    "problem",
    "optimizer",
    "seed",
    "eval",
    "fidelity",
    "cost",
    "cum_cost",
    "value",
    "best",
    "regret",
    "incumbent_test",
    "ask_seconds",
    "config",
)


def make_recorder(problem: Any, optimizer: str, seed: int) -> Any:
    """``CurveRecorder(problem, optimizer=..., seed=...)``, or the stand-in if it is missing.

    ``JAHS_BO_PEERS_RECORDER=standalone`` forces the stand-in (single-objective problems only);
    ``python -m benchmarks.peers.aggregate --rescore`` re-scores such CSVs with ``CurveRecorder``.
    """
    if os.environ.get("JAHS_BO_PEERS_RECORDER") == "standalone":
        return _Recorder(problem, optimizer, seed)
    try:
        from benchmarks.problems import CurveRecorder  # type: ignore[attr-defined]
    except ImportError:
        return _Recorder(problem, optimizer, seed)
    return CurveRecorder(problem, optimizer=optimizer, seed=seed)


class _Recorder:
    """Single-objective stand-in for ``CurveRecorder`` (same columns and definitions)."""

    def __init__(self, problem: Any, optimizer: str, seed: int) -> None:
        self.problem = problem
        self.optimizer = optimizer
        self.seed = seed
        self.rows: list[dict[str, Any]] = []
        self._cum_cost = 0.0
        self._inc_fid = -math.inf
        self._inc_value = math.nan
        self._inc_config: dict[str, Any] | None = None
        self._best = math.nan
        self._best_test = math.nan

    def add(
        self,
        config: Mapping[str, Any],
        fidelity: Mapping[str, float] | None,
        metrics: Mapping[str, float],
        ask_seconds: float | None = None,
    ) -> None:
        p = self.problem
        fid = p.complete_fidelity(fidelity)
        fval = fid[p.fidelity.name] if fid else None
        cost = p.cost(fid)
        self._cum_cost += cost
        value = float(metrics[p.objectives[0]])
        level = fval if fval is not None else math.inf
        if level > self._inc_fid or (level == self._inc_fid and p.better(value, self._inc_value)):
            self._inc_fid, self._inc_value, self._inc_config = level, value, dict(config)
            full = metrics if fid is None or fid == p.max_fidelity() else p.evaluate(config, None)
            self._best = float(full[p.objectives[0]])
            self._best_test = float(full[p.test_metric]) if p.test_metric else math.nan
        self.rows.append(
            {
                "problem": p.name,
                "optimizer": self.optimizer,
                "seed": self.seed,
                "eval": len(self.rows) + 1,
                "fidelity": "" if fval is None else fval,
                "cost": cost,
                "cum_cost": self._cum_cost,
                "value": value,
                "best": self._best,
                "regret": p.regret(self._best),
                "incumbent_test": self._best_test,
                "ask_seconds": "" if ask_seconds is None else ask_seconds,
                "config": json.dumps(dict(config), sort_keys=True, separators=(",", ":")),
            }
        )

    def write_csv(self, path: str | Path) -> None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(out.suffix + ".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows(self.rows)
        tmp.replace(out)
