"""Good and misleading expert priors for NB201 and LCBench, built reproducibly from the data.

* NB201 (``nb201_op_prior``): the op frequencies of the best ``quantile`` of the 15,625 cells
  (CIFAR-10 validation accuracy after 200 epochs) for the *good* prior, of the worst ``quantile``
  for the *misleading* one, each smoothed by ``smoothing`` so that no op has weight 0; counted
  over all six edges together (kinds ``good``, ``misleading``: one op prior every edge shares) or
  per edge (kinds ``good-edge``, ``misleading-edge``: ``NB201Cell``'s per-edge prior, which can
  say "the input reaches the output through a skip connection").
* LCBench (``lcbench_prior_space``): every hyperparameter's default set near the task's reference
  best configuration (``benchmarks/problems/lcbench_reference.json``) for the *good* prior (its
  vector value moved :data:`NEAR_SHIFT` towards the middle of ConfigSpace's unit cube, so that
  the prior's centre is a good guess, not the answer), or to its mirror image in the unit cube
  (vector ``v -> 1 - v``, the far side of every range) for the *misleading* one, with one
  ``prior_confidence`` for all of them.

No randomness is involved: the same data give the same priors.

Usage::

    python -m benchmarks.priors.make_priors --out benchmarks/priors/spaces
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Literal

import ConfigSpace as CS
import numpy as np
import pandas as pd

from jahs_bo.spaces import NB201Cell, SearchSpace, lcbench_space, nb201_space
from jahs_bo.spaces.nb201 import NB201_EDGE_NAMES, NB201_OPS

Kind = Literal["good", "misleading", "good-edge", "misleading-edge"]
KINDS: tuple[str, ...] = ("good", "misleading", "good-edge", "misleading-edge")
#: Kinds built for NB201 only (LCBench has no edges).
EDGE_KINDS: tuple[str, ...] = ("good-edge", "misleading-edge")
REFERENCE = Path(__file__).resolve().parents[1] / "problems" / "lcbench_reference.json"
METRIC = "c10v_valid_acc_200"
#: How far (unit-cube vector space) the good LCBench prior's centre lies from the reference.
NEAR_SHIFT = 0.05


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")


def nb201_op_prior(
    kind: Kind,
    table: pd.DataFrame | None = None,
    quantile: float = 0.01,
    smoothing: float = 0.02,
) -> dict[str, Any]:
    """Op probabilities of the best (``good*``) or worst (``misleading*``) cells of the table.

    Args:
        kind: ``"good"`` / ``"misleading"`` (one op prior for every edge) or ``"good-edge"`` /
            ``"misleading-edge"`` (edge name -> op prior, ``NB201Cell``'s per-edge form).
        table: The NB201 table (default :func:`benchmarks.problems.nb201.load_table`).
        quantile: Fraction of cells the frequencies are counted over.
        smoothing: Added to every op's frequency before normalising.
    """
    _check_kind(kind)
    if not 0.0 < quantile <= 1.0:
        raise ValueError(f"quantile must lie in (0, 1], got {quantile}")
    if table is None:
        from benchmarks.problems.nb201 import load_table

        table = load_table()
    k = max(1, int(round(quantile * len(table))))
    ranked = table.sort_values(METRIC, ascending=kind.startswith("misleading"), kind="stable")
    dom = NB201Cell()
    counts = np.zeros((dom.n_edges, len(NB201_OPS)))
    for arch in ranked["arch_str"].iloc[:k]:
        counts[np.arange(dom.n_edges), dom.to_index_tuple(arch)] += 1
    if kind in EDGE_KINDS:
        return {
            edge: _smoothed(row, smoothing)
            for edge, row in zip(NB201_EDGE_NAMES, counts, strict=True)
        }
    return _smoothed(counts.sum(axis=0), smoothing)


def _smoothed(counts: np.ndarray, smoothing: float) -> dict[str, float]:
    """Op name -> frequency plus ``smoothing``, normalised and rounded to 6 decimals."""
    freq = counts / counts.sum() + smoothing
    return {op: round(float(f / freq.sum()), 6) for op, f in zip(NB201_OPS, freq, strict=True)}


def nb201_prior_space(
    kind: Kind, table: pd.DataFrame | None = None, **kwargs: float
) -> SearchSpace:
    """:func:`~jahs_bo.spaces.nb201_space` whose cell carries :func:`nb201_op_prior`."""
    base = nb201_space()
    cell = NB201Cell(op_prior=nb201_op_prior(kind, table, **kwargs))
    return SearchSpace(None, {"arch": cell}, list(base.fidelities.values()), f"nb201-{kind}")


def lcbench_reference(path: Path = REFERENCE) -> dict[str, dict]:
    """The reference best configuration of every LCBench task, by task id."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {task: entry["config"] for task, entry in data["tasks"].items()}


def _with_default(hp: CS.hyperparameters.Hyperparameter, value: float) -> CS.Hyperparameter:
    """A copy of the uniform ``hp`` whose default is ``value`` (clipped into its range)."""
    value = min(max(value, hp.lower), hp.upper)
    if isinstance(hp, CS.UniformIntegerHyperparameter):
        return CS.UniformIntegerHyperparameter(
            hp.name, hp.lower, hp.upper, log=hp.log, default_value=int(round(value))
        )
    return CS.UniformFloatHyperparameter(
        hp.name, hp.lower, hp.upper, log=hp.log, default_value=float(value)
    )


def lcbench_prior_space(task: str, kind: Kind, confidence: str = "medium") -> SearchSpace:
    """:func:`~jahs_bo.spaces.lcbench_space` with a prior near (or mirrored from) the reference.

    Raises:
        KeyError: ``task`` is not in the reference file.
    """
    _check_kind(kind)
    refs = lcbench_reference()
    if task not in refs:
        raise KeyError(f"LCBench task {task!r} is not in the reference; known: {sorted(refs)}")
    base = lcbench_space()
    cs = CS.ConfigurationSpace(name=f"lcbench-{task}-{kind}")
    for name in base.hp_names:
        hp = base.hyperparameters[name]
        vec = float(np.asarray(hp.to_vector(refs[task][name]), dtype=float).reshape(-1)[0])
        toward_middle = min(NEAR_SHIFT, abs(0.5 - vec)) * np.sign(0.5 - vec)
        vec += float(1.0 - 2.0 * vec if kind == "misleading" else toward_middle)
        value = hp.to_value(np.asarray([vec]))[0]
        cs.add(_with_default(hp, float(value)))
    return SearchSpace(
        cs,
        None,
        list(base.fidelities.values()),
        f"lcbench-{task}-{kind}",
        prior_confidence=dict.fromkeys(base.hp_names, confidence),
    )


def problem_prior_space(problem: str, kind: Kind) -> SearchSpace:
    """The prior space of a harness problem: ``nb201/<dataset>`` or ``lcbench/<task>``.

    NB201 gets the same cell prior on every dataset (counted on CIFAR-10); LCBench the prior of
    the task's reference configuration.

    Raises:
        ValueError: No prior is built for ``problem``'s family, or a per-edge kind for LCBench.
    """
    family, _, name = problem.partition("/")
    if family == "nb201":
        return nb201_prior_space(kind)
    if family == "lcbench":
        if kind in EDGE_KINDS:
            raise ValueError(f"prior kind {kind!r} is for NB201 cells; LCBench has no edges")
        return lcbench_prior_space(name, kind)
    raise ValueError(f"no prior for problem {problem!r}; only nb201/<dataset> and lcbench/<task>")


def main(argv: list[str] | None = None) -> None:
    """Write every prior space as JSON into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "spaces")
    parser.add_argument("--confidence", default="medium", choices=["low", "medium", "high"])
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        nb201_prior_space(kind).to_json(str(args.out / f"nb201-{kind}.json"))  # type: ignore[arg-type]
        if kind in EDGE_KINDS:
            continue
        for task in sorted(lcbench_reference()):
            space = lcbench_prior_space(task, kind, args.confidence)  # type: ignore[arg-type]
            space.to_json(str(args.out / f"lcbench-{task}-{kind}.json"))
    print(f"wrote prior spaces to {args.out}")


if __name__ == "__main__":
    main()
