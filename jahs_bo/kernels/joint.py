"""The joint kernel over architecture x hyperparameters x fidelities.

Inputs follow the model's column layout: architecture index columns (read by WL kernels),
hyperparameters in ConfigSpace's unit-cube vector space (numeric ones through a Matern-5/2 ARD
kernel, unordered categoricals through botorch's ``CategoricalKernel``), fidelities normalised to
``[0, 1]`` (a Matern-5/2 ARD kernel).

Combinations (``combination=``):

- ``"product"``: ``s * k_arch * k_num * k_cat * k_fid``. Two configurations are similar only when
  every part is similar, which is what interactions between architecture and training
  hyperparameters look like (a learning rate good for one cell can be bad for another).
- ``"sum"``: ``sum_p s_p k_p``. Additive effects only; extrapolates well from few points but
  cannot express interactions.
- ``"sum_product"``: both, ``s_0 prod_p k_p + sum_p s_p k_p`` (the shape of botorch's
  ``MixedSingleTaskGP`` kernel).

The default is ``"sum_product"``, best or second on held-out rank correlation and likelihood on
NB201 and LCBench multi-fidelity data (``benchmarks/results/gp-defaults.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import AdditiveKernel, Kernel, ProductKernel, ScaleKernel
from gpytorch.priors import GammaPrior

from jahs_bo.exceptions import InputError

Combination = Literal["product", "sum", "sum_product"]
COMBINATIONS = ("product", "sum", "sum_product")


def _scaled(kernel: Kernel) -> ScaleKernel:
    return ScaleKernel(kernel, outputscale_prior=GammaPrior(2.0, 0.15))


def matern_kernel(dims: Sequence[int]) -> Kernel:
    """Matern-5/2 ARD over ``dims`` with botorch's dimension-scaled lengthscale prior."""
    return get_covar_module_with_dim_scaled_prior(
        ard_num_dims=len(dims), use_rbf_kernel=False, active_dims=list(dims)
    )


class _CategoricalKernel(CategoricalKernel):
    """botorch's ``CategoricalKernel`` with an ``O(n)`` diagonal (botorch forms ``n x n``)."""

    def forward(self, x1, x2, diag: bool = False, last_dim_is_batch: bool = False, **params):
        if diag and not last_dim_is_batch:
            x1, x2 = torch.broadcast_tensors(x1, x2)
            dists = ((x1 != x2) / self.lengthscale).mean(-1)
            return torch.exp(-dists)
        return super().forward(x1, x2, diag=diag, last_dim_is_batch=last_dim_is_batch)


def categorical_kernel(dims: Sequence[int]) -> Kernel:
    """botorch's ``CategoricalKernel`` (one lengthscale per categorical column)."""
    return _CategoricalKernel(
        ard_num_dims=len(dims),
        active_dims=list(dims),
        lengthscale_constraint=GreaterThan(1e-6),
    )


def joint_kernel(
    arch_kernels: Sequence[Kernel] = (),
    numeric_dims: Sequence[int] = (),
    categorical_dims: Sequence[int] = (),
    fidelity_dims: Sequence[int] = (),
    combination: Combination = "sum_product",
) -> Kernel:
    """Combine architecture kernels with hyperparameter and fidelity kernels.

    Args:
        arch_kernels: One kernel per architecture column (e.g. :class:`~jahs_bo.kernels.wl.WLKernel`
            with ``active_dims=[column]``).
        numeric_dims: Columns of float/integer/ordinal hyperparameters (unit cube).
        categorical_dims: Columns of unordered categorical hyperparameters (choice indices).
        fidelity_dims: Columns of normalised fidelities.
        combination: ``"product"``, ``"sum"`` or ``"sum_product"`` (see the module docstring).

    Returns:
        A gpytorch kernel over the full input width.

    Raises:
        InputError: no part given or an unknown combination.
    """
    if combination not in COMBINATIONS:
        raise InputError(f"combination must be one of {COMBINATIONS}, got {combination!r}")
    parts: list[Kernel] = list(arch_kernels)
    if numeric_dims:
        parts.append(matern_kernel(numeric_dims))
    if categorical_dims:
        parts.append(categorical_kernel(categorical_dims))
    if fidelity_dims:
        parts.append(matern_kernel(fidelity_dims))
    if not parts:
        raise InputError("joint_kernel needs at least one architecture, hyperparameter or fidelity")
    if len(parts) == 1:
        return _scaled(parts[0])
    if combination == "product":
        return _scaled(ProductKernel(*parts))
    additive = [_scaled(p) for p in parts]
    if combination == "sum":
        return AdditiveKernel(*additive)
    return AdditiveKernel(_scaled(ProductKernel(*parts)), *additive)
