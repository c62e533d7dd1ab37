"""jahs-bo: Bayesian optimization for joint architecture and hyperparameter search."""

from __future__ import annotations

__version__ = "0.1.0"
