"""Argument checks shared by the cell domains (:mod:`.nb201`, :mod:`.nb101`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jahs_bo.exceptions import InvalidSpaceError

#: Node labels that the graph views reserve; no operation may carry one of these names.
RESERVED_LABELS: tuple[str, ...] = ("input", "output", "sum")


def check_op_names(ops: Sequence[str], forbidden_chars: str, where: str) -> tuple[str, ...]:
    """Validate an operation list: non-empty unique strings, no reserved labels or separators."""
    if isinstance(ops, str) or not isinstance(ops, Sequence):
        raise InvalidSpaceError(f"{where}: ops must be a list of strings, got {ops!r}")
    ops = tuple(ops)
    if not ops:
        raise InvalidSpaceError(f"{where}: ops must not be empty")
    for op in ops:
        if not isinstance(op, str) or not op:
            raise InvalidSpaceError(f"{where}: every op must be a non-empty string, got {op!r}")
        if op in RESERVED_LABELS:
            raise InvalidSpaceError(
                f"{where}: op name {op!r} is reserved for graph nodes; rename it "
                f"(reserved: {list(RESERVED_LABELS)})"
            )
        bad = [c for c in forbidden_chars if c in op] + [c for c in op if c.isspace()]
        if bad:
            raise InvalidSpaceError(
                f"{where}: op name {op!r} contains {bad[0]!r}; op names may not contain "
                f"whitespace or any of {list(forbidden_chars)}"
            )
    if len(set(ops)) != len(ops):
        raise InvalidSpaceError(f"{where}: ops must be unique, got {list(ops)}")
    return ops


def check_dict(data: Mapping[str, Any], kind: str, keys: set[str]) -> None:
    """Check that ``data`` is a domain dict of ``kind`` with no keys outside ``keys``."""
    if not isinstance(data, Mapping) or data.get("kind") != kind:
        raise InvalidSpaceError(f"expected a dict with kind {kind!r}, got {data!r}")
    unknown = set(data) - keys - {"kind"}
    if unknown:
        raise InvalidSpaceError(
            f"unknown keys {sorted(unknown)} in {kind!r} domain dict; allowed: {sorted(keys)}"
        )
