"""Acquisition functions and their optimization over the joint encoded space.

- :mod:`~jahs_bo.acquisition.analytic`: log-EI, UCB and constrained log-EI scored through one
  joint posterior call.
- :mod:`~jahs_bo.acquisition.ehvi`: botorch's qLogNEHVI for several objectives.
- :mod:`~jahs_bo.acquisition.scoring`: acquisition values and Thompson samples of a candidate set.
- :mod:`~jahs_bo.acquisition.prior`: piBO, the acquisition weighted by the expert prior.
- :mod:`~jahs_bo.acquisition.incumbent`: the incumbent of improvement-based acquisitions.
- :mod:`~jahs_bo.acquisition.candidates` and :mod:`~jahs_bo.acquisition.optimize`: the candidate
  pool (random samples, neighbourhoods, de-duplication), local search and continuous refinement.
"""

from __future__ import annotations

from jahs_bo.acquisition.analytic import (
    ACQUISITIONS,
    AcquisitionName,
    JointLogConstrainedEI,
    JointLogEI,
    JointUCB,
    make_acquisition,
    make_constrained_acquisition,
)
from jahs_bo.acquisition.ehvi import bound_constraints, make_ehvi, prune_dominated_baseline
from jahs_bo.acquisition.incumbent import incumbent_value
from jahs_bo.acquisition.optimize import (
    CandidateSearch,
    default_n_random,
    make_scorer,
    optimize_acquisition,
)
from jahs_bo.acquisition.prior import (
    DEFAULT_PRIOR_BETA,
    DEFAULT_PRIOR_FLOOR,
    PriorWeightedAcquisition,
    check_prior_floor,
    encoded_log_prior,
    pibo_exponent,
)
from jahs_bo.acquisition.refine import refine_continuous
from jahs_bo.acquisition.scoring import score_candidates, thompson_scores

__all__ = [
    "ACQUISITIONS",
    "DEFAULT_PRIOR_BETA",
    "DEFAULT_PRIOR_FLOOR",
    "PriorWeightedAcquisition",
    "check_prior_floor",
    "encoded_log_prior",
    "pibo_exponent",
    "AcquisitionName",
    "CandidateSearch",
    "JointLogConstrainedEI",
    "JointLogEI",
    "JointUCB",
    "bound_constraints",
    "default_n_random",
    "incumbent_value",
    "make_acquisition",
    "make_constrained_acquisition",
    "make_ehvi",
    "make_scorer",
    "optimize_acquisition",
    "prune_dominated_baseline",
    "refine_continuous",
    "score_candidates",
    "thompson_scores",
]
