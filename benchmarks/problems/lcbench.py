"""LCBench problems: the YAHPO Gym LCBench surrogate (ONNX) over 34 OpenML tasks.

Seven hyperparameters of a funnel-shaped MLP trained with SGD (``num_layers`` and ``max_units`` are
its architecture) and the fidelity ``epoch`` in 1..52. The objective is the surrogate's predicted
validation accuracy (%), maximized. ``onnxruntime`` is imported on first evaluation (extra ``bench``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems.base import DATA_DIR, Fidelity, FidelitySpec, Param, Problem

LCBENCH_DIR = DATA_DIR / "lcbench"
REFERENCE_FILE = Path(__file__).resolve().parent / "lcbench_reference.json"

#: The seven hyperparameters (ranges of the surrogate's ConfigSpace), in the model's input order.
LCBENCH_PARAMS: tuple[Param, ...] = (
    Param("batch_size", "int", lower=16, upper=512, log=True),
    Param("learning_rate", "float", lower=1e-4, upper=1e-1, log=True),
    Param("momentum", "float", lower=0.1, upper=0.99),
    Param("weight_decay", "float", lower=1e-5, upper=0.1),
    Param("num_layers", "int", lower=1, upper=5),
    Param("max_units", "int", lower=64, upper=1024, log=True),
    Param("max_dropout", "float", lower=0.0, upper=1.0),
)
#: Surrogate output columns.
OUTPUTS: tuple[str, ...] = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
EPOCH = FidelitySpec("epoch", 1.0, 52.0, integer=True)


@functools.lru_cache(maxsize=1)
def lcbench_tasks() -> tuple[str, ...]:
    """The 34 OpenML task ids of the surrogate's space, as strings."""
    space = json.loads((LCBENCH_DIR / "config_space.json").read_text())
    hp = next(h for h in space["hyperparameters"] if h["name"] == "OpenML_task_id")
    return tuple(hp["choices"])


@functools.lru_cache(maxsize=1)
def _task_codes() -> dict[str, int]:
    return json.loads((LCBENCH_DIR / "encoding.json").read_text())["OpenML_task_id"]


@functools.lru_cache(maxsize=1)
def _session() -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise ImportError(
            "LCBench problems need onnxruntime: pip install 'jahs-bo[bench]' (or onnxruntime)"
        ) from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(LCBENCH_DIR / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )


def predict(task: str, configs: Sequence[Mapping[str, Any]], epochs: Sequence[float]) -> np.ndarray:
    """Surrogate predictions for a batch.

    Args:
        task: OpenML task id (string), one of :func:`lcbench_tasks`.
        configs: ``n`` configurations with the seven hyperparameters.
        epochs: ``n`` epochs (1..52).

    Returns:
        ``n x 6`` float array, columns :data:`OUTPUTS` (accuracies in % for ``val_accuracy``,
        in [0, 1] for the balanced accuracies).
    """
    if task not in lcbench_tasks():
        raise ValueError(f"unknown LCBench task {task!r}; use one of {list(lcbench_tasks())}")
    x = np.empty((len(configs), 8), dtype=np.float32)
    x[:, 0] = np.asarray(epochs, dtype=np.float32)
    for j, p in enumerate(LCBENCH_PARAMS, start=1):
        try:
            x[:, j] = [float(c[p.name]) for c in configs]
        except KeyError:
            raise ValueError(f"LCBench config is missing {p.name!r}") from None
    return predict_array(task, x)


def predict_array(task: str, x_cont: np.ndarray) -> np.ndarray:
    """Surrogate predictions for raw inputs ``n x 8`` (epoch then the seven hyperparameters)."""
    code = _task_codes()[task]
    x_cat = np.full((len(x_cont), 1), code, dtype=np.int32)
    (out,) = _session().run(None, {"x_cat": x_cat, "x_cont": x_cont.astype(np.float32)})
    return np.asarray(out, dtype=float)


def _check_config(config: Mapping[str, Any]) -> None:
    for p in LCBENCH_PARAMS:
        if p.name not in config:
            raise ValueError(f"LCBench config is missing {p.name!r}")
        v = float(config[p.name])
        if not p.lower <= v <= p.upper:  # type: ignore[operator]
            raise ValueError(f"LCBench {p.name}={v!r} is outside [{p.lower}, {p.upper}]")


def _evaluate(task: str, config: Mapping[str, Any], fidelity: Fidelity | None) -> dict[str, float]:
    _check_config(config)
    epoch = (fidelity or {}).get("epoch", EPOCH.upper)
    out = predict(task, [config], [epoch])[0]
    metrics = dict(zip(OUTPUTS, map(float, out), strict=True))
    metrics["epoch"] = float(epoch)
    return metrics


@functools.lru_cache(maxsize=1)
def load_reference() -> dict[str, Any]:
    """The committed reference optima (see :mod:`benchmarks.problems.make_lcbench_reference`)."""
    if not REFERENCE_FILE.exists():
        raise FileNotFoundError(
            f"{REFERENCE_FILE} is missing; run `python -m benchmarks.problems.make_lcbench_reference`"
        )
    return json.loads(REFERENCE_FILE.read_text())


def _space() -> Any:
    from jahs_bo.spaces import lcbench_space

    return lcbench_space()


def make_lcbench(task: str) -> Problem:
    """LCBench on OpenML ``task``: maximize the surrogate's validation accuracy (%)."""
    if task not in lcbench_tasks():
        raise ValueError(f"unknown LCBench task {task!r}; use one of {list(lcbench_tasks())}")
    ref = load_reference()
    entry = ref["tasks"][task]
    return Problem(
        name=f"lcbench/{task}",
        params=LCBENCH_PARAMS,
        objectives=("val_accuracy",),
        directions=("maximize",),
        evaluate_fn=functools.partial(_evaluate, task),
        optimum=float(entry["val_accuracy"]),
        fidelity=EPOCH,
        cost_fn=lambda f: float(f.get("epoch", EPOCH.upper)),
        test_metric="test_balanced_accuracy",
        space_factory=_space,
        description=(
            f"best val_accuracy at epoch 52 of {ref['n_samples']:,} uniform random configurations "
            f"(seed {ref['seed']})"
        ),
    )
