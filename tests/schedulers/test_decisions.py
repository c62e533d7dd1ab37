"""Scheduler decisions on hand-made trial lists: promotions, waits, new brackets, pruning."""

from __future__ import annotations

import numpy as np
import pytest

from jahs_bo.exceptions import InputError
from jahs_bo.multiobjective import OutcomeConstraint, non_dominated_mask
from jahs_bo.schedulers import (
    ASHA,
    BOHB,
    FIFO,
    ASHAStopping,
    Decision,
    Hyperband,
    MedianStopping,
    SuccessiveHalving,
    available_schedulers,
    make_scheduler,
)
from jahs_bo.searchers import make_searcher
from jahs_bo.spaces import nb201_space
from jahs_bo.types import Direction, TrialState

RNG = np.random.default_rng(0)
LOSSES = [5.0, 3.0, 8.0, 1.0, 9.0, 2.0, 7.0, 4.0, 6.0]  # best: ids 3, 5, 1


def sh(space, **kw):
    return SuccessiveHalving(space, make_searcher("random", space, ["minimize"]), **kw)


def rung0(make_trial, name="sh", losses=LOSSES, bracket=0):
    return [
        make_trial(i, x=i / 10, epochs=1, value=v, scheduler=name, bracket=bracket, rung=0)
        for i, v in enumerate(losses)
    ]


def test_registry(space):
    assert {"sh", "hyperband", "bohb", "asha", "fifo"} <= set(available_schedulers())
    searcher = make_searcher("random", space, ["minimize"])
    assert isinstance(make_scheduler("bohb", space, searcher, eta=3), BOHB)
    with pytest.raises(InputError, match="unknown scheduler 'pbt'"):
        make_scheduler("pbt", space, searcher)


def test_sh_first_request_is_new_config_at_lowest_rung(space):
    req = sh(space).next_trial([], [], RNG)
    assert req.parent_id is None and req.fidelity == {"epochs": 1}
    assert req.system_attrs["bracket"] == 0 and req.system_attrs["rung"] == 0
    assert req.system_attrs["previous_fidelity"] is None
    assert space.validate(req.config) == req.config


def test_sh_promotes_best_of_a_finished_rung(space, make_trial):
    s = sh(space)
    trials = rung0(make_trial)
    req = s.next_trial(trials, [], RNG)
    assert req.parent_id == 3
    assert req.config == trials[3].config
    assert req.fidelity == {"epochs": 3}
    assert req.system_attrs["previous_fidelity"] == {"epochs": 1}
    assert (req.system_attrs["bracket"], req.system_attrs["rung"]) == (0, 1)
    # the promoted child is running: the next promotion is the second best, then the third
    c1 = make_trial(9, x=0.3, epochs=3, parent_id=3, scheduler="sh", bracket=0, rung=1)
    assert s.next_trial(trials, [c1], RNG).parent_id == 5
    c2 = make_trial(10, x=0.5, epochs=3, parent_id=5, scheduler="sh", bracket=0, rung=1)
    c3 = make_trial(11, x=0.1, epochs=3, parent_id=1, scheduler="sh", bracket=0, rung=1)
    # rung 1 is full but running: start the next bracket instead of idling
    req = s.next_trial(trials, [c1, c2, c3], RNG)
    assert req.parent_id is None and req.system_attrs["bracket"] == 1
    assert req.fidelity == {"epochs": 1}
    # rung 1 finished: its best goes to the top rung
    done = [
        make_trial(9, x=0.3, epochs=3, value=0.5, parent_id=3, scheduler="sh", bracket=0, rung=1),
        make_trial(10, x=0.5, epochs=3, value=0.2, parent_id=5, scheduler="sh", bracket=0, rung=1),
        make_trial(11, x=0.1, epochs=3, value=0.9, parent_id=1, scheduler="sh", bracket=0, rung=1),
    ]
    req = s.next_trial(trials + done, [], RNG)
    assert req.parent_id == 10 and req.fidelity == {"epochs": 9}
    assert req.system_attrs["previous_fidelity"] == {"epochs": 3}


def test_sh_waits_for_a_rung_and_opens_a_new_bracket(space, make_trial):
    trials = rung0(make_trial)
    pending = [make_trial(8, x=0.8, epochs=1, scheduler="sh", bracket=0, rung=0)]
    req = sh(space).next_trial(trials[:8], pending, RNG)
    assert req.parent_id is None and req.system_attrs["bracket"] == 1


def test_sh_never_promotes_failed_or_pruned(space, make_trial):
    trials = rung0(make_trial)
    trials[3] = make_trial(3, state=TrialState.FAILED, scheduler="sh", bracket=0, rung=0)
    trials[5] = make_trial(5, state=TrialState.PRUNED, scheduler="sh", bracket=0, rung=0)
    assert sh(space).next_trial(trials, [], RNG).parent_id == 1


def test_sh_all_failed_bracket_moves_on(space, make_trial):
    trials = [
        make_trial(i, state=TrialState.FAILED, scheduler="sh", bracket=0, rung=0) for i in range(9)
    ]
    req = sh(space).next_trial(trials, [], RNG)
    assert req.parent_id is None and req.system_attrs["bracket"] == 1


def test_sh_ignores_other_schedulers_trials(space, make_trial):
    trials = rung0(make_trial, name="asha")
    req = sh(space).next_trial(trials, [], RNG)
    assert req.parent_id is None and req.system_attrs["bracket"] == 0


def test_sh_n_configs(space):
    assert sh(space, n_configs=6).bracket_plans() == [[(6, 0), (2, 1), (1, 2)]]


def test_hyperband_cycles_brackets(space, make_trial):
    hb = Hyperband(space, make_searcher("random", space, ["minimize"]))
    assert hb.bracket_plans() == [[(9, 0), (3, 1), (1, 2)], [(5, 1), (1, 2)], [(3, 2)]]
    # bracket 0 is waiting on a pending trial: bracket 1 starts at epochs 3
    trials = rung0(make_trial, name="hyperband")[:8]
    pending = [make_trial(8, epochs=1, scheduler="hyperband", bracket=0, rung=0)]
    req = hb.next_trial(trials, pending, RNG)
    assert req.system_attrs["bracket"] == 1 and req.fidelity == {"epochs": 3}
    assert req.system_attrs["bracket_index"] == 1


def test_multiobjective_promotion_is_pareto_optimal(space, make_trial):
    rng = np.random.default_rng(3)
    Y = rng.random((9, 2))
    trials = [
        make_trial(i, x=i / 10, value=tuple(Y[i]), scheduler="sh", bracket=0, rung=0)
        for i in range(9)
    ]
    s = SuccessiveHalving(
        space, make_searcher("random", space, ["minimize"] * 2), ["minimize", "minimize"]
    )
    req = s.next_trial(trials, [], RNG)
    assert non_dominated_mask(Y)[req.parent_id]


def test_constraints_rank_infeasible_last(space, make_trial):
    trials = rung0(make_trial)
    trials = [
        t.__class__(**{**t.__dict__, "user_attrs": {"latency": 20.0 if t.trial_id == 3 else 5.0}})
        for t in trials
    ]
    s = sh(space, constraints=["latency <= 10"])
    assert s.constraints == [OutcomeConstraint("latency", upper=10.0)]
    assert s.next_trial(trials, [], RNG).parent_id == 5


def test_asha_decisions(space, make_trial):
    a = ASHA(space, make_searcher("random", space, ["minimize"]))
    t = [make_trial(i, x=i / 10, value=v, scheduler="asha", rung=0) for i, v in enumerate(LOSSES)]
    assert a.next_trial(t[:2], [], RNG).parent_id is None  # floor(2/3) = 0: nothing to promote
    req = a.next_trial(t[:3], [], RNG)
    assert req.parent_id == 1 and req.fidelity == {"epochs": 3} and req.system_attrs["rung"] == 1
    child = make_trial(9, x=0.1, epochs=3, parent_id=1, scheduler="asha", rung=1)
    assert a.next_trial(t[:3], [child], RNG).parent_id is None  # best already promoted
    assert a.next_trial(t[:6], [child], RNG).parent_id == 3  # top 2 of 6: ids 3 and 1
    # the highest rung is served first
    r1 = [
        make_trial(10 + i, x=0.1 * i, epochs=3, value=v, parent_id=i, scheduler="asha", rung=1)
        for i, v in enumerate([0.3, 0.1, 0.2])
    ]
    req = a.next_trial(t + r1, [], RNG)
    assert req.parent_id == 11 and req.fidelity == {"epochs": 9}
    assert req.system_attrs["previous_fidelity"] == {"epochs": 3}


def test_searcher_view_rule(space, make_trial):
    hb = Hyperband(space, make_searcher("random", space, ["minimize"]), min_points_in_model=3)
    low = [make_trial(i, epochs=1, value=1.0) for i in range(5)]
    mid = [make_trial(5 + i, epochs=3, value=1.0) for i in range(2)]
    assert hb.searcher_view(low[:2]) == []  # too few anywhere: initial design
    assert hb.searcher_view(low + mid) == low
    mid.append(make_trial(7, epochs=3, value=1.0))
    assert hb.searcher_view(low + mid) == mid
    hb.searcher.models_fidelity = True  # a searcher that models the fidelity sees everything
    assert hb.searcher_view(low + mid) == low + mid


def test_bohb_defaults_and_random_fraction(space):
    b = BOHB(space, make_searcher("re", space, ["minimize"]))
    assert b.random_fraction == pytest.approx(1 / 3)
    assert b.min_points_in_model == 5
    with pytest.raises(InputError, match="random_fraction"):
        BOHB(space, b.searcher, random_fraction=2.0)


def test_fifo_runs_full_fidelity_and_works_without_fidelity(space):
    f = FIFO(space, make_searcher("random", space, ["minimize"]))
    assert f.next_trial([], [], RNG).fidelity == {"epochs": 9}
    nb = nb201_space()
    req = FIFO(nb, make_searcher("random", nb, ["minimize"])).next_trial([], [], RNG)
    assert req.fidelity == {} and "arch" in req.config


def _reporters(make_trial, values, step):
    return [make_trial(100 + i, intermediate=((step, v),)) for i, v in enumerate(values)]


def test_median_stopping(make_trial):
    rule = MedianStopping(min_trials=5)
    others = _reporters(make_trial, [1, 2, 3, 4, 5], step=2)
    me = make_trial(0, intermediate=((1, 9.0),))
    mini, maxi = Direction.MINIMIZE, Direction.MAXIMIZE
    assert rule.decide(me, 2, 4.0, others, mini) is Decision.STOP
    assert rule.decide(me, 2, 2.0, others, mini) is Decision.CONTINUE
    assert rule.decide(me, 2, 4.0, others[:4], mini) is Decision.CONTINUE  # too few to judge
    assert rule.decide(me, 2, 4.0, others, maxi) is Decision.CONTINUE
    assert rule.decide(me, 2, float("nan"), others, mini) is Decision.STOP
    # the best report so far counts: an earlier good epoch keeps the trial alive
    good_before = make_trial(0, intermediate=((1, 0.5),))
    assert rule.decide(good_before, 2, 4.0, others, mini) is Decision.CONTINUE


def test_asha_stopping(make_trial):
    rule = ASHAStopping(grace_steps=1, eta=3)
    assert [s for s in range(1, 30) if rule.is_rung_step(s)] == [1, 3, 9, 27]
    others = _reporters(make_trial, [1, 2, 3, 4, 5], step=3)
    me = make_trial(0)
    mini = Direction.MINIMIZE
    assert rule.decide(me, 2, 99.0, others, mini) is Decision.CONTINUE  # not a rung step
    assert rule.decide(me, 3, 1.5, others, mini) is Decision.CONTINUE  # 2nd of 6, keep 2
    assert rule.decide(me, 3, 2.5, others, mini) is Decision.STOP
    assert rule.decide(me, 3, 2.5, others[:1], mini) is Decision.CONTINUE  # 2 reports < eta


def test_scheduler_on_report_uses_its_rule(space, make_trial):
    others = _reporters(make_trial, [1, 2, 3, 4, 5], step=2)
    me = make_trial(0)
    assert sh(space).on_report(me, 2, 9.0, others) is Decision.CONTINUE
    assert sh(space, pruning="median").on_report(me, 2, 9.0, others) is Decision.STOP
    with pytest.raises(InputError, match="unknown pruning rule 'mean'"):
        sh(space, pruning="mean")


def test_open_proposals_are_pending_at_the_modelled_level(space, make_trial):
    hb = Hyperband(space, make_searcher("random", space, ["minimize"]), min_points_in_model=3)
    top = [make_trial(i, x=0.1 * (i + 1), epochs=9, value=1.0) for i in range(3)]
    later = [
        make_trial(3, x=0.6, epochs=1, value=2.0),
        make_trial(4, x=0.7, epochs=1, value=3.0),
        make_trial(5, x=0.6, epochs=3, value=1.5, parent_id=3),  # a promotion: not new
        make_trial(6, x=0.8, epochs=1),  # running
        make_trial(7, x=0.1, epochs=1, value=2.0),  # already known at the modelled level
    ]
    view = hb.searcher_view(top + later)
    assert view == top
    open_ = hb.open_proposals(top + later, view)
    assert [t.trial_id for t in open_] == [3, 4, 6]
    assert all(t.fidelity == {"epochs": 9} for t in open_)
    assert all(t.state is TrialState.RUNNING and t.values is None for t in open_)
    assert hb.open_proposals(top + later, []) == []  # nothing modelled yet
    off = Hyperband(hb.space, hb.searcher, min_points_in_model=3, batch_proposals=False)
    assert off.open_proposals(top + later, view) == []
    hb.searcher.models_fidelity = True  # it sees the low-fidelity results themselves
    assert hb.open_proposals(top + later, hb.searcher_view(top + later)) == []


def test_bohb_proposes_a_spread_out_batch_between_model_updates():
    """Without new data at the modelled level, successive proposals must not repeat the optimum."""
    pytest.importorskip("botorch")
    import ConfigSpace as CS

    import jahs_bo.searchers.gp  # noqa: F401  (registers "gp")
    from jahs_bo.spaces import Fidelity, SearchSpace
    from jahs_bo.types import Trial

    cs = CS.ConfigurationSpace({"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 1.0)})
    space = SearchSpace(cs, None, [Fidelity("epochs", 1, 9, integer=True, log=True)], name="t3")

    def trial(i: int, config: dict, epochs: int, value: float) -> Trial:
        return Trial(i, i, config, {"epochs": epochs}, TrialState.COMPLETE, (value,))

    def proposals(batch: bool) -> np.ndarray:
        rng = np.random.default_rng(1)
        bohb = BOHB(
            space,
            make_searcher("gp", space, ["minimize"], n_init=3),
            random_fraction=0.0,
            batch_proposals=batch,
        )
        trials = []
        for i in range(10):  # the modelled (top) level
            c = space.sample(rng)
            loss = (c["a"] - 0.3) ** 2 + (c["b"] - 0.6) ** 2 + 0.5 * (c["c"] - 0.5) ** 2
            trials.append(trial(i, c, 9, loss))
        out = []
        for k in range(8):  # the first rung of a bracket: low-fidelity results only
            c = bohb.new_config(trials, [], rng)
            out.append([c["a"], c["b"], c["c"]])
            trials.append(trial(100 + k, c, 1, 1.0))
        P = np.array(out)
        D = np.linalg.norm(P[:, None] - P[None], axis=-1) + 9 * np.eye(len(P))
        return D.min(axis=1)  # distance of each proposal to its nearest other proposal

    spread, repeated = proposals(True), proposals(False)
    assert np.median(repeated) < 0.03  # without the batch: near-copies of one optimum
    assert np.median(spread) > 3 * np.median(repeated)
    assert spread.min() > 0.02


def test_gp_searcher_models_fidelity_option(space, make_trial):
    pytest.importorskip("botorch")
    import jahs_bo.searchers.gp  # noqa: F401  (registers "gp")

    trials = [make_trial(i, x=0.1 * i, epochs=1 + 2 * (i % 2), value=1.0) for i in range(8)]
    for fid in (False, True):
        gp = make_searcher("gp", space, ["minimize"], n_init=3, models_fidelity=fid)
        view = BOHB(space, gp, min_points_in_model=3).searcher_view(trials)
        assert (view == trials) is fid  # every level, or only the highest with enough trials
