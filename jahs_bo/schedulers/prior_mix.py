"""PriorBand-style sampling of new configurations (Mallik et al., NeurIPS 2023, simplified).

PriorBand draws a bracket's new configurations from a mix of three sources: the expert prior,
the neighbourhood of the incumbent, and the uniform distribution (which keeps Hyperband's
guarantees when the prior misleads). :class:`PriorMix` is that mix with *fixed* proportions:

* ``prior``: :meth:`SearchSpace.sample_prior <jahs_bo.spaces.SearchSpace.sample_prior>`;
* ``incumbent``: :meth:`SearchSpace.mutate <jahs_bo.spaces.SearchSpace.mutate>` of the best
  complete trial of the level the searcher is fitted on (:meth:`Scheduler.searcher_view
  <jahs_bo.schedulers.base.Scheduler.searcher_view>`); while there is none its share goes to
  the prior;
* ``uniform``: :meth:`SearchSpace.sample <jahs_bo.spaces.SearchSpace.sample>`.

PriorBand proper adapts the prior/incumbent ratio to how well each explains the top results and
lowers the uniform share at higher rungs; here the proportions are the user's (default a third
each). Schedulers take it as ``prior_mix``: with a searcher whose proposals ignore the history
(random search) every new configuration comes from the mix (Hyperband + ``prior_mix`` is
PriorBand); with a model-based searcher (BOHB) the ``random_fraction`` draws come from the mix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.types import Config

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

#: The sources of :class:`PriorMix`, in the order of its fields.
SOURCES: tuple[str, ...] = ("prior", "incumbent", "uniform")


@dataclass(frozen=True)
class PriorMix:
    """Proportions of prior, incumbent-neighbourhood and uniform draws (normalised).

    Args:
        prior: Weight of draws from the expert prior.
        incumbent: Weight of mutations of the incumbent.
        uniform: Weight of uniform draws.
    """

    prior: float = 1.0
    incumbent: float = 1.0
    uniform: float = 1.0

    def __post_init__(self) -> None:
        for name in SOURCES:
            w = getattr(self, name)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise InputError(f"prior_mix[{name!r}] must be a finite number, got {w!r}")
            if w < 0:
                raise InputError(f"prior_mix[{name!r}] = {w!r} must be >= 0")
        if self.prior + self.incumbent + self.uniform <= 0:
            raise InputError("prior_mix gives every source weight 0; give one a weight > 0")

    @classmethod
    def parse(cls, value: bool | Mapping[str, float] | PriorMix | None) -> PriorMix | None:
        """``None``/``False`` -> no mix, ``True`` -> a third each, a mapping -> those weights.

        Raises:
            InputError: unknown source names, negative or non-numeric weights, all zero.
        """
        if value is None or value is False:
            return None
        if value is True:
            return cls()
        if isinstance(value, PriorMix):
            return value
        if not isinstance(value, Mapping):
            raise InputError(
                f"prior_mix must be True or a mapping like {{'prior': 0.5, 'incumbent': 0.25, "
                f"'uniform': 0.25}}, got {value!r:.80}"
            )
        unknown = sorted(set(value) - set(SOURCES))
        if unknown:
            raise InputError(f"prior_mix has unknown sources {unknown}; use {list(SOURCES)}")
        return cls(**{k: value.get(k, 0.0) for k in SOURCES})

    def probabilities(self, has_incumbent: bool) -> np.ndarray:
        """Probabilities of :data:`SOURCES`; without an incumbent its share goes to the prior."""
        w = np.array([self.prior, self.incumbent, self.uniform], dtype=float)
        if not has_incumbent:
            w = np.array([w[0] + w[1], 0.0, w[2]])
        return w / w.sum()

    def draw(
        self, space: SearchSpace, incumbent: Config | None, rng: np.random.Generator
    ) -> tuple[Config, str]:
        """One configuration and the name of the source it came from."""
        source = SOURCES[int(rng.choice(3, p=self.probabilities(incumbent is not None)))]
        if source == "prior":
            return space.sample_prior(1, rng)[0], source
        if source == "incumbent":
            assert incumbent is not None
            return space.mutate(incumbent, rng), source
        return space.sample(rng), source

    def to_dict(self) -> dict[str, float]:
        return {k: float(getattr(self, k)) for k in SOURCES}


__all__ = ["SOURCES", "PriorMix"]
