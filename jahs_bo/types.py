"""Plain data types shared by every layer: trial states, directions, frozen trials.

No torch here: these types are what storages persist and what users read back.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jahs_bo.exceptions import ObjectiveValueError

#: A configuration: hyperparameter and architecture names mapped to plain JSON values
#: (floats, ints, strings; architectures are canonical strings).
Config = dict[str, Any]
#: Fidelity names mapped to the value at which a trial runs (epochs, data fraction, ...).
FidelityValues = dict[str, float]


class TrialState(str, enum.Enum):
    """Life cycle of a trial. ``RUNNING`` trials are pending; the others are final."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


class Direction(str, enum.Enum):
    """Whether an objective is minimized or maximized."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @classmethod
    def parse(cls, value: str | Direction) -> Direction:
        try:
            return cls(value)
        except ValueError:
            raise ObjectiveValueError(
                f"unknown direction {value!r}: use 'minimize' or 'maximize'"
            ) from None

    @property
    def sign(self) -> float:
        """``+1`` for minimize, ``-1`` for maximize: ``sign * value`` is always a loss."""
        return 1.0 if self is Direction.MINIMIZE else -1.0


@dataclass(frozen=True)
class IntermediateReport:
    """A metric reported during a trial (for example the validation accuracy after an epoch)."""

    step: int
    value: float


@dataclass(frozen=True)
class Trial:
    """One evaluation of a configuration at a fidelity, as the storage holds it.

    Attributes:
        trial_id: Storage-wide unique id.
        number: 0-based position of the trial in its study.
        config: The configuration (plain JSON values).
        fidelity: The fidelity values the trial runs at (empty for spaces without fidelities).
        state: Life-cycle state.
        values: One value per objective once ``COMPLETE``, else ``None``.
        intermediate: Reports made while running, in step order.
        parent_id: The trial this one continues (a promotion to a higher fidelity), if any.
        user_attrs: Free JSON attributes set by the user.
        system_attrs: Free JSON attributes set by jahs-bo (searcher, scheduler bracket, worker).
        error: Why the trial failed (message and traceback), if it did.
        datetime_start: When the trial was created.
        datetime_complete: When it reached a final state.
    """

    trial_id: int
    number: int
    config: Config
    fidelity: FidelityValues = field(default_factory=dict)
    state: TrialState = TrialState.RUNNING
    values: tuple[float, ...] | None = None
    intermediate: tuple[IntermediateReport, ...] = ()
    parent_id: int | None = None
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None

    @property
    def value(self) -> float:
        """The single objective value of a complete single-objective trial."""
        if self.values is None:
            raise ObjectiveValueError(
                f"trial {self.number} has no value (state {self.state.value})"
            )
        if len(self.values) != 1:
            raise ObjectiveValueError(
                f"trial {self.number} has {len(self.values)} objective values; use .values"
            )
        return self.values[0]

    @property
    def duration(self) -> float | None:
        """Seconds from start to completion, if both are known."""
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return (self.datetime_complete - self.datetime_start).total_seconds()


def check_values(values: float | Sequence[float], n_objectives: int) -> tuple[float, ...] | str:
    """Normalise objective values to a tuple of floats.

    Returns:
        The tuple, or a string saying why the values are not usable as a result (NaN, inf);
        such a trial is recorded as failed with that reason.

    Raises:
        ObjectiveValueError: The values are of the wrong number or not numbers at all.
    """
    seq = [values] if isinstance(values, (int, float)) else list(values)
    if len(seq) != n_objectives:
        raise ObjectiveValueError(
            f"got {len(seq)} objective value(s) {seq!r} but the study has {n_objectives} "
            "objective(s); return one value per objective, in the order of `directions`"
        )
    out: list[float] = []
    for v in seq:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ObjectiveValueError(
                f"objective value {v!r} is not a number; return floats"
            ) from None
        if not math.isfinite(f):
            return f"objective returned a non-finite value {seq!r}"
        out.append(f)
    return tuple(out)
