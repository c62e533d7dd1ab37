"""Every ask keys only the trials that arrived since the last one, and nothing is proposed twice.

The study keeps the keys of its trials as they arrive (``Study._keys``) and hands them to the
searchers with the finished trials (:class:`~jahs_bo.types.FinishedTrials`); these tests check
that the shared set always equals keying the whole study, also when another process adds trials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ConfigSpace import Categorical, ConfigurationSpace

from jahs_bo.searchers.random import seen_keys
from jahs_bo.spaces import NB201Cell, SearchSpace
from jahs_bo.storage import SQLiteStorage
from jahs_bo.study import create_study, load_study
from jahs_bo.types import FinishedTrials, finished_trials


def _small_space() -> SearchSpace:
    cs = ConfigurationSpace(name="small")
    cs.add(Categorical("a", [str(i) for i in range(6)]))
    cs.add(Categorical("b", ["x", "y", "z"]))
    return SearchSpace(cs)  # 18 configurations


@pytest.mark.parametrize("searcher", ["random", "re", "ls"])
def test_two_processes_never_repeat_a_configuration(searcher: str, tmp_path: Path) -> None:
    """Two study objects on one SQLite file (as two workers): all 18 configurations, once each,
    including while the other's trials are still running."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    a = create_study(_small_space(), searcher=searcher, seed=0, storage=url, study_name="s")
    b = load_study("s", url)
    held = []
    for i in range(18):
        study = a if i % 2 else b
        trial = study.ask()
        held.append((study, trial))
        if i % 3 == 2:  # tell in batches: some trials stay running across the other's asks
            for s, t in held:
                s.tell(t, float(len(t.config["a"]) + ord(t.config["b"])))
            held = []
    for s, t in held:
        s.tell(t, 0.0)
    keys = [a.space.trial_key(t) for t in a.trials]
    assert len(keys) == 18 and len(set(keys)) == 18


def test_shared_keys_equal_keying_the_whole_study(tmp_path: Path) -> None:
    """The set handed to the searcher is the keys of every trial (isomorphic NB201 keys)."""
    space = SearchSpace(ConfigurationSpace(name="cell"), {"arch": NB201Cell()})
    study = create_study(
        space, searcher="random", seed=1, storage=SQLiteStorage(tmp_path / "s.db"), study_name="c"
    )
    seen_by_searcher: list[set[str]] = []
    original = study.searcher.suggest

    def spy(trials, pending, rng):  # type: ignore[no-untyped-def]
        assert type(trials) is FinishedTrials
        seen_by_searcher.append(set(seen_keys(study.searcher, trials, pending)))
        return original(trials, pending, rng)

    study.searcher.suggest = spy  # type: ignore[method-assign]
    running = study.ask()
    for _ in range(25):
        trial = study.ask()
        study.tell(trial, 1.0)
    study.tell(running, 2.0)
    # before ask k the study held trials 0..k-1: the set is exactly their keys
    for k, seen in enumerate(seen_by_searcher):
        assert seen == {space.trial_key(t) for t in study.trials[:k]}


def test_finished_trials_passes_the_study_list_on_unfiltered() -> None:
    rng = np.random.default_rng(0)
    study = create_study(_small_space(), searcher="random", seed=0)
    for _ in range(3):
        t = study.ask()
        study.tell(t, float(rng.random()))
    done = FinishedTrials(study.trials, {"k"})
    copy = finished_trials(done)
    assert type(copy) is FinishedTrials and copy.seen is done.seen
    assert list(copy) == list(done) and copy is not done
    assert type(finished_trials(list(done))) is list
