"""botorch models over the joint architecture x hyperparameter x fidelity input layout."""

from __future__ import annotations

from jahs_bo.models.encoder import INACTIVE, JointEncoder
from jahs_bo.models.factory import JointGPFactory, ModelFactory, RefitSchedule, WarmStart
from jahs_bo.models.gp import (
    build_gp,
    exact_gp_settings,
    fit_gp,
    hyperparameter_state,
    kriging_believer,
    load_hyperparameters,
)
from jahs_bo.models.transforms import GaussianCopula, YeoJohnson, target_transform

__all__ = [
    "INACTIVE",
    "GaussianCopula",
    "JointEncoder",
    "JointGPFactory",
    "ModelFactory",
    "RefitSchedule",
    "WarmStart",
    "YeoJohnson",
    "build_gp",
    "exact_gp_settings",
    "fit_gp",
    "hyperparameter_state",
    "kriging_believer",
    "load_hyperparameters",
    "target_transform",
]
