"""Candidate rows for the acquisition: neighbourhoods of encoded configurations, de-duplication.

Candidates live as encoded rows of a :class:`~jahs_bo.models.encoder.JointEncoder` (``n x d``).
Moves use the space's own operators (a domain's ``neighbours``/``mutate``, ConfigSpace
neighbours or the encoder's one-exchange moves), so graphs and grammars stay valid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from jahs_bo.models.encoder import JointEncoder


def arch_moves(encoder: JointEncoder, x: Tensor, rng: np.random.Generator, k: int) -> Tensor:
    """Rows of ``x`` (``d``) with one architecture replaced by a neighbour (up to ``k`` each).

    Returns:
        ``m x d`` rows (``m <= k`` per architecture column).
    """
    out = []
    for col, (name, store) in zip(encoder.arch_dims, encoder.stores.items(), strict=True):
        dom = encoder.space.architectures[name]
        value = store.value(int(x[col]))
        listed = dom.neighbours(value)
        if listed is None:
            listed = [dom.mutate(value, rng) for _ in range(k)]
        elif len(listed) > k:
            listed = [listed[i] for i in rng.choice(len(listed), size=k, replace=False)]
        rows = x.unsqueeze(0).repeat(len(listed), 1)
        rows[:, col] = torch.from_numpy(store.add(listed)).to(rows)
        out.append(rows)
    return torch.cat(out) if out else x.new_zeros(0, x.shape[-1])


def hp_moves(encoder: JointEncoder, x: Tensor, rng: np.random.Generator, k: int) -> Tensor:
    """Up to ``k`` rows of ``x`` (``d``) with its hyperparameters moved one step (``m x d``)."""
    if not encoder.hp_dims:
        return x.new_zeros(0, x.shape[-1])
    if encoder.vector_moves:
        return encoder.perturb_hyperparameters(x, k, rng)
    space = encoder.space
    cfg = encoder.decode(x)
    nbs = [c for c in space.neighbours(cfg, rng, 4 * k) if c.keys() == cfg.keys()]
    nbs = [c for c in nbs if all(c[a] == cfg[a] for a in space.architectures)]
    return encoder.encode(nbs[:k]) if nbs else x.new_zeros(0, x.shape[-1])


def neighbourhood(
    encoder: JointEncoder, parents: Tensor, rng: np.random.Generator, k: int
) -> Tensor:
    """One-step moves of each parent row (``p x d``), plus ``max(k // 6, 1)`` two-step moves.

    Returns:
        ``m x d`` rows (not de-duplicated).
    """
    out = []
    for x in parents:
        one = torch.cat([arch_moves(encoder, x, rng, k), hp_moves(encoder, x, rng, k)])
        out.append(one)
        if len(one):
            for i in rng.choice(len(one), size=max(k // 6, 1)).tolist():
                two = torch.cat(
                    [arch_moves(encoder, one[i], rng, 1), hp_moves(encoder, one[i], rng, 1)]
                )
                if len(two):
                    out.append(two[int(rng.integers(len(two)))].unsqueeze(0))
    return torch.cat(out) if out else parents.new_zeros(0, parents.shape[-1])


def row_keys(encoder: JointEncoder, X: Tensor) -> list[bytes]:
    """De-duplication keys of ``X`` (``n x d``): architecture columns mapped to representatives.

    Rows with equal keys are the same to the model (WL-equivalent architectures, same
    hyperparameters and fidelities).
    """
    Z = X.numpy().copy()
    for col, store in zip(encoder.arch_dims, encoder.stores.values(), strict=True):
        Z[:, col] = store.representatives(Z[:, col].round().astype(np.int64))
    return [row.tobytes() for row in Z]


def unique_rows(encoder: JointEncoder, X: Tensor, exclude: set[bytes]) -> Tensor:
    """Rows of ``X`` (``n x d``) equal neither to an earlier row nor to a key in ``exclude``."""
    keep, keys = [], set()
    for i, key in enumerate(row_keys(encoder, X)):
        if key not in exclude and key not in keys:
            keys.add(key)
            keep.append(i)
    return X[keep]
