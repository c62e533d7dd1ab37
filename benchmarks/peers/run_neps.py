"""NePS (neural-pipeline-search) on a jahs-bo benchmark through ``neps.run`` with its defaults.

``PYTHONPATH=. benchmarks/peers/envs/neps/bin/python -m benchmarks.peers.run_neps
--problem nb201/cifar10 --seed 3 --budget 100 --out run.csv``

The space is a ``neps.PipelineSpace`` built from the problem's plain params (NB201: six
``neps.Categorical`` over the five operations); ``optimizer="auto"`` picks NePS's default for it
(``bayesian_optimization`` without fidelity or priors, ``hyperband`` with a fidelity). NePS has no
seed argument: it draws from the global ``random``/numpy/torch generators, so this runner seeds those
(the runner is a throw-away process; jahs-bo's library never seeds global RNGs). ``neps.run`` calls the
objective itself, so the overhead of an evaluation is the wall time between the end of the previous
objective call (or the start of ``neps.run``) and the start of this one: it includes NePS's own
file-system state handling, which users pay too.
"""

from __future__ import annotations

import logging
import random
import tempfile
import warnings
from typing import Any

import neps
import numpy as np
import torch

from benchmarks.peers.common import CallbackTimer, Run, main_loop


def pipeline_space(problem: Any) -> neps.PipelineSpace:
    """The problem's plain params (and fidelity) as a ``neps.PipelineSpace`` instance."""
    attrs: dict[str, Any] = {}
    for p in problem.params:
        if p.kind == "categorical":
            attrs[p.name] = neps.Categorical(choices=tuple(p.choices))
        elif p.kind == "int":
            attrs[p.name] = neps.Integer(int(p.lower), int(p.upper), log=p.log)
        else:
            attrs[p.name] = neps.Float(float(p.lower), float(p.upper), log=p.log)
    spec = problem.fidelity
    if spec is not None:
        attrs[spec.name] = neps.IntegerFidelity(int(spec.lower), int(spec.upper))
    cls = type("ProblemSpace", (neps.PipelineSpace,), attrs)
    # NePS pickles the space: make the class findable by name.
    cls.__module__ = __name__
    globals()["ProblemSpace"] = cls
    return cls()


def run_one(run: Run) -> None:
    """``neps.run`` until the budget is used (evaluations, or cumulative cost)."""
    logging.getLogger("neps").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(botorch|gpytorch|linear_operator)(\.|$)")
    random.seed(run.seed)
    np.random.seed(run.seed)
    torch.manual_seed(run.seed)
    spec = run.problem.fidelity
    timer = CallbackTimer()

    def evaluate_pipeline(**config: Any) -> dict[str, float]:
        with timer.objective() as overhead:
            fidelity = config.pop(spec.name) if spec is not None else None
            loss = run.evaluate(config, overhead, fidelity)
            cost = run.problem.cost(run.fidelity(fidelity))
        return {"objective_to_minimize": loss, "cost": cost}

    budget: dict[str, Any] = (
        {"total_evaluations_to_spend": run.budget}
        if run.cost_budget is None
        else {"total_cost_to_spend": run.cost_budget}
    )
    with tempfile.TemporaryDirectory(prefix="neps_") as root:
        timer.start()
        neps.run(
            evaluate_pipeline,
            pipeline_space(run.problem),
            root_directory=f"{root}/run",
            optimizer="auto",
            **budget,
        )


if __name__ == "__main__":
    main_loop("neps", run_one)
