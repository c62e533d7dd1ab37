"""Module-level objectives that worker processes can import (tests put this folder on sys.path)."""

from __future__ import annotations

import os

from jahs_bo.types import Trial


def n_convs(trial: Trial) -> float:
    """Number of convolutions in the NB201 cell (a deterministic toy objective)."""
    return float(trial.config["arch"].count("conv"))


def n_convs_or_crash(trial: Trial) -> float:
    """Like :func:`n_convs`, but trials with an odd number raise; reports the worker pid."""
    if trial.number % 2 == 1:
        raise ValueError(f"odd trial {trial.number} in pid {os.getpid()}")
    return n_convs(trial)


def dies_at_3(trial: Trial) -> float:
    """Kills its worker process at trial 3 (as an out-of-memory kill would)."""
    if trial.number == 3:
        os._exit(3)
    return n_convs(trial)
