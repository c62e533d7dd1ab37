"""GPSearcher: registration, validity, reproducibility, pending trials, fallbacks, and a
regression check that GP-BO beats random search on NB201 (real benchmark data)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from jahs_bo.acquisition.optimize import N_RANDOM, N_RANDOM_GRAMMAR
from jahs_bo.kernels import LevelProductWLKernel
from jahs_bo.searchers import make_searcher
from jahs_bo.searchers.gp import GPFitWarning, GPSearcher
from jahs_bo.spaces import hierarchical_nb201_space, jahs_bench_201_space, nb201_space
from jahs_bo.types import Trial, TrialState

FAST = {"n_random": 64, "n_neighbours": 12, "local_rounds": 1, "fit_maxiter": 40}


def _run(searcher, objective, budget: int, seed: int, fidelity=None) -> list[Trial]:
    trials: list[Trial] = []
    for i in range(budget):
        cfg = searcher.suggest(trials, [], np.random.default_rng((seed, i)))
        fid = fidelity(i) if fidelity else {}
        trials.append(Trial(i, i, cfg, fid, TrialState.COMPLETE, objective(cfg, fid)))
    return trials


def test_registered_and_validates_options():
    space = nb201_space()
    assert isinstance(make_searcher("gp", space, ["maximize"]), GPSearcher)
    for bad in ({"acquisition": "pi"}, {"combination": "max"}, {"n_init": 0}):
        with pytest.raises(ValueError):
            GPSearcher(space, **bad)


@pytest.mark.parametrize("acquisition", ["logei", "ucb", "ts"])
def test_proposals_are_valid_new_and_reproducible(nb201_accuracy, acquisition):
    space = nb201_space()

    def objective(cfg, fid):
        return (nb201_accuracy[cfg["arch"]],)

    def run(seed):
        s = GPSearcher(space, ["maximize"], n_init=4, acquisition=acquisition, **FAST)
        return [t.config["arch"] for t in _run(s, objective, 7, seed)]

    a = run(0)
    assert len(set(a)) == len(a)
    for arch in a:
        space.validate({"arch": arch})
    if acquisition == "logei":  # same seed, same trials; other seed, other trials
        assert a == run(0)
        assert a != run(1)


def test_pending_trials_are_not_proposed_again(nb201_accuracy):
    space = nb201_space()
    s = GPSearcher(space, ["maximize"], n_init=3, **FAST)
    trials = _run(s, lambda c, f: (nb201_accuracy[c["arch"]],), 6, 0)
    first = s.suggest(trials, [], np.random.default_rng(7))
    x = s.encoder.encode([first])
    with torch.no_grad():
        v_free = float(s.model.posterior(x).variance)
    second = s.suggest(trials, [Trial(99, 99, first)], np.random.default_rng(7))
    assert second != first
    # Kriging believer: the pending point's posterior variance shrank in the model used.
    with torch.no_grad():
        v_pending = float(s.model.posterior(x).variance)
    assert v_pending < 0.5 * v_free


def test_joint_space_with_fidelities_and_two_objectives():
    space = jahs_bench_201_space()
    s = GPSearcher(space, ["minimize", "minimize"], n_init=4, n_refine=2, **FAST)

    def objective(cfg, fid):
        lr = np.log10(cfg["LearningRate"])
        err = (lr + 1) ** 2 + cfg["arch"].count("none") * 0.3 + 10 / fid["epoch"]
        return (err, cfg["arch"].count("conv_3x3") + (cfg["Activation"] == "Mish"))

    def fidelity(i):
        return {"epoch": [10.0, 50.0, 200.0][i % 3]}

    trials = _run(s, objective, 8, 0, fidelity)
    for t in trials:
        assert space.validate(t.config) == t.config
    assert s.state is not None and len(s.encoder.fidelity_dims) == 4


@pytest.mark.parametrize("arch_kernel", ["wl", "wl-product"])
def test_hierarchical_grammar_runs_end_to_end(arch_kernel):
    space = hierarchical_nb201_space()
    s = GPSearcher(
        space,
        ["minimize"],
        n_init=3,
        n_random=4,
        n_parents=2,
        n_neighbours=3,
        local_rounds=0,
        arch_kernel=arch_kernel,
    )

    def objective(cfg, fid):  # cheap synthetic objective on the derivation
        arch = cfg["arch"]
        return (arch.count("zero") - arch.count("conv3x3o") + 0.1 * len(arch) / 100,)

    trials = _run(s, objective, 5, 0)
    assert len({t.config["arch"] for t in trials}) == 5
    kern = s.model.covar_module.base_kernel
    assert s.encoder.stores["arch"].n_levels > 1
    if arch_kernel == "wl":  # learned level weights
        assert kern.level_weights.shape[-1] == s.encoder.stores["arch"].n_levels
    else:
        assert isinstance(kern, LevelProductWLKernel)


def test_unknown_arch_kernel_is_refused():
    with pytest.raises(ValueError, match="arch_kernel.*wl-product"):
        GPSearcher(nb201_space(), arch_kernel="wl-sum")


def test_random_candidates_default_to_fewer_in_grammar_spaces():
    assert GPSearcher(nb201_space()).search.n_random == N_RANDOM == 256
    assert GPSearcher(hierarchical_nb201_space()).search.n_random == N_RANDOM_GRAMMAR == 16
    assert GPSearcher(hierarchical_nb201_space(), n_random=200).search.n_random == 200


def test_fit_failure_falls_back_with_a_warning(nb201_accuracy):
    space = nb201_space()
    s = GPSearcher(space, ["maximize"], n_init=3, **FAST)
    trials = _run(s, lambda c, f: (nb201_accuracy[c["arch"]],), 3, 0)

    class Broken:  # a kernel factory whose kernel cannot be evaluated
        def covar_module(self, *args, **kwargs):
            raise RuntimeError("kernel exploded")

        def __getattr__(self, name):
            return getattr(s_encoder, name)

    s_encoder = s.encoder
    s.encoder = Broken()
    with pytest.warns(GPFitWarning, match="kernel exploded"):
        cfg = s.suggest(trials, [], np.random.default_rng(3))
    assert cfg["arch"] not in {t.config["arch"] for t in trials}
    assert s.state is None


def _regret_gp_vs_random(acc, seeds, budget, **opts):
    space = nb201_space()
    best = max(acc.values())

    def objective(cfg, fid):
        return (acc[cfg["arch"]],)

    out = {}
    for name in ("gp", "random"):
        regrets = []
        for seed in seeds:
            searcher = make_searcher(name, space, ["maximize"], **(opts if name == "gp" else {}))
            with warnings.catch_warnings():
                warnings.simplefilter("error", GPFitWarning)
                trials = _run(searcher, objective, budget, seed)
            regrets.append(best - max(t.values[0] for t in trials))
        out[name] = np.array(regrets)
    return out


def test_gp_beats_random_search_on_nb201_fast(nb201_accuracy):
    """Small budget, fixed seeds (regrets in accuracy points on CIFAR-10 validation)."""
    r = _regret_gp_vs_random(nb201_accuracy, range(4), 40, n_init=8)
    # measured (wl_iterations=1): gp [0.000 0.309 0.053 0.091], random [0.184 0.184 1.047 0.567].
    # At 30 evaluations GP-BO is still close to random search on some seeds (seeds 0-5: 0.42 vs
    # 0.71); at 100 it finds the optimum (the slow test below).
    assert r["gp"].mean() < 0.5 * r["random"].mean()


@pytest.mark.slow
def test_gp_beats_random_search_on_nb201(nb201_accuracy):
    r = _regret_gp_vs_random(nb201_accuracy, range(5), 100)
    # measured: gp 0.000 on each of seeds 0-8; random 0.50 (seeds 0-9)
    assert r["gp"].mean() < 0.2
    assert r["gp"].mean() < r["random"].mean()


@pytest.mark.slow
def test_deep_kernel_searcher_runs(nb201_accuracy):
    space = nb201_space()
    s = GPSearcher(space, ["maximize"], arch_kernel="deep", n_init=4, **FAST)
    trials = _run(s, lambda c, f: (nb201_accuracy[c["arch"]],), 7, 0)
    assert len({t.config["arch"] for t in trials}) == 7


def _power(y: np.ndarray) -> np.ndarray:
    from jahs_bo.models.transforms import YeoJohnson

    return YeoJohnson()(torch.from_numpy(y).unsqueeze(-1))[0].squeeze(-1).numpy()


def test_power_transform_keeps_spacing_and_tames_the_tail():
    from jahs_bo.models.transforms import copula_scores

    y = np.array([33.50, 33.52, 33.45, 33.80, 1.0, 4.2, 22.5, 30.0, 32.1, 0.9])
    p, c = _power(y), copula_scores(y)
    assert (np.argsort(p) == np.argsort(y)).all()  # monotone
    top = np.argsort(y)[-4:]  # four near-equal results stay near-equal, unlike ranks
    assert np.ptp(p[top]) < 0.1 < 0.5 < np.ptp(c[top])
    z = (y - y.mean()) / y.std()
    assert p.min() - np.sort(p)[1] > z.min() - np.sort(z)[1] - 1e-9  # the low tail is not stretched
    assert np.allclose(_power(np.full(5, 3.0)), 0.0)


@pytest.mark.parametrize(
    ("scheduler", "numeric", "transform"),
    [
        (None, True, "copula"),
        ("fifo", True, "copula"),
        ("bohb", True, "none"),
        ("asha", True, "none"),
        ("bohb", False, "copula"),
    ],
)
def test_auto_transform_models_values_when_brackets_screen_numeric_proposals(
    scheduler, numeric, transform
):
    """Values when brackets screen proposals in a space with numeric hyperparameters; else ranks."""
    from scipy.stats import pearsonr

    from jahs_bo.models.transforms import copula_scores, resolve_y_transform
    from jahs_bo.spaces import Fidelity, SearchSpace

    if numeric:
        space = jahs_bench_201_space()
    else:  # NB201 cells only, with an epoch fidelity
        cell = nb201_space()
        space = SearchSpace(None, cell.architectures, [Fidelity("epoch", 12, 200)], name="cells")
    from jahs_bo import create_study

    study = create_study(
        space,
        direction="maximize",
        searcher="gp",
        searcher_options={"n_init": 3, **FAST},
        scheduler=scheduler,
    )
    s = study.searcher
    assert s.screened is (scheduler in ("bohb", "asha"))  # given to its constructor
    assert resolve_y_transform("auto", s.screened, numeric) == transform
    assert resolve_y_transform("power", s.screened, numeric) == "power"

    rng = np.random.default_rng(0)
    fid = {name: f.upper for name, f in space.fidelities.items()}
    values = [50.0, 50.1, 50.05, 10.0, 49.0, 30.0]
    trials = [
        Trial(i, i, space.sample(rng), fid, TrialState.COMPLETE, (v,)) for i, v in enumerate(values)
    ]
    s.suggest(trials, [], rng)
    targets = s.model.train_targets.detach().numpy()
    if transform == "none":  # standardized values: an affine map of the results
        assert pearsonr(targets, values)[0] > 0.999
    else:
        expected = copula_scores(np.array(values))
        assert pearsonr(targets, expected)[0] > 0.999


def test_constructor_takes_constraints_and_screened():
    from jahs_bo.multiobjective import OutcomeConstraint

    space = jahs_bench_201_space()
    con = OutcomeConstraint("latency", upper=1.0)
    s = GPSearcher(space, ["maximize"], constraints=[con], screened=True, **FAST)
    assert s.constraints == [con] and s.screened is True
    assert GPSearcher(space).constraints == [] and GPSearcher(space).screened is False
