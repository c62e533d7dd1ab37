"""Every scheduler through the Study: ask/tell with several workers, optimize, resume, pruning."""

from __future__ import annotations

import numpy as np
import pytest

from jahs_bo.study import create_study, load_study
from jahs_bo.types import TrialState

NAMES = ["sh", "hyperband", "bohb", "asha"]


def objective(config, ctx) -> float:
    return (config["x"] - 0.3) ** 2 + 1.0 / ctx.fidelity["epochs"]


def signature(study):
    """Configs, fidelities and parents (by number: trial ids differ between storages)."""
    number = {t.trial_id: t.number for t in study.trials}
    return [(t.config, dict(t.fidelity), number.get(t.parent_id)) for t in study.trials]


@pytest.mark.parametrize("name", NAMES)
def test_ask_tell_with_several_workers(name, space):
    study = create_study(space, searcher="random", scheduler=name, seed=0)
    rng = np.random.default_rng(0)
    running = []
    for _ in range(40):
        while len(running) < 3:
            running.append(study.ask())
        t = running.pop(int(rng.integers(len(running))))
        study.tell(t, objective(t.config, t))
    trials = study.trials
    by_id = {t.trial_id: t for t in trials}
    promoted = [t for t in trials if t.parent_id is not None]
    assert promoted, "no promotion happened"
    for t in promoted:
        parent = by_id[t.parent_id]
        assert parent.state is TrialState.COMPLETE and parent.number < t.number
        assert t.config == parent.config
        assert t.fidelity["epochs"] > parent.fidelity["epochs"]
        assert t.system_attrs["previous_fidelity"] == dict(parent.fidelity)
    assert {t.fidelity["epochs"] for t in trials} <= {1, 3, 9}


@pytest.mark.parametrize("name", ["hyperband", "asha"])
def test_optimize_and_resume_continue_the_same_schedule(name, space, tmp_path):
    """The scheduler is stateless: a reopened study asks exactly what an uninterrupted one asks."""
    full = create_study(space, searcher="random", scheduler=name, seed=3)
    full.optimize(objective, n_trials=30)
    url = f"sqlite:///{tmp_path / 'resume.db'}"
    first = create_study(
        space, searcher="random", scheduler=name, seed=3, storage=url, study_name="s"
    )
    first.optimize(objective, n_trials=13)
    again = load_study("s", url)
    again.optimize(objective, n_trials=30)  # n_trials: what the study holds when it returns
    assert signature(again) == signature(full)
    assert any(t.parent_id is not None for t in again.trials)


def test_pruning_through_the_study(space):
    study = create_study(
        space, searcher="random", scheduler="fifo", scheduler_options={"pruning": "median"}, seed=0
    )
    for k in range(5):
        t = study.ask()
        assert t.fidelity == {"epochs": 9}
        study.report(t, 1, float(k))
        study.tell(t, float(k))
    t = study.ask()
    study.report(t, 1, 10.0)
    assert study.should_stop(t, 1, 10.0)
    u = study.ask()
    study.report(u, 1, 0.5)
    assert not study.should_stop(u, 1, 0.5)


def test_multiobjective_brackets_with_a_constraint(space):
    """MO-BOHB style: rungs ranked by NSGA-II order; infeasible trials are never promoted first."""
    study = create_study(
        space,
        directions=["minimize", "minimize"],
        searcher="random",
        scheduler="hyperband",
        constraints=["1 <= 0.5"],
        seed=0,
    )
    for _ in range(25):
        t = study.ask()
        x = t.config["x"]
        study.tell(t, [x + 1.0 / t.fidelity["epochs"], 1.0 - x])
    trials = study.trials
    by_id = {t.trial_id: t for t in trials}
    promoted = [by_id[t.parent_id] for t in trials if t.parent_id is not None]
    assert promoted
    # a rung promotes infeasible trials (second objective > 0.5) only once no feasible one is left
    for p in promoted:
        if p.values[1] > 0.5:
            same_rung = [
                u
                for u in trials
                if u.system_attrs.get("bracket") == p.system_attrs.get("bracket")
                and u.system_attrs.get("rung") == p.system_attrs.get("rung")
            ]
            feasible = [u for u in same_rung if u.values[1] <= 0.5]
            children = {u.parent_id for u in trials}
            assert all(u.trial_id in children for u in feasible)


def test_bohb_with_the_gp_searcher(space):
    """BOHB proper: the GP proposes once a level has enough points; promotions as usual."""
    pytest.importorskip("jahs_bo.searchers.gp")
    study = create_study(
        space,
        searcher="gp",
        searcher_options={"n_init": 3, "n_random": 32, "n_neighbours": 5, "local_rounds": 0},
        scheduler="bohb",
        seed=0,
    )
    assert study.scheduler.min_points_in_model == 5
    study.optimize(objective, n_trials=30)
    trials = study.trials
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert any(t.parent_id is not None for t in trials)
    assert study.searcher.model is not None, "the GP was never fitted"
    assert min(t.value for t in trials if t.fidelity["epochs"] == 9) < 0.2
