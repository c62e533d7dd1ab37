"""Transfer across datasets: a meta-learned deep-kernel GP (issue 12).

``meta_train(space, sources)`` learns, from earlier tasks on the same search space, a GNN
architecture encoder, an MLP over hyperparameters and fidelities, a set-transformer dataset
encoder and the Matern kernel and prior mean of a botorch ``SingleTaskGP`` over those
embeddings. ``fine_tune`` adapts it to a new task, ``MetaModel.predict`` ranks candidates
zero-shot, ``MetaModel.model_factory()`` hands fitted models to the GP searcher, and
``MetaModel.save`` / ``load`` write and read versioned checkpoints (a ``state_dict`` and JSON).

Example:
    >>> from jahs_bo import metalearn
    >>> sources = [metalearn.TaskData(configs, values, name="cifar10"), ...]
    >>> meta = metalearn.meta_train(space, sources, seed=0)
    >>> meta.save("nb201-meta")
    >>> meta = metalearn.load("nb201-meta", space=space)
    >>> top = meta.initial_design(candidates, n=10)          # zero-shot
    >>> tuned = metalearn.fine_tune(meta, configs_new, values_new, steps=50)

In a study: ``create_study(space, searcher="transfer", searcher_options={"meta": "nb201-meta"})``
(:mod:`jahs_bo.searchers.transfer`: the zero-shot best configurations first, then the GP
searcher with this model as its surrogate). Without a model, ``portfolio_configs(space,
sources)`` is a greedy complementary portfolio of the sources' best configurations
(``create_study(..., warm_start=sources)`` evaluates it first).

Names are imported lazily: ``import jahs_bo.metalearn`` does not import torch or
torch_geometric; the first use of a model class does.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "TaskData": "jahs_bo.metalearn.tasks",
    "SourceDirectionWarning": "jahs_bo.metalearn.tasks",
    "copula_scores": "jahs_bo.metalearn.tasks",
    "MetaConfig": "jahs_bo.metalearn.net",
    "MetaModel": "jahs_bo.metalearn.model",
    "MetaNet": "jahs_bo.metalearn.net",
    "DeepKernel": "jahs_bo.metalearn.net",
    "DeepMean": "jahs_bo.metalearn.net",
    "fine_tune": "jahs_bo.metalearn.model",
    "meta_train": "jahs_bo.metalearn.train",
    "load": "jahs_bo.metalearn.checkpoint",
    "space_fingerprint": "jahs_bo.metalearn.checkpoint",
    "ConfigEncoder": "jahs_bo.metalearn.encoders",
    "DatasetEncoder": "jahs_bo.metalearn.encoders",
    "SetTransformer": "jahs_bo.metalearn.encoders",
    "InputLayout": "jahs_bo.metalearn.encoders",
    "greedy_portfolio": "jahs_bo.metalearn.portfolio",
    "portfolio_configs": "jahs_bo.metalearn.portfolio",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'jahs_bo.metalearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
