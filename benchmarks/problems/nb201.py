"""NAS-Bench-201 problems: table look-ups of the shipped ``nb201.csv.gz``.

The space is the NB201 cell: six edges, each one of five operations. In plain form a configuration
is ``{"Op1": ..., ..., "Op6": ...}`` with edges in the order of the official string
(1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2); jahs-bo's form is ``{"arch": "<official string>"}``.
Both are accepted by every NB201 problem.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.problems.base import DATA_DIR, Config, Fidelity, FidelitySpec, Param, Problem

#: The five NB201 operations, in the index order of the table's ``op_e*`` columns.
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: ``(to_node, from_node)`` of edges Op1..Op6, the order of the official string.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: Plain space description: six categoricals.
NB201_PARAMS: tuple[Param, ...] = tuple(
    Param(f"Op{i + 1}", "categorical", choices=NB201_OPS) for i in range(6)
)

#: Table columns per dataset: (validation accuracy prefix, test accuracy column, params column).
DATASETS: dict[str, dict[str, str]] = {
    "cifar10": {"valid": "c10v_valid_acc", "test": "c10_test_acc_200", "params": "c10_params_M"},
    "cifar100": {"valid": "c100_valid_acc", "test": "c100_test_acc_200", "params": "c100_params_M"},
    "imagenet16": {
        "valid": "in16_valid_acc",
        "test": "in16_test_acc_200",
        "params": "in16_params_M",
    },
}
#: Known optima of the shipped table (value, index), from benchmarks/data/README.md.
KNOWN_OPTIMA: dict[str, tuple[float, int | None]] = {
    "c10v_valid_acc_200": (91.6067, 6111),
    "c10_test_acc_200": (94.3733, 6111),
    "c100_test_acc_200": (73.5133, 9930),
    "in16_test_acc_200": (47.3111, 857),
    "c100_valid_acc_200": (73.4933, None),
    "in16_valid_acc_200": (46.7333, None),
}
EPOCHS: tuple[float, ...] = (12.0, 200.0)
#: The four operations of TransNAS-Bench-101's micro cell (zeroize, skip, conv 1x1, conv 3x3): the
#: NB201 table restricted to them is a 4^6 = 4,096-cell space with another operation set.
TNB_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")


def nb201_arch_str(ops: Sequence[str]) -> str:
    """The official NB201 string of six edge operations (``Op1..Op6`` order).

    Example: ``nb201_arch_str(["nor_conv_3x3"] * 6)`` is
    ``"|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"``.

    Raises:
        ValueError: Not six operations, or an unknown operation.
    """
    ops = list(ops)
    if len(ops) != 6:
        raise ValueError(f"an NB201 cell has 6 edges; got {len(ops)} operations {ops!r}")
    for op in ops:
        if op not in NB201_OPS:
            raise ValueError(f"unknown NB201 operation {op!r}; use one of {list(NB201_OPS)}")
    groups = []
    for node in (1, 2, 3):
        edges = [f"{ops[i]}~{j}" for i, (k, j) in enumerate(NB201_EDGES) if k == node]
        groups.append("|" + "|".join(edges) + "|")
    return "+".join(groups)


def nb201_ops(arch: str) -> list[str]:
    """Inverse of :func:`nb201_arch_str`: the six operations of an official string.

    Raises:
        ValueError: ``arch`` is not an official NB201 string.
    """
    try:
        groups = [g.strip("|").split("|") for g in str(arch).split("+")]
        parsed = {
            (k + 1, int(e.split("~")[1])): e.split("~")[0] for k, g in enumerate(groups) for e in g
        }
        ops = [parsed[edge] for edge in NB201_EDGES]
    except (IndexError, KeyError, ValueError):
        raise ValueError(
            f"{arch!r} is not an NB201 cell string; expected e.g. "
            "'|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|'"
        ) from None
    if len(parsed) != 6 or nb201_arch_str(ops) != arch:
        raise ValueError(f"{arch!r} is not a canonical NB201 cell string")
    return ops


def config_arch(config: Mapping[str, Any]) -> str:
    """The official string of a config in either form (``arch`` key or ``Op1..Op6``)."""
    if "arch" in config:
        return str(config["arch"])
    try:
        return nb201_arch_str([config[f"Op{i + 1}"] for i in range(6)])
    except KeyError:
        raise ValueError(
            f"config {dict(config)!r} has neither 'arch' nor all of Op1..Op6"
        ) from None


def check_optima(table: pd.DataFrame) -> None:
    """Check that ``table`` reproduces :data:`KNOWN_OPTIMA` (value within 1e-3 and index).

    Raises:
        RuntimeError: A known optimum does not match (corrupt or different data).
    """
    for column, (value, index) in KNOWN_OPTIMA.items():
        best = int(np.argmax(table[column].to_numpy()))
        got, got_index = float(table[column].iloc[best]), int(table["index"].iloc[best])
        if abs(got - value) > 1e-3 or (index is not None and got_index != index):
            raise RuntimeError(
                f"nb201.csv.gz: best {column} is {got:.4f} at index {got_index}, expected "
                f"{value} at {index}; the data is not the shipped table (restore "
                "benchmarks/data/nb201.csv.gz from git)"
            )


@functools.lru_cache(maxsize=1)
def load_table() -> pd.DataFrame:
    """The NB201 table indexed by official string; checks the known optima.

    Raises:
        RuntimeError: The shipped table does not reproduce a known optimum (corrupt data).
    """
    table = pd.read_csv(DATA_DIR / "nb201.csv.gz")
    check_optima(table)
    return table.set_index("arch_str", drop=False)


@functools.lru_cache(maxsize=1)
def load_latency() -> pd.DataFrame:
    """The NB201 latency table (ms per device column) indexed by official string."""
    table = pd.read_csv(DATA_DIR / "nb201_latency.csv.gz")
    return table.set_index("arch_str", drop=False)


def lookup(arch: str) -> pd.Series:
    """The table row of ``arch``.

    Raises:
        ValueError: ``arch`` is not one of the 15,625 cells.
    """
    table = load_table()
    try:
        return table.loc[arch]
    except KeyError:
        nb201_ops(arch)  # raises with a format hint if malformed
        raise ValueError(f"{arch!r} is not in the NB201 table") from None


def _metrics(row: pd.Series, dataset: str, epochs: float) -> dict[str, float]:
    cols = DATASETS[dataset]
    e = int(epochs)
    out = {
        "valid_acc": float(row[f"{cols['valid']}_{e}"]),
        "test_acc": float(row[cols["test"]]),
        "params_M": float(row[cols["params"]]),
        "epochs": float(e),
    }
    out["valid_error"] = 100.0 - out["valid_acc"]
    return out


def _evaluate(
    dataset: str, config: Mapping[str, Any], fidelity: Fidelity | None
) -> dict[str, float]:
    epochs = (fidelity or {}).get("epochs", 200.0)
    return _metrics(lookup(config_arch(config)), dataset, epochs)


def _sample(ops: Sequence[str], rng: np.random.Generator, n: int) -> list[Config]:
    idx = rng.integers(len(ops), size=(n, 6))
    return [{"arch": nb201_arch_str([ops[i] for i in row])} for row in idx]


def _space(fidelity: bool) -> Any:
    from jahs_bo.spaces import nb201_space

    return nb201_space(epochs=[int(e) for e in EPOCHS] if fidelity else None)


def _ops_space(ops: tuple[str, ...]) -> Any:
    from jahs_bo.spaces import SearchSpace
    from jahs_bo.spaces.nb201 import NB201Cell

    return SearchSpace(None, {"arch": NB201Cell(ops=ops)}, [], name=f"nb201-{len(ops)}op")


def _evaluate_ops(
    dataset: str, ops: tuple[str, ...], config: Mapping[str, Any], fidelity: Fidelity | None
) -> dict[str, float]:
    arch = config_arch(config)
    bad = sorted(set(nb201_ops(arch)) - set(ops))
    if bad:
        raise ValueError(f"{arch!r} uses {bad}, outside this problem's operations {list(ops)}")
    return _evaluate(dataset, config, fidelity)


def make_nb201(dataset: str, multi_fidelity: bool = False) -> Problem:
    """The NB201 problem on ``dataset``: maximize 200-epoch validation accuracy (%).

    Args:
        dataset: ``"cifar10"``, ``"cifar100"`` or ``"imagenet16"``.
        multi_fidelity: Add the fidelity ``epochs`` in {12, 200} (cost = epochs).
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown NB201 dataset {dataset!r}; use one of {sorted(DATASETS)}")
    column = f"{DATASETS[dataset]['valid']}_200"
    optimum = float(load_table()[column].max())
    prefix = "nb201-mf" if multi_fidelity else "nb201"
    return Problem(
        name=f"{prefix}/{dataset}",
        params=NB201_PARAMS,
        objectives=("valid_acc",),
        directions=("maximize",),
        evaluate_fn=functools.partial(_evaluate, dataset),
        optimum=optimum,
        fidelity=FidelitySpec("epochs", 12.0, 200.0, values=EPOCHS) if multi_fidelity else None,
        cost_fn=lambda f: float(f.get("epochs", 200.0)),
        test_metric="test_acc",
        space_factory=functools.partial(_space, multi_fidelity),
        sample_fn=functools.partial(_sample, NB201_OPS),
        description=f"max {column} over the 15,625 cells of the NB201 table",
    )


def make_nb201_ops(dataset: str, ops: Sequence[str] = TNB_OPS) -> Problem:
    """The NB201 problem on ``dataset`` restricted to cells over ``ops`` (default
    :data:`TNB_OPS`, TransNAS-Bench-101's micro operations): another operation set, looked up in
    the same table. Maximize 200-epoch validation accuracy (%); the optimum is the restricted
    table's.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown NB201 dataset {dataset!r}; use one of {sorted(DATASETS)}")
    ops = tuple(ops)
    unknown = sorted(set(ops) - set(NB201_OPS))
    if unknown or len(set(ops)) < 2:
        raise ValueError(f"ops must be at least two of {list(NB201_OPS)}, got {list(ops)}")
    column = f"{DATASETS[dataset]['valid']}_200"
    table = load_table()
    inside = table["arch_str"].map(lambda a: set(nb201_ops(a)) <= set(ops))
    optimum = float(table.loc[inside.to_numpy(), column].max())
    return Problem(
        name=f"nb201-{len(ops)}op/{dataset}",
        params=tuple(Param(f"Op{i + 1}", "categorical", choices=ops) for i in range(6)),
        objectives=("valid_acc",),
        directions=("maximize",),
        evaluate_fn=functools.partial(_evaluate_ops, dataset, ops),
        optimum=optimum,
        cost_fn=lambda f: 200.0,
        test_metric="test_acc",
        space_factory=functools.partial(_ops_space, ops),
        sample_fn=functools.partial(_sample, ops),
        description=f"max {column} over the {len(ops) ** 6:,} NB201 cells over {list(ops)}",
    )
