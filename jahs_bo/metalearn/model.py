"""The meta-learned deep-kernel GP: a botorch ``SingleTaskGP`` over learned embeddings.

``f ~ GP(m(x), s * Matern52(phi(x), phi(x')))`` with

- ``z(x)``: the configuration embedding (:class:`~jahs_bo.metalearn.encoders.ConfigEncoder`,
  GIN over the architecture graphs + MLP over hyperparameters and fidelities);
- ``t``: the task embedding (:class:`~jahs_bo.metalearn.encoders.DatasetEncoder` over the
  task's dataset samples and observations, a learned "nothing known" vector when there are
  none);
- ``phi(x) = MLP_k([z(x), t])`` feeds the Matern kernel, ``m(x) = MLP_m([z(x), t])`` is the
  prior mean. The task embedding enters *before* the last layers, not as extra kernel inputs:
  within one task ``t`` is constant, so as kernel inputs it would cancel out of every distance.
  The learned mean is what ranks candidates before any observation (zero-shot).

Meta-training (:func:`jahs_bo.metalearn.meta_train`) fits every weight by the exact marginal
likelihood over per-task batches; :func:`fine_tune` adapts a copy to a new task's observations
with early stopping; :meth:`MetaModel.model_factory` hands the GP searcher fitted botorch models.
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

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
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor, nn

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn.encoders import (
    ArchIndex,
    ConfigEncoder,
    DatasetEncoder,
    SetTransformer,
    mlp,
    rows_key,
)
from jahs_bo.metalearn.tasks import ScoreTransform, TaskData, _dataset_arrays, as_task

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


class _BatchLoss:
    """``-mll / n`` of per-task scores under the net's current task, one GP reused per call.

    Building a ``SingleTaskGP`` costs more than a training step's algebra at these sizes, so
    the GP is built once and its training data swapped (``set_train_data``) for each batch.
    """

    def __init__(self, net: MetaNet) -> None:
        self.net = net
        self.gp: SingleTaskGP | None = None
        self.mll: ExactMarginalLogLikelihood | None = None

    def __call__(self, X: Tensor, y: Tensor) -> Tensor:
        """Loss of scores ``y`` (``n``) at rows ``X`` (``n x d``)."""
        if self.gp is None:
            self.gp = self.net.gp(X, y.unsqueeze(-1))
            self.mll = ExactMarginalLogLikelihood(self.gp.likelihood, self.gp)
        else:
            self.gp.set_train_data(X, y, strict=False)
        self.gp.train()
        assert self.mll is not None
        return -self.mll(self.gp(X), y)


def predictive_nll(net: MetaNet, X_train: Tensor, y_train: Tensor, X: Tensor, y: Tensor) -> float:
    """Mean negative log predictive density of ``y`` at ``X`` given the training points.

    The task embedding is computed from the training points; ``X_train`` may be empty
    (zero-shot: the prior). Scores are used as given (per-task units).
    """
    net.eval()
    with torch.no_grad(), exact_settings():
        net.condition(X_train, y_train)
        if X_train.shape[0] == 0:
            mean = net.mean_module(X)
            var = net.covar_module(X, X, diag=True) + net.likelihood.noise
        else:
            gp = net.gp(X_train, y_train.unsqueeze(-1)).eval()
            post = gp.posterior(X, observation_noise=True)
            mean, var = post.mean.squeeze(-1), post.variance.squeeze(-1)
        nll = 0.5 * (torch.log(2 * torch.pi * var) + (y - mean) ** 2 / var)
    return float(nll.mean())


#: What fine-tuning adapts (``MetaNet.named_parameters`` prefixes).
FineTuned = Literal["gp", "heads", "all"]
_TUNED: dict[str, tuple[str, ...]] = {
    "gp": ("covar_module.base.", "likelihood."),
    "heads": (
        "covar_module.base.",
        "likelihood.",
        "features.kernel_head.",
        "features.mean_head.",
    ),
    "all": ("features.", "covar_module.", "mean_module.", "likelihood."),
}


def loo_nll(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None = None,
    embed_task: bool = True,
) -> float:
    """Mean leave-one-out negative log predictive density of the GP on ``(X, y)``.

    Closed form (Rasmussen & Williams, eq. 5.12): with ``K = K_f + s^2 I`` and
    ``alpha = K^-1 (y - m)``, point ``i`` left out has predictive variance ``1 / [K^-1]_ii`` and
    residual ``alpha_i / [K^-1]_ii``. Uses every point both ways, unlike a held-out split of a
    few points, so it is a steadier early-stopping criterion at BO sizes.

    Args:
        net: The model (its task embedding is computed from ``(X, y)`` and ``samples``).
        X: ``n x d`` rows.
        y: ``n`` scores.
        samples: Dataset samples for the task embedding.
        embed_task: Compute the task embedding; ``False`` keeps the one set on ``net``.
    """
    net.eval()
    with torch.no_grad():
        if embed_task:
            net.features.set_task(net.task_embedding(X, y, samples))
        resid = y - net.mean_module(X)
        K = net.covar_module(X, X).to_dense()
        K = K + net.likelihood.noise * torch.eye(X.shape[0], dtype=K.dtype)
        L, info = torch.linalg.cholesky_ex(K)
        if int(info) != 0:
            return float("inf")
        K_inv = torch.cholesky_inverse(L)
        d = K_inv.diagonal()
        alpha = K_inv @ resid
        var = 1.0 / d
        nll = 0.5 * (torch.log(2 * torch.pi * var) + (alpha / d) ** 2 / var)
    return float(nll.mean())


def _fine_tune_net(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None,
    steps: int,
    lr: float,
    patience: int,
    tune: FineTuned = "heads",
) -> dict[str, Any]:
    """Adapt ``net`` in place to one task (Adam on ``-mll``, early stopping, best weights kept).

    Each step is one Adam step on the exact marginal likelihood of all points; the leave-one-out
    predictive likelihood (:func:`loo_nll`) decides when to stop (``patience`` steps without
    improvement) and which weights are kept. The weights before the first step are a candidate
    too, so fine-tuning ends with the meta-learned weights when no step improves the LOO
    likelihood. The dataset encoder stays frozen. Deterministic.
    """
    if tune not in _TUNED:
        raise InputError(f"tune must be one of {sorted(_TUNED)}, got {tune!r}")
    n = X.shape[0]
    if steps <= 0 or n < 3:
        return {"steps": 0, "best_step": 0}
    named = dict(net.named_parameters())
    tuned = {k: p for k, p in named.items() if k.startswith(_TUNED[tune])}
    frozen = [p for k, p in named.items() if k not in tuned and p.requires_grad]
    # Frozen encoders: their outputs carry no graph, so the configuration embeddings and the
    # task embedding are computed once and memoized across steps instead of every step.
    for p in frozen:
        p.requires_grad_(False)
    try:
        return _adam_loop(net, X, y, samples, steps, lr, patience, tuned, tune == "all")
    finally:
        for p in frozen:
            p.requires_grad_(True)
        net.features.clear()


def _adam_loop(
    net: MetaNet,
    X: Tensor,
    y: Tensor,
    samples: tuple[np.ndarray, np.ndarray] | None,
    steps: int,
    lr: float,
    patience: int,
    tuned: dict[str, nn.Parameter],
    encoders_tuned: bool,
) -> dict[str, Any]:
    """The Adam steps of :func:`_fine_tune_net` (best tuned weights restored at the end)."""
    params = list(tuned.values())
    opt = torch.optim.Adam(params, lr=lr)
    batch_loss = _BatchLoss(net)
    if not encoders_tuned:
        with torch.no_grad():
            net.features.set_task(net.task_embedding(X, y, samples))

    def criterion() -> float:
        return loo_nll(net, X, y, samples, embed_task=encoders_tuned)

    def snapshot() -> dict[str, Tensor]:
        return {k: p.detach().clone() for k, p in tuned.items()}

    best = criterion()
    best_state = snapshot()
    best_step, done = 0, 0
    for step in range(1, steps + 1):
        net.train()
        with exact_settings():
            try:
                if encoders_tuned:
                    net.features.set_task(net.task_embedding(X, y, samples))
                loss = batch_loss(X, y)
                opt.zero_grad()
                loss.backward()
            except (RuntimeError, ValueError, gpytorch.utils.errors.NotPSDError):
                break
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        done = step
        current = criterion()
        if current < best - 1e-4:
            best, best_step = current, step
            best_state = snapshot()
        elif step - best_step >= patience:
            break
    with torch.no_grad():
        for k, p in tuned.items():
            p.copy_(best_state[k])
    return {"steps": done, "best_step": best_step, "criterion": best}


class MetaModel:
    """A meta-trained deep-kernel GP for one search space.

    Made by :func:`~jahs_bo.metalearn.meta_train` or :func:`~jahs_bo.metalearn.load`.

    Args:
        space: The search space it models.
        config: Sizes and options.
        net: The learned modules (fresh, untrained ones by default, seeded by ``seed``).
        sources: Names and sizes of the source tasks (metadata).
        info: Free metadata (training steps, wall time, ...).
        seed: Seed of the initial weights when ``net`` is ``None``.

    Scores: every prediction is in per-task score units, higher is better (the task's values
    turned into normal scores of their ranks, see :meth:`TaskData.scores`).
    """

    def __init__(
        self,
        space: Any,
        config: MetaConfig | None = None,
        net: MetaNet | None = None,
        sources: Sequence[Mapping[str, Any]] = (),
        info: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        self.space = space
        self.config = config or MetaConfig()
        if net is None:
            with torch.random.fork_rng(devices=[]):  # construction leaves the global RNG as is
                net = MetaNet(space, self.config)
            init_weights(net, torch.Generator().manual_seed(int(seed)))
        self.net = net
        self.sources = [dict(s) for s in sources]
        self.info = dict(info or {})
        self.arch_index = {key: ArchIndex() for key in space.architectures}
        self.layout = net.features.config_encoder.layout
        self._checked_spaces: set[int] = set()
        self._bind()

    def _bind(self, net: MetaNet | None = None) -> None:
        net = net or self.net
        net.features.config_encoder.bind([self.arch_index[k].value for k in self.layout.arch_keys])
        net.features.clear()  # memoized embeddings were keyed by indices of another binding

    # ------------------------------------------------------------------ data
    def encode(
        self,
        configs: Sequence[Mapping[str, Any]],
        fidelities: Sequence[Mapping[str, float] | None] | None = None,
    ) -> Tensor:
        """Configurations -> ``n x d`` double rows in the searcher's layout (own index)."""
        return torch.from_numpy(self.layout.rows(configs, fidelities, self.arch_index))

    def task_tensors(self, task: TaskData | Any) -> tuple[Tensor, Tensor]:
        """A task's rows (``n x d``) and scores (``n``)."""
        task = as_task(task)
        X = self.encode(task.configs, task.fidelities)
        return X, torch.from_numpy(task.scores(self.config.score_transform))

    def copy(self) -> MetaModel:
        """An independent copy (weights copied; the architecture index is shared)."""
        new = MetaModel(self.space, self.config, copy.deepcopy(self.net), self.sources, self.info)
        new.arch_index = self.arch_index
        new._bind()
        return new

    # ------------------------------------------------------------------ predictions
    def predict(
        self,
        configs: Sequence[Mapping[str, Any]],
        fidelities: Sequence[Mapping[str, float] | None] | None = None,
        *,
        task: TaskData | None = None,
        dataset: Any = None,
        chunk: int = 4096,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predicted scores of configurations (higher is better).

        Args:
            configs: ``m`` configurations.
            fidelities: ``m`` fidelity assignments (default full).
            task: Observations on the target task: the GP is conditioned on them (and the task
                embedding reads them). ``None``: zero-shot, the meta-learned prior.
            dataset: Samples ``(X, y)`` of the target dataset (default: ``task.dataset``).
            chunk: Rows per forward pass.

        Returns:
            ``(mean, variance)``, each of length ``m``, latent (no observation noise).
        """
        X = self.encode(configs, fidelities)
        samples = _dataset_arrays(dataset) if dataset is not None else None
        net = self.net
        net.eval()
        if task is not None:
            task = as_task(task)
            samples = samples if samples is not None else task.dataset
            Xc, yc = self.task_tensors(task)
        else:
            Xc, yc = X[:0], torch.zeros(0, dtype=torch.float64)
        means, variances = [], []
        with torch.no_grad(), exact_settings():
            net.condition(Xc, yc, samples)
            gp = net.gp(Xc, yc.unsqueeze(-1)).eval() if Xc.shape[0] else None
            for start in range(0, X.shape[0], chunk):
                part = X[start : start + chunk]
                if gp is None:
                    means.append(net.mean_module(part))
                    variances.append(net.covar_module(part, part, diag=True))
                else:
                    post = gp.posterior(part)
                    means.append(post.mean.squeeze(-1))
                    variances.append(post.variance.squeeze(-1))
        net.features.clear()
        return torch.cat(means).numpy(), torch.cat(variances).numpy()

    def initial_design(
        self,
        candidates: Sequence[Mapping[str, Any]],
        n: int,
        *,
        task: TaskData | None = None,
        dataset: Any = None,
    ) -> list[int]:
        """Indices of the ``n`` candidates with the highest predicted score (best first).

        Zero-shot when ``task`` is ``None``: the meta-learned prior mean ranks them.
        """
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        mean, _ = self.predict(candidates, task=task, dataset=dataset)
        return [int(i) for i in np.argsort(-mean, kind="stable")[:n]]

    def nll(self, task: TaskData, n_context: int = 10, seed: int = 0) -> float:
        """Held-out predictive NLL on a task: condition on ``n_context`` random points.

        The rest of the task's points are scored (mean negative log predictive density,
        per-task score units, observation noise included).
        """
        X, y = self.task_tensors(task)
        rng = np.random.default_rng(seed)
        perm = torch.from_numpy(rng.permutation(X.shape[0]))
        ctx, rest = perm[:n_context], perm[n_context:]
        out = predictive_nll(self.net, X[ctx], y[ctx], X[rest], y[rest])
        self.net.features.clear()
        return out

    # ------------------------------------------------------------------ GP searcher seam
    def check_space(self, space: Any) -> None:
        """Raise :class:`InputError` naming the difference if ``space`` is not this model's.

        Args:
            space: A ``SearchSpace`` or anything with a ``.space`` (a study, an encoder).
        """
        from jahs_bo.metalearn.checkpoint import check_same_space

        space = getattr(space, "space", space)
        if id(space) in self._checked_spaces:
            return
        check_same_space(self.space, space, what="this meta-model")
        self._checked_spaces.add(id(space))

    def model_factory(
        self,
        dataset: Any = None,
        fine_tune_steps: int = 20,
        lr: float = 1e-3,
        patience: int = 5,
        tune: FineTuned = "heads",
    ) -> Callable[..., SingleTaskGP]:
        """An adapter for the GP searcher's model seam.

        Returns ``factory(train_X, train_Y, encoder, state) -> SingleTaskGP`` (eval mode):

        - ``train_X``: ``n x d`` double rows in ``encoder``'s layout (architecture index
          columns into ``encoder.stores``, unit-cube hyperparameters, normalised fidelities);
        - ``train_Y``: ``n x 1`` double, higher is better (any monotone transform of values);
        - ``encoder``: the searcher's :class:`~jahs_bo.models.encoder.JointEncoder` (its
          ``space`` is checked against the model's, its ``stores`` resolve the index columns);
        - ``state``: ``None`` or the previous model's ``state_dict`` (e.g. botorch
          ``hyperparameter_state``); matching entries warm-start the fine-tuning.

        Each call fine-tunes a copy of the meta-model on ``(train_X, train_Y)`` (standardized;
        ``fine_tune_steps`` Adam steps, early stopping), conditions it on the task (dataset
        samples and the observations) and returns the ``SingleTaskGP`` with ``Standardize``.
        The meta-model itself is never modified.

        Args:
            dataset: Samples ``(X, y)`` of the target dataset for the dataset encoder.
            fine_tune_steps: Adam steps per call (0: meta-learned weights as they are).
            lr: Adam learning rate.
            patience: Early stopping patience (steps).
            tune: What fine-tuning adapts (see :func:`fine_tune`).
        """
        samples = _dataset_arrays(dataset)
        keys = self.layout.arch_keys

        def factory(
            train_X: Tensor, train_Y: Tensor, encoder: Any, state: Mapping[str, Tensor] | None
        ) -> SingleTaskGP:
            self.check_space(encoder.space)
            if train_X.ndim != 2 or train_Y.shape != (train_X.shape[0], 1):
                raise InputError(
                    f"expected train_X n x d and train_Y n x 1, got {tuple(train_X.shape)} and "
                    f"{tuple(train_Y.shape)}"
                )
            if train_X.shape[-1] != self.layout.dim:
                raise InputError(
                    f"train_X has {train_X.shape[-1]} columns; the space's layout has "
                    f"{self.layout.dim}"
                )
            X = train_X.double()
            Y = train_Y.double()
            net = copy.deepcopy(self.net)
            net.features.config_encoder.bind([encoder.stores[k].value for k in keys])
            if state:
                own = net.state_dict()
                usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
                net.load_state_dict(usable, strict=False)
            y = Y.squeeze(-1)
            y = (y - y.mean()) / (y.std() if y.numel() > 1 and y.std() > 0 else 1.0)
            _fine_tune_net(net, X, y, samples, fine_tune_steps, lr, patience, tune)
            net.eval()
            net.condition(X, y, samples)
            model = net.gp(X, Y, standardize=True)
            model.eval()
            return model

        return factory

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str) -> None:
        """Write ``weights.pt`` (a ``state_dict``) and ``meta.json`` into directory ``path``."""
        from jahs_bo.metalearn.checkpoint import save

        save(self, path)

    def hyperparameters(self) -> dict[str, Any]:
        """The options this model was built with (JSON-serialisable)."""
        return asdict(self.config)


def fine_tune(
    meta_model: MetaModel,
    configs: Sequence[Mapping[str, Any]] | TaskData,
    values: Sequence[float] | None = None,
    steps: int = 50,
    *,
    direction: str = "maximize",
    fidelities: Sequence[Mapping[str, float] | None] | None = None,
    dataset: Any = None,
    lr: float = 1e-3,
    patience: int = 10,
    tune: FineTuned = "heads",
) -> MetaModel:
    """A copy of ``meta_model`` adapted to a new task's observations.

    Adam on the exact marginal likelihood of the task's scores, for at most ``steps`` steps,
    stopped early when the leave-one-out predictive likelihood stops improving for ``patience``
    steps; the weights with the best LOO likelihood are kept (possibly the meta-learned ones
    unchanged). Deterministic.

    Args:
        meta_model: The meta-trained model (left unchanged).
        configs: The task's configurations, or a :class:`TaskData` (then ``values`` is unused).
        values: Their objective values.
        steps: Maximum Adam steps.
        direction: Whether ``values`` are maximized or minimized.
        fidelities: Fidelity of each evaluation (default full).
        dataset: Samples ``(X, y)`` of the task's dataset.
        lr: Adam learning rate.
        patience: Early-stopping patience (steps).
        tune: What adapts: ``"gp"`` (kernel scale, lengthscales, noise), ``"heads"`` (also the
            last layers that map embeddings to kernel features and the prior mean; the
            default) or ``"all"`` (also the GNN and the hyperparameter MLP).

    Returns:
        The adapted copy; its ``info["fine_tune"]`` says how many steps ran.
    """
    if isinstance(configs, TaskData):
        task = configs
    else:
        if values is None:
            raise InputError("fine_tune needs values (one per configuration) or a TaskData")
        task = TaskData(
            configs, values, dataset=dataset, fidelities=fidelities, direction=direction
        )
    model = meta_model.copy()
    X, y = model.task_tensors(task)
    samples = _dataset_arrays(dataset) if dataset is not None else task.dataset
    report = _fine_tune_net(
        model.net,
        X,
        y,
        samples,
        steps,
        lr,
        patience,
        tune,
    )
    model.info = {**model.info, "fine_tune": report}
    return model
