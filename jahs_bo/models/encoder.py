"""Configurations and fidelities -> the GP's low-dimensional input tensor.

Column layout of ``X`` (``n x d``, ``torch.double``)::

    [ architecture index per architecture | hyperparameters (unit cube) | fidelities in [0, 1] ]

- An architecture column holds an integer index into that architecture's
  :class:`~jahs_bo.encoding.store.ArchitectureStore`; the WL kernels look features up by index.
- Hyperparameters use ConfigSpace's vector space: floats and integers in ``[0, 1]`` (log scale
  applied), unordered categoricals as choice indices ``0..k-1``, ordinals as index / (k - 1).
  Inactive hyperparameters (conditions) are ``-1``: equal to each other, far from active values.
- Fidelities are normalised by :meth:`Fidelity.normalize` (1 = full fidelity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from ConfigSpace import Configuration
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    FloatHyperparameter,
    IntegerHyperparameter,
    OrdinalHyperparameter,
)
from gpytorch.kernels import Kernel
from torch import Tensor

from jahs_bo.encoding.store import ArchitectureStore
from jahs_bo.encoding.wl import Direction
from jahs_bo.exceptions import InputError
from jahs_bo.kernels import (
    DeepGraphKernel,
    HierarchicalWLKernel,
    LevelProductWLKernel,
    WLKernel,
    joint_kernel,
)
from jahs_bo.kernels.joint import Combination
from jahs_bo.types import Config

#: Value of an inactive hyperparameter in ``X``.
INACTIVE = -1.0
#: Default bound of each architecture store (see :class:`JointEncoder`).
DEFAULT_STORE_SIZE = 20_000


def reflect_unit(v: float) -> float:
    """Fold ``v`` into ``[0, 1]`` by reflection at the bounds (``-0.1 -> 0.1``, ``1.3 -> 0.7``)."""
    v = abs(v) % 2.0
    return 2.0 - v if v > 1.0 else v


ArchKernel = Literal["wl", "wl-product", "deep"]


class JointEncoder:
    """Encodes configurations of a :class:`~jahs_bo.spaces.space.SearchSpace` as GP inputs.

    Args:
        space: The search space.
        iterations: WL refinement steps ``h`` of the architecture stores.
        direction: WL neighbourhood direction (see :mod:`jahs_bo.encoding.wl`); ``"both"``
            gave the best NB201 regret (``benchmarks/results/gp-defaults.md``).
        store_size: Architectures per store above which :meth:`evict_unused` drops entries no
            trial references (``None``: unbounded). The default exceeds the NB201 cell space
            (15,625), so there nothing is ever evicted.

    Attributes:
        stores: One :class:`ArchitectureStore` per architecture key.
        arch_dims / numeric_dims / categorical_dims / fidelity_dims: Column indices.
        continuous_dims: Numeric columns of float and integer hyperparameters (the ones a
            gradient optimizer may move).
    """

    def __init__(
        self,
        space,
        iterations: int = 2,
        direction: Direction = "both",
        store_size: int | None = DEFAULT_STORE_SIZE,
    ) -> None:
        self.space = space
        self.stores = {
            name: ArchitectureStore.from_domain(dom, iterations, direction, max_size=store_size)
            for name, dom in space.architectures.items()
        }
        n_arch = len(self.stores)
        hps = [space.hyperparameters[n] for n in space.hp_names]
        self.arch_dims = list(range(n_arch))
        self.hp_dims = list(range(n_arch, n_arch + len(hps)))
        self.categorical_dims = [
            d
            for d, hp in zip(self.hp_dims, hps, strict=True)
            if isinstance(hp, CategoricalHyperparameter)
        ]
        self.numeric_dims = [d for d in self.hp_dims if d not in self.categorical_dims]
        self.continuous_dims = [
            d
            for d, hp in zip(self.hp_dims, hps, strict=True)
            if isinstance(hp, (FloatHyperparameter, IntegerHyperparameter))
        ]
        self._ordinal_scale = np.array(
            [
                max(len(hp.sequence) - 1, 1) if isinstance(hp, OrdinalHyperparameter) else 1.0
                for hp in hps
            ]
        )
        start = n_arch + len(hps)
        self.fidelity_dims = list(range(start, start + len(space.fidelities)))
        self.dim = start + len(space.fidelities)
        self._hp_cache: dict[tuple, np.ndarray] = {}

    def encode(
        self,
        configs: Sequence[Mapping],
        fidelities: Sequence[Mapping[str, float] | None] | None = None,
    ) -> Tensor:
        """Encode configurations (at full fidelity unless ``fidelities`` are given).

        Args:
            configs: ``n`` canonical configurations.
            fidelities: ``n`` fidelity assignments (missing names and ``None`` mean full).

        Returns:
            ``n x d`` double tensor.
        """
        n = len(configs)
        x = np.zeros((n, self.dim))
        for col, (name, store) in zip(self.arch_dims, self.stores.items(), strict=True):
            x[:, col] = store.add([c[name] for c in configs])
        if self.hp_dims and n:
            x[:, self.hp_dims] = np.stack([self._hp_row(c) for c in configs])
        if self.fidelity_dims:
            full = self.space.max_fidelity()
            fids = fidelities if fidelities is not None else [None] * n
            if len(fids) != n:
                raise InputError(f"got {len(fids)} fidelity assignments for {n} configurations")
            x[:, self.fidelity_dims] = (
                np.stack([self.space.fidelity_vector({**full, **(f or {})}) for f in fids])
                if n
                else np.zeros((0, len(self.fidelity_dims)))
            )
        return torch.from_numpy(x)

    def evict_unused(self, configs: Sequence[Mapping]) -> int:
        """Bound the architecture stores, keeping the architectures of ``configs``.

        Call it between suggestions with the configurations of every trial still modelled
        (complete and running): rows encoded earlier must not be used afterwards, since an
        evicted index may be given to another architecture.

        Returns:
            Number of architectures evicted.
        """
        evicted = 0
        for name, store in self.stores.items():
            keep = [i for c in configs if (i := store.index(c[name])) is not None]
            evicted += store.evict(keep)
        return evicted

    def sample_rows(self, n: int, rng: np.random.Generator) -> Tensor:
        """``n`` uniformly random configurations, encoded at full fidelity (``n x d``).

        Same distribution as ``space.sample_many`` but without building configuration dicts
        (decode a row with :meth:`decode`).
        """
        x = np.ones((n, self.dim))
        for col, (name, store) in zip(self.arch_dims, self.stores.items(), strict=True):
            dom = self.space.architectures[name]
            x[:, col] = store.add([dom.sample(rng) for _ in range(n)])
        if self.hp_dims and n:
            cs = self.space.hyperparameters
            cs.seed(int(rng.integers(0, 2**31 - 1)))
            confs = cs.sample_configuration(n)
            confs = [confs] if isinstance(confs, Configuration) else confs
            hp = np.stack([c.get_array() for c in confs]) / self._ordinal_scale
            x[:, self.hp_dims] = np.where(np.isnan(hp), INACTIVE, hp)
        return torch.from_numpy(x)

    def hp_vectors(self, X: Tensor) -> np.ndarray:
        """ConfigSpace vectors of the hyperparameter columns of ``X`` (``n x d`` -> ``n x h``).

        The inverse of the encoding of :meth:`SearchSpace.hp_vector
        <jahs_bo.spaces.SearchSpace.hp_vector>`: NaN where inactive.
        """
        cols = np.asarray(X.detach(), dtype=float)[:, self.hp_dims]
        return np.where(cols == INACTIVE, np.nan, cols * self._ordinal_scale)

    def _hp_row(self, config: Mapping) -> np.ndarray:
        key = tuple(config.get(k) for k in self.space.hp_names)
        row = self._hp_cache.get(key)
        if row is None:
            hp = self.space.hp_vector(config) / self._ordinal_scale
            row = np.where(np.isnan(hp), INACTIVE, hp)
            if len(self._hp_cache) < 200_000:
                self._hp_cache[key] = row
        return row

    @property
    def vector_moves(self) -> bool:
        """Whether hyperparameters can be moved in vector space (no conditions/forbiddens)."""
        hps = self.space.hyperparameters
        return not (hps.conditions or hps.forbidden_clauses)

    def perturb_hyperparameters(
        self, x: Tensor, n: int, rng: np.random.Generator, scale: float = 0.15
    ) -> Tensor:
        """``n`` one-exchange moves of the hyperparameters of the encoded row ``x``.

        Each move changes one uniformly chosen hyperparameter: a float or integer by a Gaussian
        step of ``scale`` in the unit cube, an ordinal by one position, a categorical to another
        choice (the moves of SMAC's local search). Numeric steps reflect at the bounds: clipping
        would put a point mass on every bound, and the local search then drifted into corners
        (on LCBench: learning rate, batch size, width and weight decay all at a bound). Valid
        only when :attr:`vector_moves` holds.

        Args:
            x: ``d`` encoded row.
            n: Number of moves.
            rng: Random source.
            scale: Standard deviation of numeric steps.

        Returns:
            ``n x d`` rows.
        """
        rows = x.unsqueeze(0).repeat(n, 1)
        if not self.hp_dims or n == 0:
            return rows
        hps = [self.space.hyperparameters[k] for k in self.space.hp_names]
        picks = rng.integers(len(self.hp_dims), size=n)
        for r, j in enumerate(picks.tolist()):
            d, hp = self.hp_dims[j], hps[j]
            cur = float(rows[r, d])
            if cur == INACTIVE:
                continue
            if isinstance(hp, CategoricalHyperparameter):
                k = len(hp.choices)
                rows[r, d] = float((int(cur) + int(rng.integers(1, k))) % k) if k > 1 else cur
            elif isinstance(hp, OrdinalHyperparameter):
                step = 1.0 / self._ordinal_scale[j]
                rows[r, d] = reflect_unit(cur + (step if rng.random() < 0.5 else -step))
            else:
                rows[r, d] = reflect_unit(cur + scale * float(rng.standard_normal()))
        return rows

    def decode(self, x: Tensor | np.ndarray) -> Config:
        """The canonical configuration of an encoded row (fidelity columns are ignored).

        Raises:
            InvalidConfigError: the row's hyperparameters are not a valid configuration.
        """
        x = np.asarray(x, dtype=float)
        cfg: Config = {}
        if self.hp_dims:
            vec = x[self.hp_dims] * self._ordinal_scale
            vec = np.where(x[self.hp_dims] == INACTIVE, np.nan, vec)
            conf = Configuration(self.space.hyperparameters, vector=vec)
            cfg.update(
                {k: v.item() if isinstance(v, np.generic) else v for k, v in dict(conf).items()}
            )
        for col, (name, store) in zip(self.arch_dims, self.stores.items(), strict=True):
            cfg[name] = store.value(int(round(x[col])))
        return self.space.validate(cfg)

    def covar_module(
        self,
        combination: Combination = "sum_product",
        arch_kernel: ArchKernel = "wl",
    ) -> Kernel:
        """A fresh joint kernel for this layout (see :func:`jahs_bo.kernels.joint_kernel`).

        Args:
            combination: How the parts combine.
            arch_kernel: ``"wl"`` (where a domain has several graph levels: hierarchical WL,
                softmax-weighted levels), ``"wl-product"`` (several levels: the product of
                the per-level WL kernels; one level: as ``"wl"``) or ``"deep"`` (GIN encoder +
                Matern, trained by the marginal likelihood).
        """
        arch = []
        for col, (name, store) in zip(self.arch_dims, self.stores.items(), strict=True):
            if arch_kernel == "deep":
                dom = self.space.architectures[name]
                arch.append(
                    DeepGraphKernel(
                        store, dom.to_pyg, in_channels=len(dom.labels()), active_dims=[col]
                    )
                )
            elif store.n_levels > 1 and arch_kernel == "wl-product":
                arch.append(LevelProductWLKernel(store, active_dims=[col]))
            elif store.n_levels > 1:
                arch.append(HierarchicalWLKernel(store, active_dims=[col]))
            elif arch_kernel in ("wl", "wl-product"):
                arch.append(WLKernel(store, active_dims=[col]))
            else:
                raise InputError(
                    f"arch_kernel must be 'wl', 'wl-product' or 'deep', got {arch_kernel!r}"
                )
        return joint_kernel(
            arch, self.numeric_dims, self.categorical_dims, self.fidelity_dims, combination
        )
