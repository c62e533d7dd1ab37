"""Train one architecture of the grammar or NB201 space under a :class:`Protocol`.

Networks come from the library builders: ``jahs_bo.nn.build_hierarchical`` for derivations of
``hierarchical_nb201_space()`` and ``jahs_bo.nn.build_nb201`` (one cell per stage, the same stem,
reduction blocks and head) for ``nb201_space()`` cells. Training: SGD with Nesterov momentum 0.9
or AdamW (``protocol.optimizer``), cosine learning rate to 0 over all steps, cross entropy; the training seed fixes the weight
initialisation (inside ``torch.random.fork_rng``, so the caller's global RNG is untouched) and
the minibatch order (a ``torch.Generator``).
"""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from benchmarks.problems.digits_nas.protocol import Protocol, load_data

#: The two spaces: ``"grammar"`` (hierarchical NB201 grammar) and ``"nb201"`` (NB201 cell).
SPACES: tuple[str, ...] = ("grammar", "nb201")


@lru_cache(maxsize=2)
def space(name: str) -> Any:
    """The jahs-bo ``SearchSpace`` of ``name`` (``"grammar"`` or ``"nb201"``)."""
    from jahs_bo.spaces import hierarchical_nb201_space, nb201_space

    if name == "grammar":
        return hierarchical_nb201_space()
    if name == "nb201":
        return nb201_space()
    raise ValueError(f"unknown digits-NAS space {name!r}; use one of {SPACES}")


def build_network(space_name: str, arch: str, protocol: Protocol, num_classes: int = 10) -> Any:
    """The ``torch.nn.Module`` of ``arch`` (1 input channel, ``num_classes`` outputs)."""
    from jahs_bo.nn import build_hierarchical, build_nb201

    if space_name == "grammar":
        grammar = space("grammar").architectures["arch"]
        return build_hierarchical(
            arch,
            grammar=grammar,
            channels=protocol.channels,
            num_classes=num_classes,
            in_channels=1,
        )
    if space_name == "nb201":
        return build_nb201(
            arch,
            channels=protocol.channels,
            cells_per_stage=1,
            num_classes=num_classes,
            in_channels=1,
        )
    raise ValueError(f"unknown digits-NAS space {space_name!r}; use one of {SPACES}")


def _accuracy(model: Any, x: Any, y: Any, batch: int = 256) -> float:
    """Fraction of correctly classified images, in evaluation mode."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((model(x[i : i + batch]).argmax(dim=1) == y[i : i + batch]).sum())
    return correct / len(x)


def train(
    space_name: str,
    arch: str,
    protocol: Protocol,
    seed: int,
    data: dict[str, tuple[Any, Any]] | None = None,
    num_classes: int = 10,
) -> dict[str, float]:
    """Train ``arch`` once and measure it.

    Args:
        space_name: ``"grammar"`` or ``"nb201"`` (any NB201 cell string, whatever its op set).
        arch: The architecture string.
        protocol: The training protocol (its data fields are ignored when ``data`` is given).
        seed: Training seed (weight initialisation and minibatch order).
        data: ``{"train"|"val"|"test": (images n x 1 x R x R, int64 labels)}``; default
            :func:`load_data` of ``protocol``.
        num_classes: Outputs of the network (labels lie in ``0..num_classes-1``).

    Returns:
        ``val_acc`` and ``test_acc`` in percent (``nan`` if the loss diverged), ``seconds`` of
        wall-clock (building + training + evaluation) and ``params`` (millions).
    """
    import torch
    from torch import nn

    from jahs_bo.nn import count_parameters

    start = time.perf_counter()
    data = load_data(protocol) if data is None else data
    x_train, y_train = data["train"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))  # weight initialisation only; restored on exit
        model = build_network(space_name, arch, protocol, num_classes)
    optimizer: torch.optim.Optimizer
    if protocol.optimizer == "adam":
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=protocol.lr, weight_decay=protocol.weight_decay
        )
    else:
        optimizer = torch.optim.SGD(
            model.parameters(),
            lr=protocol.lr,
            momentum=0.9,
            nesterov=True,
            weight_decay=protocol.weight_decay,
        )
    steps = protocol.epochs * -(-len(x_train) // protocol.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    order = torch.Generator().manual_seed(int(seed) + 1_000_003)
    diverged = False
    for _ in range(protocol.epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=order)
        for i in range(0, len(perm), protocol.batch_size):
            idx = perm[i : i + protocol.batch_size]
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        if not torch.isfinite(loss):
            diverged = True
            break
    nan = float("nan")
    val = nan if diverged else 100.0 * _accuracy(model, *data["val"])
    test = nan if diverged else 100.0 * _accuracy(model, *data["test"])
    return {
        "val_acc": val,
        "test_acc": test,
        "seconds": time.perf_counter() - start,
        "params": count_parameters(model),
    }
