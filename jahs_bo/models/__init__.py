"""botorch models over the joint architecture x hyperparameter x fidelity input layout."""

from __future__ import annotations

from jahs_bo.models.encoder import INACTIVE, JointEncoder
from jahs_bo.models.gp import (
    build_gp,
    exact_gp_settings,
    fit_gp,
    hyperparameter_state,
    kriging_believer,
    load_hyperparameters,
)

__all__ = [
    "INACTIVE",
    "JointEncoder",
    "build_gp",
    "exact_gp_settings",
    "fit_gp",
    "hyperparameter_state",
    "kriging_believer",
    "load_hyperparameters",
]
