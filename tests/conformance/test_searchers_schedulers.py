"""Conformance suite: every registered searcher under every scheduler keeps the study's contract.

Parametrized over :func:`jahs_bo.searchers.available_searchers` and
:func:`jahs_bo.schedulers.available_schedulers` (plus no scheduler, i.e. the study's FIFO), so a
newly registered searcher or scheduler is checked without writing a test for it: ask/tell with
failures, pending trials, resume after reload from SQLite, seeds, and lost trials.
"""

from __future__ import annotations

import atexit
import functools
import math
import shutil
import tempfile
from pathlib import Path

import ConfigSpace as CS
import pytest

from jahs_bo.schedulers import available_schedulers
from jahs_bo.searchers import available_searchers
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace
from jahs_bo.study import Study, create_study, load_study
from jahs_bo.types import TrialState

#: Small settings of searchers whose defaults are sized for real budgets.
OPTIONS = {
    "gp": {"n_init": 3, "n_random": 32, "n_neighbours": 8, "local_rounds": 1, "fit_maxiter": 20},
    "bananas": {"n_init": 3, "epochs": 10, "n_members": 3, "n_neighbours": 8, "n_random": 8},
}
SCHEDULERS = [None, *available_schedulers()]
CASES = [(s, h) for s in available_searchers() for h in SCHEDULERS]
IDS = [f"{s}-{h or 'none'}" for s, h in CASES]
N = 10


@functools.cache
def meta_checkpoint() -> str:
    """A tiny meta-model of ``space()`` for searcher="transfer", trained once per session."""
    import numpy as np

    from jahs_bo.metalearn import MetaConfig, TaskData, meta_train

    sp = space()
    tasks = []
    for k in range(2):
        rng = np.random.default_rng(k)
        configs = sp.sample_many(40, rng)
        full = sp.max_fidelity()
        tasks.append(
            TaskData(
                configs, [value(c, full) + k for c in configs], name=f"t{k}", direction="minimize"
            )
        )
    small = {
        "gnn_hidden": 8,
        "gnn_layers": 1,
        "gnn_out": 4,
        "hp_hidden": 8,
        "embed_dim": 4,
        "kernel_dim": 2,
        "task_dim": 2,
        "set_dim": 8,
        "set_heads": 2,
        "set_blocks": 1,
        "proj_dim": 4,
    }
    meta = meta_train(
        sp,
        tasks,
        seed=0,
        steps=10,
        batch_size=16,
        context_max=8,
        config=MetaConfig(**small),
        progress=False,
    )
    root = tempfile.mkdtemp(prefix="jahs-conformance-meta-")
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    path = Path(root) / "meta"
    meta.save(path)
    return str(path)


def space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="conf", seed=0)
    cs.add(CS.Float("lr", (1e-4, 1e-1), log=True), CS.Categorical("act", ["relu", "mish"]))
    return SearchSpace(
        cs, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 9, integer=True)], name="conf"
    )


def value(config: dict, fidelity: dict) -> float:
    """A deterministic toy loss: better with more epochs, convolutions and lr near 1e-2."""
    convs = config["arch"].count("conv")
    return abs(math.log10(config["lr"]) + 2) - 0.1 * convs + 1.0 / fidelity["epochs"]


def make(searcher: str, scheduler: str | None, seed: int = 0, **kwargs) -> Study:
    return create_study(
        space(),
        searcher=searcher,
        searcher_options=(
            {**OPTIONS["gp"], "n_candidates": 32, "meta": meta_checkpoint()}
            if searcher == "transfer"
            else OPTIONS.get(searcher)
        ),
        scheduler=scheduler,
        seed=seed,
        **kwargs,
    )


def drive(study: Study, n: int) -> None:
    """Ask/tell until the study holds ``n`` trials; every fourth one fails."""
    while len(study.trials) < n:
        t = study.ask()
        if t.number % 4 == 3:
            study.tell(t, state="failed", error="diverged")
        else:
            study.tell(t, value(t.config, t.fidelity))


def signature(study: Study) -> list[tuple]:
    numbers = {t.trial_id: t.number for t in study.trials}
    return [
        (
            study.space.config_key(t.config),
            tuple(sorted(t.fidelity.items())),
            numbers.get(t.parent_id),
        )
        for t in study.trials
    ]


@pytest.mark.parametrize(("searcher", "scheduler"), CASES, ids=IDS)
def test_ask_tell_with_failures(searcher: str, scheduler: str | None) -> None:
    study = make(searcher, scheduler)
    drive(study, N)
    trials = study.trials
    assert [t.number for t in trials] == list(range(N))
    for t in trials:
        assert study.space.validate(t.config) == t.config
        assert study.space.validate_fidelity(t.fidelity) == t.fidelity
    assert sum(t.state is TrialState.FAILED for t in trials) == N // 4
    assert study.best_trial.state is TrialState.COMPLETE


@pytest.mark.parametrize(("searcher", "scheduler"), CASES, ids=IDS)
def test_pending_trials_are_not_proposed_again(searcher: str, scheduler: str | None) -> None:
    study = make(searcher, scheduler)
    drive(study, 6)
    pending = [study.ask() for _ in range(4)]
    keys = [(study.space.config_key(t.config), tuple(sorted(t.fidelity.items()))) for t in pending]
    assert len(set(keys)) == len(keys)  # no trial twice while it is running


@pytest.mark.parametrize(("searcher", "scheduler"), CASES, ids=IDS)
def test_same_seed_same_trials_other_seed_other_trials(
    searcher: str, scheduler: str | None
) -> None:
    a, b, c = (
        make(searcher, scheduler, 1),
        make(searcher, scheduler, 1),
        make(searcher, scheduler, 2),
    )
    for s in (a, b, c):
        drive(s, 8)
    assert signature(a) == signature(b)
    assert signature(a) != signature(c)


@pytest.mark.parametrize(("searcher", "scheduler"), CASES, ids=IDS)
def test_resume_after_reload_continues_the_study(
    searcher: str, scheduler: str | None, tmp_path: Path
) -> None:
    db = tmp_path / "c.db"
    first = make(searcher, scheduler, seed=5, storage=db, study_name="c")
    drive(first, 5)
    running = first.ask()  # left running by a process that "dies": its owner is us, so fail it
    first.storage.finish_trial(
        running.trial_id, TrialState.FAILED, None, "killed", system_attrs={"lost": "worker died"}
    )
    again = load_study("c", db)
    assert again.searcher.name == searcher
    assert again.scheduler.name == (scheduler or "fifo")
    rerun = again.ask()  # a lost trial is re-run first, as it was
    assert rerun.config == running.config and rerun.fidelity == running.fidelity
    assert rerun.parent_id == running.parent_id
    again.tell(rerun, value(rerun.config, rerun.fidelity))
    drive(again, N + 1)
    trials = again.trials
    assert [t.number for t in trials] == list(range(N + 1))
    if searcher != "gp":  # "transfer" fine-tunes from the checkpoint at every fit: stateless
        # Stateless searchers continue exactly as a study that was never interrupted (the GP
        # warm-starts its fits from the last ask in one process, so a reloaded one fits anew).
        ref = make(searcher, scheduler, seed=5)
        drive(ref, 5)
        lost = ref.ask()
        ref.storage.finish_trial(
            lost.trial_id, TrialState.FAILED, None, "killed", system_attrs={"lost": "worker died"}
        )
        r = ref.ask()
        ref.tell(r, value(r.config, r.fidelity))
        drive(ref, N + 1)
        assert signature(ref) == signature(again)
