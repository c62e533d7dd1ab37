"""An indexed, bounded store of architectures with their Weisfeiler-Lehman features.

The GP's input tensor keeps one column per architecture holding an integer index into an
:class:`ArchitectureStore`. The store computes the WL histograms of an architecture once (per
level of :meth:`~jahs_bo.spaces.base.ArchitectureDomain.to_graphs`), keeps them as sparse
rows, and answers normalised Gram blocks between index sets; the WL kernels only gather from
these blocks. Nothing here is differentiable: WL features are fixed inputs.

Only :meth:`ArchitectureStore.add` and :meth:`ArchitectureStore.evict` change a store; the
kernels read it (:meth:`~ArchitectureStore.gram`, :meth:`~ArchitectureStore.pairwise`) and
cache Gram blocks themselves. With ``max_size``, :meth:`~ArchitectureStore.evict` (called by
the searcher at the start of each suggestion with the architectures of its trials) drops the
least recently added-or-looked-up entries that no trial references, so a long study on a large
space (a grammar, where every suggestion meets a few hundred new architectures) keeps a bounded
store. Indices of the entries kept never change; an evicted index may be reused by a later
architecture.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from hashlib import blake2b

import networkx as nx
import numpy as np
import scipy.sparse as sp
import torch

from jahs_bo.encoding.wl import Direction, wl_features
from jahs_bo.exceptions import InputError

#: Feature counts up to which Gram blocks are computed from dense rows.
_DENSE_FEATURES = 4096
#: After an eviction the store holds at most this fraction of ``max_size`` (eviction sorts every
#: entry, so it runs once every few suggestions, not at each).
_LOW_WATER = 0.8

GraphsFn = Callable[[str], Sequence[nx.DiGraph]]
FeaturesFn = Callable[[str], Sequence[Mapping[str, int]]]
_EMPTY_ROW = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


class _Grow:
    """A 1-d numpy array with amortized O(1) appends (``values`` is the filled prefix)."""

    def __init__(self, dtype: type, fill: float = 0) -> None:
        self._buf = np.full(16, fill, dtype=dtype)
        self._fill = fill
        self.n = 0

    @property
    def values(self) -> np.ndarray:
        return self._buf[: self.n]

    def extend(self, items: np.ndarray) -> None:
        need = self.n + len(items)
        if need > len(self._buf):
            buf = np.full(max(need, 2 * len(self._buf)), self._fill, dtype=self._buf.dtype)
            buf[: self.n] = self._buf[: self.n]
            self._buf = buf
        self._buf[self.n : need] = items
        self.n = need

    def set(self, index: int, value: float) -> None:
        self._buf[index] = value


class _Level:
    """Sparse unit-norm WL histograms of one graph level, one row per store slot.

    Rows live in growing CSR buffers (``int32`` indices, as scipy would choose) as *physical*
    rows, and ``phys`` maps each slot to its physical row. Writing a slot (a new one, or one
    freed by an eviction) appends a physical row and points the slot at it, so every write
    costs the size of its row: a long search on a grammar space, which refills freed slots
    with hundreds of new architectures per suggestion, never rebuilds the matrix per write.
    The rows no slot points at any more are dropped by :meth:`refresh` once they outnumber the
    slots (one vectorized gather, amortized O(1) per write).
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.n_rows = 0
        self.sqnorm = _Grow(np.float64)
        self.phys = _Grow(np.int64)
        self.csr: sp.csr_matrix = sp.csr_matrix((0, 1))
        self.empty = np.zeros(0, dtype=bool)
        self._dead = 0  # physical rows no slot points at
        self._dirty = False
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self._indptr = _Grow(np.int32)
        self._indptr.extend(np.zeros(1, dtype=np.int32))
        self._indices = _Grow(np.int32)
        self._data = _Grow(np.float64)

    def _append_row(self, cols: np.ndarray, vals: np.ndarray) -> int:
        """Append a physical row; returns its position."""
        self._indices.extend(cols)
        self._data.extend(vals)
        self._indptr.extend(np.array([self._data.n], dtype=np.int32))
        self._dirty = True
        return self._indptr.n - 2

    def put(self, slot: int, counts: Mapping[str, int]) -> bytes:
        """Set the histogram of ``slot`` (a new slot at the end, or a freed one).

        Returns:
            The histogram as bytes that are equal exactly when the histograms are (feature
            indices in increasing order, then their counts).
        """
        vocab = self.vocab
        try:  # every feature known (the usual case once a search runs): a lookup in C
            cols = np.fromiter(map(vocab.__getitem__, counts), dtype=np.int64, count=len(counts))
        except KeyError:
            cols = np.fromiter((vocab.setdefault(k, len(vocab)) for k in counts), dtype=np.int64)
        vals = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        norm = float(np.sqrt(vals @ vals))
        self._point(slot, self._append_row(cols, vals / norm if norm > 0 else vals))
        self.sqnorm.set(slot, norm**2)
        order = np.argsort(cols)
        return cols[order].tobytes() + vals[order].tobytes()

    def clear(self, slot: int) -> None:
        """Drop the histogram of an evicted slot."""
        self._point(slot, self._append_row(*_EMPTY_ROW))
        self.sqnorm.set(slot, 0.0)

    def _point(self, slot: int, physical: int) -> None:
        if slot == self.n_rows:
            self.n_rows += 1
            self.phys.extend(np.array([physical]))
            self.sqnorm.extend(np.zeros(1))
        else:
            self.phys.set(slot, physical)
            self._dead += 1

    def refresh(self) -> None:
        """Bring :attr:`csr` (physical rows) and :attr:`empty` (per slot) up to date."""
        f = max(len(self.vocab), 1)
        if not self._dirty and self.csr.shape[1] == f:
            return
        if self._dead > max(self.n_rows, 1024):
            self._compact()
        self.csr = sp.csr_matrix(
            (self._data.values, self._indices.values, self._indptr.values),
            shape=(self._indptr.n - 1, f),
        )
        self.empty = self.sqnorm.values == 0
        self._dirty = False

    def _compact(self) -> None:
        """Keep only the physical rows slots point at, in slot order (one gather)."""
        ptr = self._indptr.values.astype(np.int64)
        phys = self.phys.values
        starts, lengths = ptr[phys], ptr[phys + 1] - ptr[phys]
        new_ptr = np.concatenate([[0], np.cumsum(lengths)])
        pos = np.repeat(starts - new_ptr[:-1], lengths) + np.arange(int(new_ptr[-1]))
        idx, data = self._indices.values[pos], self._data.values[pos]
        self._reset_buffers()
        self._indices.extend(idx)
        self._data.extend(data)
        self._indptr.extend(new_ptr[1:].astype(np.int32))
        self.phys = _Grow(np.int64)
        self.phys.extend(np.arange(self.n_rows))
        self._dead = 0

    def rows(self, slots: np.ndarray) -> sp.csr_matrix:
        """The unit-norm rows of ``slots`` (``len(slots) x n_features``)."""
        return self.csr[self.phys.values[slots]]


class ArchitectureStore:
    """Architectures (canonical strings) mapped to integer indices, with cached WL features.

    Args:
        graphs: Maps a canonical architecture string to its graphs, one per level (for a domain,
            ``domain.to_graphs``). Flat domains have one level.
        iterations: WL refinement steps ``h``.
        direction: Neighbourhood used by the refinement (see :mod:`jahs_bo.encoding.wl`).
        n_levels: Number of levels kept; architectures with fewer levels get empty histograms
            for the missing ones, extra levels are an error.
        max_size: Entries above which :meth:`evict` drops unreferenced ones (``None``: never).
        features: Maps an architecture string to its WL histograms, one per level, directly
            (a domain's :meth:`~jahs_bo.spaces.base.ArchitectureDomain.wl_features` with this
            store's ``iterations`` and ``direction``); default: :func:`~jahs_bo.encoding.wl.
            wl_features` of each of ``graphs(value)``.

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
        max_size: int | None = None,
        *,
        features: FeaturesFn | None = None,
    ) -> None:
        if n_levels < 1:
            raise InputError(f"n_levels must be >= 1, got {n_levels}")
        if max_size is not None and max_size < 1:
            raise InputError(f"max_size must be >= 1 or None, got {max_size}")
        self._graphs = graphs
        self.iterations = int(iterations)
        self.direction = direction
        self._features = features if features is not None else self._graph_features
        self.n_levels = int(n_levels)
        self.max_size = max_size
        self._index: dict[str, int] = {}
        self._values: list[str | None] = []
        self._signature: list[bytes | None] = []
        self._by_features: dict[bytes, int] = {}
        self._representative = _Grow(np.int64, fill=-1)
        self._last_used: list[int] = []
        self._clock = 0
        self._free: list[int] = []
        self._levels = [_Level() for _ in range(self.n_levels)]

    @classmethod
    def from_domain(
        cls,
        domain,
        iterations: int = 2,
        direction: Direction = "in",
        n_levels: int | None = None,
        rng: np.random.Generator | None = None,
        max_size: int | None = None,
    ) -> ArchitectureStore:
        """A store over ``domain.wl_features``; ``n_levels`` defaults to that of a sample."""
        if n_levels is None:
            sample = domain.sample(rng if rng is not None else np.random.default_rng(0))
            n_levels = len(domain.to_graphs(sample))
        features = partial(domain.wl_features, iterations=iterations, direction=direction)
        return cls(domain.to_graphs, iterations, direction, n_levels, max_size, features=features)

    def __deepcopy__(self, memo: dict) -> ArchitectureStore:
        # A store is a shared index: copies of a model (botorch's fantasy and conditioned
        # models deep-copy their kernels) must keep pointing at the same one.
        return self

    def __len__(self) -> int:
        """Number of stored architectures."""
        return len(self._index)

    def __contains__(self, value: object) -> bool:
        return value in self._index

    @property
    def n_slots(self) -> int:
        """Indices in use or free (``max(index) + 1``); rows of :meth:`features`."""
        return len(self._values)

    def index(self, value: str) -> int | None:
        """The index of a stored architecture (``None`` if it is not stored); adds nothing."""
        return self._index.get(value)

    def representatives(self, indices: np.ndarray) -> np.ndarray:
        """For each index, the first stored index with identical WL features on every level.

        Architectures with equal representatives are indistinguishable to the WL kernels (for
        NB201, cells whose pruned graphs coincide: the same network function).
        """
        return self._representative.values[np.asarray(indices, dtype=np.int64)]

    def value(self, index: int) -> str:
        """The architecture stored at ``index``."""
        v = self._values[index] if 0 <= index < len(self._values) else None
        if v is None:
            raise InputError(f"architecture index {index} is not in the store")
        return v

    def add(self, values: Iterable[str]) -> np.ndarray:
        """Indices of ``values``, computing features for the ones not stored yet.

        Returns:
            ``int64`` array of the same length as ``values``.
        """
        self._clock += 1
        out = []
        for v in values:
            i = self._index.get(v)
            if i is None:
                i = self._insert(v)
            self._last_used[i] = self._clock
            out.append(i)
        for lev in self._levels:
            lev.refresh()
        return np.asarray(out, dtype=np.int64)

    def _graph_features(self, v: str) -> list[Counter[str]]:
        return [wl_features(g, self.iterations, self.direction) for g in self._graphs(v)]

    def _insert(self, v: str) -> int:
        histograms = list(self._features(v))
        if len(histograms) > self.n_levels:
            raise InputError(
                f"architecture {v!r} has {len(histograms)} graph levels but the store keeps "
                f"{self.n_levels}; build the store with n_levels={len(histograms)}"
            )
        i = heapq.heappop(self._free) if self._free else len(self._values)
        # A digest, not the histograms themselves: equal features, equal signature.
        digest = blake2b(digest_size=16)
        for level, lev in enumerate(self._levels):
            row = lev.put(i, histograms[level] if level < len(histograms) else {})
            digest.update(len(row).to_bytes(8, "little"))
            digest.update(row)
        sig = digest.digest()
        rep = self._by_features.setdefault(sig, i)
        if i == len(self._values):
            self._values.append(v)
            self._signature.append(sig)
            self._representative.extend(np.array([rep]))
            self._last_used.append(0)
        else:
            self._values[i], self._signature[i] = v, sig
            self._representative.set(i, rep)
        self._index[v] = i
        return i

    def evict(self, keep: Iterable[int] = ()) -> int:
        """Drop the least recently used entries not in ``keep`` while above ``max_size``.

        Evicts down to ``0.8 * max_size`` entries (or as far as ``keep`` allows). Indices of kept
        entries stay valid; evicted ones become free for later architectures, so tensors that
        hold them must not be used afterwards (call this between suggestions).

        Args:
            keep: Indices still referenced (the training data, pending trials).

        Returns:
            Number of entries evicted.
        """
        if self.max_size is None or len(self) <= self.max_size:
            return 0
        target = int(_LOW_WATER * self.max_size)
        kept = set(np.asarray(list(keep), dtype=np.int64).tolist())
        live = [i for i in self._index.values() if i not in kept]
        live.sort(key=lambda i: (self._last_used[i], i))
        drop = live[: max(len(self) - target, 0)]
        if not drop:
            return 0
        orphaned = set()
        for i in drop:
            v, sig = self._values[i], self._signature[i]
            del self._index[v]  # type: ignore[arg-type]
            self._values[i] = self._signature[i] = None
            self._representative.set(i, -1)
            for lev in self._levels:
                lev.clear(i)
            heapq.heappush(self._free, i)
            if self._by_features.get(sig) == i:  # type: ignore[arg-type]
                del self._by_features[sig]  # type: ignore[arg-type]
                orphaned.add(sig)
        # Entries whose representative left get the smallest remaining index of their class.
        for j in sorted(self._index.values()):
            sig = self._signature[j]
            if sig in orphaned:
                self._representative.set(j, self._by_features.setdefault(sig, j))
        for lev in self._levels:
            lev.refresh()
        return len(drop)

    def features(self, level: int = 0) -> sp.csr_matrix:
        """Raw WL counts per slot, ``n_slots x n_features`` (sparse; free slots are empty).

        Columns are features in order of first appearance; see :meth:`feature_names`.
        """
        lev = self._levels[level]
        rows = lev.rows(np.arange(lev.n_rows))
        return (sp.diags(np.sqrt(lev.sqnorm.values)) @ rows).tocsr()

    def feature_names(self, level: int = 0) -> list[str]:
        """Names (``"<iteration>:<label>"``) of the columns of :meth:`features`."""
        vocab = self._levels[level].vocab
        return sorted(vocab, key=vocab.__getitem__)

    def _check(self, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            bad = (rows < 0) | (rows >= len(self._values))
            if not bad.any():
                bad = self._representative.values[rows] < 0
            if bad.any():
                raise InputError(
                    f"architecture index {rows[bad][0]} is not in the store (it holds "
                    f"{len(self)}); add architectures with store.add() before evaluating the "
                    "kernel"
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
            ``n1 x n2`` float64 array.
        """
        rows1, rows2 = self._check(rows1), self._check(rows2)
        lev = self._levels[level]
        a, b = lev.rows(rows1), lev.rows(rows2)
        if a.shape[1] <= _DENSE_FEATURES:
            # dense rows through torch's BLAS (which honours torch.set_num_threads; numpy's
            # multi-threaded BLAS is ~10x slower on a loaded 2-core machine)
            k = (torch.from_numpy(a.toarray()) @ torch.from_numpy(b.toarray()).T).numpy()
        else:
            k = np.asarray(a @ b.toarray().T)
        e1, e2 = lev.empty[rows1], lev.empty[rows2]
        if e1.any() and e2.any():
            k[np.ix_(e1, e2)] = 1.0
        return k

    def pairwise(self, rows1: np.ndarray, rows2: np.ndarray, level: int = 0) -> np.ndarray:
        """Normalised kernel of matching pairs ``K[rows1[k], rows2[k]]``, shape ``n``."""
        rows1, rows2 = self._check(rows1), self._check(rows2)
        lev = self._levels[level]
        out = np.asarray(lev.rows(rows1).multiply(lev.rows(rows2)).sum(axis=1)).ravel()
        out[lev.empty[rows1] & lev.empty[rows2]] = 1.0
        return out
