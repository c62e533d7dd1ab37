"""The searcher interface: which configuration to evaluate next.

A searcher is stateless over the study: every ``suggest`` receives the study's trials as the
storage holds them, so a resumed study or a second process continues without hidden state.
Randomness comes from the generator the study passes in, derived from the study's seed and the
trial number (same seed, same trials).
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.types import Config, Direction, Trial, TrialState

if TYPE_CHECKING:
    from jahs_bo.multiobjective import OutcomeConstraint
    from jahs_bo.spaces.space import SearchSpace


class Searcher(ABC):
    """Proposes configurations for a :class:`~jahs_bo.spaces.space.SearchSpace`.

    Args:
        space: The space to search.
        directions: One direction per objective.

    Attributes:
        constraints: Outcome constraints of the study
            (:class:`~jahs_bo.multiobjective.OutcomeConstraint`); ``create_study(constraints=...)``
            passes them. Searchers that ignore them still work: the study's incumbents respect
            the constraints anyway.
        screened: Whether a scheduler screens the proposals at low fidelity before any is
            evaluated in full (successive halving, Hyperband, BOHB, ASHA); ``create_study``
            passes it from the scheduler's ``screens_proposals``. A model-based searcher may
            then favour diverse proposals over refining its incumbent.

    Both are constructor arguments (never set on an instance from outside): a searcher built
    by hand for a study with constraints or a bracket scheduler takes them the same way.
    """

    #: Registry name (``create_study(searcher=name)``).
    name: str = ""
    #: Whether proposals ignore the history (random search): a scheduler with its own sampling
    #: rule (``prior_mix``) then draws every new configuration itself.
    samples_independently: bool = False

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction | str] = ("minimize",),
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        self.space = space
        self.directions = tuple(Direction.parse(d) for d in directions)
        self.constraints: list[OutcomeConstraint] = list(constraints)
        self.screened = bool(screened)

    @abstractmethod
    def suggest(
        self,
        trials: Sequence[Trial],
        pending: Sequence[Trial],
        rng: np.random.Generator,
    ) -> Config:
        """Return the next configuration (without fidelity values).

        Args:
            trials: Every finished trial of the study, in creation order.
            pending: Trials still running (other workers); avoid proposing them again.
            rng: The generator to draw from.
        """

    def losses(self, trials: Sequence[Trial]) -> tuple[list[Trial], np.ndarray]:
        """Complete trials and their losses (``n x n_objectives``; lower is better)."""
        done = [t for t in trials if t.state is TrialState.COMPLETE and t.values is not None]
        signs = np.array([d.sign for d in self.directions])
        if not done:
            return [], np.zeros((0, len(self.directions)))
        return done, np.array([t.values for t in done], dtype=float) * signs


_SEARCHERS: dict[str, Callable[..., Searcher]] = {}
#: Searchers whose module is imported on first use (they pull in torch and botorch).
_LAZY_SEARCHERS: dict[str, str] = {
    "bananas": "jahs_bo.searchers.bananas",
    "gp": "jahs_bo.searchers.gp",
    "transfer": "jahs_bo.searchers.transfer",
}


def _load(name: str) -> None:
    if name not in _SEARCHERS and name in _LAZY_SEARCHERS:
        importlib.import_module(_LAZY_SEARCHERS[name])


def register_searcher(name: str) -> Callable[[type[Searcher]], type[Searcher]]:
    """Class decorator: make a searcher available as ``create_study(searcher=name)``."""

    def deco(cls: type[Searcher]) -> type[Searcher]:
        cls.name = name
        _SEARCHERS[name] = cls
        return cls

    return deco


def make_searcher(
    name: str, space: SearchSpace, directions: Sequence[Direction | str], **options: Any
) -> Searcher:
    """Build a registered searcher by name."""
    if isinstance(name, str):
        _load(name)
    if not isinstance(name, str) or name not in _SEARCHERS:
        raise InputError(f"unknown searcher {name!r}; choose one of {available_searchers()}")
    from jahs_bo._build import build

    return build(_SEARCHERS[name], f"searcher {name!r}", (space, directions), options)


def available_searchers() -> list[str]:
    """Names accepted by ``create_study(searcher=...)``."""
    return sorted(set(_SEARCHERS) | set(_LAZY_SEARCHERS))
