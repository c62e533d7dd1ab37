"""Acquisition functions scored through one joint posterior call, and their optimizers.

botorch's analytic acquisition functions take ``b x 1 x d`` candidates; a GP posterior on that
shape treats every candidate as its own batch and expands the training inputs ``b`` times. The
classes here keep botorch's formulas (``LogExpectedImprovement``, ``UpperConfidenceBound``) but
compute the marginal means and variances of all ``b`` candidates from a single ``b x d``
posterior (only its diagonal is evaluated). Thompson sampling draws a joint sample over the
candidate set.

Outcome constraints: :class:`JointLogConstrainedEI` (botorch's ``LogConstrainedExpectedImprovement``,
log EI of the objective plus the log probability that every independently modelled constraint
holds, from the same single posterior call). Several objectives: :func:`make_ehvi` builds
botorch's ``qLogNoisyExpectedHypervolumeImprovement`` (MC, with constraints as sigmoid-weighted
feasibility), which :func:`score_candidates` evaluates on ``b x 1 x d`` like the analytic ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
)
from botorch.acquisition.analytic import LogConstrainedExpectedImprovement
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.generation.gen import gen_candidates_scipy
from botorch.models.model import Model
from botorch.sampling.normal import SobolQMCNormalSampler
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from jahs_bo.exceptions import InputError
from jahs_bo.models.gp import exact_gp_settings

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


def bound_constraints(
    bounds: Sequence[tuple[int, float | None, float | None]],
) -> list[Callable[[Tensor], Tensor]]:
    """botorch MC constraints (feasible where ``<= 0``) from ``(output, lower, upper)`` bounds.

    A constraint with both bounds gives two callables.
    """
    out: list[Callable[[Tensor], Tensor]] = []
    for idx, lower, upper in bounds:
        if upper is not None:
            out.append(lambda Z, i=idx, u=upper: Z[..., i] - u)
        if lower is not None:
            out.append(lambda Z, i=idx, lo=lower: lo - Z[..., i])
    return out


def prune_dominated_baseline(
    model: Model,
    X: Tensor,
    ref_point: Tensor,
    objective: IdentityMCMultiOutputObjective | None,
    constraints: list[Callable[[Tensor], Tensor]] | None,
    num_samples: int,
    seed: int | None,
) -> Tensor:
    """Rows of ``X`` (``n x d``) that are Pareto optimal in at least one posterior sample.

    The rule of botorch's ``prune_inferior_points_multi_objective`` (a sample's infeasible points
    and points not better than ``ref_point`` in every objective cannot be on its front), with a
    seeded Sobol sampler instead of torch's global generator, so suggestions are reproducible
    without touching global RNG state. Returns ``X`` unchanged when no row qualifies.
    """
    with torch.no_grad(), exact_gp_settings():
        sampler = SobolQMCNormalSampler(sample_shape=torch.Size([num_samples]), seed=seed)
        samples = sampler(model.posterior(X))  # num_samples x n x m
        values = samples if objective is None else objective(samples, X)  # num_samples x n x k
        ok = (values > ref_point).all(dim=-1)
        for con in constraints or ():
            ok &= con(samples) <= 0
        values = values.masked_fill(~ok.unsqueeze(-1), -torch.inf)
        keep = (is_non_dominated(values, deduplicate=False) & ok).any(dim=0)
    return X[keep] if bool(keep.any()) else X


def make_ehvi(
    model: Model,
    ref_point: Tensor,
    X_baseline: Tensor,
    n_objectives: int,
    constraints: Sequence[tuple[int, float | None, float | None]] = (),
    X_pending: Tensor | None = None,
    mc_samples: int = 32,
    seed: int | None = None,
    prune_samples: int = 256,
) -> AcquisitionFunction:
    """botorch's ``qLogNoisyExpectedHypervolumeImprovement`` over the first outputs of ``model``.

    Args:
        model: A multi-output model (e.g. ``ModelListGP``): outputs ``0..n_objectives-1`` are
            the objectives (maximized), the others constrained metrics.
        ref_point: ``n_objectives`` reference point (maximization convention).
        X_baseline: ``n x d`` observed inputs (their noisy Pareto front is integrated over;
            dominated points are pruned first).
        n_objectives: Number of objective outputs.
        constraints: ``(output index, lower, upper)`` bounds on constraint outputs.
        X_pending: ``p x d`` running trials (their outcomes are integrated over too).
        mc_samples: Quasi-MC samples of the joint posterior (fewer: faster, noisier).
        seed: Seed of the Sobol sampler.
        prune_samples: Posterior samples that decide which baseline points may be Pareto
            optimal (botorch's default of 2048 took half a second at ``n = 100``; the pruning
            only needs to keep every plausible front point, which 256 samples do).
    """
    n_outputs = model.num_outputs
    objective = (
        IdentityMCMultiOutputObjective(outcomes=list(range(n_objectives)))
        if n_outputs > n_objectives
        else None
    )
    cons = bound_constraints(constraints) or None
    X_baseline = prune_dominated_baseline(
        model, X_baseline, ref_point, objective, cons, prune_samples, seed
    )
    return qLogNoisyExpectedHypervolumeImprovement(
        model=model,
        ref_point=ref_point,
        X_baseline=X_baseline,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]), seed=seed),
        objective=objective,
        constraints=cons,
        X_pending=X_pending if X_pending is not None and len(X_pending) else None,
        prune_baseline=False,
    )


def score_candidates(acqf: AcquisitionFunction, X: Tensor, chunk: int = 4096) -> Tensor:
    """Acquisition values of ``N`` candidates, in chunks, without gradients.

    Args:
        acqf: An acquisition function over ``b x 1 x d``.
        X: ``N x d`` candidates.
        chunk: Candidates per posterior call.

    Returns:
        ``N`` values.
    """
    out = []
    with torch.no_grad(), exact_gp_settings():
        for start in range(0, X.shape[0], chunk):
            out.append(acqf(X[start : start + chunk].unsqueeze(-2)).reshape(-1))
    return torch.cat(out) if out else X.new_zeros(0)


def thompson_scores(
    model: Model, X: Tensor, generator: torch.Generator, chunk: int = 1024
) -> Tensor:
    """One posterior sample over the candidates (joint within chunks of ``chunk``).

    Args:
        model: A fitted model.
        X: ``N x d`` candidates.
        generator: Source of randomness.
        chunk: Size of the jointly sampled blocks (an ``chunk x chunk`` Cholesky each).

    Returns:
        ``N`` sampled function values (maximize).
    """
    out = []
    with torch.no_grad(), exact_gp_settings():
        for start in range(0, X.shape[0], chunk):
            post = model.posterior(X[start : start + chunk])
            mean = post.mean.reshape(-1)
            cov = post.distribution.covariance_matrix
            cov = 0.5 * (cov + cov.T)
            jitter = 1e-8 * cov.diagonal().mean().clamp_min(1e-12)
            eye = torch.eye(len(mean), dtype=cov.dtype)
            for _ in range(6):
                chol, info = torch.linalg.cholesky_ex(cov + jitter * eye)
                if int(info) == 0:
                    break
                jitter = jitter * 10
            z = torch.randn(len(mean), generator=generator, dtype=mean.dtype)
            out.append(mean + chol @ z)
    return torch.cat(out) if out else X.new_zeros(0)


class _FixedPerRestart(AcquisitionFunction):
    """``acqf`` over only ``dims``; the other columns come from ``base`` (``1 x 1 x d``)."""

    def __init__(self, acqf: AcquisitionFunction, base: Tensor, dims: list[int]) -> None:
        super().__init__(acqf.model)
        self.acqf = acqf
        self.base = base
        self.dims = dims

    def forward(self, X: Tensor) -> Tensor:
        full = self.base.expand(*X.shape[:-1], self.base.shape[-1]).clone()
        full[..., self.dims] = X
        return self.acqf(full)


def refine_continuous(
    acqf: AcquisitionFunction, X: Tensor, dims: list[int], maxiter: int = 25
) -> tuple[Tensor, Tensor]:
    """Gradient ascent (L-BFGS-B) of ``acqf`` over the continuous columns of each start.

    Architecture indices, categoricals and fidelities stay fixed per start point, so each
    refined candidate keeps its architecture.

    Args:
        acqf: A differentiable acquisition over ``b x 1 x d`` (e.g. :class:`JointLogEI`).
        X: ``k x d`` start points.
        dims: Columns to optimize, bounded to ``[0, 1]``.
        maxiter: Iterations per restart.

    Returns:
        ``(k x d refined points, k acquisition values)``.
    """
    if not dims or X.shape[0] == 0:
        return X, score_candidates(acqf, X)
    refined = []
    with exact_gp_settings():
        for x in X:  # one problem per start: its fixed columns differ from the others'
            base = x.view(1, 1, -1)
            cand, _ = gen_candidates_scipy(
                initial_conditions=base[..., dims].clone(),
                acquisition_function=_FixedPerRestart(acqf, base, dims),
                lower_bounds=0.0,
                upper_bounds=1.0,
                options={"maxiter": maxiter},
            )
            refined.append(cand.detach().view(-1))
    out = X.clone()
    out[:, dims] = torch.stack(refined)
    return out, score_candidates(acqf, out)
