"""An indexed store of architectures with cached Weisfeiler-Lehman features.

The GP's input tensor keeps one column per architecture holding an integer index into an
:class:`ArchitectureStore`. The store computes the WL histograms of an architecture once (per
level of :meth:`~jahs_bo.spaces.base.ArchitectureDomain.to_graphs`), keeps them as sparse
rows, and answers normalised Gram blocks between index sets; the WL kernels only gather from
these blocks. Nothing here is differentiable: WL features are fixed inputs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from hashlib import blake2b

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch

from jahs_bo.encoding.wl import Direction, wl_features
from jahs_bo.exceptions import InputError

#: Feature counts up to which Gram blocks are computed from dense rows.
_DENSE_FEATURES = 4096

GraphsFn = Callable[[str], Sequence[nx.DiGraph]]


class _Level:
    """Sparse WL histograms of one graph level, grown row by row."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.rows: list[tuple[np.ndarray, np.ndarray]] = []
        self.sqnorm: list[float] = []
        self._csr: sp.csr_matrix | None = None
        self._empty: np.ndarray | None = None

    def append(self, counts: dict[str, int]) -> None:
        cols = np.fromiter(
            (self.vocab.setdefault(k, len(self.vocab)) for k in counts), dtype=np.int64
        )
        vals = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        norm = float(np.sqrt(vals @ vals))
        self.rows.append((cols, vals / norm if norm > 0 else vals))
        self.sqnorm.append(norm**2)

    def empty(self) -> np.ndarray:
        """Boolean mask of rows without features."""
        if self._empty is None or len(self._empty) != len(self.sqnorm):
            self._empty = np.asarray(self.sqnorm) == 0
        return self._empty

    def matrix(self) -> sp.csr_matrix:
        """Unit-norm rows (empty rows stay zero), ``n x n_features``."""
        n, f = len(self.rows), max(len(self.vocab), 1)
        done = 0 if self._csr is None else self._csr.shape[0]
        if done == n and self._csr is not None and self._csr.shape[1] == f:
            return self._csr
        new = self.rows[done:]
        indptr = np.zeros(len(new) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(c) for c, _ in new])
        cols = np.concatenate([c for c, _ in new]) if new else np.zeros(0, np.int64)
        vals = np.concatenate([v for _, v in new]) if new else np.zeros(0)
        block = sp.csr_matrix((vals, cols, indptr), shape=(len(new), f))
        if self._csr is None:
            self._csr = block
        else:
            old = self._csr
            old.resize((old.shape[0], f))
            self._csr = sp.vstack([old, block], format="csr")
        return self._csr


class ArchitectureStore:
    """Architectures (canonical strings) mapped to integer indices, with cached WL features.

    Args:
        graphs: Maps a canonical architecture string to its graphs, one per level (for a domain,
            ``domain.to_graphs``). Flat domains have one level.
        iterations: WL refinement steps ``h``.
        direction: Neighbourhood used by the refinement (see :mod:`jahs_bo.encoding.wl`).
        n_levels: Number of levels kept; architectures with fewer levels get empty histograms
            for the missing ones, extra levels are an error.
        cache_size: Number of Gram blocks kept (fitting evaluates the same block many times).

    Example:
        >>> store = ArchitectureStore.from_domain(NB201Cell(), iterations=2)
        >>> idx = store.add(["|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|"])
        >>> store.gram(idx, idx)  # 1 x 1, normalised: [[1.0]]
    """

    def __init__(
        self,
        graphs: GraphsFn,
        iterations: int = 2,
        direction: Direction = "in",
        n_levels: int = 1,
        cache_size: int = 8,
    ) -> None:
        if n_levels < 1:
            raise InputError(f"n_levels must be >= 1, got {n_levels}")
        self._graphs = graphs
        self.iterations = int(iterations)
        self.direction = direction
        self.n_levels = int(n_levels)
        self._index: dict[str, int] = {}
        self._values: list[str] = []
        self._by_features: dict[tuple, int] = {}
        self._representative: list[int] = []
        self._levels = [_Level() for _ in range(self.n_levels)]
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_domain(
        cls,
        domain,
        iterations: int = 2,
        direction: Direction = "in",
        n_levels: int | None = None,
        rng: np.random.Generator | None = None,
    ) -> ArchitectureStore:
        """A store over ``domain.to_graphs``; ``n_levels`` defaults to that of a sample."""
        if n_levels is None:
            sample = domain.sample(rng if rng is not None else np.random.default_rng(0))
            n_levels = len(domain.to_graphs(sample))
        return cls(domain.to_graphs, iterations, direction, n_levels)

    def __deepcopy__(self, memo: dict) -> ArchitectureStore:
        # A store is an append-only shared index: copies of a model (botorch's fantasy and
        # conditioned models deep-copy their kernels) must keep pointing at the same one.
        return self

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._index

    def representatives(self, indices: np.ndarray) -> np.ndarray:
        """For each index, the first stored index with identical WL features on every level.

        Architectures with equal representatives are indistinguishable to the WL kernels (for
        NB201, cells whose pruned graphs coincide: the same network function).
        """
        return np.asarray(self._representative, dtype=np.int64)[np.asarray(indices, dtype=np.int64)]

    def value(self, index: int) -> str:
        """The architecture stored at ``index``."""
        return self._values[index]

    def add(self, values: Iterable[str]) -> np.ndarray:
        """Indices of ``values``, computing features for the ones not stored yet.

        Returns:
            ``int64`` array of the same length as ``values``.
        """
        out = []
        for v in values:
            i = self._index.get(v)
            if i is None:
                graphs = list(self._graphs(v))
                if len(graphs) > self.n_levels:
                    raise InputError(
                        f"architecture {v!r} has {len(graphs)} graph levels but the store keeps "
                        f"{self.n_levels}; build the store with n_levels={len(graphs)}"
                    )
                signature = []
                for level, store in enumerate(self._levels):
                    counts = (
                        wl_features(graphs[level], self.iterations, self.direction)
                        if level < len(graphs)
                        else {}
                    )
                    store.append(counts)
                    signature.append(tuple(sorted(counts.items())))
                i = len(self._values)
                self._representative.append(self._by_features.setdefault(tuple(signature), i))
                self._index[v] = i
                self._values.append(v)
            out.append(i)
        return np.asarray(out, dtype=np.int64)

    def features(self, level: int = 0) -> sp.csr_matrix:
        """Raw WL counts of every stored architecture, ``len(self) x n_features`` (sparse).

        Columns are features in order of first appearance; see :meth:`feature_names`.
        """
        lev = self._levels[level]
        m = lev.matrix()
        return (sp.diags(np.sqrt(np.asarray(lev.sqnorm))) @ m).tocsr()

    def feature_names(self, level: int = 0) -> list[str]:
        """Names (``"<iteration>:<label>"``) of the columns of :meth:`features`."""
        vocab = self._levels[level].vocab
        return sorted(vocab, key=vocab.__getitem__)

    def _check(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            bad = rows[(rows < 0) | (rows >= len(self))][0]
            raise InputError(
                f"architecture index {bad} is not in the store (it holds {len(self)}); "
                "add architectures with store.add() before evaluating the kernel"
            )
        return rows

    def gram(self, rows1: np.ndarray, rows2: np.ndarray, level: int = 0) -> np.ndarray:
        """Normalised WL kernel ``K[i, j] = <phi_i, phi_j> / (|phi_i| |phi_j|)``.

        Two empty histograms (a level an architecture lacks) have similarity 1, an empty and a
        non-empty one 0.

        Args:
            rows1: ``n1`` store indices.
            rows2: ``n2`` store indices.
            level: Graph level.

        Returns:
            ``n1 x n2`` float64 array (a cached block: copy before writing to it).
        """
        rows1, rows2 = self._check(rows1), self._check(rows2)
        key = (
            level,
            blake2b(rows1.tobytes(), digest_size=16).digest(),
            blake2b(rows2.tobytes(), digest_size=16).digest(),
        )
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        k = self._normalised_dots(rows1, rows2, level)
        self._cache[key] = k
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return k

    def _normalised_dots(self, rows1: np.ndarray, rows2: np.ndarray, level: int) -> np.ndarray:
        lev = self._levels[level]
        m = lev.matrix()
        a, b = m[rows1], m[rows2]
        if m.shape[1] <= _DENSE_FEATURES:
            # dense rows through torch's BLAS (which honours torch.set_num_threads; numpy's
            # multi-threaded BLAS is ~10x slower on a loaded 2-core machine)
            k = (torch.from_numpy(a.toarray()) @ torch.from_numpy(b.toarray()).T).numpy()
        else:
            k = np.asarray(a @ b.toarray().T)
        empty = lev.empty()
        e1, e2 = empty[rows1], empty[rows2]
        if e1.any() and e2.any():
            k[np.ix_(e1, e2)] = 1.0
        return k

    def pairwise(self, rows1: np.ndarray, rows2: np.ndarray, level: int = 0) -> np.ndarray:
        """Normalised kernel of matching pairs ``K[rows1[k], rows2[k]]``, shape ``n``."""
        rows1, rows2 = self._check(rows1), self._check(rows2)
        lev = self._levels[level]
        m = lev.matrix()
        out = np.asarray(m[rows1].multiply(m[rows2]).sum(axis=1)).ravel()
        empty = lev.empty()
        out[empty[rows1] & empty[rows2]] = 1.0
        return out
