"""The joint encoder, the botorch model helpers, the acquisition functions and the deep kernel."""

from __future__ import annotations

import ConfigSpace as CS
import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, UpperConfidenceBound
from gpytorch.mlls import ExactMarginalLogLikelihood

from jahs_bo.acquisition import (
    JointLogEI,
    JointUCB,
    make_acquisition,
    refine_continuous,
    score_candidates,
    thompson_scores,
)
from jahs_bo.exceptions import InputError
from jahs_bo.models import (
    INACTIVE,
    JointEncoder,
    build_gp,
    fit_gp,
    hyperparameter_state,
    kriging_believer,
)
from jahs_bo.spaces import SearchSpace, jahs_bench_201_space, nb201_space
from jahs_bo.spaces.nb201 import NB201Cell


def _n_conv(arch: str) -> float:
    return float(arch.count("conv_3x3") + 0.5 * arch.count("conv_1x1"))


def _jahs_data(n: int, seed: int = 0):
    space = jahs_bench_201_space()
    enc = JointEncoder(space)
    rng = np.random.default_rng(seed)
    configs = space.sample_many(n, rng)
    fids = [{"epoch": float(rng.integers(1, 201))} for _ in configs]
    X = enc.encode(configs, fids)
    y = [
        _n_conv(c["arch"]) - 3 * (np.log10(c["LearningRate"]) + 1) ** 2 + f["epoch"] / 100
        for c, f in zip(configs, fids, strict=True)
    ]
    return space, enc, configs, X, torch.tensor(y, dtype=torch.double).unsqueeze(-1)


def test_encoder_layout_and_round_trip():
    space, enc, configs, X, _ = _jahs_data(20)
    assert enc.arch_dims == [0]
    assert len(enc.hp_dims) == 4 and len(enc.categorical_dims) == 2
    assert enc.fidelity_dims == [5, 6, 7, 8] and X.shape == (20, 9) and X.dtype == torch.double
    assert ((X[:, 1:] >= 0) & (X[:, 1:] <= 1) | (X[:, 1:] == torch.round(X[:, 1:]))).all()
    # Missing fidelities mean full fidelity.
    torch.testing.assert_close(X[:, [5, 6, 7]], torch.ones(20, 3, dtype=torch.double))
    for c, x in zip(configs, X, strict=True):
        back = enc.decode(x)
        assert back["arch"] == c["arch"] and back["Activation"] == c["Activation"]
        assert back["TrivialAugment"] == c["TrivialAugment"]
        assert back["LearningRate"] == pytest.approx(c["LearningRate"], rel=1e-6)


def test_encoder_marks_inactive_and_moves_one_hyperparameter():
    cs = CS.ConfigurationSpace(seed=0)
    opt = CS.Categorical("opt", ["sgd", "adam"])
    mom = CS.Float("momentum", (0.0, 0.99))
    lr = CS.Float("lr", (1e-4, 1.0), log=True)
    cs.add([opt, mom, lr, CS.EqualsCondition(mom, opt, "sgd")])
    space = SearchSpace(cs, {"arch": NB201Cell()})
    enc = JointEncoder(space)
    adam = space.validate(
        {"opt": "adam", "lr": 0.01, "arch": NB201Cell().sample(np.random.default_rng(0))}
    )
    x = enc.encode([adam])[0]
    assert x[enc.hp_dims[space.hp_names.index("momentum")]] == INACTIVE
    assert enc.decode(x) == adam
    assert not enc.vector_moves
    space2 = jahs_bench_201_space()
    enc2 = JointEncoder(space2)
    x2 = enc2.encode(space2.sample_many(1, np.random.default_rng(1)))[0]
    moved = enc2.perturb_hyperparameters(x2, 50, np.random.default_rng(2))
    changed = (moved != x2).sum(-1)
    assert (changed <= 1).all() and changed.sum() > 25
    assert ((moved[:, enc2.hp_dims] >= 0) & (moved[:, enc2.hp_dims] <= 2)).all()
    for row in moved[:10]:
        space2.validate(enc2.decode(row))


@pytest.mark.parametrize("combination", ["product", "sum", "sum_product"])
def test_joint_kernel_combinations_are_psd(combination):
    space, enc, configs, X, Y = _jahs_data(40)
    K = enc.covar_module(combination).double()(X).to_dense().detach()
    torch.testing.assert_close(K, K.T)
    assert torch.linalg.eigvalsh(K).min() > -1e-8


def test_fit_gp_learns_and_warm_starts():
    space, enc, configs, X, Y = _jahs_data(30)
    model = fit_gp(X, Y, enc.covar_module(), maxiter=30)
    state = hyperparameter_state(model)
    assert not any(k.startswith("outcome_transform") for k in state)
    Xt, Yt = _jahs_data(30, seed=1)[3:]
    with torch.no_grad():
        pred = model.posterior(Xt).mean.squeeze(-1)
    corr = np.corrcoef(pred.numpy(), Yt.squeeze(-1).numpy())[0, 1]
    assert corr > 0.5
    # maxiter=0 keeps the warm-started hyperparameters exactly.
    again = fit_gp(X, Y, enc.covar_module(), warm_state=state, maxiter=0)
    for k, v in hyperparameter_state(again).items():
        torch.testing.assert_close(v, state[k])


@pytest.mark.parametrize("case", ["n1", "n2", "duplicates", "constant"])
def test_fit_gp_is_robust_on_degenerate_data(case):
    space = nb201_space()
    enc = JointEncoder(space)
    rng = np.random.default_rng(0)
    configs = space.sample_many(6, rng)
    if case == "n1":
        configs, y = configs[:1], [1.0]
    elif case == "n2":
        configs, y = configs[:2], [1.0, 2.0]
    elif case == "duplicates":
        configs, y = [configs[0]] * 5 + [configs[1]], [1.0, 1.1, 0.9, 1.0, 1.05, 3.0]
    else:
        y = [0.5] * 6
    X = enc.encode(configs)
    Y = torch.tensor(y, dtype=torch.double).unsqueeze(-1)
    model = fit_gp(X, Y, enc.covar_module())
    cand = enc.encode(space.sample_many(20, rng))
    with torch.no_grad():
        post = model.posterior(cand)
    assert torch.isfinite(post.mean).all() and (post.variance > 0).all()
    acqf = make_acquisition("logei", model, float(Y.max()))
    assert torch.isfinite(score_candidates(acqf, cand)).all()


def test_build_gp_rejects_bad_data():
    X = torch.zeros(3, 2, dtype=torch.double)
    with pytest.raises(InputError, match="finite"):
        build_gp(X, torch.tensor([[1.0], [float("nan")], [0.0]], dtype=torch.double), None)
    with pytest.raises(InputError, match="n x 1"):
        build_gp(X, torch.zeros(2, 1, dtype=torch.double), None)


@pytest.fixture(scope="module")
def fitted():
    space, enc, configs, X, Y = _jahs_data(20)
    model = fit_gp(X, Y, enc.covar_module(), maxiter=15)
    cand = enc.encode(space.sample_many(50, np.random.default_rng(5)))
    return enc, model, X, Y, cand


def test_joint_acquisitions_match_botorch(fitted):
    enc, model, X, Y, cand = fitted
    best = float(Y.max())
    with torch.no_grad():
        ours = JointLogEI(model, best_f=best)(cand.unsqueeze(-2))
        ref = LogExpectedImprovement(model, best_f=best)(cand.unsqueeze(-2))
        torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-8)
        ucb = JointUCB(model, beta=2.0)(cand.unsqueeze(-2))
        torch.testing.assert_close(ucb, UpperConfidenceBound(model, beta=2.0)(cand.unsqueeze(-2)))
    torch.testing.assert_close(
        score_candidates(JointLogEI(model, best_f=best), cand, chunk=7), ours
    )
    with pytest.raises(InputError):
        make_acquisition("pi", model, best)


def test_thompson_scores_reproducible(fitted):
    enc, model, X, Y, cand = fitted
    a = thompson_scores(model, cand, torch.Generator().manual_seed(3), chunk=20)
    b = thompson_scores(model, cand, torch.Generator().manual_seed(3), chunk=20)
    c = thompson_scores(model, cand, torch.Generator().manual_seed(4), chunk=20)
    assert a.shape == (50,) and torch.equal(a, b) and not torch.equal(a, c)


def test_refine_continuous_improves_and_keeps_fixed_columns(fitted):
    enc, model, X, Y, cand = fitted
    acqf = JointLogEI(model, best_f=float(Y.max()))
    start = cand[:4]
    before = score_candidates(acqf, start)
    out, after = refine_continuous(acqf, start, enc.continuous_dims, maxiter=20)
    assert (after >= before - 1e-6).all()
    fixed = [d for d in range(enc.dim) if d not in enc.continuous_dims]
    torch.testing.assert_close(out[:, fixed], start[:, fixed])
    assert ((out[:, enc.continuous_dims] >= 0) & (out[:, enc.continuous_dims] <= 1)).all()


def test_kriging_believer_shrinks_variance_at_pending(fitted):
    enc, model, X, Y, cand = fitted
    pending = cand[:3]
    conditioned = kriging_believer(model, pending)
    with torch.no_grad():
        v0 = model.posterior(pending).variance
        v1 = conditioned.posterior(pending).variance
        m0 = model.posterior(pending).mean
        m1 = conditioned.posterior(pending).mean
    assert (v1 < 0.5 * v0).all()
    torch.testing.assert_close(m1, m0, rtol=1e-3, atol=1e-3)
    assert kriging_believer(model, cand[:0]) is model


def test_deep_graph_kernel_shapes_and_fit():
    space = nb201_space()
    enc = JointEncoder(space)
    rng = np.random.default_rng(0)
    configs = space.sample_many(30, rng)
    X = enc.encode(configs)
    Y = torch.tensor([_n_conv(c["arch"]) for c in configs], dtype=torch.double).unsqueeze(-1)
    kern = enc.covar_module(arch_kernel="deep")
    K = kern(X[:5], X[:7]).to_dense()
    assert K.shape == (5, 7)
    assert kern(X[:6].view(2, 3, 1), X[:8].view(2, 4, 1)).to_dense().shape == (2, 3, 4)
    assert kern(X[:5], diag=True).shape == (5,)
    model = build_gp(X, Y, kern)
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    torch.manual_seed(0)  # test-only: GIN weights are initialized by torch's global RNG
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = -mll(model(X), model.train_targets)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3
    model.eval()
    with torch.no_grad():
        pred = model.posterior(X).mean.squeeze(-1).numpy()
    assert np.corrcoef(pred, Y.squeeze(-1).numpy())[0, 1] > 0.9


def test_numeric_moves_reflect_at_the_bounds():
    """Moves near a bound never land exactly on it (clipping made the local search corner-bound)."""
    from jahs_bo.models.encoder import reflect_unit

    assert [reflect_unit(v) for v in (-0.1, 1.3, 0.5, 2.4, -1.2)] == pytest.approx(
        [0.1, 0.7, 0.5, 0.4, 0.8]
    )
    space = SearchSpace(CS.ConfigurationSpace({"a": (0.0, 1.0), "b": (0.0, 1.0)}))
    enc = JointEncoder(space)
    x = torch.tensor([0.02, 0.97], dtype=torch.float64)
    moved = enc.perturb_hyperparameters(x, 400, np.random.default_rng(0))
    v = moved[:, enc.hp_dims]
    assert ((v > 0.0) & (v < 1.0)).all()
    # about a third of the moves of b would cross its upper bound; reflected, they stay spread
    b = v[v[:, 1] != 0.97, 1]
    assert len(b) > 150 and float(b.std()) > 0.05
