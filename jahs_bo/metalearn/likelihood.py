"""Likelihoods of the deep-kernel GP and the fine-tuning loop (early stopping on LOO likelihood).

Used by meta-training (:mod:`jahs_bo.metalearn.train`) and by
:class:`~jahs_bo.metalearn.model.MetaModel` (fine-tuning, ``nll``).
"""

from __future__ import annotations

from typing import Any, Literal

import gpytorch
import numpy as np
import torch
from botorch.models import SingleTaskGP
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor, nn

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn.net import MetaNet, exact_settings
from jahs_bo.models.gp import loo_residuals


class _BatchLoss:
    """``-mll / n`` of per-task scores under the net's current task, one GP reused per call.

    Building a ``SingleTaskGP`` costs more than a training step's algebra at these sizes, so
    the GP is built once and its training data swapped (``set_train_data``) for each batch.
    """

    def __init__(self, net: MetaNet) -> None:
        self.net = net
        self.gp: SingleTaskGP | None = None
        self.mll: ExactMarginalLogLikelihood | None = None

    def __call__(self, X: Tensor, y: Tensor) -> Tensor:
        """Loss of scores ``y`` (``n``) at rows ``X`` (``n x d``)."""
        if self.gp is None:
            self.gp = self.net.gp(X, y.unsqueeze(-1))
            self.mll = ExactMarginalLogLikelihood(self.gp.likelihood, self.gp)
        else:
            self.gp.set_train_data(X, y, strict=False)
        self.gp.train()
        assert self.mll is not None
        return -self.mll(self.gp(X), y)


def predictive_nll(net: MetaNet, X_train: Tensor, y_train: Tensor, X: Tensor, y: Tensor) -> float:
    """Mean negative log predictive density of ``y`` at ``X`` given the training points.

    The task embedding is computed from the training points; ``X_train`` may be empty
    (zero-shot: the prior). Scores are used as given (per-task units).
    """
    net.eval()
    with torch.no_grad(), exact_settings():
        net.condition(X_train, y_train)
        if X_train.shape[0] == 0:
            mean = net.mean_module(X)
            var = net.covar_module(X, X, diag=True) + net.likelihood.noise
        else:
            gp = net.gp(X_train, y_train.unsqueeze(-1)).eval()
            post = gp.posterior(X, observation_noise=True)
            mean, var = post.mean.squeeze(-1), post.variance.squeeze(-1)
        nll = 0.5 * (torch.log(2 * torch.pi * var) + (y - mean) ** 2 / var)
    return float(nll.mean())


#: What fine-tuning adapts (``MetaNet.named_parameters`` prefixes).
FineTuned = Literal["gp", "heads", "all"]
_TUNED: dict[str, tuple[str, ...]] = {
    "gp": ("covar_module.base.", "likelihood."),
    "heads": (
        "covar_module.base.",
        "likelihood.",
        "features.kernel_head.",
        "features.mean_head.",
    ),
    "all": ("features.", "covar_module.", "mean_module.", "likelihood."),
}


def loo_nll(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
    embed_task: bool = True,
) -> float:
    """Mean leave-one-out negative log predictive density of the GP on ``(X, y)``.

    Closed form (:func:`~jahs_bo.models.gp.loo_residuals`, Rasmussen & Williams eq. 5.12). Uses every point both ways, unlike a held-out split of a
    few points, so it is a steadier early-stopping criterion at BO sizes.

    Args:
        net: The model (its task embedding is computed from ``(X, y)`` and ``samples``).
        X: ``n x d`` rows.
        y: ``n`` scores.
        samples: Dataset samples for the task embedding.
        embed_task: Compute the task embedding; ``False`` keeps the one set on ``net``.
    """
    net.eval()
    with torch.no_grad():
        if embed_task:
            net.features.set_task(net.task_embedding(X, y, samples))
        resid = y - net.mean_module(X)
        K = net.covar_module(X, X).to_dense()
        K = K + net.likelihood.noise * torch.eye(X.shape[0], dtype=K.dtype)
        loo = loo_residuals(K, resid)
        if loo is None:
            return float("inf")
        r, var = loo
        nll = 0.5 * (torch.log(2 * torch.pi * var) + r**2 / var)
    return float(nll.mean())


def _fine_tune_net(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None,
    steps: int,
    lr: float,
    patience: int,
    tune: FineTuned = "heads",
) -> dict[str, Any]:
    """Adapt ``net`` in place to one task (Adam on ``-mll``, early stopping, best weights kept).

    Each step is one Adam step on the exact marginal likelihood of all points; the leave-one-out
    predictive likelihood (:func:`loo_nll`) decides when to stop (``patience`` steps without
    improvement) and which weights are kept. The weights before the first step are a candidate
    too, so fine-tuning ends with the meta-learned weights when no step improves the LOO
    likelihood. The dataset encoder stays frozen. Deterministic.
    """
    if tune not in _TUNED:
        raise InputError(f"tune must be one of {sorted(_TUNED)}, got {tune!r}")
    n = X.shape[0]
    if steps <= 0 or n < 3:
        return {"steps": 0, "best_step": 0}
    named = dict(net.named_parameters())
    tuned = {k: p for k, p in named.items() if k.startswith(_TUNED[tune])}
    frozen = [p for k, p in named.items() if k not in tuned and p.requires_grad]
    # Frozen encoders: their outputs carry no graph, so the configuration embeddings and the
    # task embedding are computed once and memoized across steps instead of every step.
    for p in frozen:
        p.requires_grad_(False)
    try:
        return _adam_loop(net, X, y, samples, steps, lr, patience, tuned, tune == "all")
    finally:
        for p in frozen:
            p.requires_grad_(True)
        net.features.clear()


def _adam_loop(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None,
    steps: int,
    lr: float,
    patience: int,
    tuned: dict[str, nn.Parameter],
    encoders_tuned: bool,
) -> dict[str, Any]:
    """The Adam steps of :func:`_fine_tune_net` (best tuned weights restored at the end)."""
    params = list(tuned.values())
    opt = torch.optim.Adam(params, lr=lr)
    batch_loss = _BatchLoss(net)
    if not encoders_tuned:
        with torch.no_grad():
            net.features.set_task(net.task_embedding(X, y, samples))

    def criterion() -> float:
        return loo_nll(net, X, y, samples, embed_task=encoders_tuned)

    def snapshot() -> dict[str, Tensor]:
        return {k: p.detach().clone() for k, p in tuned.items()}

    best = criterion()
    best_state = snapshot()
    best_step, done = 0, 0
    for step in range(1, steps + 1):
        net.train()
        with exact_settings():
            try:
                if encoders_tuned:
                    net.features.set_task(net.task_embedding(X, y, samples))
                loss = batch_loss(X, y)
                opt.zero_grad()
                loss.backward()
            except (RuntimeError, ValueError, gpytorch.utils.errors.NotPSDError):
                break
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        done = step
        current = criterion()
        if current < best - 1e-4:
            best, best_step = current, step
            best_state = snapshot()
        elif step - best_step >= patience:
            break
    with torch.no_grad():
        for k, p in tuned.items():
            p.copy_(best_state[k])
    return {"steps": done, "best_step": best_step, "criterion": best}
