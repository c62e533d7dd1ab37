"""Derivation trees and their canonical s-expression strings.

A :class:`Derivation` is a parse tree: a nonterminal node holds the symbols of the alternative it
was expanded with (terminal leaves and nonterminal subtrees, in order); a terminal node has no
children. The canonical string prints a nonterminal node as

* the bare terminal, when its alternative is one terminal (``OPS -> "id"`` prints ``id``);
* the string of its only child, when its alternative is one nonterminal (``A -> B``);
* otherwise ``(`` + its children's strings joined by single spaces + ``)``; for the usual
  alternatives that start with a building-block terminal this reads
  ``(Linear3 (Linear2 (Cell id zero ...) ...) ...)``.

Nonterminal names never appear in the string; :func:`parse_derivation` recovers them from the
grammar, trying alternatives in listed order (the first one that matches wins, so a repeated
alternative always parses as its first listing). Whitespace between tokens is free on input and
canonical (single spaces, none inside parentheses) on output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from jahs_bo.exceptions import GrammarError, InvalidConfigError
from jahs_bo.spaces.grammar.text import Alternative, Grammar, Symbol

__all__ = [
    "MAX_DEPTH",
    "Derivation",
    "InvalidDerivationError",
    "parse_derivation",
    "prints_uniquely",
    "shared_subtrees",
]

#: Deepest derivation tree that is built or parsed (tree code recurses once per level, so this
#: keeps it far from Python's recursion limit).
MAX_DEPTH = 200
#: Subtrees up to this many nodes keep their canonical string once printed (strings of at most
#: a few hundred characters; larger trees join their children's).
TEXT_MEMO_NODES = 64


class InvalidDerivationError(GrammarError, InvalidConfigError):
    """A derivation string is malformed or not derivable (a grammar and a config error)."""


@dataclass(frozen=True, eq=True)
class Derivation:
    """A node of a derivation tree.

    Attributes:
        symbol: The nonterminal this node expands, or the terminal it is.
        children: The expansion's symbols in order; empty for a terminal.
        n_nodes: Number of nodes (terminals and nonterminals) in the tree.
        depth: Height of the tree: ``0`` for a terminal, ``1 + max(child depths)`` otherwise.

    ``n_nodes``, ``depth`` and the hash are computed when a node is made, from its children's
    (trees are built bottom-up), so no method recurses down a deep tree to find them.
    """

    symbol: str
    children: tuple[Derivation, ...] = field(default=())

    def __post_init__(self) -> None:
        kids = self.children
        put = object.__setattr__
        if kids:  # (list comprehensions: this runs for every node the operators make)
            put(self, "n_nodes", 1 + sum([c.n_nodes for c in kids]))
            put(self, "depth", 1 + max([c.depth for c in kids]))
            put(self, "_hash", hash((self.symbol, tuple([c._hash for c in kids]))))
        else:
            put(self, "n_nodes", 1)
            put(self, "depth", 0)
            put(self, "_hash", hash((self.symbol, ())))

    if TYPE_CHECKING:
        n_nodes: int
        depth: int
        _hash: int

    @property
    def is_terminal(self) -> bool:
        """Whether this node is a terminal leaf (alternatives are never empty)."""
        return not self.children

    @property
    def head(self) -> str | None:
        """The building block of a nonterminal node: its first child when that is a terminal."""
        if self.children and self.children[0].is_terminal:
            return self.children[0].symbol
        return None

    @property
    def arguments(self) -> tuple[Derivation, ...]:
        """The children after :attr:`head` (all children when there is no head)."""
        return self.children[1:] if self.head is not None else self.children

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        # Rebuilt from its fields: the hash (of strings, salted per process) and the remembered
        # string are recomputed where the tree is unpickled, never carried over.
        return (Derivation, (self.symbol, self.children))

    def to_string(self) -> str:
        """The canonical s-expression (see the module docstring)."""
        node = self
        while len(node.children) == 1:
            node = node.children[0]
        if not node.children:
            return node.symbol
        return _text(node)

    def __str__(self) -> str:
        return self.to_string()

    def walk(self) -> Iterator[tuple[tuple[int, ...], Derivation]]:
        """All nodes in pre-order with their paths (child indices from the root)."""
        stack: list[tuple[tuple[int, ...], Derivation]] = [((), self)]
        while stack:
            path, node = stack.pop()
            yield path, node
            for i in range(len(node.children) - 1, -1, -1):
                stack.append(((*path, i), node.children[i]))

    def at(self, path: tuple[int, ...]) -> Derivation:
        """The node at ``path``."""
        node = self
        for i in path:
            node = node.children[i]
        return node

    def replace(self, path: tuple[int, ...], subtree: Derivation) -> Derivation:
        """A copy with the node at ``path`` replaced by ``subtree``."""
        if not path:
            return subtree
        i = path[0]
        child = self.children[i].replace(path[1:], subtree)
        return Derivation(self.symbol, (*self.children[:i], child, *self.children[i + 1 :]))

    def substitute(self, symbol: str, subtree: Derivation) -> Derivation:
        """A copy with every node of ``symbol`` (below the root) replaced by ``subtree``."""
        if not self.children:
            return self
        changed = False
        kids = []
        for child in self.children:
            new = subtree if child.symbol == symbol else child.substitute(symbol, subtree)
            changed |= new is not child
            kids.append(new)
        return Derivation(self.symbol, tuple(kids)) if changed else self


def _text(node: Derivation) -> str:
    """The string of ``node`` (no single-child node on top, not a terminal). Subtrees of at
    most :data:`TEXT_MEMO_NODES` nodes remember theirs: a mutation or crossover shares all
    but one path of its tree with its parents, so printing it costs that path."""
    cached = getattr(node, "_text", None)  # (not __dict__: that would build one per node)
    if cached is not None:
        return cached
    parts = ["("]
    for i, child in enumerate(node.children):
        if i:
            parts.append(" ")
        while len(child.children) == 1:
            child = child.children[0]
        parts.append(_text(child) if child.children else child.symbol)
    parts.append(")")
    text = "".join(parts)
    if node.n_nodes <= TEXT_MEMO_NODES:
        object.__setattr__(node, "_text", text)
    return text


# ---------------------------------------------------------------------- s-expressions
@dataclass
class _SExpr:
    """A parsed s-expression node: an atom (``items is None``) or a list, with its offset."""

    pos: int
    atom: str | None = None
    items: list[_SExpr] | None = None
    end: int = 0


def _read_sexpr(text: str, max_nesting: int) -> _SExpr:
    """Parse ``text`` into one s-expression; positions are 0-based character offsets.

    Lists nested deeper than ``max_nesting`` are rejected while reading.
    """
    n = len(text)
    i = 0
    stack: list[_SExpr] = []
    root: _SExpr | None = None

    def fail(msg: str, pos: int) -> InvalidDerivationError:
        snippet = text[max(0, pos - 20) : pos + 20]
        return InvalidDerivationError(f"{msg} at position {pos} (near {snippet!r})")

    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if root is not None:
            raise fail("unexpected text after the end of the derivation", i)
        if ch == "(":
            if len(stack) >= max_nesting:
                raise fail(
                    f"parentheses nested deeper than {max_nesting} levels (the depth limit)", i
                )
            stack.append(_SExpr(pos=i, items=[]))
            i += 1
        elif ch == ")":
            if not stack:
                raise fail("unbalanced ')'", i)
            node = stack.pop()
            node.end = i + 1
            if not node.items:
                raise fail("empty list '()'", node.pos)
            if stack:
                stack[-1].items.append(node)  # type: ignore[union-attr]
            else:
                root = node
            i += 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in "()":
                j += 1
            atom = _SExpr(pos=i, atom=text[i:j], end=j)
            if stack:
                stack[-1].items.append(atom)  # type: ignore[union-attr]
            else:
                root = atom
            i = j
    if stack:
        raise fail("unbalanced '(' (missing ')')", stack[-1].pos)
    if root is None:
        raise InvalidDerivationError("empty derivation string; expected e.g. '(Linear3 ...)'")
    return root


def parse_derivation(
    grammar: Grammar, text: str, symbol: str | None = None, *, max_depth: int = MAX_DEPTH
) -> Derivation:
    """Parse a canonical (or differently spaced) derivation string of ``symbol``.

    Args:
        grammar: The grammar the string must be derivable in.
        text: The s-expression.
        symbol: The nonterminal to derive from (default: the start symbol).
        max_depth: Deepest derivation tree accepted (at most :data:`MAX_DEPTH`); deeper
            strings are rejected before or while matching, never by exhausting the stack.

    Returns:
        The derivation tree.

    Raises:
        InvalidDerivationError: The string is not a well-formed s-expression, is not derivable
            from ``symbol`` (the message names the position and what was expected), or gives a
            shared nonterminal two different derivations.
    """
    if not isinstance(text, str):
        raise InvalidDerivationError(
            f"a derivation must be a string, got {type(text).__name__} {text!r}"
        )
    symbol = grammar.start if symbol is None else symbol
    max_depth = min(max_depth, MAX_DEPTH)
    root = _read_sexpr(text, max_depth)
    matcher = _Matcher(grammar, text)
    tree = matcher.match(root, symbol, max_depth)
    if tree is None:
        raise InvalidDerivationError(matcher.error(symbol, max_depth))
    _check_sharing(grammar, tree, root, text)
    return tree


class _Matcher:
    """Matches s-expressions against a grammar, memoised by (position, nonterminal, depth
    left); the depth left bounds the recursion."""

    def __init__(self, grammar: Grammar, text: str) -> None:
        self.grammar = grammar
        self.text = text
        self.memo: dict[tuple[int, str, int], Derivation | None] = {}
        self.leaves: dict[str, Derivation] = {}
        self.furthest: tuple[int, str, _SExpr] | None = None

    def leaf(self, name: str) -> Derivation:
        if name not in self.leaves:
            self.leaves[name] = Derivation(name)
        return self.leaves[name]

    def match(self, node: _SExpr, symbol: str, depth: int) -> Derivation | None:
        """The derivation of ``symbol`` at ``node`` with at most ``depth`` levels, or None."""
        if depth < 1:
            return None
        key = (node.pos, symbol, depth)
        if key in self.memo:
            return self.memo[key]
        self.memo[key] = None  # unit cycles are rejected by Grammar, this only guards
        result = self._match(node, symbol, depth)
        self.memo[key] = result
        if result is None and (self.furthest is None or node.pos >= self.furthest[0]):
            self.furthest = (node.pos, symbol, node)
        return result

    def _match(self, node: _SExpr, symbol: str, depth: int) -> Derivation | None:
        for alt in self.grammar.alternatives(symbol, unique=True):
            if len(alt) == 1:
                sym = alt[0]
                if sym.terminal:
                    if node.atom == sym.name:
                        return Derivation(symbol, (self.leaf(sym.name),))
                    continue
                sub = self.match(node, sym.name, depth - 1)
                if sub is not None:
                    return Derivation(symbol, (sub,))
                continue
            if node.items is None or len(node.items) != len(alt):
                continue
            kids: list[Derivation] = []
            for item, sym in zip(node.items, alt):
                if sym.terminal:
                    if item.atom != sym.name:
                        break
                    kids.append(self.leaf(sym.name))
                else:
                    sub = self.match(item, sym.name, depth - 1)
                    if sub is None:
                        break
                    kids.append(sub)
            else:
                return Derivation(symbol, tuple(kids))
        return None

    def error(self, root_symbol: str, max_depth: int) -> str:
        if self.furthest is None:
            return f"derivation is not derivable from {root_symbol} within depth {max_depth}"
        pos, symbol, node = self.furthest
        got = self.text[node.pos : node.end]
        if len(got) > 60:
            got = got[:57] + "..."
        alts = self.grammar.alternatives(symbol, unique=True)
        expected = " | ".join(_pattern(alt) for alt in alts[:10])
        if len(alts) > 10:
            expected += f" | ... ({len(alts) - 10} more)"
        return (
            f"derivation is not derivable from {root_symbol}: at position {pos}, {got!r} is not "
            f"a {symbol} (within depth {max_depth}); expected {symbol} -> {expected}"
        )


#: Largest grammar (distinct alternatives in all) that :func:`prints_uniquely` examines.
UNIQUE_TEST_ALTERNATIVES = 128


@lru_cache(maxsize=16)
def prints_uniquely(grammar: Grammar) -> bool:
    """Whether no two derivation trees of a nonterminal print the same string (a sufficient
    test): then :func:`parse_derivation` gives back every tree it is shown the string of.

    Two symbols *may print alike* when both are the same terminal, or a nonterminal has an
    alternative that may print like the other symbol (a one-symbol alternative prints as its
    symbol, a longer one as a list of its symbols). For pairs of nonterminals this is the
    greatest fixed point of the rule (start from "every pair may", drop pairs no pair of their
    alternatives can match), so a pair it rules out truly never prints alike. The grammar
    passes when no two distinct alternatives of any nonterminal may print alike.

    The test is quadratic in the alternatives, so grammars with more than
    :data:`UNIQUE_TEST_ALTERNATIVES` distinct alternatives in all, or whose fixed point takes
    more than that many passes, get ``False`` (the safe answer: nothing relies on it).
    """
    names = grammar.nonterminals
    if sum(len(grammar.alternatives(x, unique=True)) for x in names) > UNIQUE_TEST_ALTERNATIVES:
        return False
    alike = {(x, y) for x in names for y in names}

    def symbols_alike(s: Symbol, t: Symbol) -> bool:
        if s.terminal and t.terminal:
            return s.name == t.name
        if s.terminal:
            s, t = t, s
        if t.terminal:  # unit chains end (Grammar rejects unit cycles)
            return any(len(a) == 1 and symbols_alike(a[0], t) for a in grammar.alternatives(s.name))
        return (s.name, t.name) in alike

    def alternatives_alike(a: Alternative, b: Alternative) -> bool:
        for one, other in ((a, b), (b, a)):
            if len(one) == 1 and not one[0].terminal:
                inner = grammar.alternatives(one[0].name, unique=True)
                return any(alternatives_alike(c, other) for c in inner)
        return len(a) == len(b) and all(symbols_alike(s, t) for s, t in zip(a, b))

    changed, passes = True, 0
    while changed:
        changed, passes = False, passes + 1
        if passes > UNIQUE_TEST_ALTERNATIVES:
            return False
        for x, y in sorted(alike):
            xs, ys = grammar.alternatives(x, unique=True), grammar.alternatives(y, unique=True)
            if not any(alternatives_alike(a, b) for a in xs for b in ys):
                alike.discard((x, y))
                changed = True
    for name in names:
        alts = grammar.alternatives(name, unique=True)
        for i, a in enumerate(alts):
            if any(alternatives_alike(a, b) for b in alts[i + 1 :]):
                return False
    return True


def _pattern(alt: tuple) -> str:
    if len(alt) == 1:
        return alt[0].name
    return "(" + " ".join(s.name for s in alt) + ")"


def _check_sharing(grammar: Grammar, tree: Derivation, root: _SExpr, text: str) -> None:
    """Raise when a shared nonterminal has two different derivations in ``tree``."""
    if not grammar.shared:
        return
    first: dict[str, tuple[Derivation, int]] = {}
    stack = [(tree, root)]
    while stack:
        node, sexpr = stack.pop()
        if node.is_terminal:
            continue
        if grammar.is_shared(node.symbol):
            if node.symbol not in first:
                first[node.symbol] = (node, sexpr.pos)
            elif first[node.symbol][0] != node:
                raise InvalidDerivationError(
                    f"shared nonterminal {node.symbol} has different derivations at positions "
                    f"{first[node.symbol][1]} and {sexpr.pos}; every occurrence of a shared "
                    "nonterminal must be identical"
                )
        if len(node.children) == 1:
            stack.append((node.children[0], sexpr))
        else:
            stack.extend(zip(reversed(node.children), reversed(sexpr.items or [])))


def shared_subtrees(grammar: Grammar, tree: Derivation) -> dict[str, Derivation]:
    """The derivation of each shared nonterminal used in ``tree`` (first occurrence).

    Raises:
        InvalidDerivationError: Two occurrences of a shared nonterminal differ.
    """
    env: dict[str, Derivation] = {}
    if not grammar.shared:
        return env
    for _, node in tree.walk():
        if not node.is_terminal and grammar.is_shared(node.symbol):
            if node.symbol not in env:
                env[node.symbol] = node
            elif env[node.symbol] != node:
                raise InvalidDerivationError(
                    f"shared nonterminal {node.symbol} has two different derivations"
                )
    return env
