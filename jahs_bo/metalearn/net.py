"""The network of the meta-learned deep-kernel GP: encoders, deep kernel and mean, ``MetaNet``.

The model itself and its use (:class:`~jahs_bo.metalearn.model.MetaModel`) are in
:mod:`jahs_bo.metalearn.model`; the likelihoods and the fine-tuning loop in
:mod:`jahs_bo.metalearn.likelihood`.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gpytorch
import numpy as np
import torch
from botorch.exceptions import InputDataWarning
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel, MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import Mean
from torch import Tensor, nn

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn.encoders import (
    ConfigEncoder,
    DatasetEncoder,
    SetTransformer,
    mlp,
    rows_key,
)
from jahs_bo.metalearn.tasks import ScoreTransform

#: Up to this many points gpytorch uses exact Cholesky solves.
_MAX_CHOLESKY = 5000


@dataclass(frozen=True)
class MetaConfig:
    """Sizes and options of the meta-model (stored in checkpoints).

    Attributes:
        gnn_hidden / gnn_layers / gnn_out: GIN width, depth and per-architecture output width.
        hp_hidden: Width of the hyperparameter/fidelity MLP.
        embed_dim: Configuration embedding width.
        kernel_dim: Width of the kernel's input features (Matern ARD dimensions).
        use_task: Whether a dataset encoder conditions the model on the task.
        task_dim / set_dim / set_heads / set_blocks: Dataset encoder sizes.
        proj_dim: Fixed projection width of dataset samples.
        max_samples: Dataset samples kept per set.
        projection_seed: Seed of the fixed sample projections.
        score_transform: How a task's values become scores (``"copula"`` or ``"standardize"``).
    """

    gnn_hidden: int = 32
    gnn_layers: int = 3
    gnn_out: int = 16
    hp_hidden: int = 32
    embed_dim: int = 16
    kernel_dim: int = 8
    use_task: bool = True
    task_dim: int = 8
    set_dim: int = 32
    set_heads: int = 4
    set_blocks: int = 2
    proj_dim: int = 32
    max_samples: int = 256
    projection_seed: int = 0
    score_transform: ScoreTransform = "copula"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetaConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise InputError(
                f"unknown meta-model options {sorted(unknown)}; known: {sorted(known)}"
            )
        return cls(**dict(data))


def unique_rows(X: Tensor) -> tuple[Tensor, Tensor]:
    """Distinct rows of ``X`` (``m x d``) and the index of each row among them (``m``).

    Sorts a 1-d key (the rows projected on a fixed random direction) instead of the rows
    (``torch.unique(dim=0)`` is ~10x slower at 200k rows), then checks the result and falls back
    to the exact row sort if two distinct rows ever shared a key.
    """
    if X.shape[0] == 0:
        return X, torch.zeros(0, dtype=torch.long)
    gen = torch.Generator().manual_seed(12345)
    w = torch.rand(X.shape[-1], generator=gen, dtype=torch.float64) + 0.5
    keys = X.double() @ w
    _, first, inv = _unique_keys(keys)
    uniq = X[first]
    if not torch.equal(uniq[inv], X):
        return torch.unique(X, dim=0, return_inverse=True)
    return uniq, inv


def _unique_keys(keys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Distinct keys, the position of a row holding each, and each row's key index."""
    uniq, inv = torch.unique(keys, return_inverse=True)
    first = torch.empty(uniq.shape[0], dtype=torch.long)
    first.scatter_(0, inv, torch.arange(keys.shape[0]))
    return uniq, first, inv


class TaskFeatures(nn.Module):
    """Configuration rows -> kernel features and prior mean, conditioned on a task embedding.

    Args:
        space: The search space.
        config: Sizes.

    The task embedding is state of the module (:meth:`set_task`): gpytorch calls kernels and
    means with inputs only. Embeddings of identical inputs are memoized (keyed by content, the
    weights' versions and the task), so the mean and the kernel share one GNN pass.
    """

    def __init__(self, space: Any, config: MetaConfig) -> None:
        super().__init__()
        self.config_encoder = ConfigEncoder(
            space,
            config.gnn_hidden,
            config.gnn_layers,
            config.gnn_out,
            config.hp_hidden,
            config.embed_dim,
        )
        width = config.embed_dim + (config.task_dim if config.use_task else 0)
        self.kernel_head = mlp([width, 2 * config.embed_dim, config.kernel_dim])
        self.mean_head = mlp([width, 2 * config.embed_dim, 1])
        self.use_task = config.use_task
        # kept out of nn.Module's registries: the embedding may be a Parameter (the learned
        # "nothing known" vector) or a tensor computed this step, never a weight of this module
        object.__setattr__(self, "task", None)
        self._memo: OrderedDict[tuple, tuple[Tensor, Tensor]] = OrderedDict()

    def __deepcopy__(self, memo: dict) -> TaskFeatures:
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = OrderedDict() if k == "_memo" else copy.deepcopy(v, memo)
        return new

    def set_task(self, task: Tensor | None) -> None:
        """Condition on a task embedding (``task_dim``), or ``None`` for "nothing known"."""
        object.__setattr__(self, "task", task)
        self._memo.clear()

    def clear(self) -> None:
        """Forget memoized embeddings (call at the start of each training step)."""
        self._memo.clear()

    def _versions(self) -> tuple:
        task = self.task
        return (
            tuple(p._version for p in self.config_encoder.parameters()),
            None if task is None else (id(task), task._version),
            torch.is_grad_enabled(),
        )

    def joint(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Embeddings of the distinct rows of ``X`` and where each row's is.

        Posterior calls over ``b x q x d`` candidates repeat the training rows ``b`` times, so
        only distinct rows are embedded (and the heads applied to them).

        Args:
            X: ``m x d`` rows.

        Returns:
            ``u x (embed_dim [+ task_dim])`` embeddings of the ``u`` distinct rows and the
            ``m`` indices into them.
        """
        key = (rows_key(X), self._versions())
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        uniq, inv = unique_rows(X)
        z = self.config_encoder(uniq)
        if self.use_task:
            task = self.task
            if task is None:
                raise InputError("TaskFeatures.set_task() must be called before embedding rows")
            z = torch.cat([z, task.to(z).expand(z.shape[0], -1)], dim=-1)
        self._memo[key] = (z, inv)
        while len(self._memo) > 4:
            self._memo.popitem(last=False)
        return z, inv

    def kernel_features(self, X: Tensor) -> Tensor:
        """``m x d`` rows -> ``m x kernel_dim``."""
        z, inv = self.joint(X)
        return self.kernel_head(z)[inv]

    def mean(self, X: Tensor) -> Tensor:
        """``m x d`` rows -> ``m`` prior means (per-task score units)."""
        z, inv = self.joint(X)
        return self.mean_head(z).squeeze(-1)[inv]


class DeepKernel(Kernel):
    """``s * Matern52(phi(x1), phi(x2))`` with ``phi`` from :class:`TaskFeatures`.

    Args:
        features: The shared feature module.
        kernel_dim: Width of ``phi``.
    """

    has_lengthscale = False

    def __init__(self, features: TaskFeatures, kernel_dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.features = features
        self.base = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=kernel_dim))

    def _phi(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        return self.features.kernel_features(flat).view(*x.shape[:-1], -1)

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Covariance of ``... x n1 x d`` and ``... x n2 x d`` rows (``... x n1 x n2``)."""
        f1 = self._phi(x1)
        same = x1 is x2 or (x1.shape == x2.shape and torch.equal(x1, x2))
        f2 = f1 if same else self._phi(x2)
        return self.base.forward(f1, f2, diag=diag, **params)


class DeepMean(Mean):
    """Prior mean ``m(x)`` from :class:`TaskFeatures`."""

    def __init__(self, features: TaskFeatures) -> None:
        super().__init__()
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        """``... x n x d`` rows -> ``... x n`` means."""
        flat = x.reshape(-1, x.shape[-1])
        return self.features.mean(flat).view(x.shape[:-1])


class MetaNet(nn.Module):
    """Every learned part of the meta-model, in one ``state_dict``.

    Attributes:
        features: Configuration and task features (shared by the kernel and the mean).
        dataset_encoder: Task embedding from samples and observations (``None`` without tasks).
        covar_module / mean_module / likelihood: The GP's parts (the names botorch uses).
    """

    def __init__(self, space: Any, config: MetaConfig) -> None:
        super().__init__()
        self.features = TaskFeatures(space, config)
        self.dataset_encoder = (
            DatasetEncoder(
                config.embed_dim,
                config.set_dim,
                config.proj_dim,
                config.set_heads,
                config.set_blocks,
                config.task_dim,
                config.max_samples,
                config.projection_seed,
            )
            if config.use_task
            else None
        )
        self.covar_module = DeepKernel(self.features, config.kernel_dim)
        self.mean_module = DeepMean(self.features)
        self.likelihood = GaussianLikelihood(noise_constraint=GreaterThan(1e-4))
        self.double()

    def task_embedding(
        self,
        X: Tensor | None = None,
        scores: Tensor | None = None,
        samples: tuple[np.ndarray, np.ndarray] | None = None,
        generator: np.random.Generator | None = None,
    ) -> Tensor | None:
        """The task embedding from observations (``n x d`` rows, ``n`` scores) and samples."""
        if self.dataset_encoder is None:
            return None
        z = None
        if X is not None and X.shape[0] > 0:
            z = self.features.config_encoder(X)
        return self.dataset_encoder(samples, z, scores, generator)

    def condition(
        self,
        X: Tensor | None,
        scores: Tensor | None,
        samples: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Set the task embedding from this context (no gradient)."""
        with torch.no_grad():
            task = self.task_embedding(X, scores, samples)
        self.features.set_task(None if task is None else task.detach())

    def gp(self, train_X: Tensor, train_Y: Tensor, standardize: bool = False) -> SingleTaskGP:
        """A ``SingleTaskGP`` sharing this net's modules (train mode, not fitted).

        Args:
            train_X: ``n x d`` rows.
            train_Y: ``n x 1`` scores (higher is better).
            standardize: Add botorch's ``Standardize`` outcome transform (for raw targets).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputDataWarning)
            return SingleTaskGP(
                train_X,
                train_Y,
                likelihood=self.likelihood,
                covar_module=self.covar_module,
                mean_module=self.mean_module,
                outcome_transform=Standardize(m=1) if standardize else None,
            )


def init_weights(net: nn.Module, generator: torch.Generator) -> None:
    """Draw every weight of ``net`` from ``generator`` (torch's default schemes, seeded).

    Linear layers: Kaiming-uniform weights and uniform biases (as ``nn.Linear``); attention
    input projections: Xavier-uniform with zero biases (as ``nn.MultiheadAttention``); the set
    transformer's pooling seed: normal with standard deviation 0.1. Other parameters (GIN's eps,
    layer norms, GP hyperparameters) keep their constant initial values.
    """
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=5**0.5, generator=generator)
                if module.bias is not None:
                    bound = 1.0 / max(module.weight.shape[1], 1) ** 0.5
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)
            elif isinstance(module, nn.MultiheadAttention):
                nn.init.xavier_uniform_(module.in_proj_weight, generator=generator)
                nn.init.zeros_(module.in_proj_bias)
            elif isinstance(module, SetTransformer):
                module.seed.copy_(
                    torch.randn(module.seed.shape, generator=generator, dtype=module.seed.dtype)
                    * 0.1
                )


def exact_settings() -> Any:
    """gpytorch settings for exact solves at meta-training and BO sizes."""
    return gpytorch.settings.max_cholesky_size(_MAX_CHOLESKY)
