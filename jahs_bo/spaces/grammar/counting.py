"""Counting the derivations of a :class:`~jahs_bo.spaces.grammar.text.Grammar`.

Exact big integers or ``log2`` floats behind one arithmetic (:class:`_Arithmetic`); shared
nonterminals count once per architecture (skeleton polynomials keyed by the shared symbols they
use); ``max_depth`` counts by a dynamic program over ``(nonterminal, depth)``. The public entry
points are :meth:`Grammar.count` and :meth:`Grammar.log10_count`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import GrammarError

if TYPE_CHECKING:
    from jahs_bo.spaces.grammar.text import Grammar


def _count_args(g: Grammar, symbol: str | None, max_depth: int | None) -> tuple[str, int | None]:
    symbol = g.start if symbol is None else symbol
    g.alternatives(symbol)  # validates the name
    if max_depth is not None:
        if not isinstance(max_depth, int) or max_depth < 0:
            raise GrammarError(f"max_depth must be a non-negative int, got {max_depth!r}")
        height = g.max_height(symbol)
        if height is not None and max_depth >= height:
            max_depth = None  # the limit cuts nothing
        elif g.shared:
            raise GrammarError(
                "counting derivations within max_depth is not supported for grammars with "
                f"shared nonterminals ({list(g.shared)}) when the limit cuts derivations"
            )
    return symbol, max_depth


def _log2_count(
    g: Grammar, symbol: str, unique: bool, max_depth: int | None, *, bound: bool
) -> float:
    """``log2`` of the count in floating point. ``bound=True``: an upper bound that treats
    shared nonterminals as ordinary ones (cheap; used to refuse huge exact counts)."""
    if bound and g.shared:
        plain = type(g)(g._productions, g.start, requirements=g.requirements)
        return _log2_count(plain, symbol, unique, max_depth, bound=False)
    return _count(g, symbol, unique, max_depth, _LOG2)


def _count(g: Grammar, symbol: str, unique: bool, max_depth: int | None, ar: _Arithmetic) -> Any:
    if max_depth is not None:
        return _count_within_depth(g, symbol, unique, max_depth, ar)
    polys = _skeletons(g, symbol, unique, ar)
    shared_polys = {name: polys[name] for name in g.shared if name in polys}
    memo: dict[tuple[frozenset[str], frozenset[str]], Any] = {}
    done0 = frozenset({symbol}) if g.is_shared(symbol) else frozenset()

    def closure(pending: frozenset[str], done: frozenset[str]) -> Any:
        # Ways to choose one derivation for each shared symbol that ends up being used;
        # recursion depth is bounded by MAX_SHARED.
        if not pending:
            return ar.one
        key = (pending, done)
        if key not in memo:
            name = min(pending)
            rest, done2 = pending - {name}, done | {name}
            memo[key] = ar.sum(
                ar.mul(n, closure((rest | used) - done2, done2))
                for used, n in shared_polys[name].items()
            )
        return memo[key]

    return ar.sum(ar.mul(n, closure(used - done0, done0)) for used, n in polys[symbol].items())


def _skeletons(
    g: Grammar, symbol: str, unique: bool, ar: _Arithmetic
) -> dict[str, dict[frozenset[str], Any]]:
    """Skeleton counts of ``symbol`` and its descendants: derivations with shared
    nonterminals left unexpanded, keyed by the set of shared nonterminals they use.
    Children are processed before parents (finite part of the grammar only)."""
    needed = {symbol, *g._descendants(symbol)}
    polys: dict[str, dict[frozenset[str], Any]] = {}
    for component in g._components:  # children first
        name = component[0]
        if name not in needed:
            continue  # needed nonterminals are finite, so their components are singletons
        total: dict[frozenset[str], Any] = {}
        for alt in g.alternatives(name, unique=unique):
            acc: dict[frozenset[str], Any] = {frozenset(): ar.one}
            for sym in alt:
                if sym.terminal:
                    continue
                part = {frozenset({sym.name}): ar.one} if g.is_shared(sym.name) else polys[sym.name]
                acc = _convolve(acc, part, ar)
            for used, n in acc.items():
                total[used] = ar.add(total[used], n) if used in total else n
        polys[name] = total
    return polys


def _count_within_depth(
    g: Grammar, symbol: str, unique: bool, max_depth: int, ar: _Arithmetic
) -> Any:
    """``table[X]`` after ``d`` rounds: derivations of ``X`` with depth at most ``d`` (no
    shared nonterminals, see :func:`_count_args`). In log space one vectorised step per
    round; exact integers (only below :data:`MAX_COUNT_BITS`) one Python pass per round."""
    if ar.log:
        flat = g.flat(unique=unique)
        table = np.full(len(g.nonterminals), -np.inf)
        for _ in range(max_depth):
            row = np.full_like(table, -np.inf)
            np.logaddexp2.at(row, flat.owner, flat.alternative_sums(table))
            if np.array_equal(row, table):
                break
            table = row
        return float(table[flat.index[symbol]])
    needed = [symbol, *g._descendants(symbol)]
    alts = {n: g.alternatives(n, unique=unique) for n in needed}
    table: dict[str, Any] = {n: ar.zero for n in needed}
    for _ in range(max_depth):
        new = {}
        for name in needed:
            total = ar.zero
            for alt in alts[name]:
                term = ar.one
                for sym in alt:
                    if not sym.terminal:
                        term = ar.mul(term, table[sym.name])
                        if term == ar.zero:
                            break
                total = ar.add(total, term)
            new[name] = total
        if new == table:
            break  # a fixed point: deeper limits add nothing
        table = new
    return table[symbol]


class _Arithmetic:
    """Exact integers or floating-point ``log2`` values, behind the same four operations."""

    def __init__(self, log: bool) -> None:
        self.log = log
        self.zero: Any = -math.inf if log else 0
        self.one: Any = 0.0 if log else 1

    def add(self, a: Any, b: Any) -> Any:
        if not self.log:
            return a + b
        if a == -math.inf:
            return b
        if b == -math.inf:
            return a
        hi, lo = (a, b) if a >= b else (b, a)
        if hi == math.inf:
            return hi
        return hi + math.log2(1.0 + 2.0 ** (lo - hi))

    def mul(self, a: Any, b: Any) -> Any:
        if not self.log:
            return a * b
        if a == -math.inf or b == -math.inf:
            return -math.inf
        return a + b

    def sum(self, values: Iterable[Any]) -> Any:
        total = self.zero
        for v in values:
            total = self.add(total, v)
        return total


_INT = _Arithmetic(log=False)
_LOG2 = _Arithmetic(log=True)


def _convolve(
    a: dict[frozenset[str], Any], b: dict[frozenset[str], Any], ar: _Arithmetic
) -> dict[frozenset[str], Any]:
    """Product of two skeleton-count tables (sets of used shared symbols combine by union)."""
    out: dict[frozenset[str], Any] = {}
    for ua, na in a.items():
        for ub, nb in b.items():
            key = ua | ub
            term = ar.mul(na, nb)
            out[key] = ar.add(out[key], term) if key in out else term
    return out
