"""Plain data types shared by every layer: trial states, directions, frozen trials.

No torch here: these types are what storages persist and what users read back.
"""

from __future__ import annotations

import enum
import itertools
import json
import math
import numbers
import operator
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

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

    is_finished: bool  # set per member below: a plain attribute, read in every ask's loops

    def __init__(self, value: str) -> None:
        self.is_finished = value != "running"


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


class FinishedTrials(list):  # list[Trial]
    """A study's finished trials in number order, as :meth:`Study.ask
    <jahs_bo.study.Study.ask>` hands them to its scheduler and searcher.

    Two things every ask needs are known already and travel with the list, so that an ask costs
    what changed and not the size of the study: :func:`finished_trials` passes it on without
    filtering it again (and schedulers trust that the running trials handed over beside it,
    read in the same snapshot, are none of these), and ``seen`` holds the keys (:meth:`SearchSpace.trial_key
    <jahs_bo.spaces.SearchSpace.trial_key>`) of every trial of the study (finished, running
    and lost), which the study keeps up to date as trials arrive: a read-only view of the
    study's own keys.

    Args:
        trials: Finished trials, in number order.
        seen: The study's trial keys, or ``None`` when unknown (searchers then key ``trials``).
    """

    __slots__ = ("seen",)

    def __init__(self, trials: Iterable[Trial] = (), seen: AbstractSet[str] | None = None) -> None:
        super().__init__(trials)
        self.seen = seen


def finished_trials(trials: Iterable[Trial]) -> list[Trial]:
    """The finished trials of ``trials``, in order (a C-level filter: it runs in every ask).

    :class:`FinishedTrials` holds finished trials only; it is copied, with its ``seen``, not
    filtered."""
    if type(trials) is FinishedTrials:
        return FinishedTrials(trials, trials.seen)
    return list(filter(_IS_FINISHED, trials))


def running_trials(trials: Iterable[Trial]) -> list[Trial]:
    """The RUNNING trials of ``trials``, in order."""
    return list(itertools.filterfalse(_IS_FINISHED, trials))


def config_key(config: Mapping[str, Any]) -> str:
    """A stable string key of a (canonical) configuration, for deduplication."""
    return json.dumps({k: config[k] for k in sorted(config)}, sort_keys=True)


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

    if TYPE_CHECKING:

        @property
        def config_key(self) -> str:
            """:func:`config_key` of the configuration (computed once per trial object)."""
            return ""

    def __getattr__(self, name: str) -> Any:
        # ``config_key`` is computed on first access and then stored on the instance, so that
        # later reads are plain attribute reads: searchers deduplicate every ask against every
        # trial of the study.
        if name == "config_key":
            key = config_key(self.config)
            object.__setattr__(self, "config_key", key)
            return key
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

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


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:40] + "..." + text[-10:]


def _number(v: Any, where: str) -> float:
    """``v`` as a float if it is a real number (Python, numpy or torch scalar), else raise."""
    if isinstance(v, (str, bytes, bytearray)):
        raise ObjectiveValueError(
            f"objective value {_short(v)}{where} is a {type(v).__name__}, not a number; return floats "
            "(convert text with float(...) yourself if you mean it)"
        )
    kind = getattr(getattr(v, "dtype", None), "kind", None)
    if isinstance(v, bool) or kind == "b" or str(getattr(v, "dtype", "")) == "torch.bool":
        raise ObjectiveValueError(
            f"objective value {_short(v)}{where} is a bool, not a number; return floats"
        )
    if not isinstance(v, numbers.Real):
        if getattr(v, "ndim", None) == 0 and hasattr(v, "item"):  # 0-d numpy array or tensor
            return _number(v.item(), where)
        raise ObjectiveValueError(
            f"objective value {_short(v)}{where} ({type(v).__name__}) is not a number; return floats"
        )
    try:
        return float(v)
    except OverflowError:
        raise ObjectiveValueError(
            f"objective value {_short(v)}{where} is too large for a float; return a finite float"
        ) from None


def check_values(values: Any, n_objectives: int) -> tuple[float, ...] | str:
    """Normalise objective values to a tuple of floats.

    Numbers are Python, numpy and torch real scalars (0-d arrays and tensors included); one
    value per objective may come as a sequence, a 1-d array or a 1-d tensor. Strings, bytes and
    bools are not numbers and are never converted.

    Returns:
        The tuple, or a string saying why the values are not usable as a result (NaN, inf);
        such a trial is recorded as failed with that reason.

    Raises:
        ObjectiveValueError: The values are of the wrong number or not numbers at all.
    """
    ndim = getattr(values, "ndim", None)
    if isinstance(values, (str, bytes, bytearray, bool, Mapping, numbers.Real)) or ndim == 0:
        seq = [values]
    elif ndim == 1 and hasattr(values, "tolist"):
        seq = list(values.tolist())
    elif ndim is not None:
        raise ObjectiveValueError(
            f"objective values of shape {tuple(values.shape)} given; return one number per "
            "objective (a scalar, or a 1-d sequence in the order of `directions`)"
        )
    elif isinstance(values, Sequence):
        seq = list(values)
    else:
        raise ObjectiveValueError(
            f"objective value {_short(values)} ({type(values).__name__}) is not a number; return "
            "floats, one per objective"
        )
    if len(seq) != n_objectives:
        raise ObjectiveValueError(
            f"got {len(seq)} objective value(s) {seq!r} but the study has {n_objectives} "
            "objective(s); return one value per objective, in the order of `directions`"
        )
    out: list[float] = []
    for i, v in enumerate(seq):
        f = _number(v, "" if n_objectives == 1 else f" (objective {i})")
        if not math.isfinite(f):
            return f"objective returned a non-finite value {seq!r}"
        out.append(f)
    return tuple(out)


_IS_FINISHED = operator.attrgetter("state.is_finished")
