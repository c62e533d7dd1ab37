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
    study = create_study(nb201_space(), searcher="random", seed=0)
    with pytest.raises(InputError, match="executor='dask' is not known"):
        study.optimize(objectives.n_convs, n_trials=1, executor="dask")


def test_killing_a_node_mid_run_loses_nothing_and_reruns_its_trials(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """40 trials on a 2-node cluster; the second node is killed after 8 finished trials.

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
        finished = [t for t in study.trials if t.state is TrialState.COMPLETE]
        on_second = [t for t in finished if t.user_attrs.get("node") in second]
        if node.poll() is None and len(finished) >= 8 and on_second:
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
    interrupted = [t for t in study.trials if t.system_attrs.get(LOST)]
    assert interrupted and all(t.system_attrs[LOST] == "interrupted" for t in interrupted)

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
        assert t.user_attrs["resumed_from"] == parent.fidelity["epochs"]
        assert [r.step for r in t.intermediate][0] == parent.fidelity["epochs"]
