"""The one incumbent rule: which trials a study reports as its best.

Every place that shows a "best" (``Study.best_trial`` / ``best_trials``, the progress display,
``jahs-bo status`` / ``best`` / ``plot``, the examples' summaries) calls :func:`incumbent`, so they
agree.

The rule: among the complete trials, take those at the *highest fidelity reached* (for a space
without fidelities, all of them); the incumbent is the best of these (ties: the earliest trial),
or their Pareto front for several objectives. A 9-epoch result never beats a 27-epoch one, and
while no trial has reached the full fidelity the incumbent says at which fidelity it was measured
(:attr:`Incumbent.note`). With outcome constraints only feasible trials are best; while none is
feasible, ``best`` is the least-violating trial (``feasible`` is then ``False``) and the front is
empty.

Trials lost to an interruption or a dead worker never count (they are failed anyway).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from jahs_bo.multiobjective import OutcomeConstraint, pareto_front, violations
from jahs_bo.types import Direction, FidelityValues, Trial, TrialState

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["Incumbent", "at_highest_fidelity", "fidelity_level", "format_fidelity", "incumbent"]


def fidelity_level(space: SearchSpace, fidelity: Mapping[str, float]) -> float:
    """How far ``fidelity`` is towards the full fidelity: the mean normalised value in ``[0, 1]``.

    1 means every fidelity at its maximum; a space without fidelities gives 1.
    """
    fids = getattr(space, "fidelities", None) or {}
    if not fids:
        return 1.0
    parts = []
    for name, fid in fids.items():
        if name not in fidelity:
            return 0.0
        parts.append(fid.normalize(float(fidelity[name])))
    return float(np.mean(parts))


def at_highest_fidelity(trials: Sequence[Trial], space: SearchSpace) -> list[Trial]:
    """The trials at the highest :func:`fidelity_level` among ``trials`` (in their order)."""
    if not trials:
        return []
    levels = [fidelity_level(space, t.fidelity) for t in trials]
    top = max(levels)
    return [t for t, lv in zip(trials, levels) if math.isclose(lv, top, abs_tol=1e-9)]


def format_fidelity(fidelity: Mapping[str, float]) -> str:
    """``"epochs=9, resolution=0.5"``."""
    return ", ".join(f"{k}={v:g}" for k, v in fidelity.items())


@dataclass(frozen=True)
class Incumbent:
    """The study's best trials by the rule of this module.

    Attributes:
        best: The best trial (single objective), or the least-violating one while no trial is
            feasible; ``None`` for several objectives or while no trial is complete.
        front: The feasible Pareto-optimal trials at the incumbent fidelity, in number order
            (every tied best trial for one objective).
        fidelity: The fidelity the incumbents were measured at (``{}`` without fidelities).
        at_max_fidelity: Whether that is the space's full fidelity.
        feasible: Whether ``best`` satisfies the constraints.
    """

    best: Trial | None
    front: tuple[Trial, ...]
    fidelity: FidelityValues
    at_max_fidelity: bool
    feasible: bool

    @property
    def note(self) -> str:
        """``""`` at the full fidelity, else ``"at epochs=9 (not the full fidelity)"``."""
        if self.at_max_fidelity or not self.fidelity:
            return ""
        return f"at {format_fidelity(self.fidelity)} (not the full fidelity)"


_NONE = Incumbent(None, (), {}, True, False)


def incumbent(
    trials: Sequence[Trial],
    space: SearchSpace,
    directions: Sequence[Direction],
    constraints: Sequence[OutcomeConstraint] = (),
) -> Incumbent:
    """The incumbent of ``trials`` (see the module docstring for the rule).

    Args:
        trials: The study's trials (any states; only complete ones count).
        space: The study's space (its fidelities decide the levels).
        directions: One direction per objective.
        constraints: Outcome constraints of the study.
    """
    complete = [
        t
        for t in trials
        if t.state is TrialState.COMPLETE
        and t.values is not None
        and len(t.values) == len(directions)
        and all(math.isfinite(v) for v in t.values)
    ]
    if not complete:
        return _NONE
    at_top = at_highest_fidelity(complete, space)
    fidelity = dict(at_top[-1].fidelity)
    at_max = math.isclose(fidelity_level(space, fidelity), 1.0, abs_tol=1e-9)
    front = tuple(pareto_front(at_top, directions, constraints))
    best: Trial | None = None
    feasible = bool(front)
    if len(directions) == 1:
        sign = directions[0].sign
        viol = violations(at_top, constraints)
        i = min(
            range(len(at_top)),
            key=lambda k: (viol[k], sign * at_top[k].values[0]),  # type: ignore[index]
        )
        best = at_top[i]
        feasible = bool(viol[i] == 0.0)
    return Incumbent(best, front, fidelity, at_max, feasible)
