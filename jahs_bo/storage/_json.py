"""JSON encoding of the values that storages persist (configs, fidelities, attributes)."""

from __future__ import annotations

import json
from typing import Any

from jahs_bo.exceptions import InputError


def _default(obj: Any) -> Any:
    item = getattr(obj, "item", None)  # numpy scalars
    if callable(item) and getattr(obj, "shape", None) == ():
        return item()
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def dumps(obj: Any, what: str) -> str:
    """Encode ``obj`` as JSON; ``what`` names it in the error.

    Raises:
        InputError: ``obj`` holds something JSON cannot represent.
    """
    try:
        return json.dumps(obj, default=_default, sort_keys=False)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"{what} {obj!r} cannot be stored as JSON ({exc}); use plain numbers, strings, "
            "booleans, lists and dicts"
        ) from None


def loads(text: str | None, default: Any = None) -> Any:
    """Decode JSON text (``None`` gives ``default``)."""
    if text is None:
        return default
    return json.loads(text)


def copy(obj: Any, what: str) -> Any:
    """A deep copy through JSON: what an in-memory storage returns is what SQLite would."""
    return json.loads(dumps(obj, what))
