"""Target transforms (botorch outcome transforms), the refit schedule and the default factory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import ChainedOutcomeTransform, Standardize
from scipy.stats import norm, rankdata, yeojohnson

from jahs_bo.exceptions import InputError
from jahs_bo.models import (
    GaussianCopula,
    JointEncoder,
    JointGPFactory,
    RefitSchedule,
    WarmStart,
    YeoJohnson,
    target_transform,
)
from jahs_bo.models.transforms import resolve_y_transform
from jahs_bo.spaces import nb201_space

Y = torch.tensor(
    [[33.50], [33.52], [33.45], [33.80], [1.0], [4.2], [22.5], [30.0], [32.1], [0.9]],
    dtype=torch.double,
)


def test_copula_is_the_normal_score_of_the_rank():
    z, yvar = GaussianCopula()(Y)
    y = Y.squeeze(-1).numpy()
    expected = norm.ppf((rankdata(y) - 0.5) / len(y))
    assert yvar is None and z.dtype == torch.double
    np.testing.assert_array_equal(z.squeeze(-1).numpy(), expected)


def test_copula_columns_are_independent_and_untransform_inverts():
    two = torch.cat([Y, -3 * Y], dim=-1)
    tf = GaussianCopula()
    z, _ = tf(two)
    torch.testing.assert_close(z[:, 0], -z[:, 1])
    back, _ = tf.untransform(z)
    torch.testing.assert_close(back, two)
    tf.eval()  # eval mode: through the learned distribution
    z_eval, _ = tf(two)
    torch.testing.assert_close(z_eval, z)


def test_yeo_johnson_matches_scipy_and_inverts():
    y = Y.squeeze(-1).numpy()
    zs = (y - y.mean()) / y.std()
    expected, _ = yeojohnson(zs)
    tf = YeoJohnson()
    t, _ = tf(Y)
    np.testing.assert_array_equal(t.squeeze(-1).numpy(), expected)
    back, _ = tf.untransform(t)
    torch.testing.assert_close(back, Y)
    flat, _ = YeoJohnson()(torch.full((5, 1), 3.0, dtype=torch.double))
    assert torch.equal(flat, torch.zeros(5, 1, dtype=torch.double))


def test_transforms_chain_with_standardize():
    chain = ChainedOutcomeTransform(copula=GaussianCopula(), standardize=Standardize(m=1))
    z, _ = chain(Y)
    torch.testing.assert_close(z.mean(), torch.tensor(0.0, dtype=torch.double))
    back, _ = chain.untransform(z)
    torch.testing.assert_close(back, Y)


def test_target_transform_names_and_auto_rule():
    assert isinstance(target_transform("copula"), GaussianCopula)
    assert isinstance(target_transform("power"), YeoJohnson)
    assert target_transform("none") is None
    with pytest.raises(InputError):
        target_transform("auto")
    assert resolve_y_transform("auto", screened=True, numeric=True) == "none"
    assert resolve_y_transform("auto", screened=True, numeric=False) == "copula"
    assert resolve_y_transform("auto", screened=False, numeric=True) == "copula"
    assert resolve_y_transform("power", screened=True, numeric=True) == "power"


def test_refit_schedule():
    s = RefitSchedule(fit_maxiter=100, warm_maxiter=20, refit_fraction=0.1, refit_every_below=50)
    assert s.maxiter(10, warm=False) == 100
    assert s.maxiter(10, warm=True) == 20
    s.record(100, 20)
    assert s.maxiter(105, warm=True) == 0  # grew by 5% < 10%
    assert s.maxiter(110, warm=True) == 20
    s.record(110, 0)  # a fit that kept its hyperparameters does not move the mark
    assert s.n_optimized == 100
    assert s.for_output(0, None).maxiter == 100  # a new output is always fitted
    assert s.for_output(0, {"a": torch.zeros(1)}).maxiter == 0


def test_default_factory_fits_and_fills_the_warm_start():
    space = nb201_space()
    enc = JointEncoder(space, iterations=1)
    configs = space.sample_many(8, np.random.default_rng(0))
    X = enc.encode(configs)
    Y = torch.tensor([[c["arch"].count("conv")] for c in configs], dtype=torch.double)
    warm = WarmStart(maxiter=10)
    model = JointGPFactory()(X, Y, enc, warm)
    assert isinstance(model, SingleTaskGP) and not model.training
    assert warm.state is not None and "likelihood.noise_covar.raw_noise" in warm.state
    again = JointGPFactory()(X, Y, enc, WarmStart(warm.state, maxiter=0))
    torch.testing.assert_close(
        again.likelihood.noise, model.likelihood.noise
    )  # maxiter 0 keeps the warm-started hyperparameters
