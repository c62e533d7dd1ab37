"""Helpers for scheduler tests: a small fidelity space, hand-made trials and an ask/tell loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ConfigSpace as CS
import numpy as np
import pytest

from jahs_bo.schedulers import Scheduler, TrialRequest
from jahs_bo.spaces import Fidelity, SearchSpace
from jahs_bo.types import IntermediateReport, Trial, TrialState


def toy_space(upper: int = 9, resolution: bool = False) -> SearchSpace:
    """One float ``x`` in [0, 1]; epochs 1..``upper`` (log, integer); optional resolution."""
    fids = [Fidelity("epochs", 1, upper, integer=True, log=True)]
    if resolution:
        fids.append(Fidelity("resolution", 0.25, 1.0))
    return SearchSpace(CS.ConfigurationSpace({"x": (0.0, 1.0)}), None, fids, name="toy")


def toy_loss(config: dict[str, Any], fidelity: dict[str, float]) -> float:
    """Lower is better; the ranking of configs is the same at every fidelity."""
    return (config["x"] - 0.3) ** 2 + 1.0 / fidelity["epochs"]


def make_trial(
    trial_id: int,
    *,
    x: float = 0.5,
    epochs: float = 1,
    value: float | tuple[float, ...] | None = None,
    state: TrialState | None = None,
    parent_id: int | None = None,
    intermediate: tuple[tuple[int, float], ...] = (),
    user_attrs: dict[str, Any] | None = None,
    **system_attrs: Any,
) -> Trial:
    """A hand-made trial; complete when ``value`` is given, running otherwise."""
    values = None if value is None else (value if isinstance(value, tuple) else (value,))
    if state is None:
        state = TrialState.COMPLETE if values is not None else TrialState.RUNNING
    return Trial(
        trial_id=trial_id,
        number=trial_id,
        config={"x": x},
        fidelity={"epochs": epochs},
        state=state,
        values=values,
        parent_id=parent_id,
        intermediate=tuple(IntermediateReport(s, v) for s, v in intermediate),
        user_attrs=user_attrs or {},
        system_attrs=system_attrs,
    )


def drive(
    scheduler: Scheduler,
    objective: Callable[[dict[str, Any], dict[str, float]], float | tuple[float, ...]],
    n_trials: int,
    n_workers: int = 1,
    seed: int = 0,
) -> list[Trial]:
    """Storage-free ask/tell loop with ``n_workers`` concurrent trials finishing in random order.

    Returns every trial (all finished) in creation order.
    """
    rng = np.random.default_rng(seed)
    trials: list[Trial] = []
    requests: dict[int, TrialRequest] = {}
    while len(trials) < n_trials or any(not t.state.is_finished for t in trials):
        running = [t for t in trials if not t.state.is_finished]
        if len(running) < n_workers and len(trials) < n_trials:
            finished = [t for t in trials if t.state.is_finished]
            k = len(trials)
            req = scheduler.next_trial(finished, running, np.random.default_rng([seed, k]))
            if req.parent_id is not None:
                parent = next(t for t in trials if t.trial_id == req.parent_id)
                assert parent.state is TrialState.COMPLETE, "promoted an unfinished trial"
            trials.append(
                Trial(
                    trial_id=k,
                    number=k,
                    config=scheduler.space.validate(req.config),
                    fidelity=dict(req.fidelity),
                    parent_id=req.parent_id,
                    system_attrs=dict(req.system_attrs),
                )
            )
            requests[k] = req
            continue
        done = running[int(rng.integers(len(running)))]
        out = objective(done.config, done.fidelity)
        values = out if isinstance(out, tuple) else (out,)
        trials[done.number] = replace(done, state=TrialState.COMPLETE, values=values)
    return trials


@pytest.fixture
def space() -> SearchSpace:
    return toy_space()


@pytest.fixture(name="make_trial")
def _make_trial_fixture() -> Callable[..., Trial]:
    return make_trial


@pytest.fixture(name="drive")
def _drive_fixture() -> Callable[..., list[Trial]]:
    return drive


@pytest.fixture(name="toy_space")
def _toy_space_fixture() -> Callable[..., SearchSpace]:
    return toy_space


@pytest.fixture(name="toy_loss")
def _toy_loss_fixture() -> Callable[..., float]:
    return toy_loss
