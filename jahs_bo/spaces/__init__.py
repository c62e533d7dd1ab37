"""Search spaces: ConfigSpace hyperparameters, architecture domains and fidelities, joined."""

from __future__ import annotations

from jahs_bo.spaces.base import ArchitectureDomain, domain_from_dict, register_domain
from jahs_bo.spaces.builtin import (
    hierarchical_nb201_space,
    jahs_bench_201_space,
    lcbench_space,
    nb201_space,
)
from jahs_bo.spaces.fidelity import Fidelity
from jahs_bo.spaces.grammar import (
    Derivation,
    Grammar,
    GrammarDomain,
    hierarchical_nb201_grammar,
    nb201_grammar,
)
from jahs_bo.spaces.nb101 import NB101Cell
from jahs_bo.spaces.nb201 import NB201Cell
from jahs_bo.spaces.space import SearchSpace

__all__ = [
    "ArchitectureDomain",
    "Derivation",
    "Fidelity",
    "Grammar",
    "GrammarDomain",
    "NB101Cell",
    "NB201Cell",
    "SearchSpace",
    "domain_from_dict",
    "hierarchical_nb201_grammar",
    "hierarchical_nb201_space",
    "jahs_bench_201_space",
    "lcbench_space",
    "nb201_grammar",
    "nb201_space",
    "register_domain",
]
