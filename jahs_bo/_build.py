"""Building a registered component (searcher, scheduler) from user options, with typed errors."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from jahs_bo.exceptions import InputError, JahsBOError

T = TypeVar("T")


def option_names(cls: type) -> set[str]:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up the class hierarchy."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names.discard("self")
    return names


def build(cls: type[T], what: str, args: tuple[Any, ...], options: Mapping[str, Any]) -> T:
    """``cls(*args, **options)``; unknown or wrongly typed options raise :class:`InputError`.

    Args:
        cls: The class to build.
        what: How the message names it (``"searcher 'gp'"``).
        args: Positional arguments (space, directions, ...), never user options.
        options: The user's keyword options.
    """
    known = option_names(cls)
    unknown = sorted(set(options) - known)
    if unknown:
        raise InputError(f"{what} has no option(s) {unknown}; its options are {sorted(known)}")
    try:
        return cls(*args, **options)
    except JahsBOError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
        raise InputError(
            f"{what}: invalid options {dict(options)!r:.200} ({type(exc).__name__}: {exc}); "
            "check the option types in its docstring"
        ) from exc
