"""Derivations as labelled DAGs, whole and level by level.

The graph follows the convention of :mod:`jahs_bo.spaces.base` (nodes ``0..n-1`` in topological
order with a ``"label"``; ``0`` is ``"input"``, ``n-1`` is ``"output"``; operations are nodes
between the tensor nodes they connect; junctions where several paths meet are ``"sum"`` nodes, as
in :class:`~jahs_bo.spaces.nb201.NB201Cell`). A derivation is laid out between an input and an
output tensor node by these rules, applied to each nonterminal node (single-child nodes are
transparent, so ``OPS -> "id"`` is just the ``id`` terminal):

* a terminal becomes one operation node labelled with its name, except the zero operations
  (``"zero"``, ``"none"``), which leave no connection (unless pruning is switched off: then they
  are ordinary nodes and nothing is removed);
* ``(LinearK c1 .. cK)``: the children in sequence, joined by new ``"sum"`` tensor nodes;
* ``(ResidualK c1 .. cK skip)``: ``c1 .. cK`` in sequence as the main path and ``skip`` as a
  parallel path between the same two tensor nodes (the output node sums both);
* ``(Cell o1 .. o6)``: an NB201 cell: two new ``"sum"`` nodes make the four cell nodes
  ``n0`` (input) .. ``n3`` (output), and ``o1 .. o6`` connect ``n0->n1, n0->n2, n1->n2, n0->n3,
  n1->n3, n2->n3``;
* any other alternative ``(h c1 .. cm)`` whose first symbol is a terminal ``h``: ``h`` as an
  operation node followed by the children, in sequence; an alternative that starts with a
  nonterminal: its children in sequence.

Finally every node that is not on a path from input to output (because of zero operations) is
removed (as :class:`~jahs_bo.spaces.nb201.NB201Cell` does; an architecture whose output no longer
depends on its input becomes the two-node graph ``input``, ``output``), and nodes are numbered by a topological order that breaks ties by creation order, so the
graph of a string is always the same.

Levels (for the hierarchical WL kernel): a *block* is a nonterminal node with two or more
children; its level is the number of blocks above it (the root block has level 0). Graph ``0`` of
:func:`derivation_graphs` is the whole architecture (the rules above); graph ``l >= 1`` is the
architecture *folded at level l*: blocks of level ``l`` are drawn as a single operation node
labelled with their building block (their head terminal, e.g. ``"Cell"`` or ``"Linear3"``; the
nonterminal name when there is none), blocks above are expanded as usual. In the hierarchical
NB201 grammar, graph 1 is the chain of stages (``D1``/``D0`` blocks as single nodes), graph 2
shows the stages' parts (``C`` and ``DOWN`` blocks and the cells directly under ``D0`` as single
nodes), graph 3 shows every cell below a ``C`` or ``DOWN`` as a ``"Cell"`` node, and graphs 4 and
5 open the remaining cells and then their conv blocks. A derivation with fewer levels than the domain's ``n_levels`` repeats its
whole graph for the missing ones, so every architecture has the same number of graphs.
"""

from __future__ import annotations

import heapq
import re
from functools import lru_cache

import networkx as nx
import numpy as np

from jahs_bo.exceptions import GrammarError
from jahs_bo.spaces.grammar.derivation import Derivation
from jahs_bo.spaces.grammar.text import Grammar

__all__ = [
    "CELL_EDGES",
    "ZERO_OPS",
    "check_topologies",
    "derivation_connected",
    "derivation_graph",
    "derivation_graphs",
    "folded_label",
    "graph_labels",
    "layout",
    "max_block_level",
    "skip_units",
]

#: Terminals that mean "no connection".
ZERO_OPS: frozenset[str] = frozenset({"zero", "none"})
#: The six NB201 cell edges ``(k, j)`` (operation on ``j -> k``), in child order of ``"Cell"``.
CELL_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
_SPECIAL = ("input", "output", "sum")
#: Subtrees whose connectivity :func:`derivation_connected` remembers (least recently used
#: dropped).
CONNECTED_CACHE_SIZE = 1 << 16
_LINEAR = re.compile(r"Linear(\d+)")
_RESIDUAL = re.compile(r"Residual(\d+)")


@lru_cache(maxsize=1024)
def _arity(head: str | None) -> tuple[str, int] | None:
    """``(kind, number of arguments)`` of a topology head, or ``None`` for other heads
    (remembered: a grammar has few heads, and every block laid out asks)."""
    if head is None:
        return None
    if m := _LINEAR.fullmatch(head):
        return "linear", int(m.group(1))
    if m := _RESIDUAL.fullmatch(head):
        return "residual", int(m.group(1)) + 1
    if head == "Cell":
        return "cell", len(CELL_EDGES)
    return None


def check_topologies(grammar: Grammar) -> None:
    """Check that every ``LinearK``/``ResidualK``/``Cell`` alternative has the right arity.

    Raises:
        GrammarError: An alternative gives a topology the wrong number of children.
    """
    for lhs in grammar.nonterminals:
        for alt in grammar.alternatives(lhs):
            if len(alt) < 2 or not alt[0].terminal:
                continue
            spec = _arity(alt[0].name)
            if spec is not None and spec[1] != len(alt) - 1:
                raise GrammarError(
                    f"in {lhs} -> {' '.join(str(s) for s in alt)}: {alt[0].name} takes "
                    f"{spec[1]} children, got {len(alt) - 1}"
                )


def graph_labels(grammar: Grammar, prune: bool = True) -> list[str]:
    """The fixed, ordered vocabulary of node labels of a grammar's graphs."""
    labels = dict.fromkeys(_SPECIAL)
    for name in grammar.terminals:
        if not prune or name not in ZERO_OPS:
            labels.setdefault(name)
    for lhs in grammar.nonterminals:
        if any(len(alt) > 1 and not alt[0].terminal for alt in grammar.alternatives(lhs)):
            labels.setdefault(lhs)
    return list(labels)


def max_block_level(grammar: Grammar, max_depth: int | None = None) -> int:
    """Largest number of nested blocks on a root-to-leaf path of any derivation of the start
    symbol with depth at most ``max_depth`` (``None``: unbounded, finite grammars only)."""
    if max_depth is None:
        if not grammar.is_finite:
            raise GrammarError("a recursive grammar needs max_depth to bound its levels")
        height = grammar.max_height()
        assert height is not None
        max_depth = height
    # feasible[X]: X has a derivation of depth <= d; blocks[X]: the most nested blocks among
    # them. One vectorised step per depth level (see Grammar.flat).
    flat = grammar.flat()
    n = len(flat.index)
    opens_block = (flat.length > 1).astype(np.int64)
    feasible = np.zeros(n, dtype=bool)
    blocks = np.zeros(n, dtype=np.int64)
    for _ in range(max_depth):
        missing = np.bincount(
            flat.child_alt, weights=~feasible[flat.child], minlength=flat.n_alternatives
        )
        ready = missing == 0
        inner = np.zeros(flat.n_alternatives, dtype=np.int64)
        np.maximum.at(inner, flat.child_alt, blocks[flat.child])
        best = np.full(n, -1, dtype=np.int64)
        np.maximum.at(best, flat.owner[ready], (inner + opens_block)[ready])
        new_feasible, new_blocks = best >= 0, np.maximum(best, 0)
        if np.array_equal(new_feasible, feasible) and np.array_equal(new_blocks, blocks):
            break  # a fixed point: deeper limits change nothing
        feasible, blocks = new_feasible, new_blocks
    return int(blocks[flat.index[grammar.start]])


def skip_units(node: Derivation) -> Derivation:
    """The first node below ``node`` (itself included) that has not exactly one child (nodes
    with one child are transparent in the graphs)."""
    while len(node.children) == 1:
        node = node.children[0]
    return node


def folded_label(node: Derivation) -> str:
    """The label of a block drawn as one node: its head terminal, else its nonterminal."""
    return node.head if node.head is not None else node.symbol


def layout(node: Derivation) -> tuple[int, list[tuple[Derivation, int, int]]]:
    """How a block (a nonterminal node with two or more children) is laid out.

    Returns:
        ``(n, parts)``: the block uses ``n`` tensor nodes, ``0`` its input, ``1`` its output and
        ``2..n-1`` new ``"sum"`` nodes in order of creation; ``parts`` lists ``(child, a, b)``:
        ``child`` is laid out from tensor node ``a`` to ``b``, in the order children are built
        (the module docstring's rules).
    """
    kids = node.children
    n_points, plan = _plan(kids[0].symbol if not kids[0].children else None, len(kids))
    return n_points, [(kids[i], a, b) for i, a, b in plan]


@lru_cache(maxsize=1024)
def _plan(head: str | None, n_children: int) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """:func:`layout` by child index: ``(n, ((child index, a, b), ...))`` for a block with
    this head terminal (``None``: none) and number of children (the head included);
    remembered, as a grammar has few kinds of block and every block laid out asks."""
    first = 1 if head is not None else 0  # the arguments follow the head
    args = list(range(first, n_children))
    spec = _arity(head)
    kind = spec[0] if spec is not None and spec[1] == len(args) else None
    if kind == "cell":
        ends = (0, 2, 3, 1)  # cell nodes n0..n3 -> tensor nodes
        return 4, tuple((arg, ends[j], ends[k]) for (k, j), arg in zip(CELL_EDGES, args))
    if kind == "residual":
        n, parts = _chain(args[:-1])
        return n, (*parts, (args[-1], 0, 1))
    if kind == "linear":
        return _chain(args)
    return _chain(list(range(n_children)))  # the head terminal first, as an operation


def _chain(items: list[int]) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """Children ``items`` in sequence from tensor node ``0`` to ``1`` through new nodes
    ``2, 3, ...``."""
    points = [0, *range(2, len(items) + 1), 1]
    return len(items) + 1, tuple((item, points[i], points[i + 1]) for i, item in enumerate(items))


class _Builder:
    def __init__(self, fold_level: int | None, prune: bool) -> None:
        self.fold_level = fold_level
        self.prune = prune
        self.labels: list[str] = ["input", "output"]
        self.edges: list[tuple[int, int]] = []

    def point(self) -> int:
        self.labels.append("sum")
        return len(self.labels) - 1

    def op(self, label: str, src: int, dst: int) -> None:
        if self.prune and label in ZERO_OPS:
            return
        self.labels.append(label)
        node = len(self.labels) - 1
        self.edges.append((src, node))
        self.edges.append((node, dst))

    def build(self, node: Derivation, src: int, dst: int, level: int) -> None:
        node = skip_units(node)
        if node.is_terminal:
            self.op(node.symbol, src, dst)
            return
        if level == self.fold_level:
            self.op(folded_label(node), src, dst)
            return
        n_points, parts = layout(node)
        ends = [src, dst, *(self.point() for _ in range(n_points - 2))]
        for child, a, b in parts:
            self.build(child, ends[a], ends[b], level + 1)

    def graph(self) -> nx.DiGraph:
        n = len(self.labels)
        succ: list[list[int]] = [[] for _ in range(n)]
        pred: list[list[int]] = [[] for _ in range(n)]
        for u, v in self.edges:
            succ[u].append(v)
            pred[v].append(u)
        if self.prune:
            keep = _reachable(succ, 0) & _reachable(pred, 1)
            keep |= {0, 1}
        else:
            keep = set(range(n))
        # Topological order that always takes the smallest-numbered ready node (Kahn's
        # algorithm with a heap), i.e. ties broken by creation order.
        indeg = {v: sum(1 for u in pred[v] if u in keep) for v in keep}
        ready = [v for v, d in indeg.items() if d == 0]
        heapq.heapify(ready)
        order: list[int] = []
        while ready:
            u = heapq.heappop(ready)
            order.append(u)
            for v in succ[u]:
                if v in keep:
                    indeg[v] -= 1
                    if indeg[v] == 0:
                        heapq.heappush(ready, v)
        if order[-1] != 1:  # the output is a sink, so it may always go last
            order.remove(1)
            order.append(1)
        index = {old: new for new, old in enumerate(order)}
        graph = nx.DiGraph()
        graph.add_nodes_from((index[old], {"label": self.labels[old]}) for old in order)
        graph.add_edges_from(
            sorted((index[u], index[v]) for u, v in self.edges if u in keep and v in keep)
        )
        return graph


def _reachable(adjacency: list[list[int]], start: int) -> set[int]:
    """Nodes reachable from ``start`` (excluded unless on a cycle) along ``adjacency``."""
    seen: set[int] = set()
    stack = list(adjacency[start])
    while stack:
        u = stack.pop()
        if u not in seen:
            seen.add(u)
            stack.extend(adjacency[u])
    return seen


def derivation_graph(
    tree: Derivation, fold_level: int | None = None, prune: bool = True
) -> nx.DiGraph:
    """The labelled DAG of ``tree``.

    Args:
        tree: The derivation.
        fold_level: Draw the blocks of this level as single nodes (``None``: none).
        prune: Drop zero operations and every node off an input-to-output path; with
            ``False`` zero operations are ordinary nodes labelled with their name.
    """
    builder = _Builder(fold_level, prune)
    builder.build(tree, 0, 1, 0)
    return builder.graph()


def derivation_connected(tree: Derivation) -> bool:
    """Whether the architecture's output depends on its input: the graph of ``tree`` (as
    :func:`derivation_graph` builds it, zero operations leaving no connection) has a path from
    the input node to the output node."""
    return _connects(skip_units(tree))


@lru_cache(maxsize=CONNECTED_CACHE_SIZE)
def _connects(node: Derivation) -> bool:
    """:func:`derivation_connected` of a node without single-child links on top, cached (the
    operators test every proposal, and proposals share most subtrees with their parents)."""
    if node.is_terminal:
        return node.symbol not in ZERO_OPS
    n_points, parts = layout(node)
    succ: list[list[int]] = [[] for _ in range(n_points)]
    for child, a, b in parts:
        if _connects(skip_units(child)):
            succ[a].append(b)
    return 1 in _reachable(succ, 0)


def derivation_graphs(tree: Derivation, n_levels: int, prune: bool = True) -> list[nx.DiGraph]:
    """``[whole graph, folded at level 1, ..., folded at level n_levels - 1]``."""
    whole = derivation_graph(tree, None, prune)
    graphs = [whole]
    deepest = _block_levels(tree)
    for level in range(1, n_levels):
        graphs.append(derivation_graph(tree, level, prune) if level < deepest else whole.copy())
    return graphs


def _block_levels(tree: Derivation) -> int:
    """Most nested blocks on a root-to-leaf path of ``tree``."""
    best = 0
    stack = [(tree, 0)]
    while stack:
        node, level = stack.pop()
        while len(node.children) == 1:
            node = node.children[0]
        if node.is_terminal:
            best = max(best, level)
            continue
        stack.extend((child, level + 1) for child in node.children)
    return best
