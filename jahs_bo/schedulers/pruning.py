"""Stopping rules for intermediate reports (per-epoch metrics of a running trial).

A :class:`Pruner` compares the report of one trial at a step with the reports that the other
trials of the study made at the *same step* (steps count from the start of training, so a trial
resumed from its parent's checkpoint keeps counting). Reports are judged in the direction of the
study's first objective. Every rule returns :attr:`Decision.CONTINUE` while it has too few reports
to compare with.

* :class:`MedianStopping`: stop when the trial's best report so far is worse than the median of the
  other trials' best reports up to that step (Golovin et al., 2017; Optuna's ``MedianPruner``).
* :class:`ASHAStopping`: at rung steps ``grace * eta**k`` stop unless the report is among the best
  ``1/eta`` of the reports at that step (the stopping variant of ASHA, Li et al., 2020).
"""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.types import Direction, Trial

__all__ = ["ASHAStopping", "Decision", "MedianStopping", "Pruner", "make_pruner"]


class Decision(str, enum.Enum):
    """What a running trial should do after an intermediate report."""

    CONTINUE = "continue"
    STOP = "stop"


def _best_up_to(trial: Trial, step: int, sign: float) -> float | None:
    """Best loss (``sign * value``) among ``trial``'s reports at steps ``<= step``."""
    vals = [sign * r.value for r in trial.intermediate if r.step <= step and math.isfinite(r.value)]
    return min(vals) if vals else None


def _at_step(trial: Trial, step: int, sign: float) -> float | None:
    for r in trial.intermediate:
        if r.step == step and math.isfinite(r.value):
            return sign * r.value
    return None


class Pruner(ABC):
    """A stopping rule for intermediate reports."""

    @abstractmethod
    def decide(
        self,
        trial: Trial,
        step: int,
        value: float,
        trials: Sequence[Trial],
        direction: Direction,
    ) -> Decision:
        """Whether ``trial`` continues after reporting ``value`` at ``step``."""


class MedianStopping(Pruner):
    """Stop a trial whose best report is worse than the median of the others' at the same step.

    Args:
        min_trials: Other trials that must have reported ``step`` before anything is stopped.
        warmup_steps: Reports at steps below this never stop a trial.
    """

    def __init__(self, min_trials: int = 5, warmup_steps: int = 0) -> None:
        if min_trials < 1:
            raise InputError(f"min_trials must be >= 1, got {min_trials}")
        self.min_trials = int(min_trials)
        self.warmup_steps = int(warmup_steps)

    def decide(
        self,
        trial: Trial,
        step: int,
        value: float,
        trials: Sequence[Trial],
        direction: Direction,
    ) -> Decision:
        D = Decision
        if step < self.warmup_steps or not math.isfinite(value):
            return D.CONTINUE if math.isfinite(value) else D.STOP
        sign = direction.sign
        own = _best_up_to(trial, step, sign)
        mine = sign * value if own is None else min(own, sign * value)
        others = []
        for t in trials:
            if t.trial_id == trial.trial_id or _at_step(t, step, sign) is None:
                continue
            others.append(_best_up_to(t, step, sign))
        if len(others) < self.min_trials:
            return D.CONTINUE
        return D.STOP if mine > float(np.median(others)) else D.CONTINUE


class ASHAStopping(Pruner):
    """Stop at rung steps unless the report is in the best ``1/eta`` of that step's reports.

    Args:
        grace_steps: First rung step (the fewest steps any trial gets).
        eta: Reduction factor; rung steps are ``grace_steps * eta**k``.
        min_reports: Reports (this one included) a rung step needs before anything is stopped
            (``None``: ``eta``).
    """

    def __init__(self, grace_steps: int = 1, eta: float = 3, min_reports: int | None = None):
        if grace_steps < 1 or not eta > 1:
            raise InputError(
                f"grace_steps must be >= 1 and eta > 1, got grace_steps={grace_steps}, eta={eta}"
            )
        self.grace_steps = int(grace_steps)
        self.eta = eta
        self.min_reports = int(math.ceil(eta)) if min_reports is None else int(min_reports)

    def is_rung_step(self, step: int) -> bool:
        """Whether ``step`` is one of ``grace_steps * eta**k`` (rounded)."""
        k = 0
        while True:
            s = int(round(self.grace_steps * self.eta**k))
            if s == step:
                return True
            if s > step:
                return False
            k += 1

    def decide(
        self,
        trial: Trial,
        step: int,
        value: float,
        trials: Sequence[Trial],
        direction: Direction,
    ) -> Decision:
        D = Decision
        if not math.isfinite(value):
            return D.STOP
        if not self.is_rung_step(step):
            return D.CONTINUE
        sign = direction.sign
        losses = [sign * value]
        for t in trials:
            if t.trial_id == trial.trial_id:
                continue
            v = _at_step(t, step, sign)
            if v is not None:
                losses.append(v)
        n = len(losses)
        if n < self.min_reports:
            return D.CONTINUE
        keep = max(1, int(math.floor(n / self.eta)))
        rank = sum(v < sign * value for v in losses[1:])  # better reports than this one
        return D.CONTINUE if rank < keep else D.STOP


def make_pruner(pruning: str | Pruner | None, eta: float = 3) -> Pruner | None:
    """A pruner from a name (``"median"``, ``"asha"``), an instance, or ``None`` for none."""
    if pruning is None or isinstance(pruning, Pruner):
        return pruning
    if pruning == "median":
        return MedianStopping()
    if pruning == "asha":
        return ASHAStopping(eta=eta)
    raise InputError(f"unknown pruning rule {pruning!r}; use None, 'median', 'asha' or a Pruner")
