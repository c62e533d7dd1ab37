"""An ensemble of small MLPs, the predictor of BANANAS (White et al., AAAI 2021).

The members share an architecture and are trained side by side as one batched network (weights
``M x d_in x d_out``); each has its own initialization and its own minibatch order, each drawn
from its own seeded ``torch.Generator``, so member ``m`` trains exactly as it would alone. Adam
keeps per-parameter statistics, so summing the members' losses does not couple them.

The mean and standard deviation over the members' predictions are the predictive mean and the
uncertainty that independent Thompson sampling draws from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from jahs_bo.exceptions import InputError

LOSSES = ("mae", "mse")


@dataclass(frozen=True)
class EnsembleSettings:
    """Training settings of :class:`MLPEnsemble`.

    Attributes:
        n_members: Networks in the ensemble (BANANAS: 5).
        hidden: Widths of the hidden layers.
        epochs: Passes over the data per fit.
        batch_size: Minibatch size.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        loss: ``"mae"`` (BANANAS' choice) or ``"mse"``.
    """

    n_members: int = 5
    hidden: tuple[int, ...] = (32, 32, 32)
    epochs: int = 150
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 0.0
    loss: str = "mae"

    def __post_init__(self) -> None:
        ints = {"n_members": self.n_members, "epochs": self.epochs, "batch_size": self.batch_size}
        for name, val in ints.items():
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise InputError(f"{name} must be an integer >= 1, got {val!r}")
        if not self.hidden or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.hidden
        ):
            raise InputError(
                f"hidden must be a non-empty sequence of layer widths >= 1, got {self.hidden!r}"
            )
        if not self.lr > 0:
            raise InputError(f"lr must be > 0, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise InputError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.loss not in LOSSES:
            raise InputError(f"loss must be one of {list(LOSSES)}, got {self.loss!r}")


class MLPEnsemble(torch.nn.Module):
    """``M`` fully connected ReLU networks ``d -> hidden... -> 1`` evaluated together.

    Args:
        dim: Input features ``d``.
        settings: Architecture and training settings.
        seeds: One seed per member (initialization and minibatch order).
    """

    def __init__(self, dim: int, settings: EnsembleSettings, seeds: Sequence[int]) -> None:
        super().__init__()
        if len(seeds) != settings.n_members:
            raise InputError(
                f"need one seed per member ({settings.n_members}), got {len(seeds)} seeds"
            )
        self.settings = settings
        self.generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
        widths = [dim, *settings.hidden, 1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for d_in, d_out in zip(widths[:-1], widths[1:], strict=True):
            bound = 1.0 / max(d_in, 1) ** 0.5  # torch.nn.Linear's default initialization
            w = torch.stack(
                [(torch.rand(d_in, d_out, generator=g) * 2 - 1) * bound for g in self.generators]
            )
            b = torch.stack(
                [(torch.rand(1, d_out, generator=g) * 2 - 1) * bound for g in self.generators]
            )
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(b))

    def forward(self, X: Tensor) -> Tensor:
        """Predictions of every member.

        Args:
            X: ``n x d`` inputs (shared) or ``M x n x d`` (one batch per member).

        Returns:
            ``M x n`` predictions.
        """
        h = X if X.dim() == 3 else X.unsqueeze(0).expand(len(self.generators), *X.shape)
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if k < last:
                h = torch.relu(h)
        return h.squeeze(-1)

    def fit(self, X: Tensor, y: Tensor) -> MLPEnsemble:
        """Train every member on ``X`` (``n x d``) and targets ``y`` (``n``)."""
        if X.dim() != 2 or y.shape != (X.shape[0],) or X.shape[0] == 0:
            raise InputError(
                f"fit needs X of shape n x d and y of shape n with n >= 1, got X "
                f"{tuple(X.shape)} and y {tuple(y.shape)}"
            )
        s = self.settings
        n = X.shape[0]
        opt = torch.optim.Adam(self.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        batch = min(s.batch_size, n)
        self.train()
        for _ in range(s.epochs):
            perms = torch.stack([torch.randperm(n, generator=g) for g in self.generators])
            for start in range(0, n, batch):
                idx = perms[:, start : start + batch]  # M x b
                pred = self(X[idx])
                err = pred - y[idx]
                per_member = err.abs().mean(-1) if s.loss == "mae" else err.square().mean(-1)
                opt.zero_grad()
                per_member.sum().backward()
                opt.step()
        self.eval()
        return self

    @torch.no_grad()
    def predict(self, X: Tensor) -> tuple[Tensor, Tensor]:
        """Ensemble mean and standard deviation (``n`` each) at ``X`` (``n x d``)."""
        preds = self(X)
        std = preds.std(0, unbiased=False) if preds.shape[0] > 1 else torch.zeros_like(preds[0])
        return preds.mean(0), std
