"""Studies: ask/tell, the one optimize loop and its executors, and the factories.

* :mod:`jahs_bo.study.core`: :class:`Study` (ask, tell, report, the incumbent, trials as a table);
* :mod:`jahs_bo.study.factories`: :func:`create_study`, :func:`load_study`;
* :mod:`jahs_bo.study.objective`: the objective contract ``objective(config, ctx)``;
* :mod:`jahs_bo.study.optimize`: the loop shared by ``Study.optimize``, ``tune`` and the CLI;
* :mod:`jahs_bo.study.executor`: where trials run (this process or local worker processes);
* :mod:`jahs_bo.study.ray_executor`: trials as Ray tasks on a Ray cluster (``executor="ray"``);
* :mod:`jahs_bo.study.incumbent`: the one rule for "best".
"""

from __future__ import annotations

from jahs_bo.study.core import SchedulerHook, Study, TrialPlan, counts, is_lost
from jahs_bo.study.factories import create_study, load_study
from jahs_bo.study.incumbent import Incumbent, incumbent
from jahs_bo.study.objective import ObjectiveLoadError, TrialContext, TrialPruned

__all__ = [
    "Incumbent",
    "ObjectiveLoadError",
    "SchedulerHook",
    "Study",
    "TrialContext",
    "TrialPlan",
    "TrialPruned",
    "counts",
    "create_study",
    "incumbent",
    "is_lost",
    "load_study",
]
