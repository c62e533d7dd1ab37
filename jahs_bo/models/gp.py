"""botorch GP models over the joint input layout: build, fit (warm-started), condition.

The model is botorch's ``SingleTaskGP`` with an injected kernel (see :mod:`jahs_bo.kernels`),
``Standardize`` on the outputs and ``fit_gpytorch_mll``. Hyperparameters are warm-started from
the previous fit's ``state_dict`` so that refitting after each new observation takes a few
optimizer iterations instead of a fit from scratch.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping

import gpytorch
import torch
from botorch.exceptions import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import Kernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

from jahs_bo.exceptions import InputError

#: Up to this many points gpytorch uses exact Cholesky solves (its default switches to
#: iterative solvers above 800 points, slower and approximate at our sizes).
MAX_CHOLESKY_SIZE = 5000


@contextlib.contextmanager
def exact_gp_settings() -> Iterator[None]:
    """gpytorch settings for exact, deterministic solves at the sizes BO uses."""
    with (
        gpytorch.settings.max_cholesky_size(MAX_CHOLESKY_SIZE),
        gpytorch.settings.cholesky_max_tries(6),
    ):
        yield


def build_gp(train_X: Tensor, train_Y: Tensor, covar_module: Kernel) -> SingleTaskGP:
    """A ``SingleTaskGP`` with ``covar_module`` and standardized outputs.

    Args:
        train_X: ``n x d`` double inputs in the joint layout (index columns are integers, so
            botorch's unit-cube check does not apply and its warning is silenced).
        train_Y: ``n x 1`` double targets (higher is better, botorch's convention).
        covar_module: The kernel.

    Raises:
        InputError: shapes disagree or the data hold NaN/inf.
    """
    if train_X.ndim != 2 or train_Y.shape != (train_X.shape[0], 1):
        raise InputError(
            f"expected train_X n x d and train_Y n x 1, got {tuple(train_X.shape)} and "
            f"{tuple(train_Y.shape)}"
        )
    if not (torch.isfinite(train_X).all() and torch.isfinite(train_Y).all()):
        raise InputError("train_X and train_Y must be finite (NaN/inf found); drop those trials")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        return SingleTaskGP(
            train_X.double(),
            train_Y.double(),
            covar_module=covar_module.double(),
            outcome_transform=Standardize(m=1),
        )


def hyperparameter_state(model: SingleTaskGP) -> dict[str, Tensor]:
    """The model's fitted hyperparameters (its ``state_dict`` without data-dependent buffers)."""
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if not k.startswith(("outcome_transform", "input_transform"))
    }


def load_hyperparameters(model: SingleTaskGP, state: Mapping[str, Tensor]) -> int:
    """Copy matching entries of ``state`` into ``model``; returns how many were loaded."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    return len(usable)


def fit_gp(
    train_X: Tensor,
    train_Y: Tensor,
    covar_module: Kernel,
    warm_state: Mapping[str, Tensor] | None = None,
    maxiter: int = 100,
) -> SingleTaskGP:
    """Build and fit a GP by maximizing the exact marginal likelihood (L-BFGS-B, scipy).

    Args:
        train_X: ``n x d`` inputs.
        train_Y: ``n x 1`` targets (maximized).
        covar_module: A fresh kernel for this fit.
        warm_state: Hyperparameters of a previous fit to start from (see
            :func:`hyperparameter_state`).
        maxiter: L-BFGS-B iteration limit; ``0`` keeps the (warm-started) hyperparameters and
            only conditions on the data.

    Returns:
        The fitted model in eval mode.

    Raises:
        botorch.exceptions.ModelFittingError: every fit attempt failed (caller falls back).
    """
    model = build_gp(train_X, train_Y, covar_module)
    if warm_state:
        load_hyperparameters(model, warm_state)
    if maxiter <= 0:
        return model.eval()
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with exact_gp_settings(), warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}}, max_attempts=3)
    model.eval()
    return model


def loo_residuals(K: Tensor, residual: Tensor) -> tuple[Tensor, Tensor] | None:
    """Leave-one-out residuals and predictive variances of an exact GP, in closed form.

    Rasmussen & Williams, section 5.4.2: with ``K`` the ``n x n`` prior covariance of the
    training inputs plus the noise and ``r`` the targets minus the prior mean, point ``i`` left
    out has residual ``y_i - mu_-i = [K^-1 r]_i / [K^-1]_ii`` and predictive variance
    ``1 / [K^-1]_ii`` (hyperparameters kept).

    Args:
        K: ``n x n`` covariance, noise included.
        residual: ``n`` targets minus the prior mean.

    Returns:
        ``(residuals, variances)``, each of shape ``n``; ``None`` when ``K`` is not positive
        definite.
    """
    L, info = torch.linalg.cholesky_ex(K)
    if int(info) != 0:
        return None
    K_inv = torch.cholesky_inverse(L)
    d = K_inv.diagonal()
    return (K_inv @ residual) / d, 1.0 / d


def loo_predictions(model: SingleTaskGP) -> tuple[Tensor, Tensor]:
    """Leave-one-out predictive means and variances of an exact GP's training targets
    (:func:`loo_residuals`), in the model's training units (after its outcome transform).

    Args:
        model: A single-output ``SingleTaskGP`` (or any exact gpytorch GP with a Gaussian
            likelihood) with its training data.

    Returns:
        ``(mean, variance)``, each of shape ``n``.

    Raises:
        NotPSDError: The training covariance is not positive definite.
    """
    X = model.train_inputs[0]
    y = model.train_targets
    with torch.no_grad(), exact_gp_settings():
        prior = model.forward(X)
        K = prior.lazy_covariance_matrix.to_dense()
        noise = model.likelihood.noise.reshape(-1)
        K = K + torch.diag_embed(noise.expand(K.shape[-1]))
        loo = loo_residuals(K, y - prior.mean)
    if loo is None:
        raise NotPSDError("the training covariance of the model is not positive definite")
    residuals, variance = loo
    return y - residuals, variance


def ranking_accuracy(predicted: Tensor, observed: Tensor) -> float:
    """Share of the pairs of distinct ``observed`` values that ``predicted`` orders the same way.

    Args:
        predicted: ``n`` predictions.
        observed: ``n`` observations.

    Returns:
        A value in ``[0, 1]`` (``0.5`` when there is no pair of distinct observations).
    """
    d_obs = observed.unsqueeze(0) - observed.unsqueeze(1)
    d_pred = predicted.unsqueeze(0) - predicted.unsqueeze(1)
    pairs = d_obs > 0
    if not bool(pairs.any()):
        return 0.5
    return float((d_pred[pairs] > 0).double().mean())


#: Noise variance of believed (pending) observations, in the model's outcome units.
BELIEF_NOISE = 1e-6


def kriging_believer(model: SingleTaskGP, X_pending: Tensor) -> SingleTaskGP:
    """Condition ``model`` on its own posterior mean at ``X_pending`` (pending evaluations).

    The beliefs are noise-free (variance ``BELIEF_NOISE``): the posterior variance vanishes at
    pending points and shrinks around them, steering the next proposal away from
    what other workers are already evaluating, without refitting hyperparameters.

    Args:
        model: A fitted model in eval mode.
        X_pending: ``p x d`` inputs of running trials.

    Returns:
        A conditioned copy (``model`` itself when there is nothing pending).
    """
    if X_pending.shape[0] == 0:
        return model
    with exact_gp_settings(), torch.no_grad():
        mean = model.posterior(X_pending).mean
        model.posterior(model.train_inputs[0][:1])  # make sure prediction caches exist
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            # Believed as exact: with the model's noise, a pending point's neighbourhood keeps
            # most of its variance and the next proposal lands right next to it again.
            noise = torch.full_like(mean, BELIEF_NOISE)
            return model.condition_on_observations(X_pending, mean, noise=noise)
