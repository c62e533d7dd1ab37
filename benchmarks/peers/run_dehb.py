"""DEHB's package on a jahs-bo benchmark.

On a single-fidelity problem (``nb201/*``) DEHB refuses ``min_fidelity == max_fidelity`` and tells
users to run its DE instead, so ``dehb`` there runs ``dehb.DE`` with its defaults (population 20,
``rand1_bin``) and DEHB's mutation factor and crossover probability (0.5, 0.5; DE's own defaults are
``None`` and crash). On a multi-fidelity problem it runs ``dehb.DEHB`` through ask/tell with its
defaults; when the fidelity has two discrete values (``nb201-mf``: 12 and 200 epochs) ``eta`` is
their ratio so that every bracket lands on the table's fidelities.

``PYTHONPATH=. benchmarks/peers/envs/dehb/bin/python -m benchmarks.peers.run_dehb
--problem nb201/cifar10 --seed 3 --budget 100 --out run.csv``
"""

from __future__ import annotations

import tempfile
from typing import Any

from loguru import logger

from benchmarks.peers.common import CallbackTimer, Run, Stopwatch, main_loop
from benchmarks.peers.spaces import configspace


def _run_de(run: Run, out_dir: str) -> None:
    from dehb import DE

    timer = CallbackTimer()

    def f(config: Any, **_: Any) -> dict[str, float]:
        with timer.objective() as overhead:
            loss = run.evaluate(dict(config), overhead)
        return {"fitness": loss, "cost": run.problem.cost(None)}

    timer.start()
    de = DE(
        cs=configspace(run.problem, run.seed),
        f=f,
        mutation_factor=0.5,
        crossover_prob=0.5,
        seed=run.seed,
        output_path=out_dir,
    )
    if run.cost_budget is not None or run.budget is None:
        generations = 10**6  # stopped by the cost budget
    else:
        generations = -(-max(run.budget - de.pop_size, 0) // de.pop_size)
    de.run(generations=generations)  # stops with BudgetExhausted at the budget


def _run_dehb(run: Run, out_dir: str) -> None:
    from dehb import DEHB

    spec = run.problem.fidelity
    kwargs: dict[str, Any] = {}
    if spec.values is not None and len(spec.values) == 2:
        kwargs["eta"] = spec.values[1] / spec.values[0]
    watch = Stopwatch()
    with watch.time():
        dehb = DEHB(
            cs=configspace(run.problem, run.seed),
            min_fidelity=spec.lower,
            max_fidelity=spec.upper,
            n_workers=1,
            seed=run.seed,
            output_path=out_dir,
            **kwargs,
        )
    while not run.done:
        with watch.time():
            job = dehb.ask()
        loss = run.evaluate(dict(job["config"]), watch.take(), job["fidelity"])
        cost = run.problem.cost(run.fidelity(job["fidelity"]))
        with watch.time():
            dehb.tell(job, {"fitness": loss, "cost": cost})


def run_one(run: Run) -> None:
    """One run until the budget is used (DE without fidelity, DEHB with one)."""
    logger.disable("dehb")
    with tempfile.TemporaryDirectory(prefix="dehb_") as out_dir:
        if run.problem.fidelity is None:
            _run_de(run, out_dir)
        else:
            _run_dehb(run, out_dir)


if __name__ == "__main__":
    main_loop("dehb", run_one)
