"""The NAS-Bench-101 cell domain: a DAG whose nodes carry operations.

:class:`NB101Cell` values are ``"<rows>|<labels>"`` strings of the canonical form of a cell, for
example ``"0110.0001.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output"``: ``<rows>`` are the rows
of the ``n x n`` strictly upper-triangular adjacency matrix (``1`` at row ``i``, column ``j`` means an
edge ``i -> j``) joined by ``"."``, ``<labels>`` the node labels joined by ``","``. See
:meth:`NB101Cell.validate` for the canonical form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
import numpy as np

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces._checks import check_dict, check_op_names
from jahs_bo.spaces.base import ArchitectureDomain, register_domain
from jahs_bo.spaces.prior import check_op_prior, log_op_prior, op_prior_dict

#: Default intermediate operations of :class:`NB101Cell` (those of NAS-Bench-101).
NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")


def _prune(matrix: list[list[int]]) -> list[int] | None:
    """Nodes on some path from node 0 to node ``n-1`` of a strictly upper-triangular matrix.

    Returns the sorted node list, or ``None`` if node ``n-1`` cannot be reached from node 0.
    """
    n = len(matrix)
    reach = [False] * n  # reachable from the input
    reach[0] = True
    for j in range(1, n):
        reach[j] = any(reach[i] and matrix[i][j] for i in range(j))
    if not reach[n - 1]:
        return None
    back = [False] * n  # reaches the output
    back[n - 1] = True
    for i in range(n - 2, -1, -1):
        back[i] = any(back[j] and matrix[i][j] for j in range(i + 1, n))
    return [i for i in range(n) if reach[i] and back[i]]


def _format_nb101(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    rows = ".".join("".join("1" if x else "0" for x in row) for row in matrix)
    return rows + "|" + ",".join(labels)


#: Bounds of NB101Cell's size (NAS-Bench-101: 7 nodes, 9 edges), checked before any work.
MAX_NODES = 9
MAX_EDGES = MAX_NODES * (MAX_NODES - 1) // 2


@register_domain
class NB101Cell(ArchitectureDomain):
    """A NAS-Bench-101-style cell: a DAG whose nodes carry operations.

    Node ``0`` is ``input``, node ``n-1`` is ``output``, the others carry an op from
    :attr:`ops`. A value is the string ``"<rows>|<labels>"`` of the canonical form (module
    docstring); :meth:`validate` also accepts non-canonical strings, a mapping
    ``{"matrix": [[0, 1], [0, 0]], "ops": ["input", "output"]}`` or a ``(matrix, ops)`` pair.

    Args:
        ops: Operations allowed on intermediate nodes (default :data:`NB101_OPS`).
        max_nodes: Most nodes of a (pruned) cell, input and output included (NAS-Bench-101: 7).
        max_edges: Most edges of a (pruned) cell (NAS-Bench-101: 9).
        op_prior: Expert prior over the intermediate ops: op name -> weight >= 0 (normalised;
            ops left out weigh 0). :meth:`sample_prior` draws node ops from it (the structure as
            in :meth:`sample`); ``None`` (default): uniform. Serialized with the domain.
    """

    kind = "nb101_cell"

    def __init__(
        self,
        ops: Sequence[str] = NB101_OPS,
        max_nodes: int = 7,
        max_edges: int = 9,
        op_prior: Mapping[str, float] | None = None,
    ) -> None:
        self.ops = check_op_names(ops, "|,.", "NB101Cell")
        self.op_probs = check_op_prior(self.ops, op_prior, "NB101Cell")
        self.has_prior = self.op_probs is not None
        limits = (("max_nodes", max_nodes, 2, MAX_NODES), ("max_edges", max_edges, 1, MAX_EDGES))
        for name, val, low, high in limits:
            if (
                isinstance(val, bool)
                or not isinstance(val, (int, np.integer))
                or not (low <= val <= high)
            ):
                raise InvalidSpaceError(
                    f"NB101Cell: {name} must be an integer in [{low}, {high}], got {val!r} "
                    "(canonical forms enumerate node orders, which grow factorially)"
                )
        self.max_nodes = int(max_nodes)
        self.max_edges = int(max_edges)
        self._ops_set = frozenset(self.ops)

    def __repr__(self) -> str:
        return (
            f"NB101Cell(ops={self.ops!r}, max_nodes={self.max_nodes}, max_edges={self.max_edges})"
        )

    # ---- conversions -----------------------------------------------------------------------

    def to_spec(self, value: Any) -> tuple[list[list[int]], list[str]]:
        """The canonical ``(matrix, labels)`` of ``value`` (matrix as nested 0/1 lists)."""
        matrix, labels = self._parse_string(self.validate(value))
        return matrix, labels

    def from_spec(self, matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
        """The canonical string of the cell with adjacency ``matrix`` and node ``labels``."""
        return self._canonical(*self._check_spec(matrix, labels, repr((matrix, labels))))

    # ---- ArchitectureDomain ----------------------------------------------------------------

    def validate(self, value: Any) -> str:
        """Return the canonical string of ``value``.

        Canonical form: nodes not on a path from input to output are removed (as in
        NAS-Bench-101's ``ModelSpec``); then, among all topological orders of the remaining
        nodes, the one whose value string is lexicographically smallest is chosen. Every
        relabelling of a DAG that keeps the matrix upper triangular is a topological order,
        so two cells get the same string exactly when they are isomorphic as labelled DAGs
        (exact, unlike a hash; the number of orders is at most ``(max_nodes - 2)!``).

        Raises:
            InvalidConfigError: malformed value, a matrix that is not square 0/1, an entry on or
                below the diagonal (nodes must be in topological order; cycles are named), first
                or last label not ``input`` / ``output``, an unknown op, no input-to-output
                path, or more than ``max_nodes`` nodes / ``max_edges`` edges after pruning.
        """
        if isinstance(value, str):
            matrix, labels = self._parse_string(value)
        elif isinstance(value, Mapping):
            if set(value) != {"matrix", "ops"}:
                raise InvalidConfigError(
                    f"NB101 cell mapping must have exactly the keys 'matrix' and 'ops', got {value!r}"
                )
            matrix, labels = value["matrix"], value["ops"]
        elif isinstance(value, (tuple, list)) and len(value) == 2:
            matrix, labels = value
        else:
            raise InvalidConfigError(
                f"NB101 cell value must be a string '<rows>|<labels>' (e.g. "
                f"'011.001.000|input,{self.ops[0]},output'), a mapping with 'matrix' and 'ops', "
                f"or a (matrix, ops) pair; got {value!r}"
            )
        return self._canonical(*self._check_spec(matrix, labels, repr(value)))

    def sample(
        self, rng: np.random.Generator, max_tries: int = 100_000, _probs: np.ndarray | None = None
    ) -> str:
        """Rejection sampling as in NAS-Bench-101: a ``max_nodes``-node upper-triangular matrix
        with independent fair-coin entries and uniform ops, redrawn until valid after pruning.

        The distribution over canonical cells is therefore far from uniform: the edge limit
        rejects dense draws and pruning shrinks the rest, so small cells are favoured (with the
        defaults about 10% of draws are the two-node cell ``input -> output`` and under 1% have
        7 nodes). This is the random baseline of the NAS-Bench-101 literature.

        Raises:
            InvalidSpaceError: no valid cell within ``max_tries`` draws.
        """
        n = self.max_nodes
        iu = np.triu_indices(n, k=1)
        for _ in range(max_tries):
            matrix = np.zeros((n, n), dtype=int)
            matrix[iu] = rng.integers(2, size=len(iu[0]))
            labels = [
                "input",
                *(
                    self.ops[i]
                    for i in (
                        rng.integers(len(self.ops), size=n - 2)
                        if _probs is None
                        else rng.choice(len(self.ops), size=n - 2, p=_probs)
                    )
                ),
                "output",
            ]
            canon = self._try_canonical(matrix.tolist(), labels)
            if canon is not None:
                return canon
        raise InvalidSpaceError(f"{self!r} produced no valid cell in {max_tries} random draws")

    def sample_prior(self, rng: np.random.Generator) -> str:
        """Like :meth:`sample`, with node ops drawn from ``op_prior``."""
        return self.sample(rng, _probs=self.op_probs)

    def log_prior(self, value: str) -> float:
        """Sum over intermediate nodes of ``log(op_prior[op] * len(ops))`` (``0`` without one)."""
        if self.op_probs is None:
            return 0.0
        _, labels = self._parse_string(self.validate(value))
        return log_op_prior(self.op_probs, [self.ops.index(op) for op in labels[1:-1]])

    def mutate(self, value: str, rng: np.random.Generator, max_tries: int = 100) -> str:
        """A random neighbour: one of the moves of :meth:`neighbours`, drawn uniformly by kind.

        Draws a move (change one op, flip one edge, or add one node), and redraws until the
        result is valid and different; falls back to a uniform choice among :meth:`neighbours`.

        Raises:
            InvalidConfigError: ``value`` has no valid neighbour in this domain.
        """
        matrix, labels = self.to_spec(value)
        for _ in range(max_tries):
            moves = self._moves(matrix, labels)
            kinds = [k for k in ("op", "edge", "node") if moves[k]]
            kind = kinds[int(rng.integers(len(kinds)))]
            args = moves[kind][int(rng.integers(len(moves[kind])))]
            candidate = self._apply(matrix, labels, kind, args)
            if candidate is not None and candidate != value:
                return candidate
        options = self.neighbours(value)
        if not options:
            raise InvalidConfigError(f"NB101 cell {value!r} has no valid neighbour in {self!r}")
        return options[int(rng.integers(len(options)))]

    def neighbours(self, value: str) -> list[str]:
        """Distinct valid cells one move away, sorted.

        Moves: change the op of one intermediate node; flip one upper-triangular entry of the
        canonical matrix (removing an edge may prune nodes); add one node with op ``o`` on a
        new path ``i -> new -> j`` for nodes ``i < j``.
        """
        matrix, labels = self.to_spec(value)
        moves = self._moves(matrix, labels)
        out = set()
        for kind, arg_list in moves.items():
            for args in arg_list:
                candidate = self._apply(matrix, labels, kind, args)
                if candidate is not None:
                    out.add(candidate)
        out.discard(value)
        return sorted(out)

    def labels(self) -> list[str]:
        """``["input", *ops, "output"]``."""
        return ["input", *self.ops, "output"]

    def to_graph(self, value: str) -> nx.DiGraph:
        """The canonical cell as a DAG: node ``i`` is row ``i`` of the canonical matrix, with its
        op as ``"label"`` (``0`` is ``input``, ``n-1`` is ``output``, numbering is topological)."""
        matrix, labels = self.to_spec(value)
        graph = nx.DiGraph()
        for i, label in enumerate(labels):
            graph.add_node(i, label=label)
        n = len(labels)
        graph.add_edges_from((i, j) for i in range(n) for j in range(i + 1, n) if matrix[i][j])
        return graph

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ops": list(self.ops),
            "max_nodes": self.max_nodes,
            "max_edges": self.max_edges,
        } | ({"op_prior": op_prior_dict(self.ops, self.op_probs)} if self.has_prior else {})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NB101Cell:
        check_dict(data, cls.kind, {"ops", "max_nodes", "max_edges", "op_prior"})
        return cls(
            ops=data.get("ops", NB101_OPS),
            max_nodes=data.get("max_nodes", 7),
            max_edges=data.get("max_edges", 9),
            op_prior=data.get("op_prior"),
        )

    # ---- internals -------------------------------------------------------------------------

    def _parse_string(self, value: str) -> tuple[list[list[int]], list[str]]:
        rows, sep, labels = value.partition("|")
        if not sep or not rows or not labels:
            raise InvalidConfigError(
                f"malformed NB101 cell string {value!r}: expected '<rows>|<labels>', e.g. "
                f"'011.001.000|input,{self.ops[0]},output' (rows of the adjacency matrix "
                "joined by '.', node labels joined by ',')"
            )
        matrix = []
        for row in rows.split("."):
            if not row or set(row) - {"0", "1"}:
                raise InvalidConfigError(
                    f"malformed NB101 cell string {value!r}: matrix row {row!r} must be a "
                    "non-empty string of '0'/'1'"
                )
            matrix.append([int(c) for c in row])
        return matrix, labels.split(",")

    def _check_spec(
        self, matrix: Any, labels: Any, shown: str
    ) -> tuple[list[list[int]], list[str]]:
        """Check shape, entries, order and labels; return the matrix as 0/1 lists."""
        try:
            arr = np.asarray(matrix)
        except (ValueError, TypeError) as err:
            raise InvalidConfigError(f"NB101 cell {shown}: matrix is not rectangular") from err
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 2:
            raise InvalidConfigError(
                f"NB101 cell {shown}: the adjacency matrix must be square with at least 2 rows, "
                f"got shape {arr.shape}"
            )
        n = arr.shape[0]
        if arr.dtype == bool:
            arr = arr.astype(int)
        if arr.dtype.kind not in "iu" or not np.isin(arr, (0, 1)).all():
            raise InvalidConfigError(f"NB101 cell {shown}: matrix entries must be 0 or 1")
        if isinstance(labels, str) or not isinstance(labels, Sequence) or len(labels) != n:
            raise InvalidConfigError(
                f"NB101 cell {shown}: expected {n} node labels (one per matrix row), got {labels!r}"
            )
        labels = list(labels)
        lower = np.tril(arr)
        if lower.any():
            graph = nx.from_numpy_array(arr, create_using=nx.DiGraph)
            graph.remove_edges_from(nx.selfloop_edges(graph))
            if np.trace(arr) or not nx.is_directed_acyclic_graph(graph):
                cycle = "a self-loop" if np.trace(arr) else f"the cycle {nx.find_cycle(graph)}"
                raise InvalidConfigError(f"NB101 cell {shown} contains {cycle}; cells must be DAGs")
            i, j = map(int, np.argwhere(lower)[0])
            raise InvalidConfigError(
                f"NB101 cell {shown} has the edge {i}->{j} below the diagonal; number the nodes "
                "in topological order so that the matrix is strictly upper triangular"
            )
        if labels[0] != "input" or labels[-1] != "output":
            raise InvalidConfigError(
                f"NB101 cell {shown}: the first label must be 'input' and the last 'output', "
                f"got {labels[0]!r} and {labels[-1]!r}"
            )
        for label in labels[1:-1]:
            if label not in self._ops_set:
                raise InvalidConfigError(
                    f"NB101 cell {shown}: unknown op {label!r}; allowed ops: {list(self.ops)}"
                )
        return arr.tolist(), labels

    def _limit_error(self, matrix: list[list[int]], labels: list[str]) -> str | None:
        """Why a checked spec is invalid after pruning, or ``None`` if it is valid."""
        keep = _prune(matrix)
        if keep is None:
            return "has no path from input to output"
        n_edges = sum(matrix[i][j] for i in keep for j in keep)
        if len(keep) > self.max_nodes:
            return f"has {len(keep)} nodes after pruning, more than max_nodes={self.max_nodes}"
        if n_edges > self.max_edges:
            return f"has {n_edges} edges after pruning, more than max_edges={self.max_edges}"
        return None

    def _try_canonical(self, matrix: list[list[int]], labels: list[str]) -> str | None:
        """Canonical string of a checked spec, or ``None`` if pruning/limits reject it."""
        keep = _prune(matrix)
        if keep is None or len(keep) > self.max_nodes:
            return None
        sub = [[matrix[i][j] for j in keep] for i in keep]
        if sum(map(sum, sub)) > self.max_edges:
            return None
        return _canonical_string(sub, [labels[i] for i in keep])

    def _canonical(self, matrix: list[list[int]], labels: list[str]) -> str:
        canon = self._try_canonical(matrix, labels)
        if canon is None:
            reason = self._limit_error(matrix, labels)
            raise InvalidConfigError(
                f"NB101 cell {_format_nb101(matrix, labels)!r} {reason}; every cell needs an "
                f"input->output path and at most {self.max_nodes} nodes and {self.max_edges} "
                "edges on such paths"
            )
        return canon

    def _moves(self, matrix: list[list[int]], labels: list[str]) -> dict[str, list[tuple]]:
        n = len(labels)
        n_edges = sum(map(sum, matrix))
        moves: dict[str, list[tuple]] = {
            "op": [(i, op) for i in range(1, n - 1) for op in self.ops if op != labels[i]],
            "edge": [(i, j) for i in range(n) for j in range(i + 1, n)],
            "node": [],
        }
        if n < self.max_nodes and n_edges + 2 <= self.max_edges:
            moves["node"] = [
                (i, j, op) for i in range(n) for j in range(i + 1, n) for op in self.ops
            ]
        return moves

    def _apply(
        self, matrix: list[list[int]], labels: list[str], kind: str, args: tuple
    ) -> str | None:
        new = [row[:] for row in matrix]
        new_labels = list(labels)
        if kind == "op":
            i, op = args
            new_labels[i] = op
        elif kind == "edge":
            i, j = args
            new[i][j] = 1 - new[i][j]
        else:  # "node": insert a node right after i, on the path i -> new -> j
            i, j, op = args
            n = len(labels)
            new = [row[: i + 1] + [0] + row[i + 1 :] for row in new]
            new.insert(i + 1, [0] * (n + 1))
            new_labels.insert(i + 1, op)
            new[i][i + 1] = 1
            new[i + 1][j + 1] = 1
        return self._try_canonical(new, new_labels)


def _topological_orders(matrix: list[list[int]]) -> list[list[int]]:
    """Every topological order of the DAG of a strictly upper-triangular matrix."""
    n = len(matrix)
    preds = [{i for i in range(j) if matrix[i][j]} for j in range(n)]
    orders: list[list[int]] = []

    def extend(order: list[int], placed: set[int]) -> None:
        if len(order) == n:
            orders.append(order[:])
            return
        for v in range(n):
            if v not in placed and preds[v] <= placed:
                order.append(v)
                placed.add(v)
                extend(order, placed)
                placed.discard(v)
                order.pop()

    extend([], set())
    return orders


def _canonical_string(matrix: list[list[int]], labels: list[str]) -> str:
    """Smallest value string over all topological orders of a pruned cell (exact canonical form).

    A pruned cell has one source (input) and one sink (output), so every order starts with the
    input and ends with the output; there are at most ``(n - 2)!`` orders.
    """
    return min(
        _format_nb101([[matrix[a][b] for b in order] for a in order], [labels[a] for a in order])
        for order in _topological_orders(matrix)
    )


__all__ = ["NB101_OPS", "NB101Cell"]
