"""Schedulers driven end to end through an ask/tell loop with 1 and several workers."""

from __future__ import annotations

from collections import Counter

import pytest

from jahs_bo.schedulers import make_scheduler
from jahs_bo.searchers import make_searcher
from jahs_bo.types import TrialState

SCHEDULERS = [("sh", "random"), ("hyperband", "random"), ("bohb", "re"), ("asha", "random")]


def build(name, searcher, space, **kw):
    return make_scheduler(name, space, make_searcher(searcher, space, ["minimize"]), **kw)


def check_promotions(trials, scheduler):
    """Every promotion continues a complete parent, same config, at a higher rung."""
    by_id = {t.trial_id: t for t in trials}
    for t in trials:
        assert t.system_attrs["scheduler"] == scheduler.name
        if t.parent_id is None:
            assert t.system_attrs["previous_fidelity"] is None
            continue
        parent = by_id[t.parent_id]
        assert parent.state is TrialState.COMPLETE
        assert parent.number < t.number
        assert t.config == parent.config
        assert t.system_attrs["previous_fidelity"] == parent.fidelity
        assert t.system_attrs["rung"] == parent.system_attrs["rung"] + 1
        assert t.fidelity["epochs"] > parent.fidelity["epochs"]
        assert t.system_attrs.get("bracket") == parent.system_attrs.get("bracket")
    # a trial is promoted at most once
    parents = [t.parent_id for t in trials if t.parent_id is not None]
    assert len(parents) == len(set(parents))


@pytest.mark.parametrize("workers", [1, 4])
@pytest.mark.parametrize(("name", "searcher"), SCHEDULERS)
def test_loop_invariants(name, searcher, workers, space, drive, toy_loss):
    s = build(name, searcher, space)
    trials = drive(s, toy_loss, n_trials=45, n_workers=workers, seed=1)
    assert len(trials) == 45 and all(t.state is TrialState.COMPLETE for t in trials)
    check_promotions(trials, s)
    assert any(t.fidelity["epochs"] == 9 for t in trials), "nothing reached the full fidelity"
    assert any(t.parent_id is not None for t in trials)


@pytest.mark.parametrize(("name", "searcher"), SCHEDULERS)
def test_loop_reproducible(name, searcher, space, drive, toy_loss):
    def run(seed):
        trials = drive(build(name, searcher, space), toy_loss, 30, n_workers=3, seed=seed)
        return [(t.config, t.fidelity, t.parent_id) for t in trials]

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_hyperband_one_worker_follows_the_bracket_table(space, drive, toy_loss):
    """With one worker, bracket after bracket, rung after rung: exactly the plan's counts."""
    s = build("hyperband", "random", space)
    trials = drive(s, toy_loss, n_trials=22, n_workers=1)
    counts = Counter((t.system_attrs["bracket"], t.fidelity["epochs"]) for t in trials)
    assert counts == {(0, 1): 9, (0, 3): 3, (0, 9): 1, (1, 3): 5, (1, 9): 1, (2, 9): 3}
    brackets = [t.system_attrs["bracket"] for t in trials]
    assert brackets == sorted(brackets)
    # synchronous: a promotion to rung k+1 comes after every rung-k trial of its bracket
    for t in trials:
        if t.parent_id is not None:
            same = [
                u
                for u in trials
                if u.system_attrs["bracket"] == t.system_attrs["bracket"]
                and u.system_attrs["rung"] == t.system_attrs["rung"] - 1
            ]
            assert max(u.number for u in same) < t.number
    # the promoted configurations are the best of their rung (the toy ranking is fidelity-free)
    rung0 = sorted(
        (t for t in trials if t.system_attrs["bracket"] == 0 and t.fidelity["epochs"] == 1),
        key=lambda t: t.value,
    )
    promoted = {
        t.parent_id for t in trials if t.fidelity["epochs"] == 3 and t.parent_id is not None
    }
    assert promoted == {t.trial_id for t in rung0[:3]}


def test_hyperband_several_workers_do_not_idle(space, drive, toy_loss):
    """With 4 workers, younger brackets start while older ones wait for their rung."""
    trials = drive(build("hyperband", "random", space), toy_loss, n_trials=40, n_workers=4)
    first_of = {}
    last_of = {}
    for t in trials:
        b = t.system_attrs["bracket"]
        first_of.setdefault(b, t.number)
        last_of[b] = t.number
    assert any(first_of[b + 1] < last_of[b] for b in first_of if b + 1 in first_of)


def test_asha_promotes_a_minority(space, drive, toy_loss):
    """Each promotion is in the top third *when made*; later arrivals can add a few more."""
    trials = drive(build("asha", "random", space), toy_loss, n_trials=60, n_workers=4)
    for k in (0, 1):
        n_k = sum(t.system_attrs["rung"] == k for t in trials)
        n_up = sum(t.system_attrs["rung"] == k + 1 for t in trials)
        assert 1 <= n_up <= n_k // 2


def test_two_fidelities_travel_together(toy_space, drive, toy_loss):
    space = toy_space(9, resolution=True)
    sched = build("hyperband", "random", space, tie_others=True)
    trials = drive(sched, toy_loss, n_trials=20, n_workers=2)
    expected = {1: 0.25, 3: 0.625, 9: 1.0}
    for t in trials:
        assert t.fidelity["resolution"] == pytest.approx(expected[t.fidelity["epochs"]])
    held = drive(build("hyperband", "random", space), toy_loss, n_trials=20, n_workers=2)
    assert {t.fidelity["resolution"] for t in held} == {1.0}  # default: others at full
    assert {t.fidelity["epochs"] for t in held} == {1, 3, 9}
