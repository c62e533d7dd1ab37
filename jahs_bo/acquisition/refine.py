"""Gradient refinement of the continuous hyperparameter columns of candidates."""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.fixed_feature import FixedFeatureAcquisitionFunction
from botorch.generation.gen import gen_candidates_scipy
from torch import Tensor

from jahs_bo.acquisition.scoring import score_candidates
from jahs_bo.models.gp import exact_gp_settings


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
            fixed = [c for c in range(X.shape[-1]) if c not in dims]
            cand, _ = gen_candidates_scipy(
                initial_conditions=base[..., dims].clone(),
                acquisition_function=FixedFeatureAcquisitionFunction(
                    acqf, X.shape[-1], fixed, base[..., fixed]
                ),
                lower_bounds=0.0,
                upper_bounds=1.0,
                options={"maxiter": maxiter},
            )
            refined.append(cand.detach().view(-1))
    out = X.clone()
    out[:, dims] = torch.stack(refined)
    return out, score_candidates(acqf, out)
