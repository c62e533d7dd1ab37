"""Encoders of the meta-learned model: configurations and datasets -> vectors.

- :class:`InputLayout` writes configurations in the GP searcher's column layout (that of
  :class:`~jahs_bo.models.encoder.JointEncoder`): ``[architecture index per architecture |
  hyperparameters in ConfigSpace's unit cube | fidelities in [0, 1]]``. The meta-model reads the
  same ``n x d`` tensors the searcher builds, so its kernel plugs into a searcher unchanged.
- :class:`ConfigEncoder`: a GIN per architecture domain (over ``domain.to_pyg``, the graph view
  the WL kernels use) plus an MLP over hyperparameters and fidelities, joined by an MLP.
- :class:`DatasetEncoder`: a set transformer (Lee et al., 2019) over two kinds of tokens, used
  as available: samples ``(x, y)`` of the dataset and the ``(configuration embedding, score)``
  pairs observed on the task. Permutation invariant, any set size, any number of classes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from hashlib import blake2b
from typing import Any

import numpy as np
import torch
from ConfigSpace.hyperparameters import CategoricalHyperparameter, OrdinalHyperparameter
from torch import Tensor, nn

from jahs_bo.exceptions import InputError
from jahs_bo.kernels.deep import GINEncoder

#: Value of an inactive hyperparameter in the layout (same as the GP searcher's).
INACTIVE = -1.0


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given widths with ``activation`` between them (none at the end)."""
    layers: list[nn.Module] = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ArchIndex:
    """Architectures (canonical strings) mapped to integer indices; no features.

    The meta-model's own stand-in for an :class:`~jahs_bo.encoding.store.ArchitectureStore`
    (same ``add``/``value`` interface, without the WL features it does not need).
    """

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self._values: list[str] = []

    def __len__(self) -> int:
        return len(self._values)

    def __deepcopy__(self, memo: dict) -> ArchIndex:
        return self  # append-only and shared, like ArchitectureStore

    def add(self, values: Sequence[str]) -> np.ndarray:
        """Indices of ``values`` (new ones are appended), ``int64`` of length ``len(values)``."""
        out = np.empty(len(values), dtype=np.int64)
        for k, v in enumerate(values):
            i = self._index.get(v)
            if i is None:
                i = self._index[v] = len(self._values)
                self._values.append(v)
            out[k] = i
        return out

    def value(self, index: int) -> str:
        """The architecture at ``index``."""
        return self._values[index]


class InputLayout:
    """Column layout of the GP input for a space (same as ``JointEncoder``'s).

    Args:
        space: A :class:`~jahs_bo.spaces.SearchSpace`.

    Attributes:
        arch_keys: Architecture keys, one index column each (columns ``0..len-1``).
        hp_dims / fidelity_dims: Column indices of hyperparameters and fidelities.
        dim: Number of columns ``d``.
        feature_dim: Width of :meth:`hp_features` (categoricals one-hot).
    """

    def __init__(self, space: Any) -> None:
        self.space = space
        self.arch_keys = list(space.architectures)
        self.arch_dims = list(range(len(self.arch_keys)))
        hps = [space.hyperparameters[n] for n in space.hp_names]
        start = len(self.arch_keys)
        self.hp_dims = list(range(start, start + len(hps)))
        self.fidelity_dims = list(range(start + len(hps), start + len(hps) + len(space.fidelities)))
        self.dim = start + len(hps) + len(space.fidelities)
        self._ordinal_scale = np.array(
            [
                max(len(hp.sequence) - 1, 1) if isinstance(hp, OrdinalHyperparameter) else 1.0
                for hp in hps
            ]
        )
        #: Number of choices of each hyperparameter column (0 for numeric ones).
        self.n_choices = [
            len(hp.choices) if isinstance(hp, CategoricalHyperparameter) else 0 for hp in hps
        ]
        self.feature_dim = sum(k if k else 1 for k in self.n_choices) + len(self.fidelity_dims)

    def rows(
        self,
        configs: Sequence[Mapping[str, Any]],
        fidelities: Sequence[Mapping[str, float] | None] | None,
        arch_index: Mapping[str, ArchIndex],
    ) -> np.ndarray:
        """Encode configurations (validated against the space) as ``n x d`` rows.

        Args:
            configs: ``n`` configurations.
            fidelities: ``n`` fidelity assignments (``None`` entries or missing names: full).
            arch_index: Where each architecture key's index column points.

        Raises:
            InvalidConfigError: a configuration or fidelity is not in the space.
        """
        space = self.space
        n = len(configs)
        configs = [space.validate(c) for c in configs]
        x = np.zeros((n, self.dim))
        for col, key in zip(self.arch_dims, self.arch_keys, strict=True):
            x[:, col] = arch_index[key].add([c[key] for c in configs])
        if self.hp_dims and n:
            hp = space.hp_vectors(configs) / self._ordinal_scale
            x[:, self.hp_dims] = np.where(np.isnan(hp), INACTIVE, hp)
        if self.fidelity_dims and n:
            fids = fidelities if fidelities is not None else [None] * n
            x[:, self.fidelity_dims] = np.stack(
                [space.fidelity_vector(space.validate_fidelity(f)) for f in fids]
            )
        return x

    def hp_features(self, X: Tensor) -> Tensor:
        """Network input of the hyperparameter and fidelity columns.

        Numeric hyperparameters stay in the unit cube (``-1`` when inactive), categoricals
        become one-hot (all zero when inactive), fidelities stay normalised.

        Args:
            X: ``m x d`` rows in this layout.

        Returns:
            ``m x feature_dim``.
        """
        parts = []
        for col, k in zip(self.hp_dims, self.n_choices, strict=True):
            v = X[:, col]
            if k:
                idx = v.round().long()
                onehot = torch.zeros(X.shape[0], k, dtype=X.dtype)
                active = idx >= 0
                onehot[active.nonzero().squeeze(-1), idx[active]] = 1.0
                parts.append(onehot)
            else:
                parts.append(v.unsqueeze(-1))
        if self.fidelity_dims:
            parts.append(X[:, self.fidelity_dims])
        return torch.cat(parts, dim=-1) if parts else X.new_zeros(X.shape[0], 0)


class GraphCache:
    """``domain.to_pyg`` of each architecture string, computed once, collated by hand.

    Shared by copies of a model (``deepcopy`` returns the cache itself).
    """

    def __init__(self, to_pyg: Callable[[str], Any]) -> None:
        self.to_pyg = to_pyg
        self._graphs: dict[str, tuple[Tensor, Tensor]] = {}

    def __deepcopy__(self, memo: dict) -> GraphCache:
        return self

    def get(self, value: str) -> tuple[Tensor, Tensor]:
        g = self._graphs.get(value)
        if g is None:
            data = self.to_pyg(value)
            g = (data.x.double(), data.edge_index)
            self._graphs[value] = g
        return g

    def collate(self, values: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
        """Node features ``N x c``, ``edge_index`` ``2 x E`` and graph ids ``N`` of a batch."""
        graphs = [self.get(v) for v in values]
        sizes = torch.tensor([g[0].shape[0] for g in graphs])
        offsets = torch.cumsum(sizes, 0) - sizes
        x = torch.cat([g[0] for g in graphs])
        edges = torch.cat([g[1] + o for g, o in zip(graphs, offsets.tolist(), strict=True)], dim=1)
        batch = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
        return x, edges, batch


class ConfigEncoder(nn.Module):
    """Rows of the layout -> configuration embeddings.

    ``z = MLP([GIN_1(graph_1), ..., GIN_a(graph_a), MLP_hp(hyperparameters, fidelities)])``.

    Args:
        space: The search space.
        gnn_hidden: Width of the GIN layers.
        gnn_layers: Number of GIN layers (each passes messages along and against edges).
        gnn_out: Width of each architecture's graph embedding.
        hp_hidden: Width of the hyperparameter/fidelity MLP.
        embed_dim: Width of the configuration embedding.

    The index columns are resolved through :meth:`bind` (architecture strings by index).
    """

    def __init__(
        self,
        space: Any,
        gnn_hidden: int = 32,
        gnn_layers: int = 3,
        gnn_out: int = 16,
        hp_hidden: int = 32,
        embed_dim: int = 16,
    ) -> None:
        super().__init__()
        self.layout = InputLayout(space)
        self.embed_dim = embed_dim
        self.gnns = nn.ModuleDict(
            {
                key: GINEncoder(
                    len(dom.labels()), gnn_hidden, gnn_out, gnn_layers, bidirectional=True
                )
                for key, dom in space.architectures.items()
            }
        )
        self.graphs = {key: GraphCache(dom.to_pyg) for key, dom in space.architectures.items()}
        width = gnn_out * len(self.gnns)
        self.hp_net: nn.Module | None = None
        if self.layout.feature_dim:
            self.hp_net = mlp([self.layout.feature_dim, hp_hidden, hp_hidden])
            width += hp_hidden
        self.trunk = mlp([width, 2 * embed_dim, embed_dim])
        self._lookups: list[Callable[[int], str]] | None = None

    def bind(self, lookups: Sequence[Callable[[int], str]]) -> None:
        """Resolve index column ``k`` with ``lookups[k]`` (index -> architecture string)."""
        if len(lookups) != len(self.layout.arch_keys):
            raise InputError(
                f"got {len(lookups)} architecture lookups for architecture keys "
                f"{self.layout.arch_keys}"
            )
        self._lookups = list(lookups)

    def forward(self, X: Tensor) -> Tensor:
        """Embed ``m x d`` rows; returns ``m x embed_dim``."""
        parts = []
        for col, key in zip(self.layout.arch_dims, self.layout.arch_keys, strict=True):
            if self._lookups is None:
                raise InputError("ConfigEncoder.bind() must be called before embedding rows")
            idx = X[:, col].round().long()
            uniq, inv = torch.unique(idx, return_inverse=True)
            lookup = self._lookups[col]
            x, edges, batch = self.graphs[key].collate([lookup(int(i)) for i in uniq.tolist()])
            emb = self.gnns[key](x.to(X), edges, batch, num_graphs=len(uniq))
            parts.append(emb[inv])
        if self.hp_net is not None:
            parts.append(self.hp_net(self.layout.hp_features(X)))
        return self.trunk(torch.cat(parts, dim=-1))


class _SAB(nn.Module):
    """Set attention block: ``h = LN(h + MHA(h, h, h)); h = LN(h + FF(h))`` (no positions)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ff = mlp([dim, 2 * dim, dim])
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, h: Tensor) -> Tensor:
        h = self.norm1(h + self.attn(h, h, h, need_weights=False)[0])
        return self.norm2(h + self.ff(h))


class SetTransformer(nn.Module):
    """Tokens of a set -> one vector: self-attention blocks, then pooling by attention (PMA).

    Permutation invariant: no positional encodings, and the pooling attends from a learned seed
    vector. Works for any set size; an empty set gives a learned vector.

    Args:
        dim: Token width.
        heads: Attention heads.
        blocks: Self-attention blocks.
        out_dim: Output width.
    """

    def __init__(self, dim: int = 64, heads: int = 4, blocks: int = 2, out_dim: int = 8) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_SAB(dim, heads) for _ in range(blocks)])
        self.seed = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pool = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.out = mlp([dim, dim, out_dim])
        self.empty = nn.Parameter(torch.zeros(out_dim))

    def forward(self, tokens: Tensor) -> Tensor:
        """``n x dim`` tokens -> ``out_dim``."""
        if tokens.shape[0] == 0:
            return self.empty
        h = tokens.unsqueeze(0)
        for block in self.blocks:
            h = block(h)
        pooled = self.pool(self.seed.to(h), h, h, need_weights=False)[0]
        return self.out(pooled[0, 0])


def _projection(p: int, width: int, seed: int, dtype: torch.dtype) -> Tensor:
    """Fixed random ``p x width`` projection for inputs of width ``p`` (not learned, not saved)."""
    gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + p)
    return torch.randn(p, width, generator=gen, dtype=torch.float64).to(dtype) / np.sqrt(p)


class DatasetEncoder(nn.Module):
    """A set transformer over dataset samples and observed (configuration, score) pairs.

    Sample tokens: each input row is standardized within the set, mapped to a fixed width by a
    fixed random projection (seeded by the input width, so any ``p`` works) and an MLP; its
    label enters without one-hot codes, as the mean embedding of the samples of its class (its
    class prototype) and the log frequency of that class, so any number of classes works and
    renaming classes changes nothing. Real-valued targets (not integer) enter as their z-score.
    Observation tokens: ``MLP([z, score])`` of a configuration embedding and its score. A
    learned type vector marks each kind.

    Args:
        config_dim: Width of configuration embeddings.
        dim: Token width.
        proj_dim: Width of the fixed projection of sample rows.
        heads / blocks: Set transformer size.
        out_dim: Task embedding width.
        max_samples: Larger sample sets are subsampled (seeded) to this many rows.
        projection_seed: Seed of the fixed projections.
    """

    def __init__(
        self,
        config_dim: int,
        dim: int = 64,
        proj_dim: int = 32,
        heads: int = 4,
        blocks: int = 2,
        out_dim: int = 8,
        max_samples: int = 256,
        projection_seed: int = 0,
    ) -> None:
        super().__init__()
        self.proj_dim = proj_dim
        self.max_samples = max_samples
        self.projection_seed = projection_seed
        self.x_net = mlp([proj_dim, dim, dim])
        self.class_token = mlp([2 * dim + 1, dim, dim])
        self.value_token = mlp([dim + 1, dim, dim])
        self.obs_token = mlp([config_dim + 1, dim, dim])
        self.kinds = nn.Parameter(torch.zeros(2, dim))
        self.set_transformer = SetTransformer(dim, heads, blocks, out_dim)
        self.out_dim = out_dim

    def sample_tokens(
        self, x: np.ndarray, y: np.ndarray, generator: np.random.Generator | None = None
    ) -> Tensor:
        """Tokens of dataset samples.

        Args:
            x: ``m x p`` inputs.
            y: ``m`` labels (integers: classes) or real targets.
            generator: Picks the rows kept when ``m > max_samples`` (default: seed 0).

        Returns:
            ``min(m, max_samples) x dim``.
        """
        if len(x) > self.max_samples:
            rng = generator if generator is not None else np.random.default_rng(0)
            keep = np.sort(rng.choice(len(x), self.max_samples, replace=False))
            x, y = x[keep], y[keep]
        dtype = self.kinds.dtype
        xt = torch.as_tensor(x, dtype=dtype)
        xt = (xt - xt.mean(0)) / xt.std(0, unbiased=False).clamp_min(1e-8)
        h = self.x_net(xt @ _projection(x.shape[1], self.proj_dim, self.projection_seed, dtype))
        yf = np.asarray(y, dtype=np.float64)
        if np.all(yf == np.round(yf)):
            _, cls = np.unique(yf, return_inverse=True)
            cls_t = torch.as_tensor(cls, dtype=torch.long)
            k = int(cls.max()) + 1
            counts = torch.bincount(cls_t, minlength=k).to(dtype)
            sums = torch.zeros(k, h.shape[1], dtype=dtype).index_add(0, cls_t, h)
            proto = (sums / counts.unsqueeze(-1))[cls_t]
            freq = torch.log(counts / len(cls))[cls_t].unsqueeze(-1)
            tokens = self.class_token(torch.cat([h, proto, freq], dim=-1))
        else:
            yt = torch.as_tensor(yf, dtype=dtype)
            yt = (yt - yt.mean()) / yt.std(unbiased=False).clamp_min(1e-8)
            tokens = self.value_token(torch.cat([h, yt.unsqueeze(-1)], dim=-1))
        return tokens + self.kinds[0]

    def observation_tokens(self, z: Tensor, scores: Tensor) -> Tensor:
        """Tokens of ``n`` observations: ``n x config_dim`` embeddings and ``n`` scores."""
        return self.obs_token(torch.cat([z, scores.reshape(-1, 1).to(z)], dim=-1)) + self.kinds[1]

    def forward(
        self,
        samples: tuple[np.ndarray, np.ndarray] | None = None,
        z: Tensor | None = None,
        scores: Tensor | None = None,
        generator: np.random.Generator | None = None,
    ) -> Tensor:
        """The task embedding (``out_dim``) from whatever is available (both, one or none).

        Args:
            samples: ``(x, y)`` dataset samples, or ``None``.
            z: ``n x config_dim`` embeddings of observed configurations, or ``None``.
            scores: ``n`` scores of those configurations (per-task normalised).
            generator: Subsampling of large sample sets.
        """
        tokens = []
        if samples is not None:
            tokens.append(self.sample_tokens(samples[0], samples[1], generator))
        if z is not None and z.shape[0] > 0:
            if scores is None:
                raise InputError("observation embeddings need their scores")
            tokens.append(self.observation_tokens(z, scores))
        if not tokens:
            return self.set_transformer.empty
        return self.set_transformer(torch.cat(tokens))


def rows_key(X: Tensor) -> bytes:
    """A content hash of a tensor (for caches of embeddings)."""
    x = X.detach().contiguous()
    return blake2b(
        x.cpu().numpy().tobytes() + str(tuple(x.shape)).encode(), digest_size=16
    ).digest()
