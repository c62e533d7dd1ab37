"""Target transforms as botorch outcome transforms: the units a searcher models its values in.

- :class:`GaussianCopula`: ranks -> normal scores. Robust to heavy tails (diverged or broken
  networks far below the rest) that otherwise dominate a GP's scale.
- :class:`YeoJohnson`: standardize, then a Yeo-Johnson power transform with its
  maximum-likelihood exponent. Like the copula it tames a heavy tail, but it keeps the spacing
  of the values: near-equal results stay near-equal, where ranks spread them over the whole
  normal range.

A searcher applies the transform to ``train_Y`` *before* the model (whose own outcome transform
is botorch's ``Standardize``), so the model's posterior and the acquisition's incumbent live in
the transformed units. Attaching a nonlinear transform to the model itself would make botorch
untransform every posterior into raw units (a non-Gaussian ``TransformedPosterior``), which the
analytic acquisitions cannot use. Both transforms implement ``untransform`` (the copula by
interpolating its training pairs), so they also chain with ``Standardize`` in botorch's
``ChainedOutcomeTransform`` where raw-unit posteriors are wanted.

The computations are numpy/scipy (ranks and the exponent's likelihood are not differentiable),
exactly those the searcher used before, so proposals did not change.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from botorch.models.transforms.outcome import OutcomeTransform
from scipy.stats import norm, rankdata, yeojohnson
from torch import Tensor

from jahs_bo.exceptions import InputError

#: Accepted values of ``GPSearcher(y_transform=...)``.
Y_TRANSFORMS = ("auto", "copula", "power", "none")
YTransform = Literal["auto", "copula", "power", "none"]


def _columns(Y: Tensor, Yvar: Tensor | None, name: str) -> np.ndarray:
    if Yvar is not None:
        raise NotImplementedError(f"{name} does not transform observation noise")
    if Y.ndim != 2:
        raise InputError(f"{name} expects n x m targets, got shape {tuple(Y.shape)}")
    return Y.detach().cpu().numpy().astype(np.float64)


def _like(values: np.ndarray, Y: Tensor) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(values)).to(Y)


def copula_scores(y: np.ndarray) -> np.ndarray:
    """Ranks -> normal scores (``n`` -> ``n``; ties share their mean rank)."""
    return norm.ppf((rankdata(y) - 0.5) / len(y))


class GaussianCopula(OutcomeTransform):
    """Per output, ranks -> normal scores ``Phi^-1((rank - 1/2) / n)``.

    In train mode the transform is learned from the targets it sees; in eval mode new values
    are mapped through the learned empirical distribution (linear interpolation, clamped at the
    observed range), and :meth:`untransform` maps scores back the same way.

    Example:
        >>> Z, _ = GaussianCopula()(torch.tensor([[3.0], [-100.0], [2.0]], dtype=torch.double))
        >>> Z.squeeze(-1)  # tensor([ 0.9674, -0.9674,  0.0000])
    """

    def __init__(self) -> None:
        super().__init__()
        self._pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(
        self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n x m`` values -> ``n x m`` normal scores."""
        y = _columns(Y, Yvar, "GaussianCopula")
        if self.training:
            z = np.stack([copula_scores(col) for col in y.T], axis=1) if y.size else y.copy()
            self._pairs = [
                (col[np.argsort(col, kind="stable")], zc[np.argsort(col, kind="stable")])
                for col, zc in zip(y.T, z.T, strict=True)
            ]
            return _like(z, Y), None
        self._check_fitted(y.shape[1])
        z = np.stack([np.interp(col, ys, zs) for col, (ys, zs) in zip(y.T, self._pairs)], axis=1)
        return _like(z, Y), None

    def untransform(
        self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n x m`` normal scores -> values (interpolating the learned pairs)."""
        z = _columns(Y, Yvar, "GaussianCopula")
        self._check_fitted(z.shape[1])
        y = np.stack([np.interp(col, zs, ys) for col, (ys, zs) in zip(z.T, self._pairs)], axis=1)
        return _like(y, Y), None

    def _check_fitted(self, m: int) -> None:
        if len(self._pairs) != m:
            raise InputError(
                f"GaussianCopula learned {len(self._pairs)} outputs, got {m}; "
                "call it in train mode on the training targets first"
            )


class YeoJohnson(OutcomeTransform):
    """Per output, standardize (population standard deviation), then Yeo-Johnson.

    The exponent is scipy's maximum-likelihood estimate on the standardized training targets.
    With fewer than 3 values or no spread the output is only centred (an exponent cannot be
    estimated).
    """

    def __init__(self) -> None:
        super().__init__()
        self._params: list[tuple[float, float, float | None]] = []  # mean, sd, exponent

    def forward(
        self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n x m`` values -> ``n x m`` transformed values."""
        y = _columns(Y, Yvar, "YeoJohnson")
        if self.training:
            self._params = [self._fit(col) for col in y.T]
        if len(self._params) != y.shape[1]:
            raise InputError(f"YeoJohnson learned {len(self._params)} outputs, got {y.shape[1]}")
        cols = []
        for col, (mean, sd, lmbda) in zip(y.T, self._params, strict=True):
            if lmbda is None:
                cols.append(col - mean)
            else:
                cols.append(np.asarray(yeojohnson((col - mean) / sd, lmbda), dtype=float))
        return _like(np.stack(cols, axis=1), Y), None

    @staticmethod
    def _fit(y: np.ndarray) -> tuple[float, float, float | None]:
        mean, sd = float(np.mean(y)), float(np.std(y))
        if len(y) < 3 or sd == 0.0:
            return mean, sd, None
        _, lmbda = yeojohnson((y - mean) / sd)
        return mean, sd, float(lmbda)

    def untransform(
        self, Y: Tensor, Yvar: Tensor | None = None, X: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``n x m`` transformed values -> values (the exact inverse)."""
        t = _columns(Y, Yvar, "YeoJohnson")
        cols = []
        for col, (mean, sd, lmbda) in zip(t.T, self._params, strict=True):
            cols.append(
                col + mean if lmbda is None else _inverse_yeojohnson(col, lmbda) * sd + mean
            )
        return _like(np.stack(cols, axis=1), Y), None


def _inverse_yeojohnson(t: np.ndarray, lmbda: float) -> np.ndarray:
    out = np.empty_like(t)
    pos = t >= 0
    if abs(lmbda) > 1e-12:
        out[pos] = np.power(t[pos] * lmbda + 1.0, 1.0 / lmbda) - 1.0
    else:
        out[pos] = np.expm1(t[pos])
    if abs(lmbda - 2.0) > 1e-12:
        out[~pos] = 1.0 - np.power(1.0 - (2.0 - lmbda) * t[~pos], 1.0 / (2.0 - lmbda))
    else:
        out[~pos] = -np.expm1(-t[~pos])
    return out


def resolve_y_transform(y_transform: str, screened: bool, numeric: bool) -> str:
    """The transform ``"auto"`` stands for.

    The values standardized (``"none"``) when a bracket scheduler (successive halving,
    Hyperband, BOHB, ASHA) screens the searcher's proposals at low fidelity first (its
    ``screened`` attribute) *and* the space has numeric (float or integer) hyperparameters;
    ranks (``"copula"``) otherwise.

    Why: ranks put the incumbent about two standard deviations above the mean however small its
    lead, so expected improvement away from it is tiny and proposals gather around it. Numeric
    hyperparameters let the candidate search make near-copies of the incumbent whose results
    differ in the second decimal, which ranks spread over the whole normal range; under BOHB a
    bracket's whole batch of new configurations then stays in the first basin found. Where every
    proposal is evaluated in full, ranks measured better. Measurements:
    ``benchmarks/results/gp-defaults.md`` ("y_transform").
    """
    if y_transform != "auto":
        return y_transform
    return "none" if screened and numeric else "copula"


def target_transform(name: str) -> OutcomeTransform | None:
    """The outcome transform of a resolved ``y_transform`` (``None`` for ``"none"``).

    Raises:
        InputError: an unknown name (``"auto"`` must be resolved first).
    """
    if name == "copula":
        return GaussianCopula()
    if name == "power":
        return YeoJohnson()
    if name == "none":
        return None
    raise InputError(f"y_transform must be 'copula', 'power' or 'none' here, got {name!r}")
