"""Optuna (TPESampler, GPSampler, NSGAIISampler) on a jahs-bo benchmark through Optuna's ask/tell API.

``PYTHONPATH=. benchmarks/peers/envs/optuna/bin/python -m benchmarks.peers.run_optuna
--problem nb201/cifar10 --optimizer optuna-tpe --seed 3 --budget 100 --out run.csv``

The samplers keep their defaults except the seed (TPE: 10 random start-up trials; GP: 10;
NSGA-II: population 50). All three handle several objectives (``nb201-mo``).
On a multi-fidelity problem every evaluation runs at the full fidelity.
"""

from __future__ import annotations

import optuna

from benchmarks.peers.common import Run, Stopwatch, main_loop


def distributions(problem) -> dict[str, optuna.distributions.BaseDistribution]:
    """The problem's plain params as Optuna distributions."""
    out: dict[str, optuna.distributions.BaseDistribution] = {}
    for p in problem.params:
        if p.kind == "categorical":
            out[p.name] = optuna.distributions.CategoricalDistribution(list(p.choices))
        elif p.kind == "int":
            out[p.name] = optuna.distributions.IntDistribution(
                int(p.lower), int(p.upper), log=p.log
            )
        else:
            out[p.name] = optuna.distributions.FloatDistribution(p.lower, p.upper, log=p.log)
    return out


def run_one(run: Run) -> None:
    """Ask/tell until the run's budget is used; ask + tell time is the overhead."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if run.optimizer == "optuna-tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=run.seed)
    elif run.optimizer == "optuna-gp":
        sampler = optuna.samplers.GPSampler(seed=run.seed)
    elif run.optimizer == "optuna-nsga2":
        sampler = optuna.samplers.NSGAIISampler(seed=run.seed)
    else:
        raise ValueError(
            f"unknown optimizer {run.optimizer!r}; use optuna-tpe, optuna-gp or optuna-nsga2"
        )
    dists = distributions(run.problem)
    watch = Stopwatch()
    with watch.time():
        study = optuna.create_study(
            directions=["minimize"] * len(run.problem.objectives), sampler=sampler
        )
    while not run.done:
        with watch.time():
            trial = study.ask(dists)
        losses = run.evaluate_all(trial.params, watch.take())
        with watch.time():
            study.tell(trial, losses if len(losses) > 1 else losses[0])


if __name__ == "__main__":
    main_loop("optuna", run_one)
