"""The SQL layer shared by the SQLite and PostgreSQL storages.

One table layout (:data:`SCHEMA_VERSION`), one set of statements and one transaction discipline;
a dialect subclass only says how to connect, how to begin a transaction and how to spell a few
column types:

* **Writes** run in one transaction each, committed before the method returns. A trial number is
  allocated while the study's row is locked (SQLite: the database's write lock, ``BEGIN
  IMMEDIATE``; PostgreSQL: ``SELECT ... FOR NO KEY UPDATE`` on the study), so numbers are unique
  and gap-free; ``UNIQUE (study_id, number)`` backs that up. Read-modify-write of a trial (tell,
  attributes) locks the trial's row the same way, so two processes cannot both tell one trial.
* **Reads** of several statements see one snapshot.
* **One connection per process and storage object**, opened lazily, reopened after ``fork``
  (the parent's connection is never used or closed in the child) and shared by the process's
  threads under a lock.

Reading what changed
--------------------
``get_trials(study_id, deepcopy=False)`` (what :class:`~jahs_bo.study.Study` asks with) keeps the
study's trials in memory and each call reads only the trials created since the last call and
those that were unfinished then (``number >= n_seen OR number IN (unfinished numbers)``): a
finished trial never changes state again, so an ask costs what changed, not the whole study.
Another process's new trials and tells are seen by the next call, as before. The one thing such
a cached read misses is an attribute set on an already *finished* trial by another process
(attributes set by this storage object are re-read); ``get_trials()`` with the default
``deepcopy=True`` always reads everything and returns private copies. ``cache=False`` turns the
cache off (every call reads everything).
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from jahs_bo.exceptions import (
    CorruptStudyError,
    DuplicateStudyError,
    JahsBOError,
    StorageError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from jahs_bo.storage import _json, _rows
from jahs_bo.storage._cache import StudyCache
from jahs_bo.storage.base import (
    HEARTBEAT,
    Storage,
    StudyInfo,
    TrialNumberTakenError,
    TrialViews,
    check_finish,
    check_running,
    parse_states,
)
from jahs_bo.types import Config, Direction, FidelityValues, IntermediateReport, Trial, TrialState

#: Version of the table layout below (both dialects); bump it (and migrate) when it changes.
SCHEMA_VERSION = 1

#: The tables; ``{id}`` is the dialect's auto-numbered primary key, ``{ref}`` an integer that
#: references one, ``{float}`` a double-precision float.
_TABLES = (
    "CREATE TABLE IF NOT EXISTS jahs_bo_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS studies (
        study_id {id},
        name TEXT NOT NULL UNIQUE,
        space_json TEXT NOT NULL,
        directions TEXT NOT NULL,
        seed TEXT NOT NULL,
        searcher_name TEXT NOT NULL,
        user_attrs TEXT NOT NULL,
        system_attrs TEXT NOT NULL,
        datetime_created TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS trials (
        trial_id {id},
        study_id {ref} NOT NULL REFERENCES studies(study_id),
        number INTEGER NOT NULL,
        state TEXT NOT NULL,
        config TEXT NOT NULL,
        fidelity TEXT NOT NULL,
        objective_values TEXT,
        parent_id {ref} REFERENCES trials(trial_id),
        user_attrs TEXT NOT NULL,
        system_attrs TEXT NOT NULL,
        error TEXT,
        datetime_start TEXT NOT NULL,
        datetime_complete TEXT,
        heartbeat {float} NOT NULL,
        UNIQUE (study_id, number)
    )""",
    "CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study_id, state)",
    """CREATE TABLE IF NOT EXISTS reports (
        trial_id {ref} NOT NULL REFERENCES trials(trial_id),
        step INTEGER NOT NULL,
        value {float},
        PRIMARY KEY (trial_id, step)
    )""",
)

_TRIAL_COLUMNS = (
    "trial_id, number, state, config, fidelity, objective_values, parent_id, user_attrs, "
    "system_attrs, error, datetime_start, datetime_complete, heartbeat"
)
#: Position of each column of :data:`_TRIAL_COLUMNS` in a trial row.
_TRIAL_COLUMN = {name: i for i, name in enumerate(_TRIAL_COLUMNS.split(", "))}
_STUDY_COLUMNS = (
    "study_id, name, space_json, directions, seed, searcher_name, user_attrs, system_attrs, "
    "datetime_created"
)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class SQLStorage(Storage, ABC):
    """Studies in a SQL database; subclasses supply the dialect (see the module docstring).

    Args:
        cache: Keep finished trials in memory and read only what changed (module docstring).
    """

    #: Column types filling the ``{id}``, ``{ref}`` and ``{float}`` slots of ``_TABLES``.
    _ID_COLUMN = "INTEGER PRIMARY KEY AUTOINCREMENT"
    _REF_COLUMN = "INTEGER"
    _FLOAT_COLUMN = "REAL"
    #: Statements that open a write and a read transaction.
    _BEGIN_WRITE = "BEGIN"
    _BEGIN_READ = "BEGIN"
    #: Suffix of a ``SELECT`` that locks the selected rows until the transaction ends.
    _LOCK_ROWS = ""
    #: The driver's base error class(es) and its unique-constraint error class(es).
    _DRIVER_ERRORS: tuple[type[BaseException], ...] = ()
    _UNIQUE_ERRORS: tuple[type[BaseException], ...] = ()
    #: Errors of reading stored data (text that is not UTF-8), mapped like the driver's errors.
    _DATA_ERRORS: tuple[type[BaseException], ...] = (UnicodeDecodeError,)

    def __init__(self, cache: bool = True) -> None:
        self.cache = bool(cache)
        self._pid = -1
        self._conn_: Any = None
        self._lock = threading.RLock()
        self._orphans: list[Any] = []
        self._caches: dict[int, StudyCache] = {}

    # ------------------------------------------------------------------------ dialect
    @property
    @abstractmethod
    def where(self) -> str:
        """Where the data lives, for messages (a file path, a URL without its password)."""

    @abstractmethod
    def _open(self) -> Any:
        """A new connection in autocommit mode (transactions are begun explicitly)."""

    def _sql(self, text: str) -> str:
        """``text`` in the driver's parameter style (statements here use ``?``)."""
        return text

    def _lock_schema(self, conn: Any) -> None:  # noqa: B027 - optional hook
        """Serialize schema creation between processes (inside the schema transaction)."""

    def _begin_failed(self, exc: BaseException) -> StorageError:
        return StorageError(f"cannot begin a transaction on {self.where}: {exc}")

    def _is_damage(self, exc: BaseException) -> bool:
        """Whether a driver error means damaged data (not a lock, a full disk, the network)."""
        return isinstance(exc, UnicodeDecodeError)

    def _db_error(self, exc: BaseException, doing: str) -> StorageError:
        """The :class:`StorageError` for a driver error: :class:`CorruptStudyError` where
        :meth:`_is_damage` says the data is damaged, else a plain (retryable) one."""
        if self._is_damage(exc):
            return CorruptStudyError(
                f"cannot {doing} {self.where} as a jahs-bo database: it is damaged or is not "
                f"one ({type(exc).__name__}: {str(exc).strip()}); restore it from a backup, or "
                "pass a new one"
            )
        return StorageError(
            f"cannot {doing} the database {self.where}: {str(exc).strip()}; check the path or "
            "server, its permissions and free space, or retry"
        )

    @property
    def _label(self) -> str:
        """The name of the data in :mod:`~jahs_bo.storage._rows` messages."""
        return self.where[1:-1]

    # ------------------------------------------------------------------------ connection
    def _conn(self) -> Any:
        if self._pid == os.getpid() and self._conn_ is not None:
            return self._conn_
        if self._conn_ is not None:
            # Inherited through fork: never use (or close) the parent's connection here.
            self._orphans.append(self._conn_)
            self._lock = threading.RLock()
        conn = self._open()
        try:
            self._init_schema(conn)
        except (*self._DRIVER_ERRORS, *self._DATA_ERRORS) as exc:
            with contextlib.suppress(*self._DRIVER_ERRORS):
                conn.close()
            raise self._db_error(exc, "open") from exc
        except BaseException:
            with contextlib.suppress(*self._DRIVER_ERRORS):
                conn.close()
            raise
        self._conn_ = conn
        self._pid = os.getpid()
        return conn

    def _x(self, conn: Any, sql: str, args: Sequence[Any] = ()) -> Any:
        """Execute one statement and return its cursor."""
        return conn.execute(self._sql(sql), tuple(args))

    def _init_schema(self, conn: Any) -> None:
        conn.execute(self._BEGIN_WRITE)
        try:
            self._lock_schema(conn)
            for stmt in _TABLES:
                conn.execute(
                    stmt.format(id=self._ID_COLUMN, ref=self._REF_COLUMN, float=self._FLOAT_COLUMN)
                )
            rows = conn.execute("SELECT version FROM jahs_bo_schema").fetchall()
            if len(rows) > 1 or (rows and type(rows[0][0]) is not int):
                raise _rows.corrupt(
                    self._label, "table jahs_bo_schema", f"holds {rows!r}, not one version"
                )
            if not rows:
                self._x(conn, "INSERT INTO jahs_bo_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif rows[0][0] != SCHEMA_VERSION:
                raise StorageError(
                    f"{self.where} holds jahs-bo storage schema version {rows[0][0]}, "
                    f"but this jahs-bo reads version {SCHEMA_VERSION}; open it with the "
                    "jahs-bo version that wrote it, or start a new database"
                )
        except BaseException:
            self._rollback_quietly(conn)
            raise
        conn.execute("COMMIT")

    def _write(self) -> contextlib.AbstractContextManager[Any]:
        """A write transaction, committed before the ``with`` block's caller goes on."""
        return self._transaction(write=True)

    def _read(self) -> contextlib.AbstractContextManager[Any]:
        """A read transaction: one consistent snapshot."""
        return self._transaction(write=False)

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Any]:
        """One transaction on this process's connection, under the storage's lock.

        Driver and decoding errors become :class:`StorageError` / :class:`CorruptStudyError`
        (:meth:`_db_error`); a write that breaks a unique constraint is a ``StorageError``; any
        error rolls the transaction back.
        """
        what = "write to" if write else "read"
        unique = self._UNIQUE_ERRORS if write else ()
        conn = self._conn()  # before the lock: after fork it replaces the lock
        with self._lock:
            try:
                conn.execute(self._BEGIN_WRITE if write else self._BEGIN_READ)
            except self._DRIVER_ERRORS as exc:
                raise self._begin_failed(exc) from exc
            try:
                yield conn
            except unique as exc:
                self._rollback_quietly(conn)
                raise StorageError(
                    f"a write to {self.where} conflicts with stored data: {exc}"
                ) from exc
            except JahsBOError:
                self._rollback_quietly(conn)
                raise
            except (*self._DRIVER_ERRORS, *self._DATA_ERRORS) as exc:
                self._rollback_quietly(conn)
                raise self._db_error(exc, what) from exc
            except BaseException:
                self._rollback_quietly(conn)
                raise
            try:
                conn.execute("COMMIT")
            except self._DRIVER_ERRORS as exc:
                self._rollback_quietly(conn)
                if write:
                    raise StorageError(f"cannot commit to {self.where}: {exc}") from exc
                raise self._db_error(exc, what) from exc

    def _rollback_quietly(self, conn: Any) -> None:
        with contextlib.suppress(*self._DRIVER_ERRORS):  # a lost connection rolled back already
            conn.execute("ROLLBACK")

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
        dirs = [Direction.parse(d).value for d in directions]
        user = _json.dumps(dict(user_attrs or {}), "study user attributes")
        system = _json.dumps(dict(system_attrs or {}), "study system attributes")
        duplicate = DuplicateStudyError(
            f"a study named {name!r} exists already in {self.where}; pick another name or pass "
            "load_if_exists=True"
        )
        try:
            with self._write() as conn:
                if self._x(conn, "SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone():
                    raise duplicate
                (study_id,) = self._x(
                    conn,
                    "INSERT INTO studies (name, space_json, directions, seed, searcher_name, "
                    "user_attrs, system_attrs, datetime_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING study_id",
                    (name, space_json, _json.dumps(dirs, "directions"), str(int(seed)),
                     searcher_name, user, system, _now_iso()),
                ).fetchone()  # fmt: skip
        except StorageError as exc:
            if isinstance(exc.__context__, self._UNIQUE_ERRORS):
                raise duplicate from None  # another process created it meanwhile
            raise
        return int(study_id)

    def get_study(self, name: str) -> StudyInfo:
        with self._read() as conn:
            row = self._x(
                conn, f"SELECT {_STUDY_COLUMNS} FROM studies WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                names = [r[0] for r in self._x(conn, "SELECT name FROM studies ORDER BY name")]
                raise StudyNotFoundError(
                    f"no study named {name!r} in {self.where}; existing studies: {names}"
                )
        return self._study_from_row(row)

    def get_study_by_id(self, study_id: int) -> StudyInfo:
        with self._read() as conn:
            row = self._x(
                conn, f"SELECT {_STUDY_COLUMNS} FROM studies WHERE study_id = ?", (study_id,)
            ).fetchone()
        if row is None:
            raise StudyNotFoundError(f"no study with id {study_id!r} in {self.where}")
        return self._study_from_row(row)

    def list_studies(self) -> list[StudyInfo]:
        with self._read() as conn:
            rows = self._x(
                conn, f"SELECT {_STUDY_COLUMNS} FROM studies ORDER BY study_id"
            ).fetchall()
        return [self._study_from_row(r) for r in rows]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "user_attrs", key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "system_attrs", key, value)

    def _set_study_attr(self, study_id: int, column: str, key: str, value: Any) -> None:
        _json.dumps(value, f"study attribute {key!r}")
        with self._write() as conn:
            row = self._x(
                conn,
                f"SELECT {column} FROM studies WHERE study_id = ?{self._LOCK_ROWS}",
                (study_id,),
            ).fetchone()
            if row is None:
                raise StudyNotFoundError(f"no study with id {study_id!r} in {self.where}")
            where = f"table studies, row study_id={study_id}"
            attrs = _rows.json_object(row[0], self._label, where, column)
            attrs[key] = value
            self._x(
                conn,
                f"UPDATE studies SET {column} = ? WHERE study_id = ?",
                (_json.dumps(attrs, "study attributes"), study_id),
            )

    def _study_from_row(self, row: Sequence[Any]) -> StudyInfo:
        return _rows.study_from_row(self._label, row)

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
        if parent_id is not None:
            parent_id = operator.index(parent_id)  # a plain int, as a read gives it back
        config_text = _json.dumps(dict(config), "config")
        fidelity_text = _json.dumps(dict(fidelity or {}), "fidelity")
        system_text = _json.dumps(dict(system_attrs or {}), "system attributes")
        try:
            with self._write() as conn:
                locked = self._x(
                    conn,
                    f"SELECT 1 FROM studies WHERE study_id = ?{self._LOCK_ROWS}",
                    (study_id,),
                ).fetchone()
                if not locked:
                    raise StudyNotFoundError(f"no study with id {study_id!r} in {self.where}")
                (next_number,) = self._x(
                    conn,
                    "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?",
                    (study_id,),
                ).fetchone()
                if number is not None and number != next_number:
                    raise TrialNumberTakenError(
                        f"trial number {number} of study {study_id} is taken; next is {next_number}"
                    )
                if (
                    parent_id is not None
                    and not self._x(
                        conn, "SELECT 1 FROM trials WHERE trial_id = ?", (parent_id,)
                    ).fetchone()
                ):
                    raise TrialNotFoundError(f"parent trial id {parent_id!r} does not exist")
                start, beat = _now_iso(), time.time()
                (trial_id,) = self._x(
                    conn,
                    "INSERT INTO trials (study_id, number, state, config, fidelity, parent_id, "
                    "user_attrs, system_attrs, datetime_start, heartbeat) "
                    "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?) RETURNING trial_id",
                    (study_id, next_number, TrialState.RUNNING.value, config_text, fidelity_text,
                     parent_id, system_text, start, beat),
                ).fetchone()  # fmt: skip
                # the row as written, decoded as a read would (no read back)
                written = {
                    "trial_id": trial_id, "number": next_number,
                    "state": TrialState.RUNNING.value, "config": config_text,
                    "fidelity": fidelity_text, "objective_values": None, "parent_id": parent_id,
                    "user_attrs": "{}", "system_attrs": system_text, "error": None,
                    "datetime_start": start, "datetime_complete": None, "heartbeat": beat,
                }  # fmt: skip
                return self._trial_from_row(tuple(written[c] for c in _TRIAL_COLUMN), [])
        except StorageError as exc:
            if isinstance(exc.__context__, self._UNIQUE_ERRORS):  # backstop of the lock
                raise TrialNumberTakenError(
                    f"trial number {number} of study {study_id} was taken meanwhile"
                ) from None
            raise

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
        vals = None if values is None else tuple(float(v) for v in values)
        with self._write() as conn:
            row, reports = self._trial_row(conn, trial_id, lock=True)
            trial = self._trial_from_row(row, reports)
            check_finish(trial, state, vals, error)
            attrs = {**trial.system_attrs, **dict(system_attrs or {})}
            attrs.pop(HEARTBEAT, None)  # a column of its own
            changed = {
                "state": state.value,
                "objective_values": None if vals is None else _json.dumps(list(vals), "values"),
                "error": error,
                "datetime_complete": _now_iso(),
                "system_attrs": _json.dumps(attrs, "system attributes"),
            }
            self._x(
                conn,
                f"UPDATE trials SET {', '.join(f'{c} = ?' for c in changed)} WHERE trial_id = ?",
                (*changed.values(), trial_id),
            )
            # the updated row, decoded as a read would (no read back)
            new = list(row)
            for column, value in changed.items():
                new[_TRIAL_COLUMN[column]] = value
            return self._trial_from_row(new, reports)

    def report(self, trial_id: int, step: int, value: float) -> None:
        value = float(value)
        with self._write() as conn:
            check_running(self._trial(conn, trial_id, lock=True), "report to")
            self._x(
                conn,
                "INSERT INTO reports (trial_id, step, value) VALUES (?, ?, ?) "
                "ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value",
                (trial_id, int(step), None if math.isnan(value) else value),
            )
            self._x(
                conn, "UPDATE trials SET heartbeat = ? WHERE trial_id = ?", (time.time(), trial_id)
            )

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "user_attrs", key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "system_attrs", key, value)

    def _set_trial_attr(self, trial_id: int, column: str, key: str, value: Any) -> None:
        _json.dumps(value, f"attribute {key!r}")
        with self._write() as conn:
            row = self._x(
                conn,
                f"SELECT {column}, study_id, number FROM trials WHERE trial_id = ?"
                f"{self._LOCK_ROWS}",
                (trial_id,),
            ).fetchone()
            if row is None:
                raise self._not_found(conn, trial_id)
            where = f"table trials, row trial_id={trial_id}"
            attrs = _rows.json_object(row[0], self._label, where, column)
            attrs[key] = value
            self._x(
                conn,
                f"UPDATE trials SET {column} = ? WHERE trial_id = ?",
                (_json.dumps(attrs, "attributes"), trial_id),
            )
            cache = self._caches.get(int(row[1]))
            if cache is not None and row[2] < len(cache.trials):
                cache.unfinished.add(int(row[2]))  # re-read it at the next refresh

    def record_heartbeat(self, trial_ids: Iterable[int], when: float | None = None) -> None:
        ids = sorted({int(t) for t in trial_ids})
        if not ids:
            return
        when = time.time() if when is None else float(when)
        with self._write() as conn:
            self._x(
                conn,
                f"UPDATE trials SET heartbeat = ? WHERE state = ? AND trial_id IN ({_marks(len(ids))})",
                (when, TrialState.RUNNING.value, *ids),
            )

    def get_trial(self, trial_id: int) -> Trial:
        with self._read() as conn:
            return self._trial(conn, trial_id)

    def get_trial_study_id(self, trial_id: int) -> int:
        with self._read() as conn:
            row = self._x(
                conn, "SELECT study_id FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if row is None:
                raise self._not_found(conn, trial_id)
        return int(row[0])

    def get_trial_origin(self, trial_id: int) -> tuple[int, int, Config]:
        with self._read() as conn:
            row = self._x(
                conn, "SELECT study_id, number, config FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if row is None:
                raise self._not_found(conn, trial_id)
        where = f"table trials, row trial_id={trial_id}"
        return (
            int(row[0]),
            int(row[1]),
            _rows.json_object(row[2], self._label, where, "config"),
        )

    def get_trials(
        self,
        study_id: int,
        states: Iterable[TrialState | str] | None = None,
        *,
        deepcopy: bool = True,
    ) -> list[Trial]:
        wanted = parse_states(states)
        if deepcopy or not self.cache:
            return self._read_all(study_id, wanted)
        with self._lock:
            trials = self._refresh(study_id)
            if wanted is None:
                return list(trials)
            if wanted == (TrialState.RUNNING,):  # the dead-worker check of every ask
                unfinished = sorted(self._caches[study_id].unfinished)
                return [t for t in map(trials.__getitem__, unfinished) if t.state in wanted]
            return [t for t in trials if t.state in wanted]

    def get_trial_views(self, study_id: int) -> TrialViews:
        if not self.cache:
            return super().get_trial_views(study_id)
        with self._lock:
            self._refresh(study_id)
            return self._caches[study_id].views()

    def count_trials(self, study_id: int) -> int:
        with self._read() as conn:
            (n,) = self._x(
                conn, "SELECT COUNT(*) FROM trials WHERE study_id = ?", (study_id,)
            ).fetchone()
        return int(n)

    # ----------------------------------------------------------------------------- reading
    def _read_all(self, study_id: int, wanted: tuple[TrialState, ...] | None) -> list[Trial]:
        sql = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ?"
        args: list[Any] = [study_id]
        if wanted is not None:
            sql += f" AND state IN ({_marks(len(wanted))})"
            args += [s.value for s in wanted]
        with self._read() as conn:
            self._check_study(conn, study_id)
            rows = self._x(conn, sql + " ORDER BY number", args).fetchall()
            reports = self._reports(conn, "t.study_id = ?", [study_id])
        return [self._trial_from_row(r, reports.get(r[0], [])) for r in rows]

    def _refresh(self, study_id: int) -> list[Trial]:
        """The study's trials from the cache, after reading the new and the unfinished ones."""
        with self._lock:
            cache = self._caches.get(study_id)
            with self._read() as conn:
                if cache is None:
                    self._check_study(conn, study_id)
                    cache = self._caches.setdefault(study_id, StudyCache())
                where = "t.study_id = ? AND (t.number >= ?"
                args: list[Any] = [study_id, len(cache.trials)]
                if cache.unfinished:
                    where += f" OR t.number IN ({_marks(len(cache.unfinished))})"
                    args += sorted(cache.unfinished)
                where += ")"
                rows = self._x(
                    conn,
                    f"SELECT {_TRIAL_COLUMNS} FROM trials t WHERE {where} ORDER BY t.number",
                    args,
                ).fetchall()
                reports = self._reports(conn, where, args) if rows else {}
            for row in rows:
                if not cache.place(self._trial_from_row(row, reports.get(row[0], []))):
                    break  # a gap (never expected): read from there again next time
            return cache.trials

    def _reports(
        self, conn: Any, where: str, args: Sequence[Any]
    ) -> dict[int, list[IntermediateReport]]:
        """Intermediate values of the trials ``t`` selected by ``where``, by trial id."""
        out: dict[int, list[IntermediateReport]] = {}
        label = self._label
        for tid, step, value in self._x(
            conn,
            "SELECT r.trial_id, r.step, r.value FROM reports r JOIN trials t "
            f"ON r.trial_id = t.trial_id WHERE {where} ORDER BY r.trial_id, r.step",
            args,
        ):
            out.setdefault(tid, []).append(_rows.report_from_row(label, tid, step, value))
        return out

    def _check_study(self, conn: Any, study_id: int) -> None:
        if not self._x(conn, "SELECT 1 FROM studies WHERE study_id = ?", (study_id,)).fetchone():
            raise StudyNotFoundError(f"no study with id {study_id!r} in {self.where}")

    def _trial(self, conn: Any, trial_id: int, lock: bool = False) -> Trial:
        return self._trial_from_row(*self._trial_row(conn, trial_id, lock))

    def _trial_row(
        self, conn: Any, trial_id: int, lock: bool = False
    ) -> tuple[tuple[Any, ...], list[IntermediateReport]]:
        """The trial's raw row (``_TRIAL_COLUMNS``) and its decoded reports."""
        row = self._x(
            conn,
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE trial_id = ?"
            f"{self._LOCK_ROWS if lock else ''}",
            (trial_id,),
        ).fetchone()
        if row is None:
            raise self._not_found(conn, trial_id)
        reports = [
            _rows.report_from_row(self._label, trial_id, step, value)
            for step, value in self._x(
                conn,
                "SELECT step, value FROM reports WHERE trial_id = ? ORDER BY step",
                (trial_id,),
            )
        ]
        return tuple(row), reports

    def _not_found(self, conn: Any, trial_id: Any) -> TrialNotFoundError:
        (n,) = self._x(conn, "SELECT COUNT(*) FROM trials").fetchone()
        return TrialNotFoundError(
            f"no trial with id {trial_id!r} in {self.where} ({n} trials stored); use the "
            "trial_id of a trial returned by ask() or study.trials"
        )

    def _trial_from_row(self, row: Sequence[Any], reports: list[IntermediateReport]) -> Trial:
        return _rows.trial_from_row(self._label, row, reports)
