"""The grammar architecture domain, the shipped grammars, and the NB201 cell mapping."""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import networkx as nx
import numpy as np

from jahs_bo.encoding.wl import Direction
from jahs_bo.exceptions import GrammarError, InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces.base import ArchitectureDomain, register_domain
from jahs_bo.spaces.grammar.derivation import (
    Derivation,
    InvalidDerivationError,
    parse_derivation,
    prints_uniquely,
)
from jahs_bo.spaces.grammar.features import WLComposer
from jahs_bo.spaces.grammar.graphs import (
    check_topologies,
    derivation_connected,
    derivation_graph,
    derivation_graphs,
    graph_labels,
    max_block_level,
)
from jahs_bo.spaces.grammar.operators import DerivationSampler
from jahs_bo.spaces.grammar.prior import ProductionPrior
from jahs_bo.spaces.grammar.text import Grammar

__all__ = [
    "REQUIREMENTS",
    "GrammarDomain",
    "derivation_to_nb201_cell",
    "hierarchical_nb201_grammar",
    "load_grammar",
    "nb201_cell_to_derivation",
    "nb201_grammar",
]


#: Validity rules a grammar can declare with ``require: NAME``: predicates on derivation trees.
#: ``connected``: the architecture's graph (:func:`~jahs_bo.spaces.grammar.graphs.
#: derivation_graph`, zero operations leaving no connection) has a path from input to output,
#: i.e. the network's output depends on its input.
REQUIREMENTS: dict[str, Callable[[Derivation], bool]] = {"connected": derivation_connected}
#: Derivation strings whose trees a :class:`GrammarDomain` keeps (least recently used dropped):
#: the strings it parsed and the ones its operators produced, so that the architecture store
#: never re-parses a candidate the domain has just built (a GP suggestion meets ~1,000).
PARSE_CACHE_SIZE = 4096


@register_domain
class GrammarDomain(ArchitectureDomain):
    """Architectures derived by a context-free grammar.

    Values are canonical derivation strings (s-expressions, see
    :mod:`jahs_bo.spaces.grammar.derivation`), for example
    ``(Linear3 (Linear3 (Linear2 (Cell id zero ...) ...) ...) ...)``. Sampling, mutation and
    crossover follow :mod:`jahs_bo.spaces.grammar.operators`; graphs follow
    :mod:`jahs_bo.spaces.grammar.graphs`.

    Validity rules: a grammar may declare ``require: connected`` (see :data:`REQUIREMENTS`);
    then :meth:`sample`, :meth:`mutate` and :meth:`crossover` (hence every searcher, which all
    draw through these methods) only propose architectures that satisfy the rules, by rejection
    with at most 100 redraws. :meth:`validate` still accepts every derivation of the grammar
    (stored trials stay readable; :meth:`is_valid` tells them apart) and :meth:`size` counts the
    unrestricted grammar.

    Args:
        grammar: A :class:`Grammar` or grammar text.
        max_depth: Largest derivation depth (tree height) of a value; required for recursive
            grammars and for grammars whose derivations can be deeper than 200; at most 200
            (:data:`~jahs_bo.spaces.grammar.operators.MAX_DEPTH`).
        max_nodes: Largest number of tree nodes of a value (default and at most 100,000,
            :data:`~jahs_bo.spaces.grammar.operators.MAX_NODES`).
        prune: Graph views drop zero operations and what they disconnect (default, as
            :class:`~jahs_bo.spaces.nb201.NB201Cell`); ``False`` keeps them as nodes.
        production_prior: Expert prior over the productions: nonterminal -> {alternative as
            the grammar writes it: weight} (:mod:`jahs_bo.spaces.grammar.prior`), for
            example ``{"CONV": {"conv3x3o": 4, "conv1x1o": 1, "dconv3x3o": 1}}``. Used by
            :meth:`sample_prior` and :meth:`log_prior` (random search and RE with
            ``use_prior``, the GP's piBO weighting, the brackets' prior mix); serialized with
            the space.

    Raises:
        GrammarError: The grammar text is malformed, gives a topology the wrong arity or
            requires an unknown validity rule.
        InvalidSpaceError: The limits are invalid or admit no derivation.
    """

    kind = "grammar"

    def __init__(
        self,
        grammar: Grammar | str,
        *,
        max_depth: int | None = None,
        max_nodes: int | None = None,
        prune: bool = True,
        production_prior: Mapping[str, Mapping[str, float]] | None = None,
    ) -> None:
        self.grammar = grammar if isinstance(grammar, Grammar) else Grammar.from_text(grammar)
        check_topologies(self.grammar)
        unknown = [r for r in self.grammar.requirements if r not in REQUIREMENTS]
        if unknown:
            raise GrammarError(
                f"unknown requirement {unknown[0]!r} in the grammar's 'require:' line; known "
                f"rules: {sorted(REQUIREMENTS)}"
            )
        self._sampler = DerivationSampler(
            self.grammar,
            max_depth,
            max_nodes,
            requirements={r: REQUIREMENTS[r] for r in self.grammar.requirements},
        )
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.n_levels = max(1, max_block_level(self.grammar, self._sampler.depth_cap))
        self.prune = bool(prune)
        self._labels = graph_labels(self.grammar, self.prune)
        #: Bounded LRU map canonical string -> tree: the strings parsed or produced lately.
        self._cache: OrderedDict[str, Derivation] = OrderedDict()
        # Produced trees may stand in for their parses only where strings have one tree each.
        self._keep_produced = prints_uniquely(self.grammar)
        self._composers: dict[tuple[int, str], WLComposer] = {}
        self.prior = (
            None if production_prior is None else ProductionPrior(self.grammar, production_prior)
        )
        self.has_prior = self.prior is not None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the caches (they refill; a study's space travels to workers)."""
        state = dict(self.__dict__)
        state["_cache"], state["_composers"] = OrderedDict(), {}
        return state

    # ------------------------------------------------------------------ strings
    def parse(self, value: str) -> Derivation:
        """The derivation tree of a derivation string.

        Raises:
            InvalidDerivationError: ``value`` is malformed, not derivable from the start symbol
                (the message names the position), or outside ``max_depth``/``max_nodes``.
        """
        if isinstance(value, str) and value in self._cache:
            self._cache.move_to_end(value)
            return self._cache[value]
        tree = parse_derivation(self.grammar, value)
        if not self._sampler.within_limits(tree):
            raise InvalidDerivationError(
                f"derivation has depth {tree.depth} and {tree.n_nodes} nodes, outside the "
                f"domain's limits max_depth={self.max_depth}, max_nodes={self.max_nodes}"
            )
        self._remember(value, tree)
        return tree

    def _remember(self, value: str, tree: Derivation) -> None:
        """Cache ``value -> tree`` (the :data:`PARSE_CACHE_SIZE` most recent strings)."""
        self._cache[value] = tree
        self._cache.move_to_end(value)
        if len(self._cache) > PARSE_CACHE_SIZE:
            self._cache.popitem(last=False)

    def _produced(self, tree: Derivation) -> str:
        """The string of a tree the operators just made, cached so that a later :meth:`parse`
        of it (the architecture store's, a mutation's) does not parse it again; only when the
        grammar's strings have one tree each (:func:`~jahs_bo.spaces.grammar.derivation.
        prints_uniquely`, as for the shipped grammars), so the cache never changes a result."""
        value = tree.to_string()
        if self._keep_produced:
            self._remember(value, tree)
        return value

    def format(self, tree: Derivation) -> str:
        """The canonical string of a derivation tree (inverse of :meth:`parse`)."""
        return tree.to_string()

    @property
    def requirements(self) -> tuple[str, ...]:
        """Names of the validity rules that proposals satisfy (the grammar's ``require:``)."""
        return self.grammar.requirements

    def is_valid(self, value: str | Derivation) -> bool:
        """Whether ``value`` satisfies the grammar's validity rules (``True`` without rules).

        Raises:
            InvalidConfigError: ``value`` is not a derivation of the grammar.
        """
        tree = value if isinstance(value, Derivation) else self.parse(value)
        return self._sampler.is_valid(tree)

    # ------------------------------------------------------------------ domain API
    def sample(self, rng: np.random.Generator) -> str:
        return self._produced(self._sampler.sample(rng))

    def sample_prior(self, rng: np.random.Generator) -> str:
        """A derivation whose alternatives are drawn by the production prior (uniform without
        one)."""
        return self._produced(self._sampler.sample(rng, prior=self.prior))

    def log_prior(self, value: str) -> float:
        """Log prior of ``value`` relative to :meth:`sample` (``0`` without a prior)."""
        if self.prior is None:
            return 0.0
        return self.prior.log_prior(self.parse(value))

    def validate(self, value: Any) -> str:
        """Canonical string of ``value`` (a string or a :class:`Derivation`).

        Raises:
            InvalidConfigError: (an :class:`InvalidDerivationError`) ``value`` is not derivable.
        """
        if isinstance(value, Derivation):
            value = value.to_string()
        if not isinstance(value, str):
            raise InvalidConfigError(
                f"a grammar architecture must be a derivation string, got "
                f"{type(value).__name__} {value!r}"
            )
        return self.parse(value).to_string()

    def mutate(self, value: str, rng: np.random.Generator) -> str:
        return self._produced(self._sampler.mutate(self.parse(value), rng))

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        return self._produced(self._sampler.crossover(self.parse(a), self.parse(b), rng))

    def to_graph(self, value: str) -> nx.DiGraph:
        return derivation_graph(self.parse(value), None, self.prune)

    def to_graphs(self, value: str) -> list[nx.DiGraph]:
        """``n_levels`` graphs: the whole architecture, then folded at levels ``1..`` (see
        :mod:`jahs_bo.spaces.grammar.graphs`)."""
        return derivation_graphs(self.parse(value), self.n_levels, self.prune)

    def wl_features(
        self, value: str, iterations: int, direction: Direction = "in"
    ) -> list[Counter[str]]:
        """The WL histograms of :meth:`to_graphs`; for at most one iteration (the GP's default)
        assembled from cached subtree summaries without building the graphs
        (:mod:`jahs_bo.spaces.grammar.features`)."""
        if iterations not in (0, 1):
            return super().wl_features(value, iterations, direction)
        key = (iterations, direction)
        if key not in self._composers:
            self._composers[key] = WLComposer(iterations, direction, self.prune)
        return self._composers[key].histograms(self.parse(value), self.n_levels)

    def labels(self) -> list[str]:
        return list(self._labels)

    def size(self) -> int | None:
        """Number of distinct derivation trees within ``max_depth`` (repeated alternatives
        counted once), exact; validity rules are not applied (the unrestricted grammar).

        ``None`` when it is not known: ``max_nodes`` excludes some derivations, the count is
        beyond :data:`~jahs_bo.spaces.grammar.text.MAX_COUNT_BITS` (see :meth:`log10_size`), or
        ``max_depth`` cuts a grammar with shared nonterminals.
        """
        if self.max_nodes is not None and self._sampler.max_possible_nodes() > self.max_nodes:
            return None
        try:
            return self.grammar.count(unique=True, max_depth=self.max_depth)
        except GrammarError:
            return None

    def log10_size(self) -> float:
        """``log10`` of the number of distinct derivation trees within ``max_depth`` (no size
        limit; ``max_nodes`` and validity rules not applied).

        Raises:
            GrammarError: ``max_depth`` cuts a grammar with shared nonterminals.
        """
        return self.grammar.log10_count(unique=True, max_depth=self.max_depth)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "grammar": self.grammar.to_text(),
            "max_depth": self.max_depth,
            "max_nodes": self.max_nodes,
            "prune": self.prune,
            **({"production_prior": self.prior.to_dict()} if self.prior is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GrammarDomain:
        if not isinstance(data, dict) or data.get("kind") != cls.kind:
            raise InvalidSpaceError(f"not a grammar domain description: {data!r}")
        unknown = set(data) - {
            "kind", "grammar", "max_depth", "max_nodes", "prune", "production_prior"
        }  # fmt: skip
        if unknown:
            raise InvalidSpaceError(f"unknown keys {sorted(unknown)} in grammar domain {data!r}")
        if not isinstance(data.get("grammar"), str):
            raise InvalidSpaceError("a grammar domain needs the grammar text under 'grammar'")
        return cls(
            data["grammar"],
            max_depth=data.get("max_depth"),
            max_nodes=data.get("max_nodes"),
            prune=data.get("prune", True),
            production_prior=data.get("production_prior"),
        )

    def __repr__(self) -> str:
        return (
            f"GrammarDomain({self.grammar!r}, max_depth={self.max_depth}, "
            f"max_nodes={self.max_nodes}, prune={self.prune}"
            + (f", production_prior={self.prior.to_dict()!r})" if self.prior is not None else ")")
        )


# ---------------------------------------------------------------------- shipped grammars
def load_grammar(name: str) -> Grammar:
    """A grammar shipped in ``jahs_bo/spaces/grammars/<name>.cfg``."""
    path = resources.files("jahs_bo.spaces").joinpath("grammars", f"{name}.cfg")
    if not path.is_file():
        shipped = sorted(
            p.name.removesuffix(".cfg")
            for p in resources.files("jahs_bo.spaces").joinpath("grammars").iterdir()
            if p.name.endswith(".cfg")
        )
        raise InvalidSpaceError(f"no shipped grammar {name!r}; shipped: {shipped}")
    return Grammar.from_text(path.read_text(encoding="utf-8"))


def hierarchical_nb201_grammar() -> Grammar:
    """The hierarchical NB201 grammar of Schrodi et al. (2023): ~10^446.1 derivations.

    It declares ``require: connected``: domains built on it propose only architectures with a
    path from input to output (validity is filtered at sampling time; the count above is that of
    the unrestricted grammar).
    """
    return load_grammar("hierarchical_nb201")


def nb201_grammar() -> Grammar:
    """NB201 as a grammar: the NB201 skeleton with one shared cell; 15,625 architectures."""
    return load_grammar("nb201")


# ---------------------------------------------------------------------- NB201 cells
#: Grammar terminal -> official NB201 operation name.
NB201_OP_NAMES: dict[str, str] = {
    "zero": "none",
    "id": "skip_connect",
    "conv1x1": "nor_conv_1x1",
    "conv3x3": "nor_conv_3x3",
    "avg_pool": "avg_pool_3x3",
}
_NB201_TERMINALS = {v: k for k, v in NB201_OP_NAMES.items()}


def _as_tree(derivation: Derivation | str, grammar: Grammar | None) -> Derivation:
    if isinstance(derivation, Derivation):
        return derivation
    return parse_derivation(grammar or nb201_grammar(), derivation)


def derivation_to_nb201_cell(derivation: Derivation | str, grammar: Grammar | None = None) -> str:
    """The official NB201 string of the cell used throughout a derivation.

    Args:
        derivation: A derivation tree or string (strings are parsed with ``grammar``, default
            :func:`nb201_grammar`).
        grammar: The grammar of a derivation string.

    Returns:
        ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` with the ``"Cell"`` children in edge order.

    Raises:
        InvalidConfigError: The derivation has no ``Cell``, cells that differ, or an operation
            that NB201 lacks.
    """
    tree = _as_tree(derivation, grammar)
    cells = {node for _, node in tree.walk() if node.head == "Cell"}
    if len(cells) != 1:
        raise InvalidConfigError(
            f"an NB201 architecture uses exactly one cell everywhere; this derivation has "
            f"{len(cells)} different cells"
        )
    (cell,) = cells
    ops = []
    for arg in cell.arguments:
        text = arg.to_string()
        if text not in NB201_OP_NAMES:
            raise InvalidConfigError(
                f"cell operation {text!r} is not an NB201 operation; expected one of "
                f"{sorted(NB201_OP_NAMES)}"
            )
        ops.append(NB201_OP_NAMES[text])
    if len(ops) != 6:
        raise InvalidConfigError(f"an NB201 cell has 6 operations, got {len(ops)}")
    return "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)


def nb201_cell_to_derivation(cell: str, grammar: Grammar | None = None) -> str:
    """The derivation string of :func:`nb201_grammar` (or ``grammar``) that uses ``cell``.

    Raises:
        InvalidConfigError: ``cell`` is not an NB201 cell string over the five NB201 ops.
    """
    grammar = grammar or nb201_grammar()
    groups = cell.strip("|").split("|+|") if isinstance(cell, str) else []
    ops = [tok.split("~")[0] for group in groups for tok in group.split("|")]
    valid = len(ops) == 6 and all(op in _NB201_TERMINALS for op in ops)
    if not valid or "|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops) != cell:
        raise InvalidConfigError(
            f"{cell!r} is not an NB201 cell string like "
            "'|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|'"
        )
    text = "(Cell " + " ".join(_NB201_TERMINALS[op] for op in ops) + ")"
    try:
        new_cell = parse_derivation(grammar, text, "CELL")
        template = _nb201_template(grammar)
    except GrammarError as err:
        raise InvalidConfigError(f"grammar cannot express NB201 cell {cell!r}: {err}") from err
    return template.substitute("CELL", new_cell).to_string()


@lru_cache(maxsize=8)
def _nb201_template(grammar: Grammar) -> Derivation:
    """One derivation of an NB201-style grammar (its skeleton is unique; the cell is replaced)."""
    return DerivationSampler(grammar).sample(np.random.default_rng(0))
