"""Schedulers: at which fidelity trials run, which are promoted, which are stopped early.

``create_study(scheduler="hyperband" | "bohb" | "sh" | "asha" | "fifo")``; see
:mod:`jahs_bo.schedulers.base` for the interface and the rule that picks the trials a searcher is
fitted on, and :mod:`jahs_bo.schedulers.rungs` for rung levels and several fidelities at once.
"""

from __future__ import annotations

from jahs_bo.schedulers.asha import ASHA, FIFO
from jahs_bo.schedulers.base import (
    Scheduler,
    TrialRequest,
    available_schedulers,
    make_scheduler,
    merge_trials,
    register_scheduler,
    scheduler_class,
)
from jahs_bo.schedulers.hyperband import BOHB, Hyperband, SuccessiveHalving, SynchronousBrackets
from jahs_bo.schedulers.prior_mix import PriorMix
from jahs_bo.schedulers.pruning import ASHAStopping, Decision, MedianStopping, Pruner, make_pruner
from jahs_bo.schedulers.rungs import (
    FidelityPlan,
    brackets_from_levels,
    default_eta,
    geometric_levels,
    hyperband_brackets,
)

__all__ = [
    "ASHA",
    "ASHAStopping",
    "BOHB",
    "FIFO",
    "Decision",
    "FidelityPlan",
    "Hyperband",
    "MedianStopping",
    "PriorMix",
    "Pruner",
    "Scheduler",
    "SuccessiveHalving",
    "SynchronousBrackets",
    "TrialRequest",
    "available_schedulers",
    "brackets_from_levels",
    "default_eta",
    "geometric_levels",
    "hyperband_brackets",
    "make_pruner",
    "make_scheduler",
    "merge_trials",
    "register_scheduler",
    "scheduler_class",
]
