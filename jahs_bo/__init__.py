"""jahs-bo: Bayesian optimization for joint architecture and hyperparameter search.

Start with :func:`create_study` over a :class:`~jahs_bo.spaces.SearchSpace`; see the README.
"""

from __future__ import annotations

from jahs_bo import searchers as searchers  # registers the built-in searchers
from jahs_bo.exceptions import InputError, JahsBOError
from jahs_bo.spaces import Fidelity, SearchSpace
from jahs_bo.study import Study, create_study, load_study
from jahs_bo.types import Direction, Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Direction",
    "Fidelity",
    "InputError",
    "JahsBOError",
    "SearchSpace",
    "Study",
    "Trial",
    "TrialState",
    "create_study",
    "load_study",
]
