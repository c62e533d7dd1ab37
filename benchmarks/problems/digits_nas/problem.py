"""``digits-nas/grammar`` and ``digits-nas/nb201``: real training as a benchmark ``Problem``.

An evaluation trains the architecture under a named protocol (default ``b16``) with training
seed 0 through the :class:`TrainCache`, so a configuration trained before (by the generator or an
earlier run) costs a look-up. The objective is the validation accuracy (%); the optimum is set to
100 %, so the regret is the incumbent's validation error. The grammar space has no plain
description (``params`` is empty); configurations are ``{"arch": <derivation string>}`` drawn by
the jahs-bo space's sampler.

``digits-nas-mf/<space>`` adds the fidelity ``epochs`` in {1, 3}: an evaluation at 1 epoch trains
the network from scratch under the protocol with ``epochs=1`` (its own learning-rate schedule),
costing a third of a full one; nothing is resumed from a checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.problems.base import Config, Fidelity, FidelitySpec, Problem
from benchmarks.problems.digits_nas.cache import TrainCache
from benchmarks.problems.digits_nas.protocol import PROTOCOLS
from benchmarks.problems.nb201 import NB201_PARAMS, nb201_arch_str

#: Where evaluations are cached unless ``cache=`` is given (git-ignored).
DEFAULT_CACHE = (
    Path(__file__).resolve().parents[2] / "results" / "digits-nas" / "runs" / "cache.jsonl"
)


@functools.lru_cache(maxsize=8)
def _cache(path: str) -> TrainCache:
    return TrainCache(path)


def _arch(space_name: str, config: Mapping[str, Any]) -> str:
    """The architecture string of a configuration (NB201 also as ``Op1..Op6``)."""
    if "arch" in config:
        return str(config["arch"])
    if space_name == "nb201":
        return nb201_arch_str([config[f"Op{i + 1}"] for i in range(6)])
    raise KeyError(f"digits-nas/{space_name} configurations need the key 'arch'")


def _evaluate(
    space_name: str, protocol: str, seed: int, cache: str, config: Config, fidelity: Fidelity | None
) -> dict[str, float]:
    chosen = PROTOCOLS[protocol]
    if fidelity and "epochs" in fidelity:
        chosen = dataclasses.replace(chosen, epochs=int(fidelity["epochs"]))
    row = _cache(cache).train_cached(space_name, _arch(space_name, config), chosen, seed)
    return {k: float(row[k]) for k in ("val_acc", "test_acc", "seconds", "params")}


def _sample(space_name: str, rng: np.random.Generator, n: int) -> list[Config]:
    from benchmarks.problems.digits_nas.train import space

    sp = space(space_name)
    return [{"arch": str(sp.sample(rng)["arch"])} for _ in range(n)]


def _space(space_name: str, epochs: tuple[int, ...] | None = None) -> Any:
    from benchmarks.problems.digits_nas.train import space

    sp = space(space_name)
    if epochs is None:
        return sp
    from jahs_bo.spaces import Fidelity, SearchSpace

    return SearchSpace(
        None,
        dict(sp.architectures),
        [Fidelity("epochs", values=list(epochs))],
        name=f"{sp.name}-epochs",
    )


def make_digits_nas(
    space_name: str,
    protocol: str = "b16",
    seed: int = 0,
    cache: str | None = None,
    multi_fidelity: bool = False,
) -> Problem:
    """The digits-NAS problem of ``space_name`` (``"grammar"`` or ``"nb201"``).

    Args:
        space_name: Which architecture space.
        protocol: Name in :data:`~benchmarks.problems.digits_nas.protocol.PROTOCOLS`.
        seed: Training seed of every evaluation.
        cache: JSON-lines cache file (default: ``results/digits-nas/runs/cache.jsonl``).
        multi_fidelity: Add the fidelity ``epochs`` in {1, full} (cost = epochs), as
            ``digits-nas-mf/<space>``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {sorted(PROTOCOLS)}")
    path = str(cache or DEFAULT_CACHE)
    full = PROTOCOLS[protocol].epochs
    epochs = (1, full) if multi_fidelity else None
    return Problem(
        name=f"digits-nas{'-mf' if multi_fidelity else ''}/{space_name}",
        params=NB201_PARAMS if space_name == "nb201" else (),
        objectives=("val_acc",),
        directions=("maximize",),
        evaluate_fn=functools.partial(_evaluate, space_name, protocol, int(seed), path),
        optimum=100.0,
        test_metric="test_acc",
        fidelity=(
            FidelitySpec("epochs", 1.0, float(full), values=(1.0, float(full)))
            if multi_fidelity
            else None
        ),
        cost_fn=(lambda f: float(f.get("epochs", full))) if multi_fidelity else (lambda f: 1.0),
        space_factory=functools.partial(_space, space_name, epochs),
        sample_fn=functools.partial(_sample, space_name),
        description=(
            f"validation accuracy after training under protocol {protocol!r} "
            f"({PROTOCOLS[protocol].describe()}); regret = validation error"
        ),
    )
