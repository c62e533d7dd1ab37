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
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from jahs_bo.exceptions import GrammarError

__all__ = ["Grammar", "Symbol"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TERMINAL_BODY = re.compile(r'[^\s()"#|]+')
_DIRECTIVE = re.compile(r"^\s*(start|shared|require)\s*:(.*)$")


@dataclass(frozen=True)
class Symbol:
    """One symbol of an alternative: a terminal (quoted in the text) or a nonterminal."""

    name: str
    terminal: bool

    def __str__(self) -> str:
        return f'"{self.name}"' if self.terminal else self.name


Alternative = tuple[Symbol, ...]


def _tokenize(line: str, lineno: int) -> list[tuple[str, str, int]]:
    """Split one line (comment already removed) into ``(kind, text, column)`` tokens.

    Kinds: ``name``, ``terminal``, ``arrow``, ``pipe``.
    """
    tokens: list[tuple[str, str, int]] = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch.isspace():
            i += 1
        elif line.startswith("->", i):
            tokens.append(("arrow", "->", i + 1))
            i += 2
        elif ch == "|":
            tokens.append(("pipe", "|", i + 1))
            i += 1
        elif ch == '"':
            end = line.find('"', i + 1)
            if end < 0:
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: unterminated terminal {line[i:]!r}; "
                    'close it with a double quote, as in "conv3x3"'
                )
            body = line[i + 1 : end]
            if not _TERMINAL_BODY.fullmatch(body):
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: invalid terminal {line[i : end + 1]!r}; a "
                    "terminal is a non-empty word without whitespace, parentheses, quotes, # or |"
                )
            tokens.append(("terminal", body, i + 1))
            i = end + 1
        else:
            match = _NAME.match(line, i)
            if match is None:
                raise GrammarError(
                    f"line {lineno}, column {i + 1}: unexpected character {ch!r}; expected a "
                    'nonterminal name, a quoted terminal, "->" or "|"'
                )
            tokens.append(("name", match.group(), i + 1))
            i = match.end()
    return tokens


def _strip_comment(line: str) -> str:
    """Remove a ``#`` comment (a ``#`` inside quotes is rejected later by the tokenizer)."""
    in_quote = False
    for i, ch in enumerate(line):
        if ch == '"':
            in_quote = not in_quote
        elif ch == "#" and not in_quote:
            return line[:i]
    return line


def _split_alternatives(
    tokens: list[tuple[str, str, int]], lhs: str, lineno: int
) -> list[Alternative]:
    """Turn the tokens right of ``->`` into alternatives; reject empty ones."""
    alternatives: list[Alternative] = []
    current: list[Symbol] = []
    for kind, text, col in [*tokens, ("pipe", "|", -1)]:
        if kind == "pipe":
            if not current:
                where = "at the end of the line" if col < 0 else f"at column {col}"
                raise GrammarError(
                    f"line {lineno}: empty alternative {where} in the production of {lhs}; "
                    "every alternative needs at least one symbol (remove the extra '|')"
                )
            alternatives.append(tuple(current))
            current = []
        elif kind == "arrow":
            raise GrammarError(
                f"line {lineno}, column {col}: a second '->' in the production of {lhs}; "
                "write one production per line"
            )
        else:
            current.append(Symbol(text, terminal=(kind == "terminal")))
    return alternatives


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
                lines[lhs] = lineno
                productions[lhs] = _split_alternatives(tokens[2:], lhs, lineno)
                last = lhs
            for alt in productions[last]:
                for sym in alt:
                    if not sym.terminal:
                        uses.setdefault(sym.name, lineno)
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
        # Productive: has a finite derivation (least fixed point).
        productive: set[str] = set()
        changed = True
        while changed:
            changed = False
            for lhs, alts in prods.items():
                if lhs not in productive and any(
                    all(s.terminal or s.name in productive for s in alt) for alt in alts
                ):
                    productive.add(lhs)
                    changed = True
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
            lhs: {alt[0].name for alt in alts if len(alt) == 1 and not alt[0].terminal}
            for lhs, alts in prods.items()
        }
        cycle = _find_cycle(unit)
        if cycle:
            raise GrammarError(
                f"{self._where(cycle[0])}cycle of single-nonterminal alternatives "
                f"{' -> '.join(cycle)}; such a cycle derives one string in infinitely many ways"
            )
        for name in self.shared:
            if name in self._descendants(name):
                raise GrammarError(
                    f"{self._where(name)}shared nonterminal {name} derives itself; a shared "
                    "nonterminal must not be recursive"
                )

    def _descendants(self, name: str) -> set[str]:
        """Nonterminals reachable from ``name`` in one or more steps."""
        seen: set[str] = set()
        stack = [name]
        while stack:
            for alt in self._productions[stack.pop()]:
                for sym in alt:
                    if not sym.terminal and sym.name not in seen:
                        seen.add(sym.name)
                        stack.append(sym.name)
        return seen

    # ------------------------------------------------------------------ access
    def alternatives(self, symbol: str, *, unique: bool = False) -> tuple[Alternative, ...]:
        """The alternatives of ``symbol`` as listed (``unique=True``: repeats dropped)."""
        try:
            alts = self._productions[symbol]
        except KeyError:
            raise GrammarError(
                f"{symbol!r} is not a nonterminal of this grammar; known: {list(self.nonterminals)}"
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
        return frozenset(n for n in self.nonterminals if n in self._descendants(n))

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
    def count(self, symbol: str | None = None, *, unique: bool = False) -> int | None:
        """Exact number of derivations from ``symbol`` (default: the start symbol).

        Shared nonterminals count once per architecture (see the module docstring). Repeated
        alternatives count once per listing; ``unique=True`` counts each distinct alternative once,
        which is the number of distinct derivation trees (and of distinct canonical strings where
        the grammar is unambiguous, as the shipped grammars are).

        Returns:
            A Python ``int``, or ``None`` when ``symbol`` has infinitely many derivations.
        """
        symbol = self.start if symbol is None else symbol
        self.alternatives(symbol)  # validates the name
        if symbol in self.recursive or self._descendants(symbol) & self.recursive:
            return None
        polys: dict[str, dict[frozenset[str], int]] = {}
        root = self._expand(symbol, unique, polys)
        memo: dict[tuple[frozenset[str], frozenset[str]], int] = {}
        done = frozenset({symbol}) if self.is_shared(symbol) else frozenset()

        def closure(pending: frozenset[str], done: frozenset[str]) -> int:
            # Ways to choose one derivation for each shared symbol that ends up being used.
            if not pending:
                return 1
            key = (pending, done)
            if key not in memo:
                name = min(pending)
                rest, done2 = pending - {name}, done | {name}
                memo[key] = sum(
                    n * closure((rest | used) - done2, done2)
                    for used, n in self._expand(name, unique, polys).items()
                )
            return memo[key]

        return sum(n * closure(used - done, done) for used, n in root.items())

    def log10_count(self, symbol: str | None = None, *, unique: bool = False) -> float:
        """``log10`` of :meth:`count` (``inf`` for infinite grammars)."""
        n = self.count(symbol, unique=unique)
        return math.inf if n is None else math.log10(n)

    def _expand(
        self, symbol: str, unique: bool, polys: dict[str, dict[frozenset[str], int]]
    ) -> dict[frozenset[str], int]:
        """Skeleton counts of ``symbol``: derivations with shared nonterminals left unexpanded,
        keyed by the set of shared nonterminals they use."""
        if symbol in polys:
            return polys[symbol]
        total: dict[frozenset[str], int] = {}
        for alt in self.alternatives(symbol, unique=unique):
            acc: dict[frozenset[str], int] = {frozenset(): 1}
            for sym in alt:
                if sym.terminal:
                    continue
                if self.is_shared(sym.name):
                    part = {frozenset({sym.name}): 1}
                else:
                    part = self._expand(sym.name, unique, polys)
                acc = _convolve(acc, part)
            for used, n in acc.items():
                total[used] = total.get(used, 0) + n
        polys[symbol] = total
        return total


def _convolve(
    a: dict[frozenset[str], int], b: dict[frozenset[str], int]
) -> dict[frozenset[str], int]:
    """Product of two skeleton-count tables (sets of used shared symbols combine by union)."""
    out: dict[frozenset[str], int] = {}
    for ua, na in a.items():
        for ub, nb in b.items():
            key = ua | ub
            out[key] = out.get(key, 0) + na * nb
    return out


def _find_cycle(edges: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle in a small directed graph, as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
