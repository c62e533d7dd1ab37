"""Acquisition values and Thompson samples of a finite candidate set (``N x d``)."""

from __future__ import annotations

import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models.model import Model
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

from jahs_bo.models.gp import exact_gp_settings


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
    # botorch's samplers (``IIDNormalSampler(seed=...)``) reseed per call inside
    # ``torch.random.fork_rng``; the candidate search scores its set in chunks over several
    # local-search rounds and needs one stream from ``generator`` instead, so the draw is ours.
    out = []
    with torch.no_grad(), exact_gp_settings():
        for start in range(0, X.shape[0], chunk):
            post = model.posterior(X[start : start + chunk])
            mean = post.mean.reshape(-1)
            cov = post.distribution.covariance_matrix
            cov = 0.5 * (cov + cov.T)
            jitter = 1e-8 * cov.diagonal().mean().clamp_min(1e-12)
            eye = torch.eye(len(mean), dtype=cov.dtype)
            # A small jitter always (candidate sets hold near-copies), more only on failure.
            chol = psd_safe_cholesky(cov + jitter * eye, jitter=float(10 * jitter), max_tries=5)
            z = torch.randn(len(mean), generator=generator, dtype=mean.dtype)
            out.append(mean + chol @ z)
    return torch.cat(out) if out else X.new_zeros(0)
