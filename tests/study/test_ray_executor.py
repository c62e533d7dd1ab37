"""The Ray executor on a real local Ray cluster (head + a second node that gets killed)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from jahs_bo.exceptions import InputError
from jahs_bo.spaces import nb201_space
from jahs_bo.storage.base import LOST
from jahs_bo.study import create_study
from jahs_bo.study.core import ATTEMPT, RERUN_OF
from jahs_bo.study.ray_executor import LOST_NODE_LOST, RayExecutor
from jahs_bo.types import Trial, TrialState

sys.path.insert(0, str(Path(__file__).parent))
import study_test_objectives as objectives  # noqa: E402


def test_bad_executor_arguments_are_refused_before_ray_starts() -> None:
    with pytest.raises(InputError, match="resources_per_trial"):
        RayExecutor(resources_per_trial={"cpu": -1})
    with pytest.raises(InputError, match="n_workers"):
        RayExecutor(max_concurrent=0)
    with pytest.raises(InputError, match="max_retries=7"):
        RayExecutor(max_retries=7)
    study = create_study(nb201_space(), searcher="random", seed=0)
    with pytest.raises(InputError, match="executor='dask' is not known"):
        study.optimize(objectives.n_convs, n_trials=1, executor="dask")
    import jahs_bo

    with pytest.raises(InputError, match="pass executor='ray' as well"):
        jahs_bo.tune(objectives.n_convs, nb201_space(), n_trials=1, ray_address="auto")


def test_killing_a_node_mid_run_loses_nothing_and_reruns_its_trials(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """40 trials on a 2-node cluster; the second node is killed after 8 finished trials, while
    a trial runs on it.

    Its running trials are recorded FAILED and lost ("node lost", with the reason), re-run on
    the head, and the study ends with 40 counted trials, none of the told ones lost.
    """
    node = ray_cluster.add_node(num_cpus=2)
    import ray

    second = {n["NodeID"] for n in ray.nodes() if n["Alive"]} - {
        ray.get_runtime_context().get_node_id()
    }
    study = create_study(nb201_space(), storage=tmp_path / "study.db", searcher="random", seed=0)
    told_before_kill: list[Trial] = []

    def kill_second_node(study: Any, trial: Trial) -> None:
        trials = study.trials
        finished = [t for t in trials if t.state is TrialState.COMPLETE]
        # kill while a trial is known to run there (its "node" attribute reached the study),
        # so that the kill always catches one, however loaded the machine is
        running_there = [
            t
            for t in trials
            if t.state is TrialState.RUNNING and t.user_attrs.get("node") in second
        ]
        if node.poll() is None and len(finished) >= 8 and running_there:
            told_before_kill.extend(finished)
            ray_cluster.kill(node)

    study.optimize(
        objectives.ray_node_and_value,
        n_trials=40,
        executor=RayExecutor(resources_per_trial={"cpu": 1}),
        callbacks=[kill_second_node],
        show_progress=False,
        checkpoint_root=tmp_path / "ckpt",
    )
    assert node.poll() is not None, "the second node was never killed"
    trials = study.trials
    counted = [t for t in trials if not t.system_attrs.get(LOST)]
    assert len(counted) == 40
    assert all(t.state is TrialState.COMPLETE for t in counted)
    assert all(len(t.intermediate) == 2 for t in counted)  # reports reached the study
    lost = [t for t in trials if t.system_attrs.get(LOST)]
    assert lost, "no trial was running on the killed node"
    for t in lost:
        assert t.state is TrialState.FAILED
        assert t.system_attrs[LOST] == LOST_NODE_LOST
        assert t.error.startswith("node lost: the Ray node") and "re-runs it" in t.error
        reruns = [r for r in trials if r.system_attrs.get(RERUN_OF) == t.trial_id]
        assert len(reruns) == 1 and reruns[0].system_attrs[ATTEMPT] == 1
        assert reruns[0].config == t.config and reruns[0].state is TrialState.COMPLETE
    after = {t.trial_id: t for t in trials}
    for t in told_before_kill:  # nothing told is lost
        assert after[t.trial_id].state is TrialState.COMPLETE
        assert after[t.trial_id].values == t.values


def test_a_dead_worker_is_lost_and_rerun_failures_are_data(ray_cluster: Any) -> None:
    """Trial 4 kills its Ray worker (os._exit): lost as "worker died" and re-run; odd trials
    raise and are counted FAILED with their traceback."""
    study = create_study(nb201_space(), searcher="random", seed=1)
    study.optimize(objectives.crash_odd_die_at_4, n_trials=6, executor="ray", show_progress=False)
    trials = study.trials
    lost = [t for t in trials if t.system_attrs.get(LOST)]
    assert [t.number for t in lost] == [4]
    assert lost[0].system_attrs[LOST] == "worker died"
    assert "worker process" in lost[0].error and "re-runs it" in lost[0].error
    rerun = next(t for t in trials if t.system_attrs.get(RERUN_OF) == lost[0].trial_id)
    assert rerun.config == lost[0].config and not rerun.system_attrs.get(LOST)
    assert rerun.state.is_finished  # (it ran as trial 5: odd, so it raised)
    counted = [t for t in trials if not t.system_attrs.get(LOST)]
    assert len(counted) == 6
    failed = [t for t in counted if t.state is TrialState.FAILED]
    assert failed and all("ValueError: odd trial" in t.error for t in failed)


def test_tune_on_ray_resumes_promotions_from_checkpoints_and_after_an_interrupt(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """tune(executor="ray") with ASHA: promoted trials resume from their parent's checkpoint
    under checkpoint_root; an interrupt records the running trials as lost and the same call
    resumes, re-running them."""
    import ConfigSpace as CS

    import jahs_bo
    from jahs_bo.spaces import Fidelity, SearchSpace

    space = SearchSpace(
        CS.ConfigurationSpace({"x": (0.0, 1.0)}),
        fidelities=[Fidelity("epochs", 1, 9, integer=True)],
    )
    kwargs: dict[str, Any] = {
        "storage": tmp_path / "study.db",
        "study_name": "ray",
        "searcher": "random",
        "scheduler": "asha",
        "scheduler_options": {"eta": 3},
        "seed": 0,
        "executor": "ray",
        "ray_address": ray_cluster.address,
        "resources_per_trial": {"cpu": 0.5},
        "checkpoint_root": tmp_path / "ckpt",
        "progress": False,
    }
    study = jahs_bo.tune(objectives.resumable_quadratic, space, n_trials=8, **kwargs)

    def interrupt(study: Any, trial: Trial) -> None:
        # Ctrl-C while other trials run or have results the loop has not told yet (on a loaded
        # machine a trial may end before the next one is sent; then wait for the next result).
        if any(t.state is TrialState.RUNNING for t in study.trials):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        study.optimize(
            objectives.resumable_quadratic,
            n_trials=16,
            executor=RayExecutor(resources_per_trial={"cpu": 0.5}),
            callbacks=[interrupt],
            checkpoint_root=tmp_path / "ckpt",
            show_progress=False,
        )
    # Nothing is left running: results handed over in the same poll as the interrupting one are
    # told, trials still on Ray are recorded lost ("interrupted").
    assert not [t for t in study.trials if t.state is TrialState.RUNNING]
    interrupted = [t for t in study.trials if t.system_attrs.get(LOST)]
    assert all(t.system_attrs[LOST] == "interrupted" for t in interrupted)

    study = jahs_bo.tune(objectives.resumable_quadratic, space, n_trials=16, **kwargs)
    trials = study.trials
    counted = [t for t in trials if not t.system_attrs.get(LOST)]
    assert len(counted) == 16 and all(t.state is TrialState.COMPLETE for t in counted)
    for t in interrupted:
        assert any(r.system_attrs.get(RERUN_OF) == t.trial_id for r in trials)
    promoted = [t for t in counted if t.parent_id is not None]
    assert promoted, "ASHA promoted no trial"
    for t in promoted:
        parent = study.storage.get_trial(t.parent_id)
        resumed = t.user_attrs["resumed_from"]
        if RERUN_OF in t.system_attrs:  # the interrupted attempt may have saved further epochs
            assert parent.fidelity["epochs"] <= resumed <= t.fidelity["epochs"]
        else:
            assert resumed == parent.fidelity["epochs"]
            assert [r.step for r in t.intermediate][0] == parent.fidelity["epochs"]


_DRIVER = """
import sys
import jahs_bo
from jahs_bo.spaces import nb201_space

jahs_bo.tune(
    "{objectives}:blocks_while_flagged", nb201_space(), n_trials=6, storage="{db}",
    study_name="ctrl-c", searcher="random", seed=0, executor="ray", ray_address="{address}",
    checkpoint_root="{ckpt}", progress=False,
)
print("RETURNED")
"""


def test_ctrl_c_of_a_ray_driver_cancels_its_tasks_and_the_same_call_resumes(
    ray_cluster: Any, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import time

    import psutil

    import jahs_bo
    from jahs_bo.study import load_study

    ckpt, db = tmp_path / "ckpt", tmp_path / "study.db"
    ckpt.mkdir()
    (ckpt / "BLOCK").touch()
    script = tmp_path / "driver.py"
    script.write_text(
        _DRIVER.format(
            objectives=Path(objectives.__file__).resolve(),
            db=db,
            address=ray_cluster.address,
            ckpt=ckpt,
        )
    )
    env = {**ray_cluster.env}  # this checkout's jahs_bo, no Ray auth token
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not list(ckpt.glob("*/started")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (-signal.SIGINT, 130), out
    assert "RETURNED" not in out
    pids = [int(p.read_text()) for p in ckpt.glob("*/started")]
    deadline = time.monotonic() + 30  # the cancelled tasks' worker processes end
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) for p in pids)
    trials = load_study("ctrl-c", db).trials
    lost = [t for t in trials if t.system_attrs.get(LOST)]
    assert lost and all(t.system_attrs[LOST] == "interrupted" for t in lost)
    assert all(t.state.is_finished for t in trials)

    (ckpt / "BLOCK").unlink()
    study = jahs_bo.tune(
        f"{Path(objectives.__file__).resolve()}:blocks_while_flagged",
        nb201_space(),
        n_trials=6,
        storage=db,
        study_name="ctrl-c",
        searcher="random",
        seed=0,
        executor="ray",
        ray_address=ray_cluster.address,
        checkpoint_root=ckpt,
        progress=False,
    )
    after = study.trials
    assert sum(1 for t in after if not t.system_attrs.get(LOST)) == 6
    assert {t.system_attrs.get(RERUN_OF) for t in after} - {None} == {t.trial_id for t in lost}


def test_with_max_retries_0_a_dead_worker_is_a_counted_failure(ray_cluster: Any) -> None:
    study = create_study(nb201_space(), searcher="random", seed=1)
    study.optimize(
        objectives.crash_odd_die_at_4,
        n_trials=5,
        executor=RayExecutor(max_retries=0),
        show_progress=False,
    )
    trials = study.trials
    assert len(trials) == 5 and not any(t.system_attrs.get(LOST) for t in trials)
    assert trials[4].state is TrialState.FAILED
    assert trials[4].error.startswith("worker died: its Ray worker process")
    assert "after 0 re-runs" in trials[4].error
