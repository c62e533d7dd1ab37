"""Context-free-grammar architecture spaces (hierarchical NAS, Schrodi et al., 2023).

* :mod:`~jahs_bo.spaces.grammar.text`: the grammar text format and :class:`Grammar` (exact
  derivation counts, also within a depth limit; shared nonterminals; ``require:`` validity
  rules; limits on what a grammar text controls, checked before any work), with its lexer in
  :mod:`~jahs_bo.spaces.grammar.lexer` (tokens, alternatives, :class:`Symbol`) and the
  derivation counting in :mod:`~jahs_bo.spaces.grammar.counting`.
* :mod:`~jahs_bo.spaces.grammar.derivation`: :class:`Derivation` trees and their canonical
  s-expression strings (and whether a grammar's strings have one tree each).
* :mod:`~jahs_bo.spaces.grammar.operators`: sampling under depth/size limits, mutation, crossover.
* :mod:`~jahs_bo.spaces.grammar.graphs`: derivations as labelled DAGs, whole and per level.
* :mod:`~jahs_bo.spaces.grammar.features`: their WL histograms composed from cached subtree
  summaries, without building the graphs (what the GP's architecture store uses).
* :mod:`~jahs_bo.spaces.grammar.domain`: :class:`GrammarDomain` (kind ``"grammar"``), the shipped
  grammars, the validity rules (:data:`REQUIREMENTS`) and the NB201 cell mapping.

Validity: the hierarchical NB201 grammar declares ``require: connected``, so its domain proposes
only architectures whose graph has a path from input to output (about a quarter of its
derivations have none). The filter acts where architectures are generated (sampling, mutation,
crossover, by rejection); counts and golden numbers are those of the unrestricted grammar.

Example:
    >>> domain = GrammarDomain(hierarchical_nb201_grammar())
    >>> value = domain.sample(np.random.default_rng(0))
    >>> domain.validate(value) == value
    True
"""

from __future__ import annotations

from jahs_bo.spaces.grammar.derivation import (
    Derivation,
    InvalidDerivationError,
    parse_derivation,
    shared_subtrees,
)
from jahs_bo.spaces.grammar.domain import (
    NB201_OP_NAMES,
    REQUIREMENTS,
    GrammarDomain,
    derivation_to_nb201_cell,
    hierarchical_nb201_grammar,
    load_grammar,
    nb201_cell_to_derivation,
    nb201_grammar,
)
from jahs_bo.spaces.grammar.graphs import (
    ZERO_OPS,
    derivation_connected,
    derivation_graph,
    derivation_graphs,
)
from jahs_bo.spaces.grammar.operators import DerivationSampler
from jahs_bo.spaces.grammar.text import Grammar, Symbol

__all__ = [
    "NB201_OP_NAMES",
    "REQUIREMENTS",
    "ZERO_OPS",
    "Derivation",
    "DerivationSampler",
    "Grammar",
    "GrammarDomain",
    "InvalidDerivationError",
    "Symbol",
    "derivation_connected",
    "derivation_graph",
    "derivation_graphs",
    "derivation_to_nb201_cell",
    "hierarchical_nb201_grammar",
    "load_grammar",
    "nb201_cell_to_derivation",
    "nb201_grammar",
    "parse_derivation",
    "shared_subtrees",
]
