"""Weisfeiler-Lehman graph kernels that read architecture indices from the input tensor.

The model's input holds one column per architecture with an integer index into an
:class:`~jahs_bo.encoding.store.ArchitectureStore`. These kernels map the index columns of
``x1`` and ``x2`` to their unique indices, ask the store for the normalised Gram block between
them (cached, sparse products) and gather. Scoring ``N`` candidates against ``n`` training points
costs one ``N x n`` gather, never an ``N x n x n_features`` expansion.
"""

from __future__ import annotations

from collections import OrderedDict
from hashlib import blake2b

import numpy as np
import torch
from gpytorch.kernels import Kernel
from torch import Tensor

from jahs_bo.encoding.store import ArchitectureStore
from jahs_bo.exceptions import InputError


def _index_column(x: Tensor) -> Tensor:
    """``batch x n x 1`` float indices -> ``batch x n`` long indices."""
    if x.shape[-1] != 1:
        raise InputError(
            f"a WL kernel reads exactly one index column, got inputs of width {x.shape[-1]}; "
            "pass active_dims=[column]"
        )
    return x[..., 0].round().long()


class GramCache:
    """The last few Gram blocks a kernel asked its store for (fitting repeats the same ones).

    A copy of a kernel (botorch's conditioned models deep-copy theirs) starts empty.

    Args:
        size: Blocks kept (least recently used dropped first).
    """

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._blocks: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def __deepcopy__(self, memo: dict) -> GramCache:
        return GramCache(self.size)

    def gram(
        self, store: ArchitectureStore, rows1: np.ndarray, rows2: np.ndarray, level: int
    ) -> np.ndarray:
        """``store.gram(rows1, rows2, level)``, cached (do not write to the result)."""
        key = (
            id(store),
            level,
            blake2b(np.ascontiguousarray(rows1, dtype=np.int64).tobytes(), digest_size=16).digest(),
            blake2b(np.ascontiguousarray(rows2, dtype=np.int64).tobytes(), digest_size=16).digest(),
        )
        hit = self._blocks.get(key)
        if hit is not None:
            self._blocks.move_to_end(key)
            return hit
        block = store.gram(rows1, rows2, level)
        self._blocks[key] = block
        if len(self._blocks) > self.size:
            self._blocks.popitem(last=False)
        return block


def _gathered_grams(
    store: ArchitectureStore,
    cache: GramCache,
    levels: range,
    x1: Tensor,
    x2: Tensor,
    diag: bool,
) -> list[Tensor]:
    """Per level, ``batch x n1 x n2`` (or ``batch x n`` with ``diag``) WL kernel values."""
    i1, i2 = _index_column(x1), _index_column(x2)
    if diag:
        b1, b2 = torch.broadcast_tensors(i1, i2)
        r1, r2 = b1.reshape(-1).numpy(), b2.reshape(-1).numpy()
        return [
            torch.from_numpy(store.pairwise(r1, r2, level)).to(x1).view(b1.shape)
            for level in levels
        ]
    u1, inv1 = torch.unique(i1, return_inverse=True)
    if i2 is i1 or torch.equal(i1, i2):
        u2, inv2 = u1, inv1
    else:
        u2, inv2 = torch.unique(i2, return_inverse=True)
    r1, r2 = u1.numpy(), u2.numpy()
    rows, cols = inv1.unsqueeze(-1), inv2.unsqueeze(-2)
    out = []
    for level in levels:
        gram = torch.from_numpy(cache.gram(store, r1, r2, level)).to(x1)
        out.append(gram[rows, cols])
    return out


class WLKernel(Kernel):
    """Normalised Weisfeiler-Lehman subtree kernel over one graph level.

    ``k(a, b) = <phi_a, phi_b> / (|phi_a| |phi_b|)`` with ``phi`` the WL histogram of
    iterations ``0..h`` (``h`` and the direction are the store's). The kernel has no
    hyperparameters; wrap it in a ``ScaleKernel`` for an output scale.

    Args:
        store: Where the architecture indices point.
        level: Which graph level of the store to compare.
        **kwargs: Passed to ``gpytorch.kernels.Kernel`` (``active_dims=[column]``,
            ``batch_shape``).

    Shapes:
        ``x1``: ``batch x n1 x 1`` indices, ``x2``: ``batch x n2 x 1``; returns
        ``batch x n1 x n2`` (``batch x n1`` with ``diag=True``).
    """

    has_lengthscale = False

    def __init__(self, store: ArchitectureStore, level: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= level < store.n_levels:
            raise InputError(f"level {level} is outside the store's 0..{store.n_levels - 1}")
        self.store = store
        self.level = level
        self.cache = GramCache()

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        levels = range(self.level, self.level + 1)
        return _gathered_grams(self.store, self.cache, levels, x1, x2, diag)[0]


class HierarchicalWLKernel(Kernel):
    """Weighted sum of per-level WL kernels: ``k = sum_l w_l k_l`` with ``w = softmax(raw)``.

    Level 0 is the whole architecture, deeper levels its parts (the derivation levels of a
    grammar architecture). The weights are learned with the other hyperparameters through the
    marginal likelihood; being a convex combination of normalised kernels, ``k(a, a) = 1``.

    Args:
        store: Store with ``n_levels`` levels.
        **kwargs: Passed to ``gpytorch.kernels.Kernel``.
    """

    has_lengthscale = False

    def __init__(self, store: ArchitectureStore, **kwargs) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.cache = GramCache()
        self.register_parameter(
            "raw_level_weights",
            torch.nn.Parameter(torch.zeros(*self.batch_shape, store.n_levels)),
        )

    @property
    def level_weights(self) -> Tensor:
        """``batch_shape x n_levels`` positive weights summing to one."""
        return torch.softmax(self.raw_level_weights, dim=-1)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        grams = _gathered_grams(self.store, self.cache, range(self.store.n_levels), x1, x2, diag)
        w = self.level_weights.to(x1)
        extra = (None,) if diag else (None, None)
        out = 0.0
        for level, k in enumerate(grams):
            out = out + w[(..., level, *extra)] * k
        return out


class LevelProductWLKernel(Kernel):
    """Product of per-level WL kernels: ``k = prod_l k_l``.

    Two architectures are similar only when they are similar at every level (the final graph
    and each derivation level of a grammar architecture). Unlike
    :class:`HierarchicalWLKernel` it has no weights to learn, which small data fit badly
    (measurements: ``benchmarks/results/digits-nas/results.md``). ``k(a, a) = 1``; wrap it in
    a ``ScaleKernel`` for an output scale.

    Args:
        store: Store with ``n_levels`` levels.
        **kwargs: Passed to ``gpytorch.kernels.Kernel``.

    Shapes:
        as :class:`WLKernel`.
    """

    has_lengthscale = False

    def __init__(self, store: ArchitectureStore, **kwargs) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.cache = GramCache()

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        grams = _gathered_grams(self.store, self.cache, range(self.store.n_levels), x1, x2, diag)
        out = grams[0]
        for k in grams[1:]:
            out = out * k
        return out
