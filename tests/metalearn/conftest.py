"""Small synthetic related tasks on a joint space (NB201 cell + two hyperparameters)."""

from __future__ import annotations

import ConfigSpace as CS
import numpy as np
import pytest

from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace

#: Small networks so that meta-training in tests takes seconds.
SMALL = {
    "gnn_hidden": 16,
    "gnn_layers": 2,
    "gnn_out": 8,
    "hp_hidden": 16,
    "embed_dim": 8,
    "kernel_dim": 4,
    "task_dim": 4,
    "set_dim": 16,
    "set_heads": 2,
    "set_blocks": 1,
    "proj_dim": 8,
}


def make_space(lr_upper: float = 1.0) -> SearchSpace:
    hps = CS.ConfigurationSpace({"lr": (0.0, lr_upper), "opt": ["sgd", "adam"]}, seed=0)
    return SearchSpace(hps, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 9, integer=True)])


def synthetic_task(space: SearchSpace, shift: float, n: int, seed: int):
    """Related tasks: more 3x3 convolutions are better everywhere; the best learning rate
    moves with ``shift``; ``adam`` helps a little; full fidelity is better."""
    from jahs_bo.metalearn import TaskData

    rng = np.random.default_rng(seed)
    configs = space.sample_many(n, rng)
    fids = [{"epochs": int(rng.integers(1, 10))} for _ in range(n)]
    values = []
    for c, f in zip(configs, fids, strict=True):
        ops = NB201Cell().to_ops(c["arch"])
        arch = 1.0 * ops.count("nor_conv_3x3") + 0.5 * ops.count("nor_conv_1x1")
        arch -= 1.5 * (ops[0] == "none")
        hp = -4.0 * (c["lr"] - shift) ** 2 + 0.3 * (c["opt"] == "adam")
        values.append(arch + hp + 0.1 * f["epochs"] + 0.05 * rng.standard_normal())
    # a scale and offset of its own per task: only ranks within a task are comparable
    scale = 1.0 + 3.0 * rng.random()
    return TaskData(
        configs, scale * np.asarray(values) + 50 * shift, name=f"task{seed}", fidelities=fids
    )


@pytest.fixture(scope="module")
def space() -> SearchSpace:
    return make_space()


@pytest.fixture(scope="module")
def sources(space: SearchSpace):
    return [synthetic_task(space, s, 120, seed) for seed, s in enumerate([0.2, 0.35, 0.5, 0.65])]


@pytest.fixture(scope="module")
def heldout(space: SearchSpace):
    return synthetic_task(space, 0.45, 80, seed=99)


@pytest.fixture(scope="module")
def trained(space: SearchSpace, sources):
    from jahs_bo.metalearn import MetaConfig, meta_train

    return meta_train(
        space,
        sources,
        seed=0,
        steps=120,
        batch_size=48,
        context_max=16,
        lr=3e-3,
        config=MetaConfig(**SMALL),
        progress=False,
    )
