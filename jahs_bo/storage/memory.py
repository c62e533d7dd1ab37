"""In-memory storage: fast, thread-safe, gone when the process ends.

Values pass through JSON on the way in, so an in-memory study behaves exactly like a SQLite one
(tuples become lists, numpy scalars become Python numbers).
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from jahs_bo.exceptions import DuplicateStudyError, StudyNotFoundError, TrialNotFoundError
from jahs_bo.storage import _json
from jahs_bo.storage.base import (
    HEARTBEAT,
    Storage,
    StudyInfo,
    TrialNumberTakenError,
    check_finish,
    check_running,
    parse_states,
)
from jahs_bo.types import (
    Config,
    Direction,
    FidelityValues,
    IntermediateReport,
    Trial,
    TrialState,
)


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class _TrialRecord:
    trial: Trial
    study_id: int
    reports: dict[int, float] = field(default_factory=dict)
    heartbeat: float = 0.0
    _shared: Trial | None = None  # the last frozen copy, until the record changes

    def changed(self) -> None:
        """Forget the shared copy (call after every change)."""
        self._shared = None

    def shared(self) -> Trial:
        """A frozen copy that is reused until the record changes (``deepcopy=False``)."""
        if self._shared is None:
            self._shared = self.frozen()
        return self._shared

    def frozen(self) -> Trial:
        reports = tuple(IntermediateReport(s, v) for s, v in sorted(self.reports.items()))
        sys_attrs = dict(self.trial.system_attrs)
        sys_attrs[HEARTBEAT] = self.heartbeat
        return replace(
            self.trial,
            config=_json.copy(self.trial.config, "config"),
            fidelity=dict(self.trial.fidelity),
            intermediate=reports,
            user_attrs=_json.copy(dict(self.trial.user_attrs), "user attributes"),
            system_attrs=_json.copy(sys_attrs, "system attributes"),
        )


class InMemoryStorage(Storage):
    """Studies and trials in Python dicts, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[int, StudyInfo] = {}
        self._trials: dict[int, _TrialRecord] = {}
        self._study_trials: dict[int, list[int]] = {}

    def __repr__(self) -> str:
        return f"InMemoryStorage({len(self._studies)} studies, {len(self._trials)} trials)"

    # ----------------------------------------------------------------------------- studies
    def create_study(
        self,
        name: str,
        space_json: str,
        directions: Sequence[Direction | str],
        seed: int,
        searcher_name: str,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> int:
        with self._lock:
            if any(s.name == name for s in self._studies.values()):
                raise DuplicateStudyError(
                    f"a study named {name!r} exists already; pick another name or pass "
                    "load_if_exists=True"
                )
            study_id = len(self._studies)
            self._studies[study_id] = StudyInfo(
                study_id=study_id,
                name=name,
                space_json=space_json,
                directions=tuple(Direction.parse(d) for d in directions),
                seed=int(seed),
                searcher_name=searcher_name,
                user_attrs=_json.copy(dict(user_attrs or {}), "study user attributes"),
                system_attrs=_json.copy(dict(system_attrs or {}), "study system attributes"),
                datetime_created=_now(),
            )
            self._study_trials[study_id] = []
            return study_id

    def get_study(self, name: str) -> StudyInfo:
        with self._lock:
            for info in self._studies.values():
                if info.name == name:
                    return self._copy_study(info)
            raise StudyNotFoundError(
                f"no study named {name!r} in this storage; existing studies: "
                f"{sorted(s.name for s in self._studies.values())}"
            )

    def get_study_by_id(self, study_id: int) -> StudyInfo:
        with self._lock:
            return self._copy_study(self._study(study_id))

    def list_studies(self) -> list[StudyInfo]:
        with self._lock:
            return [self._copy_study(s) for s in self._studies.values()]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._lock:
            info = self._study(study_id)
            attrs = dict(info.user_attrs)
            attrs[key] = _json.copy(value, f"study user attribute {key!r}")
            self._studies[study_id] = replace(info, user_attrs=attrs)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        with self._lock:
            info = self._study(study_id)
            attrs = dict(info.system_attrs)
            attrs[key] = _json.copy(value, f"study system attribute {key!r}")
            self._studies[study_id] = replace(info, system_attrs=attrs)

    def _study(self, study_id: int) -> StudyInfo:
        try:
            return self._studies[study_id]
        except KeyError:
            raise StudyNotFoundError(
                f"no study with id {study_id} in this storage; existing ids: "
                f"{sorted(self._studies)}"
            ) from None

    @staticmethod
    def _copy_study(info: StudyInfo) -> StudyInfo:
        return replace(
            info,
            user_attrs=_json.copy(dict(info.user_attrs), "user attributes"),
            system_attrs=_json.copy(dict(info.system_attrs), "system attributes"),
        )

    # ------------------------------------------------------------------------------ trials
    def create_trial(
        self,
        study_id: int,
        config: Config,
        fidelity: FidelityValues | None = None,
        parent_id: int | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        *,
        number: int | None = None,
    ) -> Trial:
        with self._lock:
            self._study(study_id)
            ids = self._study_trials[study_id]
            if number is not None and number != len(ids):
                raise TrialNumberTakenError(
                    f"trial number {number} of study {study_id} is taken; next is {len(ids)}"
                )
            if parent_id is not None:
                self._record(parent_id)
            trial_id = len(self._trials)
            trial = Trial(
                trial_id=trial_id,
                number=len(ids),
                config=_json.copy(dict(config), "config"),
                fidelity=_json.copy(dict(fidelity or {}), "fidelity"),
                state=TrialState.RUNNING,
                parent_id=parent_id,
                user_attrs={},
                system_attrs=_json.copy(dict(system_attrs or {}), "system attributes"),
                datetime_start=_now(),
            )
            self._trials[trial_id] = _TrialRecord(trial, study_id, heartbeat=time.time())
            ids.append(trial_id)
            return self._trials[trial_id].frozen()

    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        error: str | None = None,
        *,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        state = TrialState(state)
        with self._lock:
            rec = self._record(trial_id)
            vals = None if values is None else tuple(float(v) for v in values)
            check_finish(rec.trial, state, vals, error)
            attrs = dict(rec.trial.system_attrs)
            attrs.update(copy.deepcopy(dict(system_attrs or {})))
            rec.trial = replace(
                rec.trial,
                state=state,
                values=vals,
                error=error,
                datetime_complete=_now(),
                system_attrs=attrs,
            )
            rec.changed()
            return rec.frozen()

    def report(self, trial_id: int, step: int, value: float) -> None:
        with self._lock:
            rec = self._record(trial_id)
            check_running(rec.trial, "report to")
            rec.reports[int(step)] = float(value)
            rec.heartbeat = time.time()
            rec.changed()

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            rec = self._record(trial_id)
            attrs = dict(rec.trial.user_attrs)
            attrs[key] = _json.copy(value, f"user attribute {key!r}")
            rec.trial = replace(rec.trial, user_attrs=attrs)
            rec.changed()

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        with self._lock:
            rec = self._record(trial_id)
            attrs = dict(rec.trial.system_attrs)
            attrs[key] = _json.copy(value, f"system attribute {key!r}")
            rec.trial = replace(rec.trial, system_attrs=attrs)
            rec.changed()

    def record_heartbeat(self, trial_ids: Iterable[int], when: float | None = None) -> None:
        when = time.time() if when is None else float(when)
        with self._lock:
            for tid in trial_ids:
                rec = self._trials.get(tid)
                if rec is not None and rec.trial.state is TrialState.RUNNING:
                    rec.heartbeat = when
                    rec.changed()

    def get_trial(self, trial_id: int) -> Trial:
        with self._lock:
            return self._record(trial_id).frozen()

    def get_trial_study_id(self, trial_id: int) -> int:
        with self._lock:
            return self._record(trial_id).study_id

    def get_trials(
        self,
        study_id: int,
        states: Iterable[TrialState | str] | None = None,
        *,
        deepcopy: bool = True,
    ) -> list[Trial]:
        wanted = parse_states(states)
        with self._lock:
            self._study(study_id)
            recs = [self._trials[t] for t in self._study_trials[study_id]]
            recs = [r for r in recs if wanted is None or r.trial.state in wanted]
            return [r.frozen() for r in recs] if deepcopy else [r.shared() for r in recs]

    def count_trials(self, study_id: int) -> int:
        with self._lock:
            self._study(study_id)
            return len(self._study_trials[study_id])

    def _record(self, trial_id: int) -> _TrialRecord:
        try:
            return self._trials[trial_id]
        except (KeyError, TypeError):
            raise TrialNotFoundError(
                f"no trial with id {trial_id!r} in this storage (known ids: 0.."
                f"{len(self._trials) - 1})"
            ) from None
