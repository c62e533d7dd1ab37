"""Fidelities: the per-trial resources a trial runs at (epochs, data fraction, resolution, ...)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError

#: Largest absolute value of a fidelity bound (checked before any arithmetic on it).
MAX_BOUND = 1e15


def _check_bound(name: str, bound: Any, what: str) -> None:
    """Raise unless ``bound`` is a finite real number within ``+-MAX_BOUND``."""
    if isinstance(bound, (bool, str, bytes)) or not isinstance(bound, numbers.Real):
        raise InvalidSpaceError(
            f"fidelity {name!r}: {what} {bound!r} is not a number; pass numbers"
        )
    if abs(bound) > MAX_BOUND or not math.isfinite(bound):  # abs first: 10**400 has no float
        raise InvalidSpaceError(
            f"fidelity {name!r}: {what} {bound!r} is not finite or is beyond +-{MAX_BOUND:g}; a "
            "fidelity is an amount of training (epochs, a fraction, a resolution)"
        )


@dataclass(frozen=True)
class Fidelity:
    """A named, bounded fidelity.

    Either a range (``lower``..``upper``, optionally integer and/or log-scaled) or an ordered list
    of discrete ``values`` (for example ``N in {1, 3, 5}`` of JAHS-Bench-201), in which case
    ``lower`` and ``upper`` are the first and last value. Higher is always more expensive and
    closer to the final objective.

    Args:
        name: The key under which the trial's fidelity values carry it.
        lower: Cheapest value.
        upper: Full value (the one single-fidelity searches use).
        log: Whether the range is log-scaled (geometric spacing of rungs, log normalisation).
        integer: Whether values are integers.
        values: Ordered discrete values; overrides ``lower``/``upper``.
    """

    name: str
    lower: float = 0.0
    upper: float = 1.0
    log: bool = False
    integer: bool = False
    values: tuple[float, ...] | None = None

    def __init__(
        self,
        name: str,
        lower: float | None = None,
        upper: float | None = None,
        *,
        log: bool = False,
        integer: bool = False,
        values: Sequence[float] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidSpaceError(f"fidelity name {name!r} must be a non-empty string")
        if values is not None:
            if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
                raise InvalidSpaceError(
                    f"fidelity {name!r}: values {values!r} must be a list of numbers"
                )
            vals = tuple(values)
            for v in vals:
                _check_bound(name, v, "value")
            if len(vals) < 1 or any(b <= a for a, b in zip(vals, vals[1:])):
                raise InvalidSpaceError(
                    f"fidelity {name!r}: values {list(vals)} must be a non-empty strictly "
                    "increasing sequence (cheapest first)"
                )
            whole = all(float(v).is_integer() for v in vals)
            if integer and not whole:
                raise InvalidSpaceError(
                    f"fidelity {name!r} is integer but its values {list(vals)} are not all "
                    "whole numbers; pass whole values, or integer=False"
                )
            integer = integer or whole
            vals = tuple(int(v) if integer else float(v) for v in vals)
            lower, upper = vals[0], vals[-1]
        else:
            vals = None
            if lower is None or upper is None:
                raise InvalidSpaceError(
                    f"fidelity {name!r} needs lower and upper bounds, or a list of values"
                )
            for bound in (lower, upper):
                _check_bound(name, bound, "bound")
            if upper < lower:
                raise InvalidSpaceError(
                    f"fidelity {name!r}: bounds ({lower}, {upper}) must be finite with "
                    "lower <= upper"
                )
        if integer and not (float(lower).is_integer() and float(upper).is_integer()):
            # int() would truncate: a log fidelity from 0.5 would become one from 0, which its
            # own JSON could no longer load.
            raise InvalidSpaceError(
                f"fidelity {name!r} is integer but its bounds ({lower}, {upper}) are not whole "
                "numbers; pass whole bounds, or integer=False"
            )
        if log and lower <= 0:
            raise InvalidSpaceError(
                f"fidelity {name!r} is log-scaled but its lower bound {lower} is not positive"
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "lower", int(lower) if integer else float(lower))
        object.__setattr__(self, "upper", int(upper) if integer else float(upper))
        object.__setattr__(self, "log", bool(log))
        object.__setattr__(self, "integer", bool(integer))
        object.__setattr__(self, "values", vals)

    def validate(self, value: Any) -> float:
        """Return ``value`` as this fidelity's type, or raise naming the allowed values.

        Numbers only (numpy scalars included): strings and bools are never converted.
        """
        if isinstance(value, (str, bytes, bool)) or str(getattr(value, "dtype", "")) == "bool":
            raise InvalidConfigError(
                f"fidelity {self.name!r} got {value!r} ({type(value).__name__}), which is not a "
                "number; pass a number"
            )
        try:
            v = float(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidConfigError(
                f"fidelity {self.name!r} got {value!r}, which is not a number"
            ) from None
        if self.values is not None:
            if v not in self.values:
                raise InvalidConfigError(
                    f"fidelity {self.name!r} got {value!r}; allowed values are {list(self.values)}"
                )
        elif not (self.lower <= v <= self.upper):
            raise InvalidConfigError(
                f"fidelity {self.name!r} got {value!r}, outside [{self.lower}, {self.upper}]"
            )
        if self.integer:
            if not v.is_integer():
                raise InvalidConfigError(f"fidelity {self.name!r} got {value!r}; it is integer")
            return int(v)
        return v

    def normalize(self, value: float) -> float:
        """Map a value to ``[0, 1]`` (log scale where ``log``); ``upper`` maps to 1."""
        if self.upper == self.lower:
            return 1.0
        if self.log:
            return (math.log(value) - math.log(self.lower)) / (
                math.log(self.upper) - math.log(self.lower)
            )
        return (value - self.lower) / (self.upper - self.lower)

    def unnormalize(self, u: float) -> float:
        """Inverse of :meth:`normalize`, snapped to the nearest allowed value."""
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            v = math.exp(math.log(self.lower) + u * (math.log(self.upper) - math.log(self.lower)))
        else:
            v = self.lower + u * (self.upper - self.lower)
        if self.values is not None:
            return min(self.values, key=lambda x: abs(self.normalize(x) - u))
        return int(round(v)) if self.integer else v

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "log": self.log, "integer": self.integer}
        if self.values is not None:
            d["values"] = list(self.values)
        else:
            d["lower"], d["upper"] = self.lower, self.upper
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        if not isinstance(data, dict):
            raise InvalidSpaceError(f"a fidelity description must be an object, got {data!r:.80}")
        try:
            return cls(
                data["name"],
                data.get("lower"),
                data.get("upper"),
                log=data.get("log", False),
                integer=data.get("integer", False),
                values=data.get("values"),
            )
        except KeyError as e:
            raise InvalidSpaceError(f"fidelity description {data!r} lacks the key {e}") from None
