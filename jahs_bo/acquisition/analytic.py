"""Analytic acquisition functions scored through one joint posterior call.

botorch's analytic acquisition functions take ``b x 1 x d`` candidates; a GP posterior on that
shape treats every candidate as its own batch and expands the training inputs ``b`` times. The
classes here keep botorch's formulas (``LogExpectedImprovement``, ``UpperConfidenceBound``,
``LogConstrainedExpectedImprovement``) but compute the marginal means and variances of all
``b`` candidates from a single ``b x d`` posterior (only its diagonal is evaluated).

Outcome constraints: :class:`JointLogConstrainedEI` (log EI of the objective plus the log
probability that every independently modelled constraint holds, from the same single posterior
call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
)
from botorch.acquisition.analytic import LogConstrainedExpectedImprovement
from botorch.models.model import Model
from torch import Tensor

from jahs_bo.exceptions import InputError

AcquisitionName = Literal["logei", "ucb", "ts"]
ACQUISITIONS = ("logei", "ucb", "ts")


class _JointPosteriorMixin:
    """Replaces ``_mean_and_sigma`` with one posterior call over all candidates."""

    def _mean_and_sigma(
        self, X: Tensor, compute_sigma: bool = True, min_var: float = 1e-12
    ) -> tuple[Tensor, Tensor | None]:
        if X.shape[-2] != 1:
            raise InputError(f"expected candidates of shape b x 1 x d, got {tuple(X.shape)}")
        batch = X.shape[:-2]
        flat = X.reshape(-1, X.shape[-1])
        posterior = self.model.posterior(X=flat, posterior_transform=self.posterior_transform)
        mean = posterior.mean.reshape(*batch, -1)
        if not compute_sigma:
            return mean, None
        sigma = posterior.variance.clamp_min(min_var).sqrt().reshape(mean.shape)
        return mean, sigma


class JointLogEI(_JointPosteriorMixin, LogExpectedImprovement):
    """botorch's ``LogExpectedImprovement`` with marginals from one joint posterior call.

    Example:
        >>> acqf = JointLogEI(model, best_f=train_Y.max())
        >>> values = acqf(candidates.unsqueeze(-2))  # candidates: N x d -> N values
    """


class JointUCB(_JointPosteriorMixin, UpperConfidenceBound):
    """botorch's ``UpperConfidenceBound`` with marginals from one joint posterior call."""


class JointLogConstrainedEI(_JointPosteriorMixin, LogConstrainedExpectedImprovement):
    """botorch's ``LogConstrainedExpectedImprovement`` from one joint posterior call.

    ``model`` has several outputs (e.g. a ``ModelListGP``: the objective, then one GP per
    constrained metric); ``constraints`` maps an output index to ``(lower, upper)`` bounds in
    that output's units (``None``: unbounded).

    Example:
        >>> acqf = JointLogConstrainedEI(model, best_f=0.3, objective_index=0,
        ...                              constraints={1: (None, 10.0)})
        >>> values = acqf(candidates.unsqueeze(-2))  # N x d -> N values
    """


Bounds = tuple[float | None, float | None]


def make_acquisition(
    name: AcquisitionName, model: Model, best_f: float | Tensor, beta: float = 2.0
) -> AcquisitionFunction | None:
    """The analytic acquisition ``name`` (``None`` for ``"ts"``, which samples instead).

    Args:
        name: ``"logei"``, ``"ucb"`` or ``"ts"``.
        model: A fitted single-output model (maximization).
        best_f: Incumbent value for expected improvement.
        beta: UCB exploration weight.
    """
    if name == "logei":
        return JointLogEI(model, best_f=best_f)
    if name == "ucb":
        return JointUCB(model, beta=beta)
    if name == "ts":
        return None
    raise InputError(f"unknown acquisition {name!r}; choose one of {ACQUISITIONS}")


def make_constrained_acquisition(
    model: Model, best_f: float | Tensor, constraints: Mapping[int, Bounds]
) -> AcquisitionFunction:
    """Constrained log-EI of output 0 of ``model``, with ``constraints`` on the other outputs.

    Args:
        model: A multi-output model (maximization of output 0).
        best_f: Best feasible objective value seen (or the worst value when none is feasible,
            which makes the acquisition favour the probability of feasibility).
        constraints: Output index -> ``(lower, upper)``.
    """
    return JointLogConstrainedEI(
        model, best_f=best_f, objective_index=0, constraints=dict(constraints)
    )
