"""Warm start without a model: the greedy complementary portfolio and the study hook."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn import TaskData
from jahs_bo.metalearn.portfolio import greedy_portfolio, normalized_scores, portfolio_configs
from jahs_bo.study import Study, create_study, load_study

from .conftest import make_space, synthetic_task


def test_greedy_portfolio_picks_complementary_configurations():
    scores = np.array(
        [
            [0.9, 0.9, 0.0],  # good on tasks 0 and 1
            [1.0, 1.0, 0.1],  # the best on tasks 0 and 1, second by mean
            [0.0, 0.0, 1.0],  # only good on task 2
            [0.95, 0.95, 0.3],  # the best on average
        ]
    )
    # top-2 by mean score would be [3, 1]; the greedy portfolio covers task 2 second
    assert greedy_portfolio(scores, 2) == [3, 2]
    assert greedy_portfolio(scores, 10) == [3, 2, 1, 0]


def test_unevaluated_candidates_get_no_credit_and_ties_prefer_the_better_mean():
    nan = np.nan
    scores = np.array([[1.0, nan], [0.5, nan], [nan, 1.0], [nan, 0.2]])
    assert greedy_portfolio(scores, 3) == [0, 2, 1]
    with pytest.raises(InputError, match="portfolio size must be >= 1"):
        greedy_portfolio(scores, 0)


def test_normalized_scores_follow_the_direction():
    np.testing.assert_allclose(normalized_scores([1.0, 3.0, 2.0], "minimize"), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(normalized_scores([1.0, 3.0, np.nan]), [0.0, 1.0, np.nan])
    np.testing.assert_allclose(normalized_scores([2.0, 2.0]), [1.0, 1.0])


def test_portfolio_configs_from_tasks_on_shared_configurations():
    space = make_space()
    configs = space.sample_many(4, np.random.default_rng(0))
    a = TaskData(configs, [0.9, 1.0, 0.0, 0.95], name="a")
    b = TaskData(configs, [0.9, 1.0, 0.0, 0.95], name="b")
    c = TaskData(configs, [3.0, 2.9, 0.0, 2.3], name="c", direction="minimize")  # lower is better
    assert portfolio_configs(space, [a, b, c], size=2) == [configs[3], configs[2]]
    with pytest.raises(InputError, match="non-empty list"):
        portfolio_configs(space, [])


def drive(study: Study, n: int) -> None:
    while len(study.trials) < n:
        t = study.ask()
        study.tell(t, float(t.config["lr"]))


@pytest.fixture(scope="module")
def source_studies() -> list[Study]:
    space = make_space()
    out = []
    for seed, shift in enumerate([0.2, 0.6]):
        task = synthetic_task(space, shift, 30, seed)
        study = create_study(space, direction="maximize", searcher="random", seed=seed)
        for cfg, fid, v in zip(task.configs, task.fidelities, task.values, strict=True):
            study.tell(study.ask(cfg, fidelity=fid), float(v))
        out.append(study)
    return out


@pytest.mark.parametrize("scheduler", [None, "hyperband", "bohb", "asha"])
def test_warm_started_study_evaluates_the_portfolio_first_and_after_reload(
    source_studies, scheduler, tmp_path: Path
):
    space = make_space()
    portfolio = portfolio_configs(space, source_studies, size=3)
    assert len({space.config_key(c) for c in portfolio}) == 3
    db = tmp_path / "w.db"
    study = create_study(
        space,
        direction="maximize",
        searcher="random",
        scheduler=scheduler,
        storage=db,
        study_name="w",
        seed=0,
        warm_start=source_studies,
        warm_start_size=3,
    )
    drive(study, 2)
    again = load_study("w", db)
    drive(again, 6)
    trials = again.trials
    assert [t.config for t in trials[:3]] == portfolio
    assert all(t.fidelity == space.max_fidelity() for t in trials[:3])
    assert [t.system_attrs.get("warm_start") for t in trials] == [0, 1, 2, None, None, None]
    assert space.config_key(trials[3].config) not in {space.config_key(c) for c in portfolio}


def test_portfolio_configurations_already_in_the_study_are_skipped(source_studies):
    space = make_space()
    study = create_study(
        space, direction="maximize", searcher="random", seed=0, warm_start=source_studies
    )
    portfolio = study.system_attrs["warm_start"]
    study.tell(study.ask(portfolio[0]), 0.0)  # the user evaluated the first one by hand
    assert study.ask().config == portfolio[1]


def test_a_study_against_the_direction_of_all_its_sources_is_warned(source_studies, recwarn):
    from jahs_bo.metalearn import SourceDirectionWarning

    space = make_space()
    # the default direction is "minimize"; the sources maximize
    with pytest.warns(SourceDirectionWarning, match="direction='maximize'"):
        create_study(space, searcher="random", seed=0, warm_start=source_studies)
    recwarn.clear()
    create_study(space, direction="maximize", searcher="random", seed=0, warm_start=source_studies)
    assert not [w for w in recwarn if issubclass(w.category, SourceDirectionWarning)]
    # one source in the study's direction is enough: the user mixes metrics on purpose
    flipped = TaskData(
        [t.config for t in source_studies[0].trials],
        [-float(t.value) for t in source_studies[0].trials],
        direction="minimize",
    )
    create_study(space, searcher="random", seed=0, warm_start=[*source_studies, flipped])
    assert not [w for w in recwarn if issubclass(w.category, SourceDirectionWarning)]
