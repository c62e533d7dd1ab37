"""When the GP searcher switches from its acquisition to Thompson sampling: while trials run
(``pending_acquisition``), and after ``stall_patience`` complete trials in a row without a new
best, until a trial improves on the best again (while trials run, that stall switches Thompson
sampling to log-EI)."""

from __future__ import annotations

import numpy as np
import pytest

from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.spaces import nb201_space
from jahs_bo.types import Trial, TrialState

FAST = {"n_random": 64, "n_neighbours": 12, "local_rounds": 1, "fit_maxiter": 30}


def _history(values: list[float], space, seed: int = 0) -> list[Trial]:
    rng = np.random.default_rng(seed)
    configs: dict[str, dict] = {}
    while len(configs) < len(values):
        cfg = space.sample(rng)
        configs.setdefault(space.config_key(cfg), cfg)
    return [
        Trial(i, i, cfg, {}, TrialState.COMPLETE, (v,))
        for i, (cfg, v) in enumerate(zip(configs.values(), values, strict=True))
    ]


def test_thompson_sampling_takes_over_after_patience_misses_and_stops_on_improvement():
    space = nb201_space()
    searcher = GPSearcher(space, ["maximize"], n_init=5, stall_patience=4, **FAST)
    improving = [float(v) for v in range(12)]  # the last trial is the best
    stalled = [20.0] + [float(v) for v in range(11)]  # the best is 11 trials old
    just_short = [float(v) for v in range(8)] + [1.0, 2.0, 3.0]  # best 3 trials old

    cases = [(improving, "logei"), (stalled, "ts"), (just_short, "logei")]
    for values, expected in cases:
        cfg = searcher.suggest(_history(values, space), [], np.random.default_rng(1))
        assert searcher.last_acquisition == expected, values
        assert space.config_key(cfg) not in {
            space.config_key(t.config) for t in _history(values, space)
        }
    # the same stalled history with four misses exactly, then one more trial that is a new best
    four = [float(v) for v in range(8)] + [1.0, 2.0, 3.0, 4.0]
    searcher.suggest(_history(four, space), [], np.random.default_rng(1))
    assert searcher.last_acquisition == "ts"
    searcher.suggest(_history([*four, 99.0], space), [], np.random.default_rng(1))
    assert searcher.last_acquisition == "logei"


def test_without_patience_the_acquisition_never_changes():
    space = nb201_space()
    searcher = GPSearcher(space, ["maximize"], n_init=5, **FAST)
    assert searcher.stall_patience is None
    searcher.suggest(_history([50.0] + [1.0] * 30, space), [], np.random.default_rng(0))
    assert searcher.last_acquisition == "logei"


def test_several_objectives_are_never_stalled():
    space = nb201_space()
    searcher = GPSearcher(space, ["minimize", "minimize"], n_init=5, stall_patience=2, **FAST)
    rng = np.random.default_rng(0)
    trials = []
    for i, cfg in enumerate(space.sample(rng) for _ in range(12)):
        trials.append(Trial(i, i, cfg, {}, TrialState.COMPLETE, (float(i), float(12 - i))))
    searcher.suggest(trials, [], np.random.default_rng(0))
    assert searcher.last_acquisition == "logei"  # ParEGO's scalarized log-EI


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "10"])
def test_stall_patience_is_validated(bad):
    with pytest.raises(ValueError, match="stall_patience"):
        GPSearcher(nb201_space(), ["maximize"], stall_patience=bad)


def test_running_trials_switch_to_thompson_sampling_without_brackets():
    space = nb201_space()
    history = _history([float(v) for v in range(12)], space)
    running = [Trial(99, 99, space.sample(np.random.default_rng(5)))]
    searcher = GPSearcher(space, ["maximize"], n_init=5, **FAST)
    assert searcher.pending_acquisition == "ts"
    searcher.suggest(history, [], np.random.default_rng(1))
    assert searcher.last_acquisition == "logei"  # sequential: nothing changes
    cfg = searcher.suggest(history, running, np.random.default_rng(1))
    assert searcher.last_acquisition == "ts"
    assert space.config_key(cfg) != space.config_key(running[0].config)
    # a bracket scheduler passes open proposals as running: the acquisition stays
    screened = GPSearcher(space, ["maximize"], n_init=5, screened=True, **FAST)
    screened.suggest(history, running, np.random.default_rng(1))
    assert screened.last_acquisition == "logei"
    # explicit choices win; "auto" keeps a non-default acquisition
    for kwargs, expected in (
        ({"pending_acquisition": "logei"}, "logei"),
        ({"acquisition": "ucb"}, "ucb"),
    ):
        s = GPSearcher(space, ["maximize"], n_init=5, **kwargs, **FAST)
        s.suggest(history, running, np.random.default_rng(1))
        assert s.last_acquisition == expected


def test_a_stall_while_trials_run_switches_thompson_sampling_to_log_ei():
    space = nb201_space()
    running = [Trial(99, 99, space.sample(np.random.default_rng(5)))]
    stalled = _history([20.0] + [float(v) for v in range(11)], space)
    improving = _history([float(v) for v in range(12)], space)
    searcher = GPSearcher(space, ["maximize"], n_init=5, stall_patience=4, **FAST)
    for history, pending, expected in (
        (stalled, running, "logei"),  # Thompson sampling while trials run, stalled: log-EI
        (improving, running, "ts"),
        (stalled, [], "ts"),  # sequential: log-EI, stalled: Thompson sampling
    ):
        cfg = searcher.suggest(history, pending, np.random.default_rng(1))
        assert searcher.last_acquisition == expected
        assert space.config_key(cfg) not in {
            space.config_key(t.config) for t in (*history, *pending)
        }


def test_ts_logei_alternates_by_the_number_of_trials_handed_out():
    space = nb201_space()
    history = _history([float(v) for v in range(12)], space)
    running = [Trial(99 + i, 99 + i, space.sample(np.random.default_rng(5 + i))) for i in range(3)]
    searcher = GPSearcher(space, ["maximize"], n_init=5, pending_acquisition="ts-logei", **FAST)
    seen = []
    for k in (1, 2, 3):  # 12 complete + k running trials handed out
        searcher.suggest(history, running[:k], np.random.default_rng(k))
        seen.append(searcher.last_acquisition)
    assert seen == ["logei", "ts", "logei"]
    # a failed trial counts as handed out: 12 complete + 1 failed + 1 running
    failed = Trial(50, 50, space.sample(np.random.default_rng(50)), {}, TrialState.FAILED)
    searcher.suggest([*history, failed], running[:1], np.random.default_rng(4))
    assert searcher.last_acquisition == "ts"
    searcher.suggest(history, [], np.random.default_rng(0))
    assert searcher.last_acquisition == "logei"  # sequential: the acquisition itself
    prior = {"nor_conv_3x3": 1.0, "skip_connect": 1.0}
    from jahs_bo.spaces import SearchSpace
    from jahs_bo.spaces.nb201 import NB201Cell

    with pytest.raises(ValueError, match="pending_acquisition"):
        GPSearcher(
            SearchSpace(None, {"arch": NB201Cell(op_prior=prior)}, []),
            ["maximize"],
            use_prior=True,
            pending_acquisition="ts-logei",
        )


def test_pending_acquisition_is_validated():
    with pytest.raises(ValueError, match="pending_acquisition"):
        GPSearcher(nb201_space(), ["maximize"], pending_acquisition="ei")


def test_a_prior_keeps_log_ei_while_trials_run():
    from jahs_bo.spaces import SearchSpace
    from jahs_bo.spaces.nb201 import NB201Cell

    prior = {"nor_conv_3x3": 0.6, "skip_connect": 0.1, "nor_conv_1x1": 0.1}
    prior |= {"none": 0.1, "avg_pool_3x3": 0.1}
    space = SearchSpace(None, {"arch": NB201Cell(op_prior=prior)}, [])
    searcher = GPSearcher(space, ["maximize"], n_init=5, use_prior=True, **FAST)
    assert searcher.pending_acquisition == "logei"
    with pytest.raises(ValueError, match="pending_acquisition"):
        GPSearcher(space, ["maximize"], use_prior=True, pending_acquisition="ts")
