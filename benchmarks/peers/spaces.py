"""A problem's plain params (``benchmarks.problems.Param``) as a ConfigSpace space (SMAC, DEHB)."""

from __future__ import annotations

from typing import Any

import ConfigSpace as CS


def configspace(problem: Any, seed: int) -> CS.ConfigurationSpace:
    """The problem's plain params as a ConfigSpace space seeded with ``seed``.

    NB201 becomes six ``Categorical`` hyperparameters ``Op1``..``Op6`` over the five operations.
    """
    cs = CS.ConfigurationSpace(seed=seed)
    for p in problem.params:
        if p.kind == "categorical":
            cs.add(CS.Categorical(p.name, list(p.choices)))
        elif p.kind == "int":
            cs.add(CS.Integer(p.name, (int(p.lower), int(p.upper)), log=p.log))
        else:
            cs.add(CS.Float(p.name, (float(p.lower), float(p.upper)), log=p.log))
    return cs
