"""Weisfeiler-Lehman histograms of derivations, assembled subtree by subtree.

The WL kernels need, per level of :func:`~jahs_bo.spaces.grammar.graphs.derivation_graphs`, the
histogram :func:`jahs_bo.encoding.wl.wl_features` of the graph. Building the graphs is most of
the cost of a grammar suggestion (about 1,000 new architectures of a few hundred nodes each),
yet architectures share most of their subtrees: a mutation changes one site, conv blocks and
cells recur. With at most one WL iteration a node's feature depends only on its own label and
its neighbours' labels, and pruning only on which parts connect, so the histogram is assembled
from summaries of subtrees without building a graph:

* a *fragment* is a subtree laid out between its two end tensor nodes (see
  :func:`~jahs_bo.spaces.grammar.graphs.layout`); it is *connected* when its graph has a path
  between them. Pruning keeps a node inside a fragment iff the fragment is connected, the node
  lies on such a path and the fragment's ends are kept (which its parent decides);
* a fragment's :class:`Summary` holds the features of its kept inside nodes, except the
  iteration-1 features of *open* nodes (next to an end, whose label the fragment does not
  know: ``"sum"`` for the tensor nodes a parent makes, ``"input"``/``"output"`` at the root);
  open nodes carry their inside neighbours' labels until the parent closes them.

Summaries are cached per ``(subtree, fold)`` in a bounded LRU map, so a mutated architecture
costs only the summaries on the path to its changed site. Histograms equal those of the graphs
(the tests compare them on random derivations); only the order of their keys differs.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import NamedTuple

from jahs_bo.encoding.wl import Direction, compress_label
from jahs_bo.exceptions import InputError
from jahs_bo.spaces.grammar.derivation import Derivation
from jahs_bo.spaces.grammar.graphs import ZERO_OPS, folded_label, layout, skip_units

__all__ = ["SUMMARY_CACHE_SIZE", "Summary", "WLComposer"]

#: Fragment summaries a :class:`WLComposer` keeps (least recently used dropped).
SUMMARY_CACHE_SIZE = 20_000


class _Open(NamedTuple):
    """A kept node next to an end of its fragment: its label, the labels of its neighbours
    known so far, and which ends it still touches."""

    label: str
    preds: tuple[str, ...]
    succs: tuple[str, ...]
    at_src: bool
    at_dst: bool


class Summary(NamedTuple):
    """What the WL histogram needs of a fragment.

    Attributes:
        connected: Whether the fragment connects its ends (if not, nothing inside is kept).
        counts: Features ``"<t>:<label>"`` of the kept inside nodes: iteration 0 of all, 1 of
            the closed ones.
        open: The open nodes.
        height: Most nested blocks on a path down the subtree (``0`` for a terminal).
    """

    connected: bool
    counts: dict[str, int]
    open: tuple[_Open, ...]
    height: int


_DEAD = Summary(False, {}, (), 0)


class WLComposer:
    """WL histograms of a grammar domain's graph levels, from cached fragment summaries.

    Args:
        iterations: WL refinement steps, ``0`` or ``1`` (deeper features see past a fragment's
            ends; use the graphs for those).
        direction: Neighbourhood of the refinement (see :mod:`jahs_bo.encoding.wl`).
        prune: Whether zero operations leave no connection (the domain's ``prune``).
        max_entries: Summaries kept (least recently used dropped), and node features memoised
            (all dropped when full).

    Raises:
        InputError: ``iterations`` is not ``0`` or ``1``, or ``direction`` is unknown.
    """

    def __init__(
        self,
        iterations: int,
        direction: Direction,
        prune: bool = True,
        max_entries: int = SUMMARY_CACHE_SIZE,
    ) -> None:
        if iterations not in (0, 1):
            raise InputError(f"WLComposer handles 0 or 1 WL iterations, got {iterations}")
        if direction not in ("in", "out", "both"):
            raise InputError(f"WL direction must be 'in', 'out' or 'both', got {direction!r}")
        self.iterations = iterations
        self.direction = direction
        self.prune = prune
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[Derivation, int | None], Summary] = OrderedDict()
        self._ops: dict[str, Summary] = {}
        self._names: dict[tuple[str, tuple[str, ...], tuple[str, ...]], str] = {}

    def __len__(self) -> int:
        """Number of cached summaries."""
        return len(self._cache)

    def histograms(self, tree: Derivation, n_levels: int) -> list[Counter[str]]:
        """The WL histograms of the ``n_levels`` graphs of
        :func:`~jahs_bo.spaces.grammar.graphs.derivation_graphs` (level 0 whole, level ``l``
        folded at block level ``l``)."""
        root = skip_units(tree)
        return [self._root(self.summary(root, level or None)) for level in range(n_levels)]

    def summary(self, node: Derivation, fold: int | None) -> Summary:
        """The summary of ``node`` (no single-child node on top) with the blocks ``fold``
        levels below it drawn as single nodes (``None``: none; ``0``: ``node`` itself)."""
        if not node.children:  # a terminal
            return self._op(node.symbol)
        key = (node, fold)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        if fold is None:
            result = self._compose(node, None)
        else:
            whole = self.summary(node, None)
            if fold >= whole.height:  # no block that deep: nothing to fold
                return whole
            result = (
                self._op(folded_label(node))
                if fold == 0
                else self._compose(node, fold, whole.height)
            )
        self._cache[key] = result
        if len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return result

    # ------------------------------------------------------------------ pieces
    def _feature(self, label: str, preds: tuple[str, ...], succs: tuple[str, ...]) -> str:
        """The iteration-1 feature of a node (the text :func:`~jahs_bo.encoding.wl.
        wl_node_labels` compresses), memoised (few neighbourhoods recur over and over)."""
        key = (label, preds, succs)
        feature = self._names.get(key)
        if feature is None:
            parts = [label]
            if self.direction in ("in", "both"):
                parts.append("<" + ",".join(sorted(preds)))
            if self.direction in ("out", "both"):
                parts.append(">" + ",".join(sorted(succs)))
            feature = "1:" + compress_label("|".join(parts))
            if len(self._names) >= self.max_entries:
                self._names.clear()
            self._names[key] = feature
        return feature

    def _close(self, counts: dict[str, int], label: str, preds: tuple, succs: tuple) -> None:
        if self.iterations:
            feature = self._names.get((label, preds, succs)) or self._feature(label, preds, succs)
            counts[feature] = counts.get(feature, 0) + 1

    def _op(self, label: str) -> Summary:
        """An operation node between the two ends (a pruned zero operation: nothing)."""
        op = self._ops.get(label)
        if op is None:
            if self.prune and label in ZERO_OPS:
                op = _DEAD
            else:
                op = Summary(True, {"0:" + label: 1}, (_Open(label, (), (), True, True),), 0)
            self._ops[label] = op
        return op

    def _compose(self, node: Derivation, fold: int | None, height: int = 0) -> Summary:
        """The summary of a block from its children's (``fold`` levels above the folding; the
        block's ``height`` is given with a fold, computed without)."""
        n_points, parts = layout(node)
        below = None if fold is None else fold - 1
        children = []
        for c, a, b in parts:
            c = skip_units(c)
            s = self.summary(c, below) if c.children else self._op(c.symbol)
            children.append((s, a, b))
        if fold is None:
            height = 1 + max(s.height for s, _, _ in children)
        if all(s.connected for s, _, _ in children):  # every tensor node on a path
            forward = backward = set(range(n_points))
        else:
            succ: list[list[int]] = [[] for _ in range(n_points)]
            pred: list[list[int]] = [[] for _ in range(n_points)]
            for s, a, b in children:
                if s.connected:
                    succ[a].append(b)
                    pred[b].append(a)
            forward, backward = _reachable(succ, 0), _reachable(pred, 1)
            if 1 not in forward:
                return Summary(False, {}, (), height)
        kept = [(s, a, b) for s, a, b in children if s.connected and a in forward and b in backward]
        # The largest histogram is copied (in C), the others added to it.
        first = max(range(len(kept)), key=lambda j: len(kept[j][0].counts))
        counts = dict(kept[first][0].counts)
        opened: list[_Open] = []
        sums_in: dict[int, list[str]] = {p: [] for p in range(2, n_points)}
        sums_out: dict[int, list[str]] = {p: [] for p in range(2, n_points)}
        get = counts.get
        for j, (s, a, b) in enumerate(kept):
            if j != first:
                for feature, k in s.counts.items():
                    counts[feature] = get(feature, 0) + k
            for o in s.open:
                preds, succs = o.preds, o.succs
                if o.at_src and a >= 2:
                    preds += ("sum",)
                    sums_out[a].append(o.label)
                if o.at_dst and b >= 2:
                    succs += ("sum",)
                    sums_in[b].append(o.label)
                at_src, at_dst = o.at_src and a == 0, o.at_dst and b == 1
                if at_src or at_dst:
                    opened.append(_Open(o.label, preds, succs, at_src, at_dst))
                else:
                    self._close(counts, o.label, preds, succs)
        for p in range(2, n_points):
            if p in forward and p in backward:
                counts["0:sum"] = counts.get("0:sum", 0) + 1
                self._close(counts, "sum", tuple(sums_in[p]), tuple(sums_out[p]))
        return Summary(True, counts, tuple(opened), height)

    def _root(self, s: Summary) -> Counter[str]:
        """The histogram of a whole graph: the fragment between ``"input"`` and ``"output"``
        (both always kept)."""
        counts: Counter[str] = Counter(s.counts)
        after_input: list[str] = []
        before_output: list[str] = []
        for o in s.open if s.connected else ():
            preds, succs = o.preds, o.succs
            if o.at_src:
                preds += ("input",)
                after_input.append(o.label)
            if o.at_dst:
                succs += ("output",)
                before_output.append(o.label)
            self._close(counts, o.label, preds, succs)
        counts["0:input"] += 1
        counts["0:output"] += 1
        self._close(counts, "input", (), tuple(after_input))
        self._close(counts, "output", tuple(before_output), ())
        return counts


def _reachable(adjacency: list[list[int]], start: int) -> set[int]:
    """Nodes reachable from ``start`` along ``adjacency`` (``start`` included)."""
    seen = {start}
    stack = [start]
    while stack:
        for v in adjacency[stack.pop()]:
            if v not in seen:
                seen.add(v)
                stack.append(v)
    return seen
