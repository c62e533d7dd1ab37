"""The transfer benchmarks' tasks: which problems are held out and what their sources are.

A benchmark is a set of tasks on one search space. For a held-out task, the *sources* are
:class:`jahs_bo.metalearn.TaskData` tables of every other task (what a user would have from
earlier searches), the meta-model is trained on them and the warm-start portfolio is drawn
from them; the held-out task is then searched through its harness problem
(:func:`benchmarks.problems.get_problem`).

- ``nb201``: CIFAR-10, CIFAR-100 and ImageNet16-120 of the shipped NAS-Bench-201 table; a
  source is every one of the 15,625 cells with its 200-epoch validation accuracy.
- ``nb201-adversarial``: the NB201 tasks with every source's values negated (its worst cells
  look best): sources that contradict the target, to show the negative-transfer guard at work.
- ``lcbench``: the 34 OpenML tasks of the LCBench surrogate; a source is ``N_LCBENCH``
  configurations drawn uniformly (log-uniform where the range is log-scaled) with
  ``numpy.random.default_rng(LCBENCH_SOURCE_SEED)``, the same draws for every task, with the
  surrogate's validation accuracy at epoch 52.
- ``digits``: the six tasks of the digits-tasks table (``benchmarks.problems.digits_tasks``); a
  source is every one of the 1,458 configurations with its validation accuracy, and carries
  :data:`N_DIGITS_SAMPLES` training images of its task for the dataset encoder; the held-out
  task's images go to the transfer searcher (``searcher_options["dataset"]``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: NB201 dataset -> 200-epoch validation accuracy column of the shipped table.
NB201_COLUMNS = {
    "cifar10": "c10v_valid_acc_200",
    "cifar100": "c100_valid_acc_200",
    "imagenet16": "in16_valid_acc_200",
}
#: Configurations per LCBench source task.
N_LCBENCH = 3000
LCBENCH_SOURCE_SEED = 0
#: The LCBench tasks held out by default: the three of the LCBench tables
#: (``benchmarks/results/lcbench``) and seven more drawn with ``default_rng(LCBENCH_HELDOUT_SEED)``.
LCBENCH_TABLE_TASKS = ("3945", "7593", "168329")
LCBENCH_HELDOUT_SEED = 12
#: Image samples ``(X, y)`` per digits task given to the dataset encoder (its whole training set).
N_DIGITS_SAMPLES = 200
#: Configurations in the warm-start portfolio of the ``portfolio`` method.
PORTFOLIO_SIZE = 10


BENCHMARKS = ("nb201", "nb201-adversarial", "lcbench", "digits")


@dataclass(frozen=True)
class Benchmark:
    """One transfer benchmark.

    Attributes:
        name: One of :data:`BENCHMARKS`.
        kind: The problem family (``"nb201"``, ``"lcbench"`` or ``"digits-tasks"``).
        tasks: Every task name.
        heldout: The tasks held out by default.
        negate: Sources carry their values negated (``nb201-adversarial``).
    """

    name: str
    kind: str
    tasks: tuple[str, ...]
    heldout: tuple[str, ...]
    negate: bool = False

    def problem(self, task: str) -> str:
        """The harness problem of ``task``."""
        return f"{self.kind}/{task}"

    def space(self) -> Any:
        """The search space every task shares."""
        from benchmarks.problems import get_problem

        return get_problem(self.problem(self.tasks[0])).space()

    def sources(self, heldout: str, samples: bool = True) -> list[Any]:
        """``TaskData`` of every task but ``heldout`` (``samples=False``: without dataset samples)."""
        if heldout not in self.tasks:
            raise ValueError(f"unknown {self.name} task {heldout!r}; use one of {self.tasks}")
        tasks = [source(self.kind, t) for t in self.tasks if t != heldout]
        if not samples:
            tasks = [dataclasses.replace(t, dataset=None) for t in tasks]
        if self.negate:
            from jahs_bo.metalearn import TaskData

            tasks = [TaskData(t.configs, -np.asarray(t.values), name=f"-{t.name}") for t in tasks]
        return tasks

    def dataset(self, task: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Samples ``(X, y)`` of ``task``'s dataset, where the benchmark has them."""
        if self.kind == "digits-tasks":
            from benchmarks.problems.digits_tasks.tasks import task_samples

            return task_samples(task, N_DIGITS_SAMPLES)
        return None


def benchmark(name: str) -> Benchmark:
    """The benchmark called ``name`` (one of :data:`BENCHMARKS`)."""
    if name in ("nb201", "nb201-adversarial"):
        tasks = tuple(NB201_COLUMNS)
        return Benchmark(name, "nb201", tasks, tasks, negate=name == "nb201-adversarial")
    if name == "lcbench":
        from benchmarks.problems.lcbench import lcbench_tasks

        tasks = lcbench_tasks()
        others = sorted(t for t in tasks if t not in LCBENCH_TABLE_TASKS)
        rng = np.random.default_rng(LCBENCH_HELDOUT_SEED)
        drawn = [others[i] for i in sorted(rng.choice(len(others), 7, replace=False))]
        return Benchmark("lcbench", "lcbench", tasks, (*LCBENCH_TABLE_TASKS, *drawn))
    if name == "digits":
        from benchmarks.problems.digits_tasks.tasks import TASKS

        return Benchmark("digits", "digits-tasks", tuple(TASKS), tuple(TASKS))
    raise ValueError(f"unknown transfer benchmark {name!r}; use one of {BENCHMARKS}")


@functools.lru_cache(maxsize=64)
def source(bench: str, task: str) -> Any:
    """The ``TaskData`` of one task (cached per process)."""
    from jahs_bo.metalearn import TaskData

    if bench == "nb201":
        from benchmarks.problems.nb201 import load_table

        table = load_table()
        configs = [{"arch": a} for a in table["arch_str"]]
        return TaskData(configs, table[NB201_COLUMNS[task]].to_numpy(), name=task)
    if bench == "lcbench":
        configs, x = _lcbench_draws()
        from benchmarks.problems.lcbench import OUTPUTS, predict_array

        values = predict_array(task, x)[:, OUTPUTS.index("val_accuracy")]
        return TaskData(list(configs), values, name=task)
    if bench == "digits-tasks":
        from benchmarks.problems.digits_tasks.problem import task_table
        from benchmarks.problems.digits_tasks.tasks import task_samples

        table = task_table(task)
        configs = [{"arch": arch, "lr": lr} for arch, lr in table]
        values = np.array([m["val_acc"] for m in table.values()])
        return TaskData(configs, values, dataset=task_samples(task, N_DIGITS_SAMPLES), name=task)
    raise ValueError(f"unknown transfer benchmark {bench!r}")


@functools.lru_cache(maxsize=1)
def _lcbench_draws() -> tuple[Sequence[dict[str, Any]], np.ndarray]:
    """The LCBench source configurations and the surrogate's ``n x 8`` inputs at epoch 52."""
    from benchmarks.problems.lcbench import LCBENCH_PARAMS

    rng = np.random.default_rng(LCBENCH_SOURCE_SEED)
    columns = [p.sample(rng, N_LCBENCH).astype(float) for p in LCBENCH_PARAMS]
    x = np.column_stack([np.full(N_LCBENCH, 52.0), *columns]).astype(np.float32)
    configs = tuple(
        {
            p.name: int(columns[j][i]) if p.kind == "int" else float(columns[j][i])
            for j, p in enumerate(LCBENCH_PARAMS)
        }
        for i in range(N_LCBENCH)
    )
    return configs, x


#: How the ``portfolio`` row is made, for the reports.
PORTFOLIO_NOTE = (
    "`portfolio`: the GP searcher after the greedy complementary portfolio of the sources' best "
    "configurations (`create_study(warm_start=sources, warm_start_size=10)`, the first 10 "
    'evaluations); `transfer`: `searcher="transfer"` with its defaults (5 zero-shot '
    "suggestions, then the fine-tuned meta-model GP behind the negative-transfer guard); "
    "`gp`, `re`, `random`: no transfer."
)
