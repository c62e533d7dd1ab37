"""JahsBOSearch under a real Ray Tune Tuner (ASHA, ConcurrencyLimiter) and space conversion."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import pytest

from jahs_bo.exceptions import InputError, InvalidSpaceError
from jahs_bo.integrations.ray_tune import (
    JahsBOSearch,
    JahsBOSearchStateError,
    from_ray_tune,
    to_ray_tune,
)
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace
from jahs_bo.types import TrialState


def toy(config: dict[str, Any]) -> None:
    """A learning curve whose final loss is smallest at x = 0.3 with the 'b' branch."""
    from ray import tune

    base = (config["x"] - 0.3) ** 2 + (0.0 if config["branch"] == "b" else 0.5)
    for step in range(1, 5):
        tune.report({"loss": base + 1.0 / step})


def test_param_space_round_trips_and_inexpressible_spaces_raise() -> None:
    from ray import tune

    param_space = {
        "lr": tune.loguniform(1e-4, 1e-1),
        "x": tune.uniform(-1.0, 2.0),
        "layers": tune.randint(1, 9),  # 1..8: Ray's upper bound is exclusive
        "width": tune.lograndint(8, 257),
        "act": tune.choice(["relu", "tanh"]),
        "batch": 32,
    }
    space = from_ray_tune(param_space)
    hps = space.hyperparameters
    assert (hps["layers"].lower, hps["layers"].upper) == (1, 8)
    assert hps["lr"].log and hps["width"].log and not hps["x"].log
    assert from_ray_tune(to_ray_tune(space)) == space
    back = to_ray_tune(space)
    assert (back["layers"].lower, back["layers"].upper) == (1, 9)
    assert back["batch"] == 32 and back["act"].categories == ["relu", "tanh"]

    with pytest.raises(InvalidSpaceError, match="architectures \\['arch'\\] cannot be expressed"):
        to_ray_tune(SearchSpace(architectures={"arch": NB201Cell()}))
    with pytest.raises(InvalidSpaceError, match="fidelities"):
        to_ray_tune(
            SearchSpace(CS.ConfigurationSpace({"x": (0.0, 1.0)}), fidelities=[Fidelity("e", 1, 9)])
        )
    with pytest.raises(InvalidSpaceError, match="'q'.*no jahs-bo form"):
        from_ray_tune({"q": tune.quniform(0.0, 1.0, 0.1)})
    with pytest.raises(InvalidSpaceError, match="'g'.*no jahs-bo form"):
        from_ray_tune({"g": {"grid_search": [1, 2]}})
    with pytest.raises(InputError, match="mode='avg'"):
        JahsBOSearch(space, mode="avg")


@pytest.fixture
def _keep_signal_handlers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Ray Tune installs SIGINT/SIGUSR1 handlers for a run and leaves them installed; later
    tests (Ctrl-C of the optimize loop) need Python's own."""
    monkeypatch.setenv("TUNE_DISABLE_SIGINT_HANDLER", "1")
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1)}
    yield
    for sig, handler in before.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("_keep_signal_handlers")
def test_tuner_with_asha_runs_and_the_searcher_restores_from_its_checkpoint(
    ray_cluster: Any, tmp_path: Path
) -> None:
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter

    param_space = {"x": tune.uniform(-1.0, 1.0), "branch": tune.choice(["a", "b"])}
    search = JahsBOSearch(param_space, searcher="gp", metric="loss", mode="min", seed=3)
    tuner = tune.Tuner(
        toy,
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(search, max_concurrent=1),
            scheduler=ASHAScheduler(metric="loss", mode="min", max_t=4, grace_period=1),
            num_samples=6,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="toy", verbose=0),
    )
    results = tuner.fit()
    assert len(results) == 6 and not results.errors
    told = search.study.trials
    assert len(told) == 6 and all(t.state is TrialState.COMPLETE for t in told)
    # the searcher saw what Ray Tune's trials reported (their last loss)
    ray_losses = sorted(r.metrics["loss"] for r in results)
    np.testing.assert_allclose(sorted(t.value for t in told), ray_losses)
    stopped_early = [r for r in results if r.metrics["training_iteration"] < 4]
    assert stopped_early, "ASHA stopped no trial"

    # Ray Tune saved the searcher's state as JSON in the experiment directory
    files = list((tmp_path / "toy").glob("searcher-state-*.json"))
    assert len(files) == 1
    state = json.loads(files[0].read_text())
    assert len(state["trials"]) == 6

    restored = JahsBOSearch()
    restored.restore_from_dir(str(tmp_path / "toy"))
    assert [t.config for t in restored.study.trials] == [t.config for t in told]
    assert [t.values for t in restored.study.trials] == [t.values for t in told]
    assert restored.suggest("next") == search.suggest("next")  # it continues the same search

    # Ray Tune's own restore unpickles the Tuner (our searcher travels as its JSON state)
    again = tune.Tuner.restore(str(tmp_path / "toy"), trainable=toy)
    assert len(again.get_results()) == 6

    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(JahsBOSearchStateError, match="bad.json"):
        restored.restore(str(tmp_path / "bad.json"))
