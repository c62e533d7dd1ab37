"""The NAS-Bench-201 cell domain: one operation on each edge of a 4-node DAG.

:class:`NB201Cell` values are the official NAS-Bench-201 strings, for example
``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|``:
the ``k``-th ``|...|`` group (``k = 1, 2, 3``) lists the operations on the edges ``j -> k`` for
``j = 0..k-1`` as ``op~j``. Edges are always ordered ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``
(:data:`NB201_EDGES`), which is also the order of the ``op_e{k}_{j}`` columns of the benchmark table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces._checks import check_dict, check_op_names
from jahs_bo.spaces.base import ArchitectureDomain, register_domain
from jahs_bo.spaces.prior import check_op_prior, log_op_prior, normalise, op_prior_dict

#: An NB201 cell's op prior: one mapping op -> weight shared by every edge, or edge name
#: (``"0->1"``, ``"0->2"``, ``"1->2"``, ``"0->3"``, ``"1->3"``, ``"2->3"``) -> such a mapping.
OpPrior = Mapping[str, float] | Mapping[str, Mapping[str, float]]

#: The five NAS-Bench-201 operations, in the benchmark's integer coding ``0..4``.
NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
#: The six edges ``(k, j)`` (operation on edge ``j -> k``) of the NB201 cell, in canonical order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
#: The edges' names ``"j->k"`` in :data:`NB201_EDGES` order (the keys of a per-edge op prior).
NB201_EDGE_NAMES: tuple[str, ...] = tuple(f"{j}->{k}" for k, j in NB201_EDGES)
#: Most cached same-network keys per domain (every NB201 cell: 15625).
_KEY_CACHE = 1 << 16


@register_domain
class NB201Cell(ArchitectureDomain):
    """The NAS-Bench-201 cell: one operation on each of the 6 edges of a 4-node DAG.

    Args:
        ops: The operation set, in integer-coding order. The default is NB201's five operations
            (:data:`NB201_OPS`), whose indices are the benchmark's ``op_e{k}_{j}`` coding
            ``0..4``. A TransNAS-Bench-101-style cell is the same domain with another list,
            e.g. ``("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")``. At least two ops.
        op_prior: Expert prior over the ops: op name -> weight >= 0 (normalised; ops left out
            weigh 0), shared by every edge; or a prior per edge, edge name ``"j->k"`` (the edge
            from node ``j`` to node ``k``: ``"0->1"``, ``"0->2"``, ``"1->2"``, ``"0->3"``,
            ``"1->3"``, ``"2->3"``) -> such a mapping, edges left out uniform, e.g.
            ``{"0->3": {"skip_connect": 0.8, "nor_conv_3x3": 0.2}}`` for "the input reaches the
            output through a residual skip". Edges draw their ops independently in
            :meth:`sample_prior`. ``None`` (default): uniform. Serialized with the domain.

    Graph view (:meth:`to_graph`, following Ru et al., 2021): the edge operations become nodes.
    Before pruning, the graph has 10 nodes numbered in topological order::

        0 input, 1 op(1<-0), 2 sum(node 1), 3 op(2<-0), 4 op(2<-1), 5 sum(node 2),
        6 op(3<-0), 7 op(3<-1), 8 op(3<-2), 9 output

    with edges ``source -> op(k<-j) -> target`` where ``source`` is ``input`` for ``j = 0`` and
    ``sum(node j)`` otherwise, and ``target`` is ``sum(node k)`` for ``k < 3`` and ``output`` for
    ``k = 3``. Op nodes are labelled with the op name, the cell's intermediate nodes ``"sum"``.
    By default (``prune=True``) ``none`` edges are removed (a ``none`` edge outputs zeros, so it
    cuts the path, as in the WL-kernel NAS literature), then every node that is not on a path
    from ``input`` to ``output`` is removed (``input`` and ``output`` are always kept) and the
    remaining nodes are renumbered ``0..n-1`` in the order above. A cell whose output is cut off
    from its input becomes the two-node graph ``input``, ``output`` without edges.
    """

    kind = "nb201_cell"
    n_edges = len(NB201_EDGES)

    def __init__(self, ops: Sequence[str] = NB201_OPS, op_prior: OpPrior | None = None) -> None:
        self.ops = check_op_names(ops, "|~+", "NB201Cell")
        if len(self.ops) < 2:
            raise InvalidSpaceError(
                f"NB201Cell needs at least two ops to mutate between, got {list(self.ops)}"
            )
        #: The shared op prior, shape ``(len(ops),)`` (``None``: uniform or per edge).
        self.op_probs: np.ndarray | None = None
        #: Every edge's op prior, shape ``(6, len(ops))`` (``None``: uniform).
        self.edge_probs: np.ndarray | None = None
        if _is_per_edge(op_prior):
            self.edge_probs = self._check_edge_prior(op_prior)  # type: ignore[arg-type]
        else:
            self.op_probs = check_op_prior(self.ops, op_prior, "NB201Cell")  # type: ignore[arg-type]
            if self.op_probs is not None:
                self.edge_probs = np.tile(self.op_probs, (self.n_edges, 1))
        self.has_prior = self.edge_probs is not None
        self._index = {op: i for i, op in enumerate(self.ops)}
        self._keys: dict[str, str] = {}  # cache of same_network_key

    def __repr__(self) -> str:
        prior = self._prior_dict()
        return f"NB201Cell(ops={self.ops!r}" + (f", op_prior={prior!r})" if prior else ")")

    # ---- conversions -----------------------------------------------------------------------

    def to_ops(self, value: str) -> tuple[str, ...]:
        """The 6 edge operations of ``value``, in :data:`NB201_EDGES` order."""
        if not isinstance(value, str):
            raise InvalidConfigError(
                f"NB201 cell value must be a string like {self._example()!r}, got {value!r}"
            )
        groups = value.split("+")
        if len(groups) != 3:
            raise self._format_error(value, f"found {len(groups)} '+'-separated groups, not 3")
        ops: list[str] = []
        for k, group in enumerate(groups, start=1):
            if len(group) < 2 or group[0] != "|" or group[-1] != "|":
                raise self._format_error(value, f"group {group!r} is not enclosed in '|'")
            tokens = group[1:-1].split("|")
            if len(tokens) != k:
                raise self._format_error(
                    value, f"group {k} ({group!r}) must hold {k} op(s), it holds {len(tokens)}"
                )
            for j, token in enumerate(tokens):
                op, sep, src = token.partition("~")
                if not sep or src != str(j):
                    raise self._format_error(
                        value, f"token {token!r} in group {k} must be '<op>~{j}'"
                    )
                if op not in self._index:
                    raise InvalidConfigError(
                        f"unknown op {op!r} on edge {j}->{k} of NB201 cell {value!r}; "
                        f"allowed ops: {list(self.ops)}"
                    )
                ops.append(op)
        return tuple(ops)

    def from_ops(self, ops: Sequence[str]) -> str:
        """The canonical string of the cell with edge operations ``ops`` (:data:`NB201_EDGES` order)."""
        if isinstance(ops, str) or len(ops) != self.n_edges:
            raise InvalidConfigError(
                f"expected {self.n_edges} edge ops in order {list(NB201_EDGE_NAMES)}, got {ops!r}"
            )
        for op, (k, j) in zip(ops, NB201_EDGES, strict=True):
            if op not in self._index:
                raise InvalidConfigError(
                    f"unknown op {op!r} on edge {j}->{k}; allowed ops: {list(self.ops)}"
                )
        it = iter(ops)
        groups = ["|" + "|".join(f"{next(it)}~{j}" for j in range(k)) + "|" for k in (1, 2, 3)]
        return "+".join(groups)

    def to_index_tuple(self, value: str) -> tuple[int, ...]:
        """Indices into :attr:`ops` of the 6 edge operations (:data:`NB201_EDGES` order)."""
        return tuple(self._index[op] for op in self.to_ops(value))

    def from_index_tuple(self, indices: Sequence[int]) -> str:
        """Inverse of :meth:`to_index_tuple`."""
        if isinstance(indices, str) or len(indices) != self.n_edges:
            raise InvalidConfigError(f"expected {self.n_edges} op indices, got {indices!r}")
        ops = []
        for i in indices:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
                raise InvalidConfigError(f"op index {i!r} in {indices!r} is not an integer")
            if not 0 <= int(i) < len(self.ops):
                raise InvalidConfigError(
                    f"op index {i!r} in {list(indices)!r} is out of range 0..{len(self.ops) - 1} "
                    f"(ops: {list(self.ops)})"
                )
            ops.append(self.ops[int(i)])
        return self.from_ops(ops)

    # ---- ArchitectureDomain ----------------------------------------------------------------

    def validate(self, value: Any) -> str:
        """Return ``value`` if it is an official NB201 string over :attr:`ops` (it is canonical).

        Raises:
            InvalidConfigError: malformed string or an op outside :attr:`ops`.
        """
        return self.from_ops(self.to_ops(value))

    def sample(self, rng: np.random.Generator) -> str:
        """A uniformly random cell."""
        return self.from_index_tuple(rng.integers(len(self.ops), size=self.n_edges).tolist())

    def sample_prior(self, rng: np.random.Generator) -> str:
        """A cell whose edges draw their ops independently from ``op_prior``."""
        if self.op_probs is not None:
            return self.from_index_tuple(
                rng.choice(len(self.ops), size=self.n_edges, p=self.op_probs).tolist()
            )
        if self.edge_probs is None:
            return self.sample(rng)
        # Inverse-CDF draw per edge; each row ends at exactly 1, so a zero-weight op is never drawn.
        cdf = np.cumsum(self.edge_probs, axis=1)
        cdf /= cdf[:, -1:]
        u = rng.random(self.n_edges)[:, None]
        return self.from_index_tuple((cdf <= u).sum(axis=1).tolist())

    def log_prior(self, value: str) -> float:
        """Sum over edges of ``log(op_prior[edge][op] * len(ops))`` (``0`` without a prior)."""
        return log_op_prior(self.edge_probs, self.to_index_tuple(value))

    def prior_mode(self, rng: np.random.Generator, draws: int = 64) -> str:
        """The cell with the most probable op on every edge (a random cell without a prior).

        A shared prior takes its first most probable op everywhere. A per-edge prior breaks ties
        (an edge it leaves uniform) uniformly at random; an edge with one most probable op draws
        nothing from ``rng``.
        """
        if self.edge_probs is None:
            return self.sample(rng)
        if self.op_probs is not None:
            return self.from_index_tuple([int(np.argmax(self.op_probs))] * self.n_edges)
        idx = []
        for probs in self.edge_probs:
            best = np.flatnonzero(probs == probs.max())
            idx.append(int(best[0] if len(best) == 1 else rng.choice(best)))
        return self.from_index_tuple(idx)

    def mutate(self, value: str, rng: np.random.Generator) -> str:
        """Change the op of one uniformly chosen edge to a uniformly chosen different op."""
        idx = list(self.to_index_tuple(value))
        edge = int(rng.integers(self.n_edges))
        shift = int(rng.integers(1, len(self.ops)))
        idx[edge] = (idx[edge] + shift) % len(self.ops)
        return self.from_index_tuple(idx)

    def neighbours(self, value: str) -> list[str]:
        """All ``6 * (len(ops) - 1)`` cells that differ in exactly one edge op."""
        idx = self.to_index_tuple(value)
        out = []
        for e in range(self.n_edges):
            for o in range(len(self.ops)):
                if o != idx[e]:
                    out.append(self.from_index_tuple(idx[:e] + (o,) + idx[e + 1 :]))
        return out

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        """Uniform crossover: each edge takes its op from ``a`` or ``b`` with probability 1/2."""
        ia, ib = self.to_index_tuple(a), self.to_index_tuple(b)
        take_a = rng.random(self.n_edges) < 0.5
        return self.from_index_tuple(
            [x if t else y for x, y, t in zip(ia, ib, take_a, strict=True)]
        )

    def size(self) -> int:
        return len(self.ops) ** self.n_edges

    def same_network_key(self, value: str) -> str:
        """The smallest string of the cells isomorphic to ``value`` (after pruning).

        Two cells are the same network when their pruned graphs (:meth:`to_graph`) are
        isomorphic as labelled graphs. At the cell level that is: an edge off every
        input-to-output path (its op is ``none``, or one of its ends is cut off) acts as
        ``none``; and when edge ``2<-1`` is ``none`` the intermediate nodes 1 and 2 are
        interchangeable (swap edges ``1<-0``/``2<-0`` and ``3<-1``/``3<-2``). The key is the
        smaller of the two pruned strings. This gives the same classes as the WL features the
        GP searcher de-duplicates on (checked over all 15625 NB201 cells: 8765 classes).
        Values that are not cells of this domain are their own key.
        """
        key = self._keys.get(value)
        if key is None:
            try:
                ops = self.to_ops(value)
            except InvalidConfigError:
                return value
            if len(self._keys) >= _KEY_CACHE:
                self._keys.clear()
            key = self._keys[value] = self.from_ops(_same_network_ops(ops))
        return key

    def labels(self) -> list[str]:
        """``["input", *ops, "sum", "output"]``."""
        return ["input", *self.ops, "sum", "output"]

    def to_graph(self, value: str, *, prune: bool = True) -> nx.DiGraph:
        """The node-labelled DAG of ``value`` (layout and pruning rule in the class docstring).

        Args:
            value: An NB201 cell string.
            prune: Drop ``none`` op nodes and every node off an input-to-output path.
        """
        ops = self.to_ops(value)
        # Fixed 10-node layout: cell node -> graph node of its value.
        cell_node = {0: 0, 1: 2, 2: 5, 3: 9}
        op_node = dict(zip(NB201_EDGES, (1, 3, 4, 6, 7, 8), strict=True))
        labels = {0: "input", 2: "sum", 5: "sum", 9: "output"}
        full = nx.DiGraph()
        full.add_nodes_from(range(10))
        for (k, j), op in zip(NB201_EDGES, ops, strict=True):
            labels[op_node[k, j]] = op
            if prune and op == "none":
                continue
            full.add_edge(cell_node[j], op_node[k, j])
            full.add_edge(op_node[k, j], cell_node[k])
        keep = set(range(10))
        if prune:
            keep = (nx.descendants(full, 0) | {0}) & (nx.ancestors(full, 9) | {9})
            keep |= {0, 9}
        order = sorted(keep)
        renumber = {old: new for new, old in enumerate(order)}
        graph = nx.DiGraph()
        for old in order:
            graph.add_node(renumber[old], label=labels[old])
        for u, v in full.edges():
            if u in keep and v in keep:
                graph.add_edge(renumber[u], renumber[v])
        return graph

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "ops": list(self.ops)}
        if self.has_prior:
            out["op_prior"] = self._prior_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NB201Cell:
        check_dict(data, cls.kind, {"ops", "op_prior"})
        return cls(ops=data.get("ops", NB201_OPS), op_prior=data.get("op_prior"))

    # ---- helpers ---------------------------------------------------------------------------

    def _check_edge_prior(self, op_prior: Mapping[str, Mapping[str, float]]) -> np.ndarray:
        """``(6, len(ops))`` probabilities of a per-edge ``op_prior``; unnamed edges uniform."""
        names = list(NB201_EDGE_NAMES)
        shared = [k for k, v in op_prior.items() if not isinstance(v, Mapping)]
        if shared:
            raise InvalidSpaceError(
                f"NB201Cell: op_prior mixes the shared form (op -> weight: {shared}) with the "
                f"per-edge form (edge -> {{op: weight}}); give one mapping op -> weight for every "
                f"edge, or one per edge named {names}"
            )
        probs = np.tile(normalise(np.ones(len(self.ops))), (self.n_edges, 1))
        for edge, prior in op_prior.items():
            if edge not in names:
                raise InvalidSpaceError(
                    f"NB201Cell: op_prior names unknown edge {edge!r}; edges are named {names} "
                    f"(or give one mapping op -> weight for every edge)"
                )
            probs[names.index(edge)] = check_op_prior(self.ops, prior, f"NB201Cell edge {edge}")
        return probs

    def _prior_dict(self) -> dict[str, Any] | None:
        """The JSON form of the prior: the shared mapping, or one mapping per edge."""
        if self.op_probs is not None or self.edge_probs is None:
            return op_prior_dict(self.ops, self.op_probs)
        return {
            edge: op_prior_dict(self.ops, probs)
            for edge, probs in zip(list(NB201_EDGE_NAMES), self.edge_probs, strict=True)
        }

    def _example(self) -> str:
        return "|a~0|+|b~0|c~1|+|d~0|e~1|f~2|"

    def _format_error(self, value: str, reason: str) -> InvalidConfigError:
        return InvalidConfigError(
            f"malformed NB201 cell string {value!r}: {reason}; expected the format "
            f"'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with ops from {list(self.ops)}"
        )


__all__ = ["NB201_EDGES", "NB201_EDGE_NAMES", "NB201_OPS", "NB201Cell"]


def _is_per_edge(op_prior: object) -> bool:
    """Whether ``op_prior`` is given per edge (its values are mappings), not shared."""
    return isinstance(op_prior, Mapping) and any(isinstance(v, Mapping) for v in op_prior.values())


def _same_network_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """The canonical edge ops (:data:`NB201_EDGES` order) of :meth:`NB201Cell.same_network_key`."""
    live = {e: op != "none" for e, op in zip(NB201_EDGES, ops, strict=True)}
    reached = {0}  # nodes reachable from the input through live edges
    for k in (1, 2, 3):
        if any(live[k, j] and j in reached for j in range(k)):
            reached.add(k)
    reaching = {3}  # nodes from which the output is reachable
    for j in (2, 1, 0):
        if any(live[k, j] and k in reaching for k in range(j + 1, 4)):
            reaching.add(j)
    pruned = tuple(
        op if live[k, j] and j in reached and k in reaching else "none"
        for (k, j), op in zip(NB201_EDGES, ops, strict=True)
    )
    e10, e20, e21, e30, e31, e32 = pruned
    if e21 != "none":
        return pruned
    return min(pruned, (e20, e10, e21, e30, e32, e31))
