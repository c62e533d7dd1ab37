"""Benchmark problems on the shipped data: NB201 (single-, multi-fidelity, multi-objective), LCBench,
real training on scikit-learn's digits (``digits-nas/{grammar,nb201}``, torch imported lazily) and
the digits multi-task table (``digits-tasks/<task>``).

Torch-free and jahs_bo-free: peer runners import this package with only numpy, pandas and onnxruntime.
``Problem.space()`` builds the jahs-bo ``SearchSpace`` (importing jahs_bo on demand).

    from benchmarks.problems import get_problem
    problem = get_problem("nb201/cifar10")
    config = problem.sample(numpy.random.default_rng(0))[0]      # {"arch": "|...|"}
    problem(config)                                               # validation accuracy (%)
"""

from __future__ import annotations

import functools

from benchmarks.problems.base import (
    DATA_DIR,
    FidelitySpec,
    Param,
    Problem,
    get_problem,
    list_problems,
    parse_options,
    register_problem,
    split_spec,
)
from benchmarks.problems.curves import CurveRecorder, columns_for, config_json
from benchmarks.problems.nb201 import NB201_OPS, NB201_PARAMS, nb201_arch_str, nb201_ops

__all__ = [
    "DATA_DIR",
    "NB201_OPS",
    "NB201_PARAMS",
    "CurveRecorder",
    "FidelitySpec",
    "Param",
    "Problem",
    "columns_for",
    "config_json",
    "get_problem",
    "list_problems",
    "nb201_arch_str",
    "nb201_ops",
    "parse_options",
    "register_problem",
    "split_spec",
]


@functools.lru_cache(maxsize=1)
def _register_all() -> None:
    """Register the built-in problems (cheap: data is loaded when a problem is built)."""
    from benchmarks.problems.digits_nas.problem import make_digits_nas
    from benchmarks.problems.digits_tasks.problem import make_digits_task
    from benchmarks.problems.digits_tasks.tasks import TASKS
    from benchmarks.problems.lcbench import lcbench_tasks, make_lcbench
    from benchmarks.problems.nb201 import DATASETS, make_nb201, make_nb201_ops
    from benchmarks.problems.nb201_mo import make_nb201_mo

    for dataset in DATASETS:
        register_problem(f"nb201/{dataset}", functools.partial(make_nb201, dataset))
        register_problem(f"nb201-mf/{dataset}", functools.partial(make_nb201, dataset, True))
        register_problem(f"nb201-4op/{dataset}", functools.partial(make_nb201_ops, dataset))
    register_problem("nb201-mo/cifar10", functools.partial(make_nb201_mo, "cifar10"))
    for space_name in ("grammar", "nb201"):
        register_problem(f"digits-nas/{space_name}", functools.partial(make_digits_nas, space_name))
        register_problem(
            f"digits-nas-mf/{space_name}",
            functools.partial(make_digits_nas, space_name, multi_fidelity=True),
        )
    for task in TASKS:
        register_problem(f"digits-tasks/{task}", functools.partial(make_digits_task, task))
    for task in lcbench_tasks():
        register_problem(f"lcbench/{task}", functools.partial(make_lcbench, task))
