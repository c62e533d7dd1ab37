"""``digits-tasks/<task>``: the committed digits-tasks table as a look-up benchmark ``Problem``.

The objective is the validation accuracy (%) after the table's brief training; the optimum is the
task's best entry, so the regret is its distance to the best of the 1,458 configurations.
Configurations are ``{"arch": <NB201 cell string over OPS>, "lr": 0.05 | 0.2}`` (peers may pass the
cell as ``Op1..Op6`` and the learning rate as a string).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.problems.base import Config, Fidelity, Param, Problem
from benchmarks.problems.digits_tasks.space import LEARNING_RATES, OPS

PARAMS: tuple[Param, ...] = (
    *(Param(f"Op{i + 1}", "categorical", choices=OPS) for i in range(6)),
    Param("lr", "categorical", choices=tuple(str(lr) for lr in LEARNING_RATES)),
)


@functools.lru_cache(maxsize=1)
def load_table() -> Any:
    """The committed table (``pandas.DataFrame``: task, arch, lr, val_acc, test_acc, ...)."""
    import pandas as pd

    from benchmarks.problems.digits_tasks.generate import TABLE

    if not TABLE.exists():
        raise FileNotFoundError(
            f"{TABLE} is missing; build it with `python -m benchmarks.problems.digits_tasks."
            "generate train` and `... generate pack`"
        )
    return pd.read_csv(TABLE)


@functools.lru_cache(maxsize=8)
def task_table(task: str) -> dict[tuple[str, float], dict[str, float]]:
    """``(arch, lr) -> metrics`` of one task."""
    df = load_table()
    rows = df[df["task"] == task]
    if rows.empty:
        raise ValueError(f"unknown digits task {task!r}; use one of {sorted(set(df['task']))}")
    metrics = ("val_acc", "test_acc", "seconds", "params")
    return {
        (str(r.arch), float(r.lr)): {m: float(getattr(r, m)) for m in metrics}
        for r in rows.itertuples(index=False)
    }


def _key(config: Mapping[str, Any]) -> tuple[str, float]:
    from benchmarks.problems.nb201 import nb201_arch_str

    if "arch" in config:
        arch = str(config["arch"])
    else:
        arch = nb201_arch_str([config[f"Op{i + 1}"] for i in range(6)])
    lr = float(config["lr"])
    # snap to the table's value (a float32 0.05 is not the float64 0.05)
    nearest = min(LEARNING_RATES, key=lambda v: abs(v - lr))
    return arch, nearest if abs(nearest - lr) <= 1e-6 * nearest else lr


def _evaluate(task: str, config: Config, fidelity: Fidelity | None) -> dict[str, float]:
    key = _key(config)
    table = task_table(task)
    if key not in table:
        raise ValueError(f"{key!r} is not a configuration of the digits-tasks space")
    return dict(table[key])


def _sample(rng: np.random.Generator, n: int) -> list[Config]:
    cells = rng.integers(len(OPS), size=(n, 6))
    lrs = rng.integers(len(LEARNING_RATES), size=n)
    from benchmarks.problems.nb201 import nb201_arch_str

    return [
        {"arch": nb201_arch_str([OPS[i] for i in cell]), "lr": LEARNING_RATES[j]}
        for cell, j in zip(cells, lrs, strict=True)
    ]


def _space() -> Any:
    from benchmarks.problems.digits_tasks.space import space

    return space()


def make_digits_task(task: str) -> Problem:
    """The look-up problem of one digits task (see :mod:`.tasks`)."""
    table = task_table(task)
    return Problem(
        name=f"digits-tasks/{task}",
        params=PARAMS,
        objectives=("val_acc",),
        directions=("maximize",),
        evaluate_fn=functools.partial(_evaluate, task),
        optimum=max(m["val_acc"] for m in table.values()),
        test_metric="test_acc",
        space_factory=_space,
        sample_fn=_sample,
        description=f"max validation accuracy over the {len(table)} configurations of {task!r}",
    )
