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


def crash_odd_die_at_4(trial: Trial) -> float:
    """:func:`n_convs_or_crash`, and trial 4 kills its worker (as an out-of-memory kill would)."""
    if trial.number == 4:
        os._exit(3)
    return n_convs_or_crash(trial)


def always_dies(trial: Trial) -> float:
    """Kills its worker at once, like a script without an ``if __name__ == '__main__'`` guard."""
    os._exit(1)


def sleeps(trial: Trial) -> float:
    """Sleeps long enough to be interrupted."""
    import time

    time.sleep(60)
    return 0.0
