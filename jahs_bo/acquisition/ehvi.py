"""Several objectives: botorch's ``qLogNoisyExpectedHypervolumeImprovement``.

:func:`make_ehvi` builds it (MC, with outcome constraints as sigmoid-weighted feasibility);
:func:`~jahs_bo.acquisition.scoring.score_candidates` evaluates it on ``b x 1 x d`` like the
analytic acquisitions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.models.model import Model
from botorch.sampling.normal import SobolQMCNormalSampler
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from jahs_bo.models.gp import exact_gp_settings


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
