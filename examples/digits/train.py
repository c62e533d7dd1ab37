"""Train an NB201-cell CNN on scikit-learn's handwritten digits: the function jahs-bo tunes.

``train(config, ctx)`` is an ordinary training loop with three additions for jahs-bo:
``ctx.fidelity["epochs"]`` says how long to train, ``ctx.report(epoch, accuracy)`` reports each
epoch (the scheduler may stop the trial there), and ``ctx.checkpoint_dir`` holds a checkpoint so
that a trial promoted to more epochs continues from its parent instead of starting again.

Data: ``sklearn.datasets.load_digits`` (1,797 grey 8x8 images bundled with scikit-learn, no
download), split once into 60% train, 20% validation, 20% test (stratified, fixed seed).
The objective is the validation accuracy; the test accuracy is stored as a user attribute.

Run it through ``run.py`` (the full example) or the CLI::

    jahs-bo run examples/digits/train.py:train --space examples/digits/train.py:digits_space \\
        --direction maximize --scheduler asha --n-trials 40 --workers 2 --storage digits.db
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
import torch
from torch import nn

from jahs_bo.nn import build_nb201, count_parameters
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace

#: Network size: small enough for a 2-core CPU (stem width C and cells per stage N).
CHANNELS = 8
CELLS_PER_STAGE = 1
BATCH_SIZE = 64
#: The configuration a person would try first: NB201's ResNet-like cell and textbook SGD values.
DEFAULT_CONFIG: dict[str, Any] = {
    "arch": "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
    "learning_rate": 0.01,
    "weight_decay": 5e-4,
    "activation": "ReLU",
}


def digits_space(max_epochs: int = 27, min_epochs: int = 1) -> SearchSpace:
    """NB201 cell + learning rate, weight decay and activation; epochs as the fidelity."""
    hps = CS.ConfigurationSpace(name="digits")
    hps.add(
        [
            CS.Float("learning_rate", (1e-3, 0.5), log=True, default=0.01),
            CS.Float("weight_decay", (1e-6, 1e-2), log=True, default=5e-4),
            CS.Categorical("activation", ["ReLU", "Hardswish", "Mish"], default="ReLU"),
        ]
    )
    return SearchSpace(
        hps,
        {"arch": NB201Cell()},
        [Fidelity("epochs", min_epochs, max_epochs, integer=True)],
        name="digits_nb201",
    )


@lru_cache(maxsize=1)
def load_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train"|"val"|"test": (images batch x 1 x 8 x 8 in [0, 1], labels)}``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None] / 16.0
    y = digits.target.astype(np.int64)
    x_train, x_rest, y_train, y_rest = train_test_split(
        x, y, test_size=0.4, stratify=y, random_state=0
    )
    x_val, x_test, y_val, y_test = train_test_split(
        x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=0
    )
    return {
        name: (torch.from_numpy(a), torch.from_numpy(b))
        for name, a, b in (
            ("train", x_train, y_train),
            ("val", x_val, y_val),
            ("test", x_test, y_test),
        )
    }


def _seed(config: dict[str, Any]) -> int:
    """A seed per configuration: the same configuration trains the same way."""
    key = json.dumps(config, sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return float((model(x).argmax(dim=1) == y).float().mean())


def train(config: dict[str, Any], ctx: Any) -> float:
    """Train for ``ctx.fidelity["epochs"]`` epochs; return the validation accuracy."""
    data = load_splits()
    x_train, y_train = data["train"]
    seed = _seed(config)
    torch.manual_seed(seed)  # weight initialisation (this runs in its own worker process)
    model = build_nb201(
        config["arch"],
        channels=CHANNELS,
        cells_per_stage=CELLS_PER_STAGE,
        num_classes=10,
        activation=config["activation"],
        in_channels=1,
    )
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config["learning_rate"],
        momentum=0.9,
        nesterov=True,
        weight_decay=config["weight_decay"],
    )
    # cosine schedule over the *largest* fidelity: resuming at more epochs continues it exactly
    total = int(ctx.max_fidelity.get("epochs", ctx.fidelity["epochs"]))
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    start = 0
    checkpoint = Path(ctx.checkpoint_dir) / "checkpoint.pt"
    if ctx.previous_fidelity and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        start = int(state["epoch"])
    ctx.set_user_attr("params_M", count_parameters(model))

    val_acc = math.nan
    for epoch in range(start, int(ctx.fidelity["epochs"])):
        model.train()
        order = torch.Generator().manual_seed(seed + epoch)  # same batches when resumed
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(perm), BATCH_SIZE):
            idx = perm[i : i + BATCH_SIZE]
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss diverged at epoch {epoch}")
        val_acc = accuracy(model, *data["val"])
        ctx.report(epoch, val_acc)  # may stop the trial here (pruning)
    torch.save(
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "epoch": int(ctx.fidelity["epochs"]),
        },
        checkpoint,
    )
    ctx.set_user_attr("test_accuracy", accuracy(model, *data["test"]))
    return val_acc
