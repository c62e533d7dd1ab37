"""Model factories: the seam through which a searcher gets its surrogate.

A searcher never builds a model itself. It hands the encoded data to a :class:`ModelFactory`,
which returns a fitted botorch ``Model`` (BoTorch's loop: ``model = make_model(train_X,
train_Y)``, ``acqf = make_acqf(model)``, ``optimize_acqf(acqf)``). Another surrogate (a
meta-learned deep-kernel GP, a plain ``SingleTaskGP`` over the hyperparameter columns) plugs in
as another factory, without subclassing the searcher.

:class:`JointGPFactory` is the default: botorch's ``SingleTaskGP`` with the joint WL kernel of
the encoder (:meth:`~jahs_bo.models.encoder.JointEncoder.covar_module`), ``Standardize`` on the
outputs, ``fit_gpytorch_mll`` warm-started from the previous fit. How many optimizer iterations
a fit may spend is decided once per suggestion by a :class:`RefitSchedule` and passed to the
factory in its :class:`WarmStart`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from botorch.models.model import Model
from torch import Tensor

from jahs_bo.models.gp import fit_gp, hyperparameter_state

if TYPE_CHECKING:
    from jahs_bo.kernels.joint import Combination
    from jahs_bo.models.encoder import ArchKernel, JointEncoder


@dataclass
class WarmStart:
    """What one modelled output carries from one fit to the next.

    Attributes:
        state: Whatever the factory stored after its previous fit of this output (the default
            factory: the hyperparameters, see :func:`~jahs_bo.models.gp.hyperparameter_state`);
            ``None`` before the first fit. A factory reads it and replaces it.
        maxiter: Optimizer iterations this fit may spend (``0``: keep the hyperparameters of
            ``state`` and only condition on the data), from the searcher's
            :class:`RefitSchedule`.
    """

    state: dict[str, Tensor] | None = None
    maxiter: int = 100


class ModelFactory(Protocol):
    """Builds and fits the surrogate of one output.

    Args:
        train_X: ``n x d`` double inputs in the encoder's layout: one architecture index column
            per architecture, hyperparameters in the unit cube (categoricals as choice indices,
            inactive ones ``-1``), normalised fidelities (see
            :class:`~jahs_bo.models.encoder.JointEncoder`).
        train_Y: ``n x 1`` double targets, higher is better, in the units the acquisition
            works in (after the searcher's ``y_transform``).
        encoder: The encoder that produced ``train_X`` (column indices, architecture stores,
            the joint kernel).
        warm_start: State of the previous fit of this output and this fit's iteration budget;
            the factory may replace ``warm_start.state``.

    Returns:
        A fitted botorch ``Model`` in eval mode with one output. The searcher calls its
        ``posterior`` and, with running trials under the kriging believer,
        ``condition_on_observations`` (every botorch GP has both).
    """

    def __call__(
        self, train_X: Tensor, train_Y: Tensor, encoder: JointEncoder, warm_start: WarmStart
    ) -> Model: ...


class JointGPFactory:
    """``SingleTaskGP`` with the encoder's joint kernel, fitted by ``fit_gpytorch_mll``.

    Args:
        combination: How the kernel parts combine (see :mod:`jahs_bo.kernels.joint`).
        arch_kernel: ``"wl"``, ``"wl-product"`` or ``"deep"`` (see
            :meth:`~jahs_bo.models.encoder.JointEncoder.covar_module`).

    Example:
        >>> factory = JointGPFactory("sum_product", "wl")
        >>> warm = WarmStart(maxiter=100)
        >>> model = factory(train_X, train_Y, encoder, warm)  # warm.state now holds the fit
    """

    def __init__(self, combination: Combination = "sum_product", arch_kernel: ArchKernel = "wl"):
        self.combination = combination
        self.arch_kernel = arch_kernel

    def __call__(
        self, train_X: Tensor, train_Y: Tensor, encoder: JointEncoder, warm_start: WarmStart
    ) -> Model:
        model = fit_gp(
            train_X,
            train_Y,
            encoder.covar_module(self.combination, self.arch_kernel),
            warm_state=warm_start.state,
            maxiter=warm_start.maxiter,
        )
        warm_start.state = hyperparameter_state(model)
        return model


@dataclass
class RefitSchedule:
    """How many optimizer iterations the fits of one suggestion may spend.

    Args:
        fit_maxiter: Iterations of a fit without a warm start.
        warm_maxiter: Iterations of a warm-started fit.
        refit_fraction: From ``refit_every_below`` observations on, hyperparameters are
            re-optimized only once the number of observations grew by this fraction since the
            last optimization; in between a fit keeps them (``maxiter = 0``).
        refit_every_below: Below this many observations, re-optimize at every suggestion.

    Attributes:
        n_optimized: Observations at the last suggestion whose fits optimized.
    """

    fit_maxiter: int = 100
    warm_maxiter: int = 20
    refit_fraction: float = 0.05
    refit_every_below: int = 100
    n_optimized: int = 0

    def maxiter(self, n: int, warm: bool) -> int:
        """Iterations of this suggestion's fits at ``n`` observations (``warm``: a fit exists)."""
        if not warm:
            return self.fit_maxiter
        if n < self.refit_every_below or n - self.n_optimized >= max(
            1.0, self.refit_fraction * self.n_optimized
        ):
            return self.warm_maxiter
        return 0

    def for_output(self, maxiter: int, state: dict[str, Tensor] | None) -> WarmStart:
        """The warm start of one output: a first fit of an output gets at least ``fit_maxiter``."""
        return WarmStart(state, maxiter if state is not None else max(maxiter, self.fit_maxiter))

    def record(self, n: int, maxiter: int) -> None:
        """The fits of a suggestion at ``n`` observations succeeded with ``maxiter``."""
        if maxiter > 0:
            self.n_optimized = n
