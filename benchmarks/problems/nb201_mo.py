"""Multi-objective NB201: validation error vs measured latency (and optionally parameters).

All objectives are minimized. The true Pareto front is computed from the full table; hypervolumes
are measured in objective space normalised by the front's ideal and nadir points, with the reference
point 1.1 in every normalised objective (so the front's own extreme points still contribute).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.problems.base import Fidelity, Problem
from benchmarks.problems.nb201 import (
    DATASETS,
    NB201_OPS,
    NB201_PARAMS,
    _sample,
    _space,
    config_arch,
    load_latency,
    load_table,
    lookup,
)

#: Normalised reference point coordinate (every objective).
REFERENCE = 1.1


def non_dominated_mask(Y: np.ndarray) -> np.ndarray:
    """Which rows of ``Y`` are Pareto-optimal under minimization.

    A row is dominated if another row is <= in every column and < in at least one; duplicate
    optimal rows are all kept. Rows are visited in lexicographic order, where a dominating row
    always comes before the rows it dominates, so each row is compared with the optimal rows found
    so far only (``O(n k m)`` for a front of ``k`` rows).

    Args:
        Y: ``n x m`` objective values.

    Returns:
        Boolean ``n`` mask.
    """
    Y = np.asarray(Y, dtype=float)
    order = np.lexsort(Y.T[::-1])
    mask = np.zeros(len(Y), dtype=bool)
    front = np.empty((0, Y.shape[1]))
    for i in order:
        y = Y[i]
        if len(front) and ((front <= y).all(1) & (front < y).any(1)).any():
            continue
        mask[i] = True
        front = np.vstack([front, y])
    return mask


def _objective_columns(dataset: str, device: str, params: bool) -> list[str]:
    cols = ["valid_error", f"latency_{device}"]
    return cols + ["params_M"] if params else cols


def _table_objectives(dataset: str, device: str, params: bool) -> np.ndarray:
    table, latency = load_table(), load_latency()
    valid = DATASETS[dataset]["valid"] + "_200"
    columns = [100.0 - table[valid].to_numpy(), latency[device].to_numpy()]
    if params:
        columns.append(table[DATASETS[dataset]["params"]].to_numpy())
    return np.stack(columns, axis=1)


@functools.lru_cache(maxsize=8)
def true_pareto_front(dataset: str = "cifar10", device: str = "pixel3", params: bool = False):
    """The Pareto front of the whole table (minimization), sorted by the first objective.

    Returns:
        ``k x m`` array of objective values (error %, latency ms[, params M]).
    """
    Y = _table_objectives(dataset, device, params)
    front = np.unique(Y[non_dominated_mask(Y)], axis=0)
    return front[np.lexsort(front.T[::-1])]


def normalise(Y: np.ndarray, front: np.ndarray) -> np.ndarray:
    """``(Y - ideal) / (nadir - ideal)`` with ideal/nadir of ``front`` (``n x m``)."""
    ideal, nadir = front.min(0), front.max(0)
    return (np.asarray(Y, dtype=float) - ideal) / (nadir - ideal)


def hypervolume(Y: np.ndarray, front: np.ndarray, reference: float = REFERENCE) -> float:
    """Hypervolume dominated by ``Y`` (minimization) in the space normalised by ``front``.

    Uses botorch's ``Hypervolume`` (imported here, so this module stays importable without torch).

    Args:
        Y: ``n x m`` objective values; points not better than the reference contribute nothing.
        front: ``k x m`` true Pareto front defining the normalisation.
        reference: Reference coordinate in every normalised objective.
    """
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume
    from botorch.utils.multi_objective.pareto import is_non_dominated

    Z = normalise(Y, front)
    Z = Z[(reference > Z).all(1)]
    if len(Z) == 0:
        return 0.0
    m = Z.shape[1]
    # botorch maximizes: negate objectives and reference.
    pts = -torch.as_tensor(Z, dtype=torch.double)
    pts = pts[is_non_dominated(pts)]
    hv = Hypervolume(ref_point=torch.full((m,), -reference, dtype=torch.double))
    return float(hv.compute(pts))


def _evaluate(
    dataset: str, device: str, config: Mapping[str, Any], fidelity: Fidelity | None
) -> dict[str, float]:
    arch = config_arch(config)
    row = lookup(arch)
    valid = float(row[DATASETS[dataset]["valid"] + "_200"])
    return {
        "valid_acc": valid,
        "valid_error": 100.0 - valid,
        "test_acc": float(row[DATASETS[dataset]["test"]]),
        "params_M": float(row[DATASETS[dataset]["params"]]),
        f"latency_{device}": float(load_latency().loc[arch, device]),
    }


def make_nb201_mo(
    dataset: str = "cifar10", device: str = "pixel3", params: bool = False
) -> Problem:
    """Minimize NB201 validation error (%) and latency on ``device`` (ms)[, params (M)].

    Args:
        dataset: NB201 dataset (only ``cifar10`` is registered).
        device: A device column of ``nb201_latency.csv.gz`` (e.g. ``pixel3``, ``raspi4``).
        params: Add the parameter count as a third objective.
    """
    params = params in (True, "true", "1", 1)
    devices = [c for c in load_latency().columns if c not in ("index", "arch_str")]
    if device not in devices:
        raise ValueError(f"unknown latency device {device!r}; use one of {devices}")
    objectives = tuple(_objective_columns(dataset, device, params))
    return Problem(
        name=f"nb201-mo/{dataset}",
        params=NB201_PARAMS,
        objectives=objectives,
        directions=("minimize",) * len(objectives),
        evaluate_fn=functools.partial(_evaluate, dataset, device),
        cost_fn=lambda f: 200.0,
        test_metric=None,
        space_factory=functools.partial(_space, False),
        sample_fn=functools.partial(_sample, NB201_OPS),
        pareto_front_fn=functools.partial(true_pareto_front, dataset, device, params),
        reference_point=(REFERENCE,) * len(objectives),
        description=(
            f"true Pareto front of {', '.join(objectives)} over the 15,625 cells; hypervolume in "
            f"objectives normalised by the front's ideal/nadir, reference {REFERENCE}"
        ),
    )
