"""The incumbent an improvement-based acquisition measures against."""

from __future__ import annotations

import torch
from botorch.models.model import Model
from torch import Tensor

from jahs_bo.models.gp import exact_gp_settings


def incumbent_value(
    model: Model,
    train_Y: Tensor,
    X_full: Tensor,
    feasible: Tensor,
    by_posterior: bool,
    X_believed: Tensor | None = None,
) -> float:
    """Best feasible value, in the model's units (maximization).

    Args:
        model: The fitted model (conditioned on believed pending rows, if any).
        train_Y: ``n`` modelled targets of the observed rows.
        X_full: ``n x d`` observed rows at full fidelity.
        feasible: ``n`` booleans, the rows that satisfy every outcome constraint.
        by_posterior: Take the best posterior mean at full fidelity over the feasible observed
            rows instead of the best target (with fidelities: low-fidelity values are not
            comparable to full-fidelity predictions).
        X_believed: ``p x d`` pending rows at full fidelity whose believed outcomes count as
            observed (kriging believer): otherwise a pending point whose predicted mean beats
            the incumbent keeps its expected improvement and the next proposal repeats it.

    Returns:
        The incumbent; without a feasible row, the worst target (expected improvement then
        rewards the probability of feasibility).
    """
    if not bool(feasible.any()):
        best = float(train_Y.min())
    elif by_posterior:
        with torch.no_grad(), exact_gp_settings():
            best = float(model.posterior(X_full[feasible]).mean.max())
    else:
        best = float(train_Y[feasible].max())
    if X_believed is not None and len(X_believed):
        with torch.no_grad(), exact_gp_settings():
            best = max(best, float(model.posterior(X_believed).mean.max()))
    return best
