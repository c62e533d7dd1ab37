"""The drop-in tuner: failures are recorded and the search goes on; Ctrl-C and kill -9 resume."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ConfigSpace as CS
import pytest

from jahs_bo.exceptions import JahsBOError
from jahs_bo.spaces import Fidelity, SearchSpace
from jahs_bo.study import counts, create_study, load_study
from jahs_bo.tuner import (
    ObjectiveLoadError,
    TrialContext,
    load_objective,
    objective_spec,
    tune,
)
from jahs_bo.types import TrialState

HERE = Path(__file__).resolve()


def make_space(max_epochs: int = 9) -> SearchSpace:
    cs = CS.ConfigurationSpace(name="toy")
    cs.add(CS.Float("x", (0.0, 1.0)))
    return SearchSpace(cs, None, [Fidelity("epochs", 1, max_epochs, integer=True)], name="toy")


# ---- training functions (top level: worker processes import them from this file) ----------


def misbehaving(config: dict, ctx: TrialContext) -> float:
    """Trial 0 raises, 1 returns NaN, 2 returns two values for one objective, 3 returns inf."""
    if ctx.number == 0:
        raise RuntimeError("diverged at lr=0.7")
    if ctx.number == 1:
        return float("nan")
    if ctx.number == 2:
        return [1.0, 2.0]
    if ctx.number == 3:
        return math.inf
    return (config["x"] - 0.3) ** 2


def resumable(config: dict, ctx: TrialContext) -> float:
    """Resumes from the parent's checkpoint; fails loudly when the bookkeeping is wrong."""
    start = 0
    marker = ctx.checkpoint_dir / "epochs_done"
    if ctx.previous_fidelity:
        start = int(marker.read_text())
        if start != int(ctx.previous_fidelity["epochs"]):
            raise AssertionError(f"checkpoint at {start}, parent ran {ctx.previous_fidelity}")
    loss = math.nan
    for epoch in range(start, int(ctx.fidelity["epochs"])):
        loss = (config["x"] - 0.3) ** 2 + 1.0 / (epoch + 1)
        ctx.report(epoch, loss)
    marker.write_text(str(int(ctx.fidelity["epochs"])))
    return loss


def two_named(config: dict, ctx: TrialContext) -> dict:
    return {"error": config["x"], "size": 1.0 - config["x"]}


# ---- tests -------------------------------------------------------------------------------


def test_in_process_failures_are_recorded_and_search_goes_on(tmp_path: Path) -> None:
    study = tune(
        misbehaving,
        make_space(),
        n_trials=6,
        storage=tmp_path / "s.db",
        study_name="fail",
        searcher="random",
        seed=0,
    )
    t = study.trials
    assert [x.state for x in t] == [TrialState.FAILED] * 4 + [TrialState.COMPLETE] * 2
    assert t[0].error.startswith("RuntimeError: diverged at lr=0.7")
    assert "Traceback" in t[0].error and "misbehaving" in t[0].error
    assert "non-finite" in t[1].error and "nan" in t[1].error
    assert "2 objective value(s)" in t[2].error
    assert "non-finite" in t[3].error and "inf" in t[3].error
    assert all(x.fidelity == {"epochs": 9} for x in t)


#: Worker-side training functions live in small files (stdlib only) so workers start fast.
LIGHT_OBJECTIVES = textwrap.dedent(
    """
    import os
    import sys
    import time

    def hangs_or_dies(config, ctx):
        # trial 0 raises, trial 3 runs forever, trial 4 kills its own process
        if ctx.number == 0:
            raise ValueError("bad batch")
        if ctx.number == 3:
            time.sleep(600)
        if ctx.number == 4:
            os._exit(7)
        return config["x"]

    def slow(config, ctx):
        time.sleep(float(os.environ.get("JAHS_TEST_SLEEP", "0.3")))
        return config["x"]
    """
)


def light_objectives(tmp_path: Path) -> Path:
    path = tmp_path / "objectives.py"
    path.write_text(LIGHT_OBJECTIVES)
    return path


def test_workers_record_timeouts_crashes_and_errors(tmp_path: Path) -> None:
    start = time.monotonic()
    study = tune(
        f"{light_objectives(tmp_path)}:hangs_or_dies",
        make_space(),
        n_trials=5,
        n_workers=2,
        timeout_per_trial=2.0,
        storage=tmp_path / "s.db",
        study_name="workers",
        searcher="random",
        seed=0,
        threads_per_worker=1,
    )
    t = {x.number: x for x in study.trials}
    assert len(t) == 5 and time.monotonic() - start < 60
    assert t[0].state is TrialState.FAILED and t[0].error.startswith("ValueError: bad batch")
    assert "Traceback" in t[0].error
    assert [t[i].state for i in (1, 2)] == [TrialState.COMPLETE] * 2
    assert t[1].value == pytest.approx(t[1].config["x"])
    assert t[3].state is TrialState.FAILED and t[3].error.startswith("timeout:")
    assert "timeout_per_trial=2" in t[3].error
    assert t[4].state is TrialState.FAILED and "exited with code 7" in t[4].error


def test_promotions_resume_from_the_parent_checkpoint(tmp_path: Path) -> None:
    study = tune(
        resumable,
        make_space(),
        n_trials=16,
        scheduler="asha",
        searcher="random",
        seed=0,
        checkpoint_root=tmp_path / "ck",
    )
    promoted = [t for t in study.trials if t.parent_id is not None]
    assert promoted, "ASHA promoted nothing"
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    for t in promoted:
        parent = next(p for p in study.trials if p.trial_id == t.parent_id)
        # resumed: only the new epochs were reported by the child
        assert [r.step for r in t.intermediate] == list(
            range(int(parent.fidelity["epochs"]), int(t.fidelity["epochs"]))
        )


def test_median_pruning_through_reports() -> None:
    study = tune(
        resumable,
        make_space(),
        n_trials=14,
        scheduler="fifo",
        scheduler_options={"pruning": "median"},
        searcher="random",
        seed=0,
    )
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states
    for t in study.trials:
        if t.state is TrialState.PRUNED:
            assert len(t.intermediate) < 9
            assert t.values == (t.intermediate[-1].value,)


def test_named_objectives_returned_as_a_dict() -> None:
    study = tune(
        two_named,
        make_space(),
        n_trials=3,
        objectives={"error": "minimize", "size": "minimize"},
        searcher="random",
        seed=0,
    )
    assert all(t.values == (t.config["x"], 1 - t.config["x"]) for t in study.trials)


def test_bad_objective_references_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ObjectiveLoadError, match="does not exist"):
        load_objective(str(tmp_path / "nope.py") + ":train")
    script = tmp_path / "train.py"
    script.write_text("def fit(config, ctx):\n    return 0.0\n")
    with pytest.raises(ObjectiveLoadError, match=r"no function 'train'.*\['fit'\]"):
        load_objective(f"{script}:train")
    with pytest.raises(ObjectiveLoadError, match="cannot import module"):
        load_objective("no_such_module_xyz:train")
    with pytest.raises(ObjectiveLoadError, match="top level"):
        objective_spec(lambda c, ctx: 0.0)
    assert load_objective(f"{script}:fit")({}, None) == 0.0
    with pytest.raises(ObjectiveLoadError, match="top level"):
        tune(lambda c, ctx: 0.0, make_space(), n_trials=1, n_workers=2)


RUNNER = textwrap.dedent(
    """
    import sys

    if __name__ == "__main__":
        import ConfigSpace as CS
        from jahs_bo.spaces import Fidelity, SearchSpace
        from jahs_bo.tuner import tune

        cs = CS.ConfigurationSpace(name="toy")
        cs.add(CS.Float("x", (0.0, 1.0)))
        space = SearchSpace(cs, None, [Fidelity("epochs", 1, 9, integer=True)], name="toy")
        tune(sys.argv[3] + ":slow", space, n_trials=8, n_workers=int(sys.argv[2]),
             storage=sys.argv[1], study_name="resume", searcher="random", seed=3)
        print("RETURNED")
    """
)


def _told(db: Path) -> int:
    """Complete trials of the runner's study so far (0 while it does not exist yet)."""
    if not db.exists():
        return 0
    try:
        trials = load_study("resume", db).trials
    except JahsBOError:
        return 0
    return sum(t.state is TrialState.COMPLETE for t in trials)


def _launch(tmp_path: Path, workers: int, sleep: float) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    db = tmp_path / "study.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "JAHS_TEST_SLEEP": str(sleep)}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), str(workers), str(light_objectives(tmp_path))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    return proc, db


def _wait_for_told(proc: subprocess.Popen, db: Path, n: int, limit: float = 40) -> None:
    end = time.monotonic() + limit
    while _told(db) < n:
        if proc.poll() is not None:
            raise AssertionError(f"runner exited early:\n{proc.stdout.read()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("runner made no progress")
        time.sleep(0.1)


def test_resume_after_kill_9(tmp_path: Path) -> None:
    proc, db = _launch(tmp_path, workers=1, sleep=0.4)
    _wait_for_told(proc, db, 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = load_study("resume", db).trials
    told_before = {t.number: t for t in before if t.state is TrialState.COMPLETE}
    assert len(told_before) >= 3
    # the trial the killed process was running is failed by the dead-worker rule
    lost = [t for t in before if t.state is TrialState.FAILED]
    assert all(not counts(t) and t.system_attrs["lost"] == "worker died" for t in lost)
    # same call again: the study is completed to 8 counted trials; nothing told is lost
    study = tune(
        f"{tmp_path / 'objectives.py'}:slow",
        make_space(),
        n_trials=8,
        storage=db,
        study_name="resume",
        searcher="random",
        seed=3,
    )
    after = study.trials
    assert sum(counts(t) for t in after) == 8
    for number, t in told_before.items():
        assert after[number] == t
    assert [t.number for t in after] == list(range(len(after)))
    for t in lost:  # the trial lost to the kill was re-run with its configuration
        rerun = [r for r in after if r.system_attrs.get("rerun_of") == t.trial_id]
        assert len(rerun) == 1 and rerun[0].config == t.config and counts(rerun[0])


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and SIGINT are POSIX")
def test_ctrl_c_stops_workers_cleanly_and_the_study_resumes(tmp_path: Path) -> None:
    proc, db = _launch(tmp_path, workers=2, sleep=1.0)
    _wait_for_told(proc, db, 2, limit=60)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, _ = proc.communicate(timeout=30)
    # the script ends as an interrupted Python program does (status 130 in a shell)
    assert proc.returncode in (-signal.SIGINT, 130), out
    assert "RETURNED" not in out and "KeyboardInterrupt" in out
    trials = load_study("resume", db).trials
    assert all(t.state.is_finished for t in trials)
    interrupted = [t for t in trials if t.state is TrialState.FAILED]
    assert interrupted and all(t.error.startswith("interrupted") for t in interrupted)
    assert not any(counts(t) for t in interrupted)
    # the same call resumes: interrupted trials are re-run first, the study ends with 8
    study = tune(
        f"{tmp_path / 'objectives.py'}:slow",
        make_space(),
        n_trials=8,
        storage=db,
        study_name="resume",
        searcher="random",
        seed=3,
        progress=False,
    )
    after = study.trials
    assert sum(counts(t) for t in after) == 8
    reruns = {t.system_attrs.get("rerun_of") for t in after} - {None}
    assert reruns == {t.trial_id for t in interrupted}


class _InterruptPromotion:
    """Trains like :func:`resumable`, but raises Ctrl-C in the first promotion it sees once."""

    def __init__(self) -> None:
        self.fired = False

    def __call__(self, config: dict, ctx: TrialContext) -> float:
        if ctx.previous_fidelity and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return resumable(config, ctx)


def test_an_interrupted_promotion_is_restored_on_resume(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    study = create_study(
        make_space(), searcher="random", scheduler="asha", storage=db, study_name="p", seed=1
    )
    with pytest.raises(KeyboardInterrupt):
        study.optimize(_InterruptPromotion(), n_trials=20)
    lost = [t for t in study.trials if t.system_attrs.get("lost")]
    assert len(lost) == 1 and lost[0].parent_id is not None  # the promotion was lost
    again = load_study("p", db)
    again.optimize(resumable, n_trials=20)
    trials = again.trials
    rerun = next(t for t in trials if t.system_attrs.get("rerun_of") == lost[0].trial_id)
    assert trials.index(rerun) == len(lost[0:1]) + lost[0].number  # re-run first
    assert rerun.parent_id == lost[0].parent_id and rerun.fidelity == lost[0].fidelity
    assert rerun.system_attrs["previous_fidelity"] == lost[0].system_attrs["previous_fidelity"]
    assert rerun.system_attrs["rung"] == lost[0].system_attrs["rung"]
    assert rerun.state is TrialState.COMPLETE  # resumed from the parent's checkpoint
    assert sum(counts(t) for t in trials) == 20


def with_attrs(config: dict, ctx: TrialContext) -> float:
    ctx.set_user_attr("seen_max", ctx.max_fidelity)
    return config["x"]


def test_enqueued_configs_run_first_once_and_user_attrs_are_stored(tmp_path: Path) -> None:
    baseline = {"x": 0.25}
    kwargs = dict(
        storage=tmp_path / "s.db", study_name="q", searcher="random", seed=0, enqueue=[baseline]
    )
    study = tune(with_attrs, make_space(), n_trials=3, **kwargs)
    first = study.trials[0]
    assert first.config == baseline and first.fidelity == {"epochs": 9}
    assert first.user_attrs["seen_max"] == {"epochs": 9}
    # resuming does not evaluate the enqueued configuration again
    study = tune(with_attrs, make_space(), n_trials=5, **kwargs)
    assert sum(t.config == baseline for t in study.trials) == 1
    assert len(study.trials) == 5


DIGITS = HERE.parents[1] / "examples" / "digits"


def test_digits_training_resumes_exactly(tmp_path: Path) -> None:
    """Training 1 epoch and resuming to 2 gives the model of 2 uninterrupted epochs."""
    pytest.importorskip(
        "sklearn", reason="the digits example needs scikit-learn (extra 'examples')"
    )
    train = load_objective(f"{DIGITS / 'train.py'}:train")
    DEFAULT_CONFIG = load_objective(f"{DIGITS / 'train.py'}:digits_space").__globals__[
        "DEFAULT_CONFIG"
    ]

    def ctx(d: Path, epochs: int, prev: int | None) -> TrialContext:
        d.mkdir(exist_ok=True)
        return TrialContext(
            trial_id=0,
            number=0,
            config=DEFAULT_CONFIG,
            fidelity={"epochs": epochs},
            previous_fidelity=None if prev is None else {"epochs": prev},
            checkpoint_dir=d,
            max_fidelity={"epochs": 27},
            reporter=lambda step, value: False,
        )

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a worker; more threads are slower on a busy 2-core machine
    try:
        resumed = tmp_path / "resumed"
        train(DEFAULT_CONFIG, ctx(resumed, 1, None))
        acc_resumed = train(DEFAULT_CONFIG, ctx(resumed, 2, 1))
        acc_straight = train(DEFAULT_CONFIG, ctx(tmp_path / "straight", 2, None))
    finally:
        torch.set_num_threads(threads)
    assert acc_resumed == acc_straight

    a = torch.load(resumed / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])


@pytest.mark.slow
def test_digits_example_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip(
        "sklearn", reason="the digits example needs scikit-learn (extra 'examples')"
    )
    db = tmp_path / "study.db"
    cmd = [
        sys.executable, str(DIGITS / "run.py"), "--n-trials", "14", "--max-epochs", "9",
        "--storage", str(db), "--no-progress",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validation accuracy: default" in proc.stdout
    study = load_study("digits", db)
    assert len(study.trials) == 14
    assert study.trials[0].fidelity == {"epochs": 9}  # the default configuration, enqueued
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "digits_fidelity_usage.png",
        "digits_incumbent.png",
        "digits_incumbent_cost.png",
    ]
    assert study.best_value >= study.trials[0].value
