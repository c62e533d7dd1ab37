"""GP searcher with several objectives: qLogNEHVI over one GP per objective (real botorch) on
the NAS-Bench-201 cell space, with the real CIFAR-10 validation error as one objective."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from botorch.models import ModelListGP, SingleTaskGP

from jahs_bo import create_study
from jahs_bo.multiobjective import non_dominated_mask
from jahs_bo.searchers.gp import EHVIWarning, GPFitWarning, GPSearcher
from jahs_bo.spaces import nb201_space
from jahs_bo.types import Trial, TrialState

FAST = {"n_random": 64, "n_neighbours": 12, "local_rounds": 1, "fit_maxiter": 40, "n_init": 8}


@pytest.fixture(scope="module")
def nb201_error(nb201_accuracy: dict[str, float]) -> dict[str, float]:
    return {arch: 100.0 - acc for arch, acc in nb201_accuracy.items()}


def conv_cost(arch: str) -> float:
    """A cheap size proxy: 3x3 convolutions cost 9, 1x1 convolutions 1, pooling 0.5."""
    return 9.0 * arch.count("conv_3x3") + arch.count("conv_1x1") + 0.5 * arch.count("pool")


def _loop(study, error, n: int) -> None:
    for _ in range(n):
        trial = study.ask()
        arch = trial.config["arch"]
        study.tell(trial, [error[arch], conv_cost(arch)])


@pytest.mark.slow  # 35-50 s: a 60-evaluation EHVI run; the other EHVI tests run by default
def test_ehvi_loop_front_equals_brute_force(nb201_error):
    study = create_study(
        nb201_space(),
        directions=["minimize", "minimize"],
        seed=3,
        searcher_options={**FAST, "mo_acquisition": "ehvi"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", EHVIWarning)
        warnings.simplefilter("error", GPFitWarning)
        _loop(study, nb201_error, 25)
    s = study.searcher
    assert s.mo_acquisition == "ehvi"
    assert isinstance(s.model, ModelListGP) and s.model.num_outputs == 2
    assert set(s.states) == {"objective_0", "objective_1"}
    trials = study.get_trials(states=["complete"])
    assert len(trials) == 25 and len({t.config["arch"] for t in trials}) == 25
    Y = np.array([t.values for t in trials])
    brute = [
        t
        for t, y in zip(trials, Y, strict=True)
        if not any((o <= y).all() and (o < y).any() for o in Y)
    ]
    assert [t.number for t in study.best_trials] == [t.number for t in brute]
    assert list(non_dominated_mask(Y).nonzero()[0]) == [t.number for t in brute]


def test_ehvi_is_reproducible_and_respects_pending(nb201_error):
    space = nb201_space()

    def run(seed):
        s = GPSearcher(space, ["minimize", "minimize"], mo_acquisition="ehvi", **FAST)
        trials: list[Trial] = []
        for i in range(11):
            cfg = s.suggest(trials, [], np.random.default_rng((seed, i)))
            y = (nb201_error[cfg["arch"]], conv_cost(cfg["arch"]))
            trials.append(Trial(i, i, cfg, {}, TrialState.COMPLETE, y))
        return s, trials

    s, trials = run(0)
    assert [t.config for t in trials] == [t.config for t in run(0)[1]]
    first = s.suggest(trials, [], np.random.default_rng(99))
    second = s.suggest(trials, [Trial(99, 99, first)], np.random.default_rng(99))
    assert second != first
    assert space.validate(second) == second


def test_parego_option_and_validation(nb201_error):
    space = nb201_space()
    with pytest.raises(ValueError, match="mo_acquisition"):
        GPSearcher(space, ["minimize", "minimize"], mo_acquisition="nsga")
    with pytest.raises(ValueError, match="mc_samples"):
        GPSearcher(space, ["minimize", "minimize"], mc_samples=0)
    assert GPSearcher(space, ["minimize", "minimize"]).mo_acquisition == "parego"
    study = create_study(space, directions=["minimize", "minimize"], seed=0, searcher_options=FAST)
    _loop(study, nb201_error, 10)
    assert isinstance(study.searcher.model, SingleTaskGP)
    assert study.searcher.state is not None


def test_ehvi_failure_falls_back_to_parego_then_mutation(nb201_error):
    space = nb201_space()
    s = GPSearcher(space, ["minimize", "minimize"], mo_acquisition="ehvi", **FAST)
    trials = [
        Trial(i, i, c, {}, TrialState.COMPLETE, (nb201_error[c["arch"]], conv_cost(c["arch"])))
        for i, c in enumerate(space.sample(np.random.default_rng(0)) for _ in range(8))
    ]

    class Broken:  # a kernel factory whose kernel cannot be built: EHVI and ParEGO both fail
        def covar_module(self, *args, **kwargs):
            raise RuntimeError("kernel exploded")

        def __getattr__(self, name):
            return getattr(encoder, name)

    encoder = s.encoder
    s.encoder = Broken()
    with pytest.warns(EHVIWarning, match="kernel exploded"), pytest.warns(GPFitWarning):
        cfg = s.suggest(trials, [], np.random.default_rng(1))
    assert cfg["arch"] not in {t.config["arch"] for t in trials}
    assert s.state is None


def test_constrained_ehvi_models_each_constraint(nb201_error):
    study = create_study(
        nb201_space(),
        directions=["minimize", "minimize"],
        seed=1,
        searcher_options={**FAST, "mo_acquisition": "ehvi"},
        constraints=["n_conv3 <= 2"],
    )
    for i in range(14):
        trial = study.ask()
        arch = trial.config["arch"]
        if i != 3:  # one trial never measures the constrained metric
            study.set_trial_user_attr(trial, "n_conv3", arch.count("conv_3x3"))
        study.tell(trial, [nb201_error[arch], conv_cost(arch)])
    study.ask()  # fits on the 14 complete trials
    model = study.searcher.model
    assert isinstance(model, ModelListGP) and model.num_outputs == 3
    assert model.models[2].train_inputs[0].shape[0] == 13  # the unmeasured trial left out
    assert model.models[0].train_inputs[0].shape[0] == 14  # ... of that model only
    front = study.best_trials
    assert front and all(t.user_attrs["n_conv3"] <= 2 for t in front)
