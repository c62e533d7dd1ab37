"""jahs-bo: Bayesian optimization for joint architecture and hyperparameter search.

Start with :func:`create_study` over a :class:`~jahs_bo.spaces.SearchSpace`; see the README.

The study, space and storage names are imported lazily: worker processes that only unpickle a
:class:`Trial` do not pay for importing ConfigSpace, scipy or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from jahs_bo.exceptions import InputError, JahsBOError, TrialStateError
from jahs_bo.types import Direction, Trial, TrialState

__version__ = "0.1.0"

_LAZY = {
    "create_study": "jahs_bo.study",
    "load_study": "jahs_bo.study",
    "Study": "jahs_bo.study",
    "SearchSpace": "jahs_bo.spaces",
    "Fidelity": "jahs_bo.spaces",
    "InMemoryStorage": "jahs_bo.storage",
    "SQLiteStorage": "jahs_bo.storage",
    "get_storage": "jahs_bo.storage",
    "tune": "jahs_bo.tuner",
    "TrialContext": "jahs_bo.study.objective",
    "TrialPruned": "jahs_bo.study.objective",
}

__all__ = [
    "Direction",
    "InputError",
    "JahsBOError",
    "Trial",
    "TrialState",
    "TrialStateError",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jahs_bo' has no attribute {name!r}")
