"""The grammar text format, its hand-written parser, and :class:`Grammar` with exact counting.

Format (one production per line; ``#`` starts a comment that runs to the end of the line)::

    # Hierarchical NB201 (Schrodi et al., 2023), abridged
    start: D2                      # optional; default: left-hand side of the first production
    shared: CELL                   # optional, repeatable: nonterminals derived once per architecture
    D2 -> "Linear3" D1 D1 D0 | "Linear4" D1 D1 D0 D0
    OPS -> "id" | "zero"
         | "Linear1" CONVBLOCK     # a line starting with "|" continues the production above

* A nonterminal is a bare identifier (``[A-Za-z_][A-Za-z0-9_]*``); it is defined by exactly one
  ``NAME -> ...`` line (plus continuation lines).
* A terminal is a double-quoted word (no whitespace, parentheses, quotes, ``#`` or ``|``); it names
  a building block (``"Linear3"``, ``"Cell"``, ``"conv3x3"``).
* Alternatives are separated by ``|``; each is a non-empty sequence of symbols. Listing the same
  alternative twice is allowed and makes it twice as likely when sampling and counts it twice in
  :meth:`Grammar.count` (the hierarchical NB201 grammar does this for its two conv edges).
* ``shared: A B`` marks nonterminals whose derivation is chosen once per architecture and
  substituted at every place the nonterminal occurs (the "regularity through substitution" of
  hierarchical NAS; NB201 is the hierarchical skeleton with one shared ``CELL``). A shared
  nonterminal must not derive itself. Nested sharing (a shared block containing a shared cell) is
  global: every occurrence of ``CELL`` in the architecture, inside or outside the shared block, is
  the same derivation.
* ``require: connected`` names validity rules that every *proposed* architecture must satisfy
  (the rules live with the domain, :data:`jahs_bo.spaces.grammar.domain.REQUIREMENTS`;
  ``connected``: the architecture's graph has a path from input to output). The rules filter
  sampling, mutation and crossover by rejection; they do not change :meth:`Grammar.count`, which
  stays the number of derivations of the unrestricted grammar.

Checks (each failure raises :class:`~jahs_bo.exceptions.GrammarError` naming the line): unknown
characters, unterminated strings, a missing ``->``, empty alternatives, a nonterminal defined twice,
undefined nonterminals, an undefined start or shared symbol, unproductive nonterminals (no finite
derivation), nonterminals unreachable from the start symbol, cycles of single-nonterminal
alternatives (``A -> B``, ``B -> A``: infinitely many derivations of one string) and recursive shared
nonterminals. Recursion otherwise is allowed (the grammar is then infinite and sampling needs a
depth limit).

Limits (a grammar text may come from anywhere, so what it controls is bounded before any work is
done, each with a :class:`~jahs_bo.exceptions.GrammarError` naming the limit): at most
:data:`MAX_TEXT_CHARS` characters, :data:`MAX_NONTERMINALS` nonterminals,
:data:`MAX_SYMBOLS` symbols over all alternatives and :data:`MAX_SHARED` shared nonterminals;
exact counts of at most :data:`MAX_COUNT_BITS` bits (:meth:`Grammar.log10_count` has no limit).
Every analysis is iterative and linear in the size of the grammar (counting within a depth
limit: linear times the depth), so deep or long grammars cannot exhaust the Python stack.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from jahs_bo.exceptions import GrammarError
from jahs_bo.spaces.grammar.counting import _INT, _count, _count_args, _log2_count
from jahs_bo.spaces.grammar.lexer import (
    _DIRECTIVE,
    _NAME,
    Alternative,
    Symbol,
    _split_alternatives,
    _strip_comment,
    _tokenize,
)

__all__ = [
    "MAX_COUNT_BITS",
    "MAX_NONTERMINALS",
    "MAX_SHARED",
    "MAX_SYMBOLS",
    "MAX_TEXT_CHARS",
    "FlatGrammar",
    "Grammar",
    "Symbol",
]

#: Longest grammar text accepted by :meth:`Grammar.from_text`.
MAX_TEXT_CHARS = 1_000_000
#: Most nonterminals (productions) of a grammar.
MAX_NONTERMINALS = 10_000
#: Most symbols over all alternatives of a grammar.
MAX_SYMBOLS = 100_000
#: Most shared nonterminals (exact counting with sharing tracks subsets of them).
MAX_SHARED = 12
#: Largest exact count, in bits (2^65536 is about 10^19728; the hierarchical NB201 grammar has
#: about 10^446).
MAX_COUNT_BITS = 65_536


@dataclass(frozen=True)
class FlatGrammar:
    """A grammar as flat integer arrays, for dynamic programs that run one vectorised step per
    depth level (``n`` nonterminals, ``a`` alternatives, ``r`` nonterminal occurrences).

    Attributes:
        index: Nonterminal name -> position ``0..n-1`` (definition order).
        owner: ``a``: the nonterminal of each alternative.
        n_terminals: ``a``: terminal symbols of each alternative.
        length: ``a``: symbols of each alternative.
        child: ``r``: the nonterminal of each occurrence.
        child_alt: ``r``: the alternative each occurrence belongs to.
    """

    index: dict[str, int]
    owner: np.ndarray
    n_terminals: np.ndarray
    length: np.ndarray
    child: np.ndarray
    child_alt: np.ndarray

    @property
    def n_alternatives(self) -> int:
        """Number of alternatives ``a``."""
        return len(self.owner)

    def alternative_sums(self, values: np.ndarray) -> np.ndarray:
        """``a``: the sum of ``values`` (``n``, float) over each alternative's nonterminals."""
        return np.bincount(
            self.child_alt, weights=values[self.child], minlength=self.n_alternatives
        )


class Grammar:
    """A parsed context-free grammar (see the module docstring for the text format).

    Build one with :meth:`from_text`. Instances are immutable; two grammars are equal when their
    canonical texts (:meth:`to_text`) are equal.

    Attributes:
        start: The start symbol.
        shared: Shared nonterminals, in the order they were declared.
        requirements: Names of the validity rules proposals must satisfy (``require:``).
        nonterminals: Nonterminals in definition order.
        terminals: Terminals in order of first appearance.
    """

    def __init__(
        self,
        productions: Mapping[str, Iterable[Alternative]],
        start: str,
        shared: Iterable[str] = (),
        lines: Mapping[str, int] | None = None,
        requirements: Iterable[str] = (),
    ) -> None:
        self._productions: dict[str, tuple[Alternative, ...]] = {
            lhs: tuple(tuple(alt) for alt in alts) for lhs, alts in productions.items()
        }
        self.start = start
        self.shared: tuple[str, ...] = tuple(dict.fromkeys(shared))
        self.requirements: tuple[str, ...] = tuple(dict.fromkeys(requirements))
        self._lines = dict(lines or {})
        self.nonterminals: tuple[str, ...] = tuple(self._productions)
        seen: dict[str, None] = {}
        for alts in self._productions.values():
            for alt in alts:
                for sym in alt:
                    if sym.terminal:
                        seen.setdefault(sym.name)
        self.terminals: tuple[str, ...] = tuple(seen)
        self._check()

    # ------------------------------------------------------------------ parsing
    @classmethod
    def from_text(cls, text: str) -> Grammar:
        """Parse grammar text.

        Raises:
            GrammarError: The text is malformed; the message names the line and the problem.
        """
        if not isinstance(text, str):
            raise GrammarError(f"grammar text must be a string, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise GrammarError(
                f"grammar text has {len(text):,} characters, more than the limit of "
                f"{MAX_TEXT_CHARS:,} characters; shorten the grammar"
            )
        n_symbols = 0
        productions: dict[str, list[Alternative]] = {}
        lines: dict[str, int] = {}
        uses: dict[str, int] = {}
        start: tuple[str, int] | None = None
        shared: list[tuple[str, int]] = []
        requirements: list[str] = []
        last: str | None = None
        for lineno, raw in enumerate(text.splitlines(), start=1):
            line = _strip_comment(raw)
            if not line.strip():
                continue
            directive = _DIRECTIVE.match(line)
            if directive:
                key, rest = directive.groups()
                names = rest.split()
                for name in names:
                    if not _NAME.fullmatch(name):
                        what = "nonterminal names"
                        if key == "require":
                            what = "rule names such as 'connected'"
                        raise GrammarError(f"line {lineno}: '{key}:' expects {what}, got {name!r}")
                if key == "start":
                    if len(names) != 1:
                        raise GrammarError(
                            f"line {lineno}: 'start:' takes exactly one nonterminal, got {names}"
                        )
                    if start is not None:
                        raise GrammarError(
                            f"line {lineno}: a second 'start:' directive (first on line "
                            f"{start[1]}); keep one"
                        )
                    start = (names[0], lineno)
                elif not names:
                    raise GrammarError(f"line {lineno}: '{key}:' needs at least one name")
                elif key == "shared":
                    shared.extend((name, lineno) for name in names)
                else:
                    requirements.extend(names)
                last = None
                continue
            tokens = _tokenize(line, lineno)
            if tokens[0][0] == "pipe":
                if last is None:
                    raise GrammarError(
                        f"line {lineno}: a continuation line starting with '|' must follow a "
                        "production line (NAME -> ...)"
                    )
                alts = _split_alternatives(tokens[1:], last, lineno)
                productions[last].extend(alts)
            else:
                if len(tokens) < 2 or tokens[0][0] != "name" or tokens[1][0] != "arrow":
                    raise GrammarError(
                        f"line {lineno}: expected a production 'NAME -> alternatives', a "
                        f"directive ('start:', 'shared:' or 'require:') or a comment, got {line.strip()!r}"
                    )
                lhs = tokens[0][1]
                if lhs in productions:
                    raise GrammarError(
                        f"line {lineno}: nonterminal {lhs} is defined twice (first on line "
                        f"{lines[lhs]}); join its alternatives with '|'"
                    )
                if len(productions) >= MAX_NONTERMINALS:
                    raise GrammarError(
                        f"line {lineno}: the grammar has more than {MAX_NONTERMINALS:,} "
                        "nonterminals (the limit); use fewer productions"
                    )
                lines[lhs] = lineno
                alts = _split_alternatives(tokens[2:], lhs, lineno)
                productions[lhs] = alts
                last = lhs
            for alt in alts:
                n_symbols += len(alt)
                for sym in alt:
                    if not sym.terminal:
                        uses.setdefault(sym.name, lineno)
            if n_symbols > MAX_SYMBOLS:
                raise GrammarError(
                    f"line {lineno}: the grammar has more than {MAX_SYMBOLS:,} symbols in its "
                    "alternatives (the limit); use fewer or shorter alternatives"
                )
        if not productions:
            raise GrammarError("the grammar has no productions; write at least 'S -> \"op\"'")
        for name, lineno in uses.items():
            if name not in productions:
                raise GrammarError(
                    f"line {lineno}: undefined nonterminal {name}; define it with "
                    f"'{name} -> ...' or quote it if it is a terminal (\"{name}\")"
                )
        if start is None:
            start_name = next(iter(productions))
        else:
            start_name = start[0]
            if start_name not in productions:
                raise GrammarError(
                    f"line {start[1]}: start symbol {start_name} has no production; define it"
                )
        for name, lineno in shared:
            if name not in productions:
                raise GrammarError(
                    f"line {lineno}: shared nonterminal {name} has no production; define it"
                )
        return cls(productions, start_name, [n for n, _ in shared], lines, requirements)

    # ------------------------------------------------------------------ checks
    def _where(self, name: str) -> str:
        line = self._lines.get(name)
        return f"line {line}: " if line else ""

    def _check(self) -> None:
        prods = self._productions
        if len(prods) > MAX_NONTERMINALS:
            raise GrammarError(
                f"the grammar has {len(prods):,} nonterminals, more than the limit of "
                f"{MAX_NONTERMINALS:,}"
            )
        n_symbols = sum(len(alt) for alts in prods.values() for alt in alts)
        if n_symbols > MAX_SYMBOLS:
            raise GrammarError(
                f"the grammar has {n_symbols:,} symbols in its alternatives, more than the limit "
                f"of {MAX_SYMBOLS:,}"
            )
        if len(self.shared) > MAX_SHARED:
            raise GrammarError(
                f"the grammar declares {len(self.shared)} shared nonterminals, more than the "
                f"limit of {MAX_SHARED}; share fewer nonterminals"
            )
        if self.start not in prods:
            raise GrammarError(f"start symbol {self.start} has no production")
        for name in self.shared:
            if name not in prods:
                raise GrammarError(f"shared nonterminal {name} has no production")
        for lhs, alts in prods.items():
            if not alts:
                raise GrammarError(f"{self._where(lhs)}{lhs} has no alternatives")
            for alt in alts:
                if not alt:
                    raise GrammarError(f"{self._where(lhs)}empty alternative in {lhs}")
                for sym in alt:
                    if not sym.terminal and sym.name not in prods:
                        raise GrammarError(f"{self._where(lhs)}undefined nonterminal {sym.name}")
        # Productive: has a finite derivation. Worklist over alternatives: each alternative
        # waits for its nonterminal occurrences; a nonterminal is productive once one of its
        # alternatives waits for nothing (linear in the size of the grammar).
        waiting: list[int] = []
        owner: list[str] = []
        occurrences: dict[str, list[int]] = {n: [] for n in prods}
        for lhs, alts in prods.items():
            for alt in alts:
                index = len(waiting)
                owner.append(lhs)
                waiting.append(sum(1 for sym in alt if not sym.terminal))
                for sym in alt:
                    if not sym.terminal:
                        occurrences[sym.name].append(index)
        productive: set[str] = set()
        queue = [owner[i] for i, w in enumerate(waiting) if w == 0]
        while queue:
            name = queue.pop()
            if name in productive:
                continue
            productive.add(name)
            for index in occurrences[name]:
                waiting[index] -= 1
                if waiting[index] == 0 and owner[index] not in productive:
                    queue.append(owner[index])
        for lhs in prods:
            if lhs not in productive:
                raise GrammarError(
                    f"{self._where(lhs)}nonterminal {lhs} is unproductive: every alternative "
                    "needs an unproductive nonterminal (possibly itself), so no finite derivation "
                    "exists; add an alternative made of terminals"
                )
        # Reachable from the start symbol.
        reachable = {self.start}
        stack = [self.start]
        while stack:
            for alt in prods[stack.pop()]:
                for sym in alt:
                    if not sym.terminal and sym.name not in reachable:
                        reachable.add(sym.name)
                        stack.append(sym.name)
        for lhs in prods:
            if lhs not in reachable:
                raise GrammarError(
                    f"{self._where(lhs)}nonterminal {lhs} is unreachable from the start symbol "
                    f"{self.start}; use it in a production or remove it"
                )
        # Cycles of unit alternatives (A -> B): infinitely many derivations of one string.
        unit = {
            lhs: sorted({alt[0].name for alt in alts if len(alt) == 1 and not alt[0].terminal})
            for lhs, alts in prods.items()
        }
        cycle = _find_cycle(unit)
        if cycle:
            shown = cycle if len(cycle) <= 12 else [*cycle[:10], "...", cycle[-1]]
            raise GrammarError(
                f"{self._where(cycle[0])}cycle of single-nonterminal alternatives "
                f"{' -> '.join(shown)}; such a cycle derives one string in infinitely many ways"
            )
        for name in self.shared:
            if name in self.recursive:
                raise GrammarError(
                    f"{self._where(name)}shared nonterminal {name} derives itself; a shared "
                    "nonterminal must not be recursive"
                )

    def flat(self, *, unique: bool = False) -> FlatGrammar:
        """The grammar as flat arrays (``unique=True``: repeated alternatives once)."""
        cache = self.__dict__.setdefault("_flat_cache", {})
        if unique not in cache:
            index = {name: i for i, name in enumerate(self.nonterminals)}
            owner: list[int] = []
            n_terminals: list[int] = []
            length: list[int] = []
            child: list[int] = []
            child_alt: list[int] = []
            for name in self.nonterminals:
                for alt in self.alternatives(name, unique=unique):
                    a = len(owner)
                    owner.append(index[name])
                    length.append(len(alt))
                    n_terminals.append(sum(1 for s in alt if s.terminal))
                    for sym in alt:
                        if not sym.terminal:
                            child.append(index[sym.name])
                            child_alt.append(a)
            cache[unique] = FlatGrammar(
                index,
                np.asarray(owner, dtype=np.int64),
                np.asarray(n_terminals, dtype=np.int64),
                np.asarray(length, dtype=np.int64),
                np.asarray(child, dtype=np.int64),
                np.asarray(child_alt, dtype=np.int64),
            )
        return cache[unique]

    def _children(self, name: str) -> list[str]:
        """Distinct nonterminals in the alternatives of ``name``."""
        return list(
            dict.fromkeys(s.name for alt in self._productions[name] for s in alt if not s.terminal)
        )

    @cached_property
    def _components(self) -> list[list[str]]:
        """Strongly connected components of the nonterminal graph, each after every component
        it can reach (children first), by an iterative Tarjan algorithm."""
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        on_stack: set[str] = set()
        stack: list[str] = []
        components: list[list[str]] = []
        children = {n: self._children(n) for n in self._productions}
        for root in self._productions:
            if root in index:
                continue
            index[root] = low[root] = len(index)
            stack.append(root)
            on_stack.add(root)
            work: list[tuple[str, int]] = [(root, 0)]
            while work:
                node, i = work[-1]
                if i < len(children[node]):
                    work[-1] = (node, i + 1)
                    child = children[node][i]
                    if child not in index:
                        index[child] = low[child] = len(index)
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, 0))
                    elif child in on_stack:
                        low[node] = min(low[node], index[child])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
        return components

    def _descendants(self, name: str) -> set[str]:
        """Nonterminals reachable from ``name`` in one or more steps."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            for child in self._children(stack.pop()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    # ------------------------------------------------------------------ access
    def alternatives(self, symbol: str, *, unique: bool = False) -> tuple[Alternative, ...]:
        """The alternatives of ``symbol`` as listed (``unique=True``: repeats dropped)."""
        try:
            alts = self._productions[symbol]
        except KeyError:
            known = list(self.nonterminals[:20]) + (["..."] if len(self.nonterminals) > 20 else [])
            raise GrammarError(
                f"{symbol!r} is not a nonterminal of this grammar; known: {known}"
            ) from None
        return tuple(dict.fromkeys(alts)) if unique else alts

    def is_shared(self, symbol: str) -> bool:
        """Whether ``symbol`` is a shared nonterminal."""
        return symbol in self._shared_set

    @cached_property
    def _shared_set(self) -> frozenset[str]:
        return frozenset(self.shared)

    @cached_property
    def recursive(self) -> frozenset[str]:
        """Nonterminals that can derive themselves."""
        out: set[str] = set()
        for component in self._components:
            if len(component) > 1 or component[0] in self._children(component[0]):
                out.update(component)
        return frozenset(out)

    @property
    def is_finite(self) -> bool:
        """Whether the grammar has finitely many derivations (no reachable recursion)."""
        return not self.recursive

    def to_text(self) -> str:
        """Canonical text: ``start:``, ``shared:``, ``require:`` and one line per production."""
        lines = [f"start: {self.start}"]
        if self.shared:
            lines.append(f"shared: {' '.join(self.shared)}")
        if self.requirements:
            lines.append(f"require: {' '.join(self.requirements)}")
        for lhs, alts in self._productions.items():
            body = " | ".join(" ".join(str(s) for s in alt) for alt in alts)
            lines.append(f"{lhs} -> {body}")
        return "\n".join(lines) + "\n"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grammar) and self.to_text() == other.to_text()

    def __hash__(self) -> int:
        return hash(self.to_text())

    def __repr__(self) -> str:
        return (
            f"Grammar(start={self.start!r}, nonterminals={len(self.nonterminals)}, "
            f"terminals={len(self.terminals)}, shared={list(self.shared)}, "
            f"requirements={list(self.requirements)})"
        )

    # ------------------------------------------------------------------ counting
    @cached_property
    def _infinite(self) -> frozenset[str]:
        """Nonterminals with infinitely many derivations (they reach a recursive one)."""
        infinite: set[str] = set(self.recursive)
        for component in self._components:  # children first
            for name in component:
                if any(child in infinite for child in self._children(name)):
                    infinite.add(name)
        return frozenset(infinite)

    @cached_property
    def _max_heights(self) -> dict[str, int]:
        """Largest derivation depth of each nonterminal with finitely many derivations."""
        heights: dict[str, int] = {}
        for component in self._components:  # children first
            name = component[0]
            if name in self._infinite:
                continue  # finite nonterminals form singleton components
            heights[name] = 1 + max(
                max((0 if s.terminal else heights[s.name]) for s in alt)
                for alt in self._productions[name]
            )
        return heights

    @cached_property
    def _min_heights(self) -> dict[str, int]:
        """Smallest derivation depth of each nonterminal (Knuth's generalisation of Dijkstra's
        algorithm: nonterminals are settled in increasing height; an alternative is ready once
        all its nonterminals are settled, and the last one settled is its deepest child)."""
        waiting: list[int] = []
        owner: list[str] = []
        occurrences: dict[str, list[int]] = {n: [] for n in self._productions}
        heap: list[tuple[int, int, str]] = []
        for lhs, alts in self._productions.items():
            for alt in alts:
                index = len(waiting)
                owner.append(lhs)
                names = {s.name for s in alt if not s.terminal}
                waiting.append(len(names))
                for name in names:
                    occurrences[name].append(index)
                if not names:
                    heapq.heappush(heap, (1, index, lhs))
        heights: dict[str, int] = {}
        while heap:
            height, _, name = heapq.heappop(heap)
            if name in heights:
                continue
            heights[name] = height
            for index in occurrences[name]:
                waiting[index] -= 1
                if waiting[index] == 0 and owner[index] not in heights:
                    heapq.heappush(heap, (height + 1, index, owner[index]))
        return heights

    def min_height(self, symbol: str | None = None) -> int:
        """Smallest :attr:`~jahs_bo.spaces.grammar.derivation.Derivation.depth` of a derivation
        of ``symbol`` (default: the start symbol)."""
        symbol = self.start if symbol is None else symbol
        self.alternatives(symbol)  # validates the name
        return self._min_heights[symbol]

    def max_height(self, symbol: str | None = None) -> int | None:
        """Largest :attr:`~jahs_bo.spaces.grammar.derivation.Derivation.depth` of a derivation
        of ``symbol`` (default: the start symbol); ``None`` when it is unbounded (recursion)."""
        symbol = self.start if symbol is None else symbol
        self.alternatives(symbol)  # validates the name
        if symbol in self._infinite:
            return None
        return self._max_heights[symbol]

    def count(
        self, symbol: str | None = None, *, unique: bool = False, max_depth: int | None = None
    ) -> int | None:
        """Exact number of derivations from ``symbol`` (default: the start symbol).

        Shared nonterminals count once per architecture (see the module docstring). Repeated
        alternatives count once per listing; ``unique=True`` counts each distinct alternative once,
        which is the number of distinct derivation trees (and of distinct canonical strings where
        the grammar is unambiguous, as the shipped grammars are). Validity rules (``require:``)
        are not applied.

        Args:
            symbol: The nonterminal (default: the start symbol).
            unique: Count repeated alternatives once.
            max_depth: Count only derivations of depth at most ``max_depth`` (a dynamic program
                over ``(nonterminal, depth)``, linear in the grammar times ``max_depth``).

        Returns:
            A Python ``int``, or ``None`` when ``symbol`` has infinitely many derivations (only
            without ``max_depth``).

        Raises:
            GrammarError: The count has more than :data:`MAX_COUNT_BITS` bits (use
                :meth:`log10_count`), or ``max_depth`` cuts a grammar with shared nonterminals
                (not supported).
        """
        symbol, max_depth = _count_args(self, symbol, max_depth)
        if max_depth is None and symbol in self._infinite:
            return None
        log2 = _log2_count(self, symbol, unique, max_depth, bound=True)
        if log2 > MAX_COUNT_BITS:
            raise GrammarError(
                f"{symbol} has about 10^{log2 * math.log10(2):.4g} derivations, beyond the "
                f"exact-count limit of 2^{MAX_COUNT_BITS} (MAX_COUNT_BITS); use log10_count() "
                "for its magnitude"
            )
        return _count(self, symbol, unique, max_depth, _INT)

    def log10_count(
        self, symbol: str | None = None, *, unique: bool = False, max_depth: int | None = None
    ) -> float:
        """``log10`` of :meth:`count` (``inf`` for infinite grammars, ``-inf`` for none), computed
        in log space, so it has no size limit."""
        symbol, max_depth = _count_args(self, symbol, max_depth)
        if max_depth is None and symbol in self._infinite:
            return math.inf
        return _log2_count(self, symbol, unique, max_depth, bound=False) * math.log10(2)


def _find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """A cycle in a directed graph, as ``[a, b, ..., a]``, or ``None`` (iterative DFS, nodes
    and successors in the given order)."""
    state: dict[str, int] = {}
    for root in edges:
        if root in state:
            continue
        path: list[str] = [root]
        state[root] = 1
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work[-1]
            succ = edges.get(node, [])
            if i < len(succ):
                work[-1] = (node, i + 1)
                nxt = succ[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    work.append((nxt, 0))
                continue
            state[node] = 2
            path.pop()
            work.pop()
    return None
