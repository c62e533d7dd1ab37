"""The digits tasks' search space and training protocol.

An NB201 cell over three ops (``skip_connect``, ``nor_conv_1x1``, ``nor_conv_3x3``: 3^6 = 729
cells; without ``none`` every cell trains, so the tasks rank cells by receptive field and depth
rather than by which cells are disconnected) and the learning rate, ordinal {0.05, 0.2}: 1,458
configurations, all of them trained on every task. Training (:data:`PROTOCOL`): the NB201
network with one cell per stage, 8 channels, on the 8x8 images, 4 epochs of SGD (Nesterov 0.9,
batch 32, cosine schedule, weight decay 5e-4), training seed 0.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

from benchmarks.problems.digits_nas.protocol import Protocol

OPS: tuple[str, ...] = ("skip_connect", "nor_conv_1x1", "nor_conv_3x3")
LEARNING_RATES: tuple[float, ...] = (0.05, 0.2)
#: Training protocol of every table entry (its data fields are unused: each task brings its data).
PROTOCOL = Protocol(resolution=8, rotation=0.0, noise=0.0, channels=8, epochs=4, batch_size=32)
TRAIN_SEED = 0


@lru_cache(maxsize=1)
def space() -> Any:
    """The jahs-bo ``SearchSpace``: ``{"arch": NB201 cell over OPS, "lr": ordinal}``."""
    import ConfigSpace as CS

    from jahs_bo.spaces import SearchSpace
    from jahs_bo.spaces.nb201 import NB201Cell

    hps = CS.ConfigurationSpace(name="digits_tasks")
    hps.add(CS.OrdinalHyperparameter("lr", list(LEARNING_RATES), default_value=0.05))
    return SearchSpace(hps, {"arch": NB201Cell(ops=OPS)}, [], name="digits_tasks")


@lru_cache(maxsize=1)
def all_configs() -> tuple[tuple[str, float], ...]:
    """Every ``(cell string, learning rate)`` of the space, in a fixed order."""
    from jahs_bo.spaces.nb201 import NB201Cell

    cell = NB201Cell(ops=OPS)
    cells = [cell.from_ops(ops) for ops in itertools.product(OPS, repeat=6)]
    return tuple((arch, lr) for arch in cells for lr in LEARNING_RATES)
