"""Gaussian-process kernels over architectures, hyperparameters and fidelities (gpytorch)."""

from __future__ import annotations

from jahs_bo.kernels.deep import DeepGraphKernel, GINEncoder
from jahs_bo.kernels.joint import COMBINATIONS, categorical_kernel, joint_kernel, matern_kernel
from jahs_bo.kernels.wl import HierarchicalWLKernel, LevelProductWLKernel, WLKernel

__all__ = [
    "COMBINATIONS",
    "DeepGraphKernel",
    "GINEncoder",
    "HierarchicalWLKernel",
    "LevelProductWLKernel",
    "WLKernel",
    "categorical_kernel",
    "joint_kernel",
    "matern_kernel",
]
