"""Configurations -> flat feature vectors for neural-network predictors (BANANAS).

Column layout of the returned ``n x d`` array::

    [ architecture features per architecture | hyperparameters ]

- Architectures use :func:`jahs_bo.encoding.paths.architecture_encoding` (NB201: path encoding,
  NB101: adjacency and operations, other domains: WL feature counts).
- Floats and integers are ConfigSpace's unit-cube values (log scale applied), ordinals their
  index / (k - 1), both ``-1`` when inactive; unordered categoricals are one-hot (all zeros
  when inactive).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from ConfigSpace.hyperparameters import CategoricalHyperparameter, OrdinalHyperparameter

from jahs_bo.encoding.paths import ArchitectureEncoding, architecture_encoding

#: Value of an inactive numeric hyperparameter.
INACTIVE = -1.0


class FeatureEncoder:
    """Encodes configurations of a :class:`~jahs_bo.spaces.space.SearchSpace` as flat vectors.

    Args:
        space: The search space.

    Attributes:
        encodings: One architecture encoding per architecture key.
    """

    def __init__(self, space) -> None:
        self.space = space
        self.encodings: dict[str, ArchitectureEncoding] = {
            key: architecture_encoding(dom) for key, dom in space.architectures.items()
        }
        hps = [space.hyperparameters[n] for n in space.hp_names]
        #: Per hyperparameter: number of one-hot columns (categoricals) or 0 (numeric).
        self._onehot = [
            len(hp.choices) if isinstance(hp, CategoricalHyperparameter) else 0 for hp in hps
        ]
        self._scale = np.array(
            [
                max(len(hp.sequence) - 1, 1) if isinstance(hp, OrdinalHyperparameter) else 1.0
                for hp in hps
            ]
        )

    def _hp_features(self, configs: Sequence[Mapping]) -> np.ndarray:
        """``n x d_hp`` hyperparameter features."""
        vectors = self.space.hp_vectors(configs) / self._scale if self._onehot else None
        width = sum(k if k else 1 for k in self._onehot)
        out = np.zeros((len(configs), width))
        if vectors is None:
            return out
        col = 0
        for j, k in enumerate(self._onehot):
            v = vectors[:, j]
            if k:
                active = ~np.isnan(v)
                out[np.flatnonzero(active), col + v[active].astype(int)] = 1.0
                col += k
            else:
                out[:, col] = np.where(np.isnan(v), INACTIVE, v)
                col += 1
        return out

    def encode(self, configs: Sequence[Mapping]) -> np.ndarray:
        """Features of ``configs``, shape ``len(configs) x d``.

        Encode the training and candidate configurations of one model in one call: the WL
        columns of grammar domains are defined by the graphs encoded together.
        """
        parts = [enc.encode([c[key] for c in configs]) for key, enc in self.encodings.items()]
        parts.append(self._hp_features(configs))
        return np.concatenate(parts, axis=1)
