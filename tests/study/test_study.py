"""Study: ask/tell, failures as data, optimize, best trials, data frames, reproducibility."""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ConfigSpace import ConfigurationSpace, Float

from jahs_bo.exceptions import (
    DuplicateStudyError,
    InputError,
    ObjectiveValueError,
    StudyNotFoundError,
    TrialNotFoundError,
    TrialStateError,
)
from jahs_bo.spaces import Fidelity, SearchSpace, nb201_space
from jahs_bo.storage import InMemoryStorage, SQLiteStorage
from jahs_bo.study import Study, TrialContext, TrialPruned, create_study, load_study
from jahs_bo.types import Direction, TrialState

HERE = Path(__file__).parent


def n_convs(config: dict, ctx: object) -> float:
    return float(config["arch"].count("conv"))


def _url(tmp_path: Path, name: str = "s.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def _storage(kind: str, tmp_path: Path) -> object:
    return None if kind == "memory" else _url(tmp_path)


def test_ask_tell_basics() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0, study_name="basic")
    assert isinstance(study.storage, InMemoryStorage)
    assert study.directions == (Direction.MINIMIZE,)
    assert study.study_name == "basic"
    t = study.ask()
    assert (t.number, t.state, t.fidelity) == (0, TrialState.RUNNING, {})
    assert study.space.validate(t.config) == t.config
    assert t.system_attrs["owner_pid"] == os.getpid()
    done = study.tell(t, 3.0)
    assert (done.state, done.values, done.value) == (TrialState.COMPLETE, (3.0,), 3.0)
    t1 = study.ask()
    assert t1.number == 1
    study.tell(t1.trial_id, [1.0])  # by id, as a sequence
    assert study.best_trial.number == 1 and study.best_value == 1.0


def test_fidelity_defaults_to_max_and_can_be_set() -> None:
    cs = ConfigurationSpace({"lr": Float("lr", (1e-3, 1.0), log=True)})
    space = SearchSpace(cs, fidelities=[Fidelity("epochs", 1, 200, integer=True)])
    study = create_study(space, searcher="random", seed=1)
    assert study.ask().fidelity == {"epochs": 200}
    assert study.ask(fidelity={"epochs": 12}).fidelity == {"epochs": 12}
    fixed = study.ask({"lr": 0.1})
    assert fixed.config == {"lr": 0.1}


def test_tell_failures_and_errors() -> None:
    study = create_study(nb201_space(), directions=["minimize", "maximize"], seed=0)
    t = study.ask()
    with pytest.raises(ObjectiveValueError, match=r"got 1 objective value.*2 objective"):
        study.tell(t, 1.0)
    with pytest.raises(ObjectiveValueError, match="values are required"):
        study.tell(t)
    with pytest.raises(ObjectiveValueError, match="not a number"):
        study.tell(t, [1.0, "x"])
    assert study.storage.get_trial(t.trial_id).state is TrialState.RUNNING  # may tell again
    nan = study.tell(t, [float("nan"), 1.0])
    assert nan.state is TrialState.FAILED and nan.values is None
    assert "non-finite" in nan.error and "nan" in nan.error
    with pytest.raises(TrialStateError, match=r"trial 0 .*already failed"):
        study.tell(t, [1.0, 2.0])
    t2 = study.ask()
    inf = study.tell(t2, [1.0, -math.inf])
    assert inf.state is TrialState.FAILED
    with pytest.raises(TrialNotFoundError, match="999"):
        study.tell(999, [1.0, 1.0])
    with pytest.raises(TrialNotFoundError, match="expected a Trial or a trial_id"):
        study.tell("zero", [1.0, 1.0])  # type: ignore[arg-type]
    t3 = study.ask()
    with pytest.raises(ObjectiveValueError, match="values .* given for a failed trial"):
        study.tell(t3, [1.0, 1.0], state="failed")
    with pytest.raises(InputError, match="unknown trial state 'done'"):
        study.tell(t3, [1.0, 1.0], state="done")
    pruned = study.tell(t3, state="pruned")
    assert pruned.state is TrialState.PRUNED and pruned.values is None
    other = create_study(nb201_space(), storage=study.storage, seed=0)
    t4 = other.ask()
    with pytest.raises(TrialNotFoundError, match="belongs to another study"):
        study.tell(t4, [1.0, 1.0])


def test_reports_user_attrs_and_named_objectives(tmp_path: Path) -> None:
    study = create_study(
        nb201_space(),
        objectives={"acc": "maximize", "latency": "minimize"},
        storage=_url(tmp_path),
        user_attrs={"owner": "me"},
    )
    assert study.objective_names == ("acc", "latency")
    study.set_user_attr("dataset", "cifar10")
    assert study.user_attrs == {"owner": "me", "dataset": "cifar10"}
    t = study.ask()
    study.report(t, 1, 0.5)
    study.report(t, 2, 0.75)
    study.set_trial_user_attr(t, "gpu", "h100")
    done = study.tell(t, {"latency": 3.0, "acc": 0.9})
    assert done.values == (0.9, 3.0)
    assert [r.value for r in done.intermediate] == [0.5, 0.75]
    assert done.user_attrs == {"gpu": "h100"}
    with pytest.raises(ObjectiveValueError, match=r"\['acc', 'latency'\]"):
        study.tell(study.ask(), {"acc": 1.0})
    with pytest.raises(TrialStateError, match="report to trial 0"):
        study.report(t, 3, 1.0)
    df = study.trials_dataframe()
    assert {"values_acc", "values_latency", "user_attrs_gpu", "last_report"} <= set(df.columns)


def test_create_and_load_errors(tmp_path: Path) -> None:
    url = _url(tmp_path)
    create_study(nb201_space(), storage=url, study_name="a", seed=3)
    with pytest.raises(DuplicateStudyError, match="load_if_exists=True"):
        create_study(nb201_space(), storage=url, study_name="a")
    same = create_study(nb201_space(), storage=url, study_name="a", load_if_exists=True)
    assert same.seed == 3
    with pytest.raises(InputError, match="exists with seed 3, not 4"):
        create_study(nb201_space(), storage=url, study_name="a", seed=4, load_if_exists=True)
    with pytest.raises(InputError, match="exists with directions"):
        create_study(
            nb201_space(), storage=url, study_name="a", direction="maximize", load_if_exists=True
        )
    with pytest.raises(StudyNotFoundError, match=r"'b'.*\['a'\]"):
        load_study("b", url)
    with pytest.raises(InputError, match="only one of direction"):
        create_study(nb201_space(), direction="minimize", directions=["minimize"])
    with pytest.raises(ObjectiveValueError, match="unknown direction 'up'"):
        create_study(nb201_space(), direction="up")
    with pytest.raises(InputError, match="unknown searcher 'nope'"):
        create_study(nb201_space(), searcher="nope")
    with pytest.raises(InputError, match="seed=-1"):
        create_study(nb201_space(), seed=-1)
    with pytest.raises(InputError, match="unknown storage URL"):
        create_study(nb201_space(), storage="mysql://db")
    with pytest.raises(InputError, match="objective_names"):
        create_study(nb201_space(), directions=["minimize"], objective_names=["a", "b"])


def test_load_study_rebuilds_space_searcher_and_options(tmp_path: Path) -> None:
    url = _url(tmp_path)
    study = create_study(
        nb201_space(),
        storage=url,
        study_name="re",
        searcher="re",
        searcher_options={"population_size": 4, "sample_size": 2},
        seed=11,
    )
    loaded = load_study("re", url)
    assert loaded.space == study.space
    assert loaded.searcher.name == "re"
    assert (loaded.searcher.population_size, loaded.searcher.sample_size) == (4, 2)
    assert loaded.seed == 11
    assert isinstance(loaded.storage, SQLiteStorage)


def test_optimize_records_crashes_and_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    study = create_study(nb201_space(), searcher="random", seed=0)
    seen: list[int] = []

    def fn(config: dict, ctx: TrialContext) -> float:
        if ctx.number % 3 == 1:
            raise ZeroDivisionError(f"bad trial {ctx.number}")
        if ctx.number == 5:
            return float("nan")
        return n_convs(config, ctx)

    study.optimize(fn, n_trials=9, callbacks=[lambda s, t: seen.append(t.number)])
    states = [t.state for t in study.trials]
    assert len(states) == 9 and seen == list(range(9))
    failed = [t for t in study.trials if t.state is TrialState.FAILED]
    assert [t.number for t in failed] == [1, 4, 5, 7]
    crash = study.trials[4]
    assert crash.error.startswith("ZeroDivisionError: bad trial 4")
    assert "Traceback (most recent call last)" in crash.error and "in fn" in crash.error
    assert "non-finite" in study.trials[5].error
    assert study.best_trial.state is TrialState.COMPLETE
    # The user sees the failures: the first with its traceback, the later ones in one line.
    err = capsys.readouterr().err
    assert err.count("Traceback (most recent call last)") == 1
    assert "trial 1 failed" in err and "trial 7 failed: ZeroDivisionError: bad trial 7" in err


def test_optimize_uncaught_error_and_keyboard_interrupt_leave_nothing_running() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0)

    def interrupt(config: dict, ctx: TrialContext) -> float:
        if ctx.number == 2:
            raise KeyboardInterrupt
        return 1.0

    with pytest.raises(KeyboardInterrupt):
        study.optimize(interrupt, n_trials=10)
    assert [t.state.value for t in study.trials] == ["complete", "complete", "failed"]
    assert "interrupted" in study.trials[2].error
    assert study.trials[2].system_attrs["lost"] == "interrupted"

    def fail(config: dict, ctx: TrialContext) -> float:
        raise MemoryError("too big")

    with pytest.raises(MemoryError):
        study.optimize(fail, n_trials=5, catch=(ValueError,))
    # the interrupted trial 2 was re-run first (same configuration) and failed by itself
    assert study.trials[3].system_attrs["rerun_of"] == study.trials[2].trial_id
    assert study.trials[3].config == study.trials[2].config
    assert study.trials[-1].state is TrialState.FAILED and "too big" in study.trials[-1].error
    assert not study.get_trials(states=["running"])
    # The study goes on with the next numbers; n_trials counts finished, not lost, trials.
    study.optimize(n_convs, n_trials=5)
    assert [t.number for t in study.trials] == list(range(6))


def test_optimize_timeout_stop_and_bad_returns() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0)
    study.optimize(n_convs, timeout=0.3)  # stops by itself
    assert len(study.trials) >= 1
    n = len(study.trials)
    study.optimize(n_convs, callbacks=[lambda s, t: s.stop() if t.number >= n + 2 else None])
    assert len(study.trials) == n + 3
    study.optimize(lambda c, ctx: [1.0, 2.0], n_trials=n + 4)
    assert "ObjectiveValueError" in study.trials[-1].error
    study.optimize(lambda c, ctx: None, n_trials=n + 5)
    assert "returned None" in study.trials[-1].error
    study.optimize(lambda c, ctx: "0.93", n_trials=n + 6)
    assert "str, not a number" in study.trials[-1].error
    with pytest.raises(InputError, match=r"objective\(config, ctx\)"):
        study.optimize(lambda trial: 1.0, n_trials=n + 7)  # the old fn(trial) signature
    with pytest.raises(InputError, match="n_trials"):
        study.optimize(n_convs, n_trials=float("nan"))
    with pytest.raises(InputError, match="never end"):
        study.optimize(n_convs)
    with pytest.raises(InputError, match="callable"):
        study.optimize(None, n_trials=1)  # type: ignore[arg-type]

    def prunes_itself(config: dict, ctx: TrialContext) -> None:
        ctx.report(1, 0.5)
        raise TrialPruned("stop")

    study.optimize(prunes_itself, n_trials=n + 7)
    assert study.trials[-1].state is TrialState.PRUNED
    assert not study.get_trials(states=["running"])


def test_optimize_accepts_numpy_and_torch_scalars() -> None:
    import torch

    study = create_study(nb201_space(), searcher="random", seed=0)
    returns = [np.float32(0.5), np.int64(2), np.array(1.5), torch.tensor(0.25), [np.float64(3)]]
    study.optimize(lambda c, ctx: returns[ctx.number], n_trials=len(returns))
    assert [t.values for t in study.trials] == [(0.5,), (2.0,), (1.5,), (0.25,), (3.0,)]


def test_best_trials_pareto_front() -> None:
    study = create_study(nb201_space(), directions=["minimize", "maximize"], seed=0)
    values = [(1.0, 1.0), (2.0, 3.0), (1.5, 0.5), (3.0, 3.0), (0.5, 0.2), (2.0, 3.0)]
    for v in values:
        study.tell(study.ask(), v)
    study.tell(study.ask(), state="failed", error="x")
    front = study.best_trials
    assert [t.number for t in front] == [0, 1, 4, 5]  # ties on the front are all kept
    with pytest.raises(ObjectiveValueError, match="use best_trials"):
        _ = study.best_trial
    single = create_study(nb201_space(), direction="maximize", seed=0)
    with pytest.raises(TrialNotFoundError, match="no complete trial"):
        _ = single.best_trial
    for v in [1.0, 5.0, 5.0, 2.0]:
        single.tell(single.ask(), v)
    assert single.best_trial.number == 1
    assert [t.number for t in single.best_trials] == [1, 2]


def test_best_trial_prefers_full_fidelity() -> None:
    space = nb201_space()
    space = SearchSpace(
        architectures=space.architectures, fidelities=[Fidelity("epochs", 1, 200, integer=True)]
    )
    study = create_study(space, seed=0)
    study.tell(study.ask(fidelity={"epochs": 1}), 0.1)  # cheap and lucky
    study.tell(study.ask(), 0.5)
    study.tell(study.ask(), 0.3)
    assert study.best_trial.number == 2


def test_dataframe_columns() -> None:
    cs = ConfigurationSpace({"lr": Float("lr", (1e-3, 1.0), log=True)})
    space = SearchSpace(cs, nb201_space().architectures, [Fidelity("epochs", 1, 200, integer=True)])
    study = create_study(space, seed=0)
    assert list(study.to_dataframe().columns) == ["number", "state", "value"]
    study.tell(study.ask(), 0.25)
    study.tell(study.ask(), state="failed", error="boom")
    df = study.trials_dataframe()
    for col in ["number", "state", "value", "config_lr", "config_arch", "fidelity_epochs"]:
        assert col in df.columns
    for col in ["datetime_start", "datetime_complete", "duration", "error", "parent_number"]:
        assert col in df.columns
    assert df["state"].tolist() == ["complete", "failed"]
    assert df["value"].iloc[0] == 0.25 and math.isnan(df["value"].iloc[1])
    assert df["error"].iloc[1] == "boom" and df["fidelity_epochs"].tolist() == [200, 200]
    # promoted trials name their parents by number, an integer (not 7.0) also in CSV
    asha = create_study(space, searcher="random", scheduler="asha", seed=0)
    for i in range(12):
        asha.tell(asha.ask(), float(i % 5))
    df = asha.trials_dataframe()
    parents = df["parent_number"].dropna().tolist()
    assert parents and all(type(p) is int for p in parents)
    assert str(df["parent_number"].dtype) == "Int64"
    assert ".0," not in df[["number", "parent_number"]].to_csv(index=False).replace("\n", ",")


# ------------------------------------------------------------------------- reproducibility
def _run(study: Study, n: int) -> list[dict]:
    for _ in range(n):
        t = study.ask()
        study.tell(t, n_convs(t.config, None) + 0.01 * t.number)
    return [t.config for t in study.trials]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("searcher", ["random", "re"])
def test_same_seed_same_trials(kind: str, searcher: str, tmp_path: Path) -> None:
    opts = {"population_size": 5, "sample_size": 2} if searcher == "re" else None

    def make(seed: int, name: str) -> Study:
        return create_study(
            nb201_space(),
            searcher=searcher,
            searcher_options=opts,
            seed=seed,
            storage=_storage(kind, tmp_path),
            study_name=name,
        )

    a, b, c = _run(make(7, "a"), 20), _run(make(7, "b"), 20), _run(make(8, "c"), 20)
    assert a == b
    assert sum(x != y for x, y in zip(a, c)) >= 18


@pytest.mark.parametrize("searcher", ["random", "re"])
def test_resume_continues_like_an_uninterrupted_run(searcher: str, tmp_path: Path) -> None:
    opts = {"population_size": 5, "sample_size": 2} if searcher == "re" else None
    full = _run(create_study(nb201_space(), searcher=searcher, searcher_options=opts, seed=5), 20)
    url = _url(tmp_path)
    first = create_study(
        nb201_space(), searcher=searcher, searcher_options=opts, seed=5, storage=url, study_name="r"
    )
    _run(first, 12)
    del first
    resumed = load_study("r", url)
    assert _run(resumed, 8) == full


def test_seed_none_is_drawn_once_and_stored(tmp_path: Path) -> None:
    url = _url(tmp_path)
    study = create_study(nb201_space(), searcher="random", storage=url, study_name="x")
    assert 0 <= study.seed < 2**63
    assert load_study("x", url).seed == study.seed
    assert study.rng(3).random() == np.random.default_rng([study.seed, 3]).random()


# -------------------------------------------------------------------------- parallel workers
def test_optimize_with_two_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    import study_test_objectives as objectives

    study = create_study(nb201_space(), searcher="random", seed=0, storage=_url(tmp_path))
    study.optimize(objectives.crash_odd_die_at_4, n_trials=10, n_workers=2)
    trials = study.trials
    assert [t.number for t in trials] == list(range(10))
    assert not study.get_trials(states=["running"])
    assert len({study.space.config_key(t.config) for t in trials}) == 10  # pending were seen
    assert trials[4].state is TrialState.FAILED and "exited with code 3" in trials[4].error
    assert "lost" not in trials[4].system_attrs  # a worker that died ran its own trial
    crashed = 0
    for t in trials:
        if t.number % 2 == 0 and t.number != 4:
            assert t.state is TrialState.COMPLETE and t.value == n_convs(t.config, None)
        elif t.number % 2:
            assert t.state is TrialState.FAILED
            crashed += 1
            assert f"ValueError: odd trial {t.number} in pid" in t.error
            assert f"in pid {os.getpid()}" not in t.error  # ran in a worker process
            assert "Traceback" in t.error
    assert crashed == 5
    with pytest.raises(InputError, match="cannot run in a worker process"):
        study.optimize(lambda c, ctx: 1.0, n_trials=12, n_workers=2)


# ---------------------------------------------------------------------- dead-worker rule
def test_heartbeat_thread_and_other_host_rule() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0, grace_period=2.0)
    beats: list[float] = []

    def slow(config: dict, ctx: TrialContext) -> float:
        for _ in range(2):
            beats.append(study.storage.get_trial(ctx.trial_id).system_attrs["heartbeat"])
            time.sleep(0.7)  # heartbeat interval is max(0.5, grace / 4) = 0.5 s
        return 1.0

    study.optimize(slow, n_trials=1)
    assert beats[1] > beats[0]
    far = study.storage.create_trial(
        study.study_id, {}, system_attrs={"owner_host": "elsewhere", "owner_pid": 1}
    )
    study.storage.record_heartbeat([far.trial_id], when=time.time() - 3.0)
    t = study.ask()  # ask applies the rule first
    far = study.storage.get_trial(far.trial_id)
    assert far.state is TrialState.FAILED
    assert far.error.startswith("worker died (pid 1 on host elsewhere) before telling a result")
    assert t.number == 2


def test_workers_that_never_finish_raise_a_clear_error_and_ctrl_c_stops_cleanly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(HERE))
    import study_test_objectives as objectives

    study = create_study(nb201_space(), searcher="random", seed=0)
    study.optimize(objectives.always_dies, n_trials=4, n_workers=2)
    assert not study.get_trials(states=["running"])
    assert [t.state for t in study.trials] == [TrialState.FAILED] * 4
    assert all("exited with code 1" in t.error for t in study.trials)

    timer = threading.Timer(
        1.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)
    )
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            study.optimize(objectives.sleeps, n_trials=6, n_workers=2)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 20  # the sleeping workers were ended, not awaited
    interrupted = study.trials[4:]
    assert 1 <= len(interrupted) <= 2 and not study.get_trials(states=["running"])
    assert all("stopped by the user (Ctrl-C)" in t.error for t in interrupted)
    assert all(t.system_attrs["lost"] == "interrupted" for t in interrupted)
