"""Decoding of stored SQL rows (SQLite and PostgreSQL) into frozen trials and studies, checked on the way.

A study file may be damaged (a disk error, a truncated copy) or edited by hand. Every value read
back is checked while it is decoded (type checks and one ``json.loads`` per column, so reading
stays as fast as before), and anything that jahs-bo could not have written raises
:class:`~jahs_bo.exceptions.CorruptStudyError` naming the file, the table, the row and what is
wrong, instead of a ``KeyError`` or ``TypeError`` far away in a searcher. In particular a
COMPLETE trial must carry a non-empty list of finite objective values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jahs_bo.exceptions import CorruptStudyError
from jahs_bo.storage.base import HEARTBEAT, OWNER_HOST, OWNER_PID, StudyInfo
from jahs_bo.types import Direction, IntermediateReport, Trial, TrialState

_FIX = "restore the file from a backup, or delete or repair that row"


def corrupt(path: str, where: str, what: str) -> CorruptStudyError:
    """The error for a damaged value: ``where`` is e.g. ``"table trials, row trial_id=3"``."""
    return CorruptStudyError(f"study file {path!r} is damaged: {where}: {what}; {_FIX}")


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:60] + "..." + text[-10:]


def _int(v: Any, path: str, where: str, column: str) -> int:
    if type(v) is not int:  # SQLite columns accept any type: a tampered id may be text
        raise corrupt(path, where, f"column {column} holds {_short(v)}, not an integer")
    return v


def _opt_int(v: Any, path: str, where: str, column: str) -> int | None:
    return None if v is None else _int(v, path, where, column)


def _opt_str(v: Any, path: str, where: str, column: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise corrupt(path, where, f"column {column} holds {_short(v)}, not text")
    return v


def _json(text: Any, path: str, where: str, column: str) -> Any:
    if not isinstance(text, str):
        raise corrupt(path, where, f"column {column} holds {_short(text)}, not JSON text")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise corrupt(
            path, where, f"column {column} is not valid JSON ({exc}): {_short(text)}"
        ) from None


def json_object(text: Any, path: str, where: str, column: str) -> dict[str, Any]:
    """The JSON object stored as text in ``column`` (a dict), or raise :class:`CorruptStudyError`."""
    obj = _json(text, path, where, column)
    if not isinstance(obj, dict):
        raise corrupt(path, where, f"column {column} holds {_short(obj)}, not a JSON object")
    return obj


def _dt(text: Any, path: str, where: str, column: str) -> datetime | None:
    if text is None:
        return None
    if isinstance(text, str):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise corrupt(path, where, f"column {column} holds {_short(text)}, not an ISO date-time")


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _values(text: Any, state: TrialState, path: str, where: str) -> tuple[float, ...] | None:
    if text is None:
        if state is TrialState.COMPLETE:
            raise corrupt(path, where, "a COMPLETE trial has no objective values (NULL)")
        return None
    vals = _json(text, path, where, "objective_values")
    if (
        not isinstance(vals, list)
        or not vals
        or not all(_real(v) and math.isfinite(v) for v in vals)
    ):
        raise corrupt(
            path,
            where,
            f"objective_values {_short(text)} of a {state.value.upper()} trial is not a "
            "non-empty list of finite numbers",
        )
    return tuple(float(v) for v in vals)


def trial_from_row(path: str, row: Sequence[Any], reports: Sequence[IntermediateReport]) -> Trial:
    """A :class:`Trial` from a row of ``sql._TRIAL_COLUMNS``.

    Raises:
        CorruptStudyError: A column holds a value jahs-bo cannot have written.
    """
    (trial_id, number, state, config, fidelity, values, parent_id, user, system, error,
     start, complete, heartbeat) = row  # fmt: skip
    where = f"table trials, row trial_id={_short(trial_id)}"
    trial_id = _int(trial_id, path, where, "trial_id")
    number = _int(number, path, where, "number")
    if number < 0:
        raise corrupt(path, where, f"column number holds {number}, a negative trial number")
    try:
        st = TrialState(state)
    except ValueError:
        raise corrupt(
            path,
            where,
            f"column state holds {_short(state)}, not one of {[s.value for s in TrialState]}",
        ) from None
    fid = json_object(fidelity, path, where, "fidelity")
    if not all(_real(v) for v in fid.values()):
        raise corrupt(path, where, f"fidelity {_short(fid)} holds a value that is not a number")
    system_attrs = json_object(system, path, where, "system_attrs")
    if not _real(heartbeat):
        raise corrupt(path, where, f"column heartbeat holds {_short(heartbeat)}, not a number")
    pid = system_attrs.get(OWNER_PID)
    host = system_attrs.get(OWNER_HOST)
    if (pid is not None and type(pid) is not int) or (host is not None and type(host) is not str):
        raise corrupt(
            path, where, f"system_attrs owner {_short(host)}/{_short(pid)} is not a host and pid"
        )
    system_attrs[HEARTBEAT] = heartbeat
    return Trial(
        trial_id=trial_id,
        number=number,
        config=json_object(config, path, where, "config"),
        fidelity=fid,
        state=st,
        values=_values(values, st, path, where),
        intermediate=tuple(reports),
        parent_id=_opt_int(parent_id, path, where, "parent_id"),
        user_attrs=json_object(user, path, where, "user_attrs"),
        system_attrs=system_attrs,
        error=_opt_str(error, path, where, "error"),
        datetime_start=_dt(start, path, where, "datetime_start"),
        datetime_complete=_dt(complete, path, where, "datetime_complete"),
    )


def report_from_row(path: str, trial_id: Any, step: Any, value: Any) -> IntermediateReport:
    """An :class:`IntermediateReport` from a row of table ``reports`` (NULL value is NaN)."""
    where = f"table reports, row trial_id={_short(trial_id)} step={_short(step)}"
    if value is not None and not _real(value):
        raise corrupt(path, where, f"column value holds {_short(value)}, not a number")
    return IntermediateReport(
        _int(step, path, where, "step"), float("nan") if value is None else float(value)
    )


def study_from_row(path: str, row: Sequence[Any]) -> StudyInfo:
    """A :class:`StudyInfo` from a ``SELECT *`` row of table ``studies``.

    Raises:
        CorruptStudyError: A column holds a value jahs-bo cannot have written.
    """
    if len(row) != 9:
        raise corrupt(path, "table studies", f"has {len(row)} columns, not 9")
    (study_id, name, space_json, directions, seed, searcher, user, system, created) = row
    where = f"table studies, row study_id={_short(study_id)}"
    dirs = _json(directions, path, where, "directions")
    if not isinstance(dirs, list) or not dirs or not all(isinstance(d, str) for d in dirs):
        raise corrupt(path, where, f"directions {_short(directions)} is not a list of names")
    try:
        parsed = tuple(Direction(d) for d in dirs)
    except ValueError:
        raise corrupt(
            path, where, f"directions {_short(dirs)} are not 'minimize' or 'maximize'"
        ) from None
    try:
        seed_int = (
            int(seed) if isinstance(seed, (str, int)) and not isinstance(seed, bool) else None
        )
    except ValueError:
        seed_int = None
    if seed_int is None:
        raise corrupt(path, where, f"column seed holds {_short(seed)}, not an integer")
    name = _opt_str(name, path, where, "name")
    if name is None:
        raise corrupt(path, where, "column name is NULL")
    return StudyInfo(
        study_id=_int(study_id, path, where, "study_id"),
        name=name,
        space_json=space_json,  # checked by load_study, which rebuilds the space
        directions=parsed,
        seed=seed_int,
        searcher_name=_opt_str(searcher, path, where, "searcher_name") or "",
        user_attrs=json_object(user, path, where, "user_attrs"),
        system_attrs=json_object(system, path, where, "system_attrs"),
        datetime_created=_dt(created, path, where, "datetime_created"),
    )
