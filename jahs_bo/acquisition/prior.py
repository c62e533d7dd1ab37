"""piBO: an acquisition weighted by the expert prior (Hvarfner et al., ICLR 2022).

piBO multiplies the acquisition by ``prior(x) ** (beta / n)``, where ``n`` is the number of
observations: the prior steers the first proposals and fades as data accumulate. The acquisition
functions here are logarithmic (log-EI, constrained log-EI, qLogNEHVI), so the weight becomes a
sum: ``log a(x) + (beta / n) * log prior(x)``. The paper's default is ``beta = 10``.

``log prior(x)`` is :meth:`SearchSpace.log_prior <jahs_bo.spaces.SearchSpace.log_prior>`
(relative to uniform), computed from the encoded rows. It is clipped below at
:data:`MIN_LOG_PRIOR` so that a zero-probability op lowers a candidate without making its value
``-inf``. The prior term carries no gradient: a continuous refinement (``n_refine``) climbs the
acquisition and keeps the prior weight of its starting point's neighbourhood as a constant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from torch import Tensor

from jahs_bo.exceptions import InputError

if TYPE_CHECKING:
    from jahs_bo.models.encoder import JointEncoder

#: piBO's default ``beta`` (Hvarfner et al., 2022).
DEFAULT_PRIOR_BETA = 10.0
#: Lower clip of the log prior of one candidate.
MIN_LOG_PRIOR = -50.0
#: Default weight of the uniform distribution mixed into the prior (:func:`floored_log_prior`).
DEFAULT_PRIOR_FLOOR = 0.01


def pibo_exponent(beta: float, n_observations: int) -> float:
    """The weight ``beta / n`` of the log prior after ``n`` observations (``n >= 1``)."""
    if n_observations < 1:
        raise InputError(f"piBO's weight needs n_observations >= 1, got {n_observations}")
    return float(beta) / float(n_observations)


def check_prior_floor(floor: float) -> float:
    """``floor`` as a float; :class:`InputError` unless it is a number in ``[0, 1)``."""
    if isinstance(floor, bool) or not isinstance(floor, (int, float, np.floating)):
        raise InputError(f"prior_floor must be a number in [0, 1), got {floor!r}")
    if not 0.0 <= float(floor) < 1.0:
        raise InputError(f"prior_floor must lie in [0, 1), got {floor!r}")
    return float(floor)


def floored_log_prior(log_prior: Tensor, floor: float) -> Tensor:
    """``log(floor + (1 - floor) * prior)``: the prior mixed with uniform, in log space.

    ``log_prior`` is relative to uniform, so the result is bounded below by ``log(floor)``: a
    configuration the expert rules out still keeps ``floor`` times the weight of an
    uninformed guess, and an acquisition can overcome a misleading prior within a budget
    (``floor = 0`` returns ``log_prior`` as is).
    """
    if check_prior_floor(floor) == 0.0:
        return log_prior
    return torch.logaddexp(
        torch.full_like(log_prior, float(np.log(floor))), log_prior + float(np.log1p(-floor))
    )


def encoded_log_prior(encoder: JointEncoder, X: Tensor) -> Tensor:
    """Log prior (relative to uniform) of encoded rows ``X`` (``n x d``) -> ``n`` values."""
    space = encoder.space
    if len(X) == 0:
        return X.new_zeros(0)
    hp = encoder.hp_vectors(X) if encoder.hp_dims else np.zeros((len(X), 0))
    archs = {
        name: [store.value(int(round(float(i)))) for i in X[:, col]]
        for col, (name, store) in zip(encoder.arch_dims, encoder.stores.items(), strict=True)
        if space.architectures[name].has_prior
    }
    values = space.log_prior_vectors(hp, archs)
    return torch.from_numpy(np.maximum(values, MIN_LOG_PRIOR)).to(X)


class PriorWeightedAcquisition(AcquisitionFunction):
    """``base(X) + weight * log prior(X)``: piBO for a logarithmic acquisition.

    Args:
        base: A log-acquisition over ``b x 1 x d`` candidates.
        encoder: The encoder of the rows (to read hyperparameter vectors and architectures).
        weight: The prior's exponent, ``beta / n`` (:func:`pibo_exponent`).
        floor: Weight of the uniform distribution mixed into the prior
            (:func:`floored_log_prior`; ``0``: the prior as stated).

    Example:
        >>> acqf = PriorWeightedAcquisition(JointLogEI(model, best_f), encoder, 10.0 / n)
        >>> values = acqf(candidates.unsqueeze(-2))  # N x d -> N values
    """

    def __init__(
        self, base: AcquisitionFunction, encoder: JointEncoder, weight: float, floor: float = 0.0
    ) -> None:
        super().__init__(model=base.model)
        self.base = base
        self.encoder = encoder
        self.weight = float(weight)
        self.floor = check_prior_floor(floor)

    def forward(self, X: Tensor) -> Tensor:
        """Values of ``b x 1 x d`` candidates (``b``)."""
        if X.shape[-2] != 1:
            raise InputError(f"expected candidates of shape b x 1 x d, got {tuple(X.shape)}")
        value = self.base(X)
        flat = X.reshape(-1, X.shape[-1])
        prior = floored_log_prior(encoded_log_prior(self.encoder, flat), self.floor)
        return value + self.weight * prior.reshape(value.shape)


__all__ = [
    "DEFAULT_PRIOR_BETA",
    "DEFAULT_PRIOR_FLOOR",
    "MIN_LOG_PRIOR",
    "PriorWeightedAcquisition",
    "check_prior_floor",
    "encoded_log_prior",
    "floored_log_prior",
    "pibo_exponent",
]
