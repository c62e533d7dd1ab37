"""Fixed-length vector encodings of cell architectures (for neural-network predictors).

* :class:`NB201PathEncoding`: the *path encoding* of BANANAS (White et al., AAAI 2021). A cell is
  the set of its input-to-output paths, each path the sequence of operations along it; the
  vector has one binary entry per possible sequence. In the NB201 cell (4 nodes, an operation on
  each of the 6 edges ``j -> k``) the node routes are ``0-3``, ``0-1-3``, ``0-2-3`` and
  ``0-1-2-3``, so paths have 1 to 3 operations. A path through ``none`` carries nothing (the edge
  is absent), so sequences containing ``none`` are left out: with the 5 NB201 operations that is
  ``4 + 4**2 + 4**3 = 84`` features (``155`` would include the always-zero ``none`` paths).
  Isomorphic cells have the same paths, hence the same vector.
* :class:`NB101AdjacencyEncoding`: the upper triangle of the adjacency matrix padded to
  ``max_nodes`` (the output node kept last) and a one-hot operation per interior node.
* :class:`WLBagEncoding`: any other domain with labelled graphs (grammars): WL subtree feature
  counts (:func:`jahs_bo.encoding.wl.wl_features`) over the vocabulary of the graphs encoded
  together, so its columns are only comparable within one :meth:`WLBagEncoding.encode` call.

No torch here: every encoder returns ``numpy`` arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from jahs_bo.encoding.wl import wl_features
from jahs_bo.spaces.base import ArchitectureDomain
from jahs_bo.spaces.nb101 import NB101Cell
from jahs_bo.spaces.nb201 import NB201_EDGES, NB201Cell

#: The operation that stands for "no edge" in NB201 cells.
NONE_OP = "none"
#: Node routes from the input (0) to the output (3) of the NB201 cell, as edge lists ``(k, j)``.
NB201_ROUTES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 0),),
    ((1, 0), (3, 1)),
    ((2, 0), (3, 2)),
    ((1, 0), (2, 1), (3, 2)),
)


class ArchitectureEncoding(Protocol):
    """Architecture values of one domain -> an ``n x d`` float array."""

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Encode ``values``; returns an array of shape ``len(values) x d``."""
        ...


class NB201PathEncoding:
    """BANANAS path encoding of :class:`~jahs_bo.spaces.nb201.NB201Cell` values.

    Args:
        domain: The NB201 domain (its ``ops`` define the vocabulary of paths).

    Attributes:
        paths: The feature order: every operation sequence of length 1..3 without ``none``,
            shorter first, then in the order of ``domain.ops``.
    """

    def __init__(self, domain: NB201Cell) -> None:
        self.domain = domain
        live = [op for op in domain.ops if op != NONE_OP]
        longest = max(len(r) for r in NB201_ROUTES)
        self.paths: list[tuple[str, ...]] = [
            seq for n in range(1, longest + 1) for seq in itertools.product(live, repeat=n)
        ]
        self._column = {p: i for i, p in enumerate(self.paths)}

    @property
    def dim(self) -> int:
        """Number of features ``d``."""
        return len(self.paths)

    def cell_paths(self, value: str) -> set[tuple[str, ...]]:
        """The operation sequences of the input-to-output paths of ``value``."""
        edge_op = dict(zip(NB201_EDGES, self.domain.to_ops(value), strict=True))
        return {
            tuple(edge_op[e] for e in route)
            for route in NB201_ROUTES
            if all(edge_op[e] != NONE_OP for e in route)
        }

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Binary path indicators, shape ``len(values) x dim``."""
        out = np.zeros((len(values), self.dim))
        for i, value in enumerate(values):
            for path in self.cell_paths(value):
                out[i, self._column[path]] = 1.0
        return out


class NB101AdjacencyEncoding:
    """Adjacency-plus-operations encoding of :class:`~jahs_bo.spaces.nb101.NB101Cell` values.

    Columns: the ``N (N - 1) / 2`` upper-triangle entries of the adjacency matrix padded to
    ``N = domain.max_nodes`` nodes (padding goes before the output node, which stays last), then
    ``(N - 2) x len(domain.ops)`` one-hot operations of the interior nodes (zeros for padding).
    """

    def __init__(self, domain: NB101Cell) -> None:
        self.domain = domain
        self.n_nodes = domain.max_nodes
        self._op_index = {op: i for i, op in enumerate(domain.ops)}
        self._triu = np.triu_indices(self.n_nodes, k=1)

    @property
    def dim(self) -> int:
        """Number of features ``d``."""
        n = self.n_nodes
        return n * (n - 1) // 2 + (n - 2) * len(self.domain.ops)

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Features of ``values``, shape ``len(values) x dim``."""
        n = self.n_nodes
        n_ops = len(self.domain.ops)
        out = np.zeros((len(values), self.dim))
        for i, value in enumerate(values):
            matrix, labels = self.domain.to_spec(value)
            m = len(labels)
            place = [*range(m - 1), n - 1]  # node -> padded position (output last)
            padded = np.zeros((n, n))
            for a, b in zip(*np.nonzero(np.asarray(matrix)), strict=True):
                padded[place[a], place[b]] = 1.0
            out[i, : len(self._triu[0])] = padded[self._triu]
            ops = np.zeros((n - 2, n_ops))
            for node, label in enumerate(labels[1:-1]):
                ops[node, self._op_index[label]] = 1.0
            out[i, len(self._triu[0]) :] = ops.ravel()
        return out


class WLBagEncoding:
    """WL subtree feature counts of any domain's labelled graphs.

    Args:
        domain: A domain with :meth:`~jahs_bo.spaces.base.ArchitectureDomain.to_graph`.
        iterations: WL refinement steps ``h``.
    """

    def __init__(self, domain: ArchitectureDomain, iterations: int = 1) -> None:
        self.domain = domain
        self.iterations = iterations
        self._cache: dict[str, dict[str, int]] = {}

    def _features(self, value: str) -> dict[str, int]:
        feats = self._cache.get(value)
        if feats is None:
            feats = dict(wl_features(self.domain.to_graph(value), self.iterations, "in"))
            if len(self._cache) < 100_000:
                self._cache[value] = feats
        return feats

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Counts over the features seen in ``values`` (sorted names), ``len(values) x d``."""
        feats = [self._features(v) for v in values]
        names = sorted(set().union(*feats)) if feats else []
        column = {name: j for j, name in enumerate(names)}
        out = np.zeros((len(values), len(names)))
        for i, f in enumerate(feats):
            for name, count in f.items():
                out[i, column[name]] = count
        return out


def architecture_encoding(domain: ArchitectureDomain) -> ArchitectureEncoding:
    """The encoding BANANAS uses for ``domain``: paths (NB201), adjacency (NB101), else WL."""
    if isinstance(domain, NB201Cell):
        return NB201PathEncoding(domain)
    if isinstance(domain, NB101Cell):
        return NB101AdjacencyEncoding(domain)
    return WLBagEncoding(domain)
