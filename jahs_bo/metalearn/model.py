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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP
from torch import Tensor

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn.encoders import (
    ArchIndex,
)
from jahs_bo.metalearn.likelihood import FineTuned, _fine_tune_net, predictive_nll
from jahs_bo.metalearn.net import MetaConfig, MetaNet, exact_settings, init_weights
from jahs_bo.metalearn.tasks import TaskData, _dataset_arrays, as_task


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
