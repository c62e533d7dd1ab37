"""SMAC3 (HPO facade, multi-fidelity facade) on a jahs-bo benchmark through SMAC's ask/tell API.

``PYTHONPATH=. benchmarks/peers/envs/smac/bin/python -m benchmarks.peers.run_smac
--problem nb201/cifar10 --optimizer smac-hpo --seed 3 --budget 100 --out run.csv``

``smac-hpo``: ``HyperparameterOptimizationFacade`` with its defaults (random forest, Sobol initial
design, ``n_trials`` = the evaluation budget; on a multi-fidelity problem every evaluation runs at
the full fidelity). ``smac-mf``: ``MultiFidelityFacade`` (Hyperband,
random forest) with ``min_budget``/``max_budget`` = the fidelity's range; when the fidelity has two
discrete values (``nb201-mf``: 12, 200 epochs) Hyperband's ``eta`` is the integer part of their ratio
(16: budgets 12.5 -> 12 and 200), otherwise SMAC's default 3.
"""

from __future__ import annotations

import logging
import math
import tempfile
from typing import Any

from smac import HyperparameterOptimizationFacade, MultiFidelityFacade, Scenario
from smac.runhistory.dataclasses import TrialValue

from benchmarks.peers.common import Run, Stopwatch, main_loop
from benchmarks.peers.spaces import configspace


def _never(config: Any, seed: int = 0, budget: float | None = None) -> float:
    raise RuntimeError("the runner evaluates through ask/tell; SMAC must not call the target")


def _never_sf(config: Any, seed: int = 0) -> float:
    raise RuntimeError("the runner evaluates through ask/tell; SMAC must not call the target")


def make_smac(run: Run, out_dir: str) -> Any:
    """Build the facade for ``run.optimizer`` with SMAC's defaults."""
    cs = configspace(run.problem, run.seed)
    spec = run.problem.fidelity
    n_trials = run.budget if run.cost_budget is None else 10**6
    if run.optimizer == "smac-hpo":
        scenario = Scenario(
            cs, deterministic=True, n_trials=n_trials, seed=run.seed, output_directory=out_dir
        )
        return HyperparameterOptimizationFacade(
            scenario, _never_sf, overwrite=True, logging_level=logging.ERROR
        )
    if run.optimizer == "smac-mf":
        if spec is None:
            raise ValueError(f"smac-mf needs a fidelity; {run.problem.name} has none")
        scenario = Scenario(
            cs,
            deterministic=True,
            n_trials=n_trials,
            seed=run.seed,
            output_directory=out_dir,
            min_budget=spec.lower,
            max_budget=spec.upper,
        )
        eta = 3
        if spec.values is not None and len(spec.values) == 2:
            eta = int(math.floor(spec.values[1] / spec.values[0]))
        intensifier = MultiFidelityFacade.get_intensifier(scenario, eta=eta)
        return MultiFidelityFacade(
            scenario, _never, intensifier=intensifier, overwrite=True, logging_level=logging.ERROR
        )
    raise ValueError(f"unknown optimizer {run.optimizer!r}; use smac-hpo or smac-mf")


def run_one(run: Run) -> None:
    """Ask/tell until the run's budget is used; ask + tell time (and set-up) is the overhead."""
    watch = Stopwatch()
    with tempfile.TemporaryDirectory(prefix="smac_") as out_dir:
        with watch.time():
            smac = make_smac(run, out_dir)
        while not run.done:
            with watch.time():
                info = smac.ask()
            loss = run.evaluate(dict(info.config), watch.take(), info.budget)
            with watch.time():
                smac.tell(info, TrialValue(cost=loss))


if __name__ == "__main__":
    main_loop("smac", run_one)
