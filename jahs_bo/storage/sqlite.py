"""SQLite storage: the embedded default for persistent studies (stdlib ``sqlite3`` only).

Guarantees:

* **Durable tells.** Every write runs in its own ``BEGIN IMMEDIATE`` transaction and is committed
  before the method returns, with ``journal_mode=WAL`` and ``synchronous=FULL``: a ``kill -9`` at
  any moment loses nothing that a call has returned from (and a power cut loses nothing either).
* **Several processes, one study.** ``BEGIN IMMEDIATE`` takes the database's write lock before
  reading the next trial number, so numbers are unique and gap-free; a writer that finds the lock
  taken waits up to ``timeout`` seconds (``busy_timeout``) before raising ``StorageError``.
  Readers never block writers (WAL).
* **One connection per process.** The connection is opened lazily and reopened when the process
  id changes (after ``fork``); a storage object may be pickled (only its path travels).
* **Versioned schema.** Table ``jahs_bo_schema`` holds the schema version; opening a file written
  by an incompatible version raises ``StorageError`` naming both versions.

Configs, fidelities, objective values and attributes are JSON text columns. Intermediate values
that are NaN are stored as SQL ``NULL`` and read back as NaN. Keep the database on a local disk:
SQLite's locking is unreliable on network file systems.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jahs_bo.exceptions import (
    CorruptStudyError,
    DuplicateStudyError,
    StorageError,
    StudyNotFoundError,
    TrialNotFoundError,
)
from jahs_bo.storage import _json, _rows
from jahs_bo.storage.base import (
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

#: Words of SQLite's messages for errors of the environment (a lock, a full or read-only disk),
#: as opposed to a damaged file.
_TRANSIENT = ("locked", "busy", "unable to open", "readonly", "read-only", "disk i/o", "full")

#: Version of the table layout below; bump it (and migrate) when the layout changes.
SCHEMA_VERSION = 1

_TABLES = (
    "CREATE TABLE IF NOT EXISTS jahs_bo_schema (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS studies (
        study_id INTEGER PRIMARY KEY AUTOINCREMENT,
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
        trial_id INTEGER PRIMARY KEY AUTOINCREMENT,
        study_id INTEGER NOT NULL REFERENCES studies(study_id),
        number INTEGER NOT NULL,
        state TEXT NOT NULL,
        config TEXT NOT NULL,
        fidelity TEXT NOT NULL,
        objective_values TEXT,
        parent_id INTEGER REFERENCES trials(trial_id),
        user_attrs TEXT NOT NULL,
        system_attrs TEXT NOT NULL,
        error TEXT,
        datetime_start TEXT NOT NULL,
        datetime_complete TEXT,
        heartbeat REAL NOT NULL,
        UNIQUE (study_id, number)
    )""",
    "CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study_id, state)",
    """CREATE TABLE IF NOT EXISTS reports (
        trial_id INTEGER NOT NULL REFERENCES trials(trial_id),
        step INTEGER NOT NULL,
        value REAL,
        PRIMARY KEY (trial_id, step)
    )""",
)

_TRIAL_COLUMNS = (
    "trial_id, number, state, config, fidelity, objective_values, parent_id, user_attrs, "
    "system_attrs, error, datetime_start, datetime_complete, heartbeat"
)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


class SQLiteStorage(Storage):
    """Studies in one SQLite file.

    Args:
        path: The database file (created, with its parent folders, if missing).
        timeout: Seconds a write waits for another process's lock before giving up.

    Raises:
        StorageError: The file cannot be opened or holds another schema version.
        CorruptStudyError: The file is not a SQLite database or is damaged (a
            :class:`StorageError` too). Every later read raises it as well when it meets a
            damaged page or a row jahs-bo cannot have written (see :mod:`jahs_bo.storage._rows`).
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        self._pid = -1
        self._conn_: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._orphans: list[sqlite3.Connection] = []
        self._conn()  # open now so that a bad path fails here, not at the first ask

    def __repr__(self) -> str:
        return f"SQLiteStorage({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["timeout"])  # type: ignore[misc]

    # ------------------------------------------------------------------------ connection
    def _conn(self) -> sqlite3.Connection:
        if self._pid == os.getpid() and self._conn_ is not None:
            return self._conn_
        if self._conn_ is not None:
            # Inherited through fork: never use (or close) the parent's connection here.
            self._orphans.append(self._conn_)
            self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path),
                timeout=self.timeout,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._init_schema(conn)
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise self._db_error(exc, "open") from exc
        except OSError as exc:
            raise StorageError(f"cannot create the database {str(self.path)!r}: {exc}") from exc
        self._conn_ = conn
        self._pid = os.getpid()
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in _TABLES:
                conn.execute(stmt)
            rows = conn.execute("SELECT version FROM jahs_bo_schema").fetchall()
            if len(rows) > 1 or (rows and type(rows[0][0]) is not int):
                raise _rows.corrupt(
                    str(self.path), "table jahs_bo_schema", f"holds {rows!r}, not one version"
                )
            if not rows:
                conn.execute("INSERT INTO jahs_bo_schema (version) VALUES (?)", (SCHEMA_VERSION,))
            elif rows[0][0] != SCHEMA_VERSION:
                raise StorageError(
                    f"{str(self.path)!r} holds jahs-bo storage schema version {rows[0][0]}, "
                    f"but this jahs-bo reads version {SCHEMA_VERSION}; open it with the "
                    "jahs-bo version that wrote it, or start a new database file"
                )
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _db_error(self, exc: sqlite3.Error | UnicodeDecodeError, doing: str) -> StorageError:
        """A :class:`StorageError` for an error of ``sqlite3``: a damaged file, or the
        environment (a lock held too long, a read-only or full disk)."""
        text = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and any(w in text for w in _TRANSIENT):
            return StorageError(
                f"cannot {doing} the database {str(self.path)!r}: {exc}; check the path, its "
                "permissions and free space, or retry"
            )
        return CorruptStudyError(
            f"cannot {doing} {str(self.path)!r} as a jahs-bo SQLite database: the file is "
            f"damaged or is not one ({type(exc).__name__}: {exc}); restore it from a backup, "
            "or pass a new file name"
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed before the ``with`` block's caller goes on."""
        conn = self._conn()
        with self._lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StorageError(
                    f"cannot lock {str(self.path)!r} for writing within {self.timeout:g} s "
                    f"({exc}); another process holds it, raise `timeout` or retry"
                ) from exc
            try:
                yield conn
            except BaseException as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, (sqlite3.Error, UnicodeDecodeError)):
                    raise self._db_error(exc, "write to") from exc
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise StorageError(f"cannot commit to {str(self.path)!r}: {exc}") from exc

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot, never blocking writers (WAL)."""
        conn = self._conn()
        with self._lock:
            try:
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    conn.execute("COMMIT")
            except (sqlite3.Error, UnicodeDecodeError) as exc:
                raise self._db_error(exc, "read") from exc

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
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM studies WHERE name = ?", (name,)).fetchone():
                raise DuplicateStudyError(
                    f"a study named {name!r} exists already in {str(self.path)!r}; pick another "
                    "name or pass load_if_exists=True"
                )
            cur = conn.execute(
                "INSERT INTO studies (name, space_json, directions, seed, searcher_name, "
                "user_attrs, system_attrs, datetime_created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, space_json, _json.dumps(dirs, "directions"), str(int(seed)),
                 searcher_name, user, system, _now_iso()),
            )  # fmt: skip
            return int(cur.lastrowid)  # type: ignore[arg-type]

    def get_study(self, name: str) -> StudyInfo:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM studies WHERE name = ?", (name,)).fetchone()
            if row is None:
                names = [r[0] for r in conn.execute("SELECT name FROM studies ORDER BY name")]
                raise StudyNotFoundError(
                    f"no study named {name!r} in {str(self.path)!r}; existing studies: {names}"
                )
        return self._study_from_row(row)

    def get_study_by_id(self, study_id: int) -> StudyInfo:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
        if row is None:
            raise StudyNotFoundError(f"no study with id {study_id!r} in {str(self.path)!r}")
        return self._study_from_row(row)

    def list_studies(self) -> list[StudyInfo]:
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM studies ORDER BY study_id").fetchall()
        return [self._study_from_row(r) for r in rows]

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "user_attrs", key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._set_study_attr(study_id, "system_attrs", key, value)

    def _set_study_attr(self, study_id: int, column: str, key: str, value: Any) -> None:
        _json.dumps(value, f"study attribute {key!r}")
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {column} FROM studies WHERE study_id = ?", (study_id,)
            ).fetchone()
            if row is None:
                raise StudyNotFoundError(f"no study with id {study_id!r} in {str(self.path)!r}")
            where = f"table studies, row study_id={study_id}"
            attrs = _rows.json_object(row[0], str(self.path), where, column)
            attrs[key] = value
            conn.execute(
                f"UPDATE studies SET {column} = ? WHERE study_id = ?",
                (_json.dumps(attrs, "study attributes"), study_id),
            )

    def _study_from_row(self, row: tuple[Any, ...]) -> StudyInfo:
        return _rows.study_from_row(str(self.path), row)

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
        config_text = _json.dumps(dict(config), "config")
        fidelity_text = _json.dumps(dict(fidelity or {}), "fidelity")
        system_text = _json.dumps(dict(system_attrs or {}), "system attributes")
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM studies WHERE study_id = ?", (study_id,)).fetchone():
                raise StudyNotFoundError(f"no study with id {study_id!r} in {str(self.path)!r}")
            (next_number,) = conn.execute(
                "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?", (study_id,)
            ).fetchone()
            if number is not None and number != next_number:
                raise TrialNumberTakenError(
                    f"trial number {number} of study {study_id} is taken; next is {next_number}"
                )
            if (
                parent_id is not None
                and not conn.execute(
                    "SELECT 1 FROM trials WHERE trial_id = ?", (parent_id,)
                ).fetchone()
            ):
                raise TrialNotFoundError(f"parent trial id {parent_id!r} does not exist")
            cur = conn.execute(
                "INSERT INTO trials (study_id, number, state, config, fidelity, parent_id, "
                "user_attrs, system_attrs, datetime_start, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?)",
                (study_id, next_number, TrialState.RUNNING.value, config_text, fidelity_text,
                 parent_id, system_text, _now_iso(), time.time()),
            )  # fmt: skip
            return self._trial(conn, int(cur.lastrowid))  # type: ignore[arg-type]

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
            trial = self._trial(conn, trial_id)
            check_finish(trial, state, vals, error)
            attrs = {**trial.system_attrs, **dict(system_attrs or {})}
            conn.execute(
                "UPDATE trials SET state = ?, objective_values = ?, error = ?, "
                "datetime_complete = ?, system_attrs = ? WHERE trial_id = ?",
                (state.value, None if vals is None else _json.dumps(list(vals), "values"),
                 error, _now_iso(), _json.dumps(attrs, "system attributes"), trial_id),
            )  # fmt: skip
            return self._trial(conn, trial_id)

    def report(self, trial_id: int, step: int, value: float) -> None:
        with self._write() as conn:
            check_running(self._trial(conn, trial_id), "report to")
            conn.execute(
                "INSERT OR REPLACE INTO reports (trial_id, step, value) VALUES (?, ?, ?)",
                (trial_id, int(step), float(value)),
            )
            conn.execute(
                "UPDATE trials SET heartbeat = ? WHERE trial_id = ?", (time.time(), trial_id)
            )

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "user_attrs", key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "system_attrs", key, value)

    def _set_trial_attr(self, trial_id: int, column: str, key: str, value: Any) -> None:
        _json.dumps(value, f"attribute {key!r}")
        with self._write() as conn:
            row = conn.execute(
                f"SELECT {column} FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if row is None:
                raise self._not_found(conn, trial_id)
            where = f"table trials, row trial_id={trial_id}"
            attrs = _rows.json_object(row[0], str(self.path), where, column)
            attrs[key] = value
            conn.execute(
                f"UPDATE trials SET {column} = ? WHERE trial_id = ?",
                (_json.dumps(attrs, "attributes"), trial_id),
            )

    def record_heartbeat(self, trial_ids: Iterable[int], when: float | None = None) -> None:
        ids = [int(t) for t in trial_ids]
        if not ids:
            return
        when = time.time() if when is None else float(when)
        with self._write() as conn:
            conn.executemany(
                "UPDATE trials SET heartbeat = ? WHERE trial_id = ? AND state = ?",
                [(when, t, TrialState.RUNNING.value) for t in ids],
            )

    def get_trial(self, trial_id: int) -> Trial:
        with self._read() as conn:
            return self._trial(conn, trial_id)

    def get_trial_study_id(self, trial_id: int) -> int:
        with self._read() as conn:
            row = conn.execute(
                "SELECT study_id FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if row is None:
                raise self._not_found(conn, trial_id)
        return int(row[0])

    def get_trials(
        self, study_id: int, states: Iterable[TrialState | str] | None = None
    ) -> list[Trial]:
        wanted = parse_states(states)
        sql = f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE study_id = ?"
        args: list[Any] = [study_id]
        if wanted is not None:
            sql += f" AND state IN ({', '.join('?' * len(wanted))})"
            args += [s.value for s in wanted]
        with self._read() as conn:
            if not conn.execute("SELECT 1 FROM studies WHERE study_id = ?", (study_id,)).fetchone():
                raise StudyNotFoundError(f"no study with id {study_id!r} in {str(self.path)!r}")
            rows = conn.execute(sql + " ORDER BY number", args).fetchall()
            path = str(self.path)
            reports: dict[int, list[IntermediateReport]] = {}
            for tid, step, value in conn.execute(
                "SELECT r.trial_id, r.step, r.value FROM reports r JOIN trials t "
                "ON r.trial_id = t.trial_id WHERE t.study_id = ? ORDER BY r.trial_id, r.step",
                (study_id,),
            ):
                reports.setdefault(tid, []).append(_rows.report_from_row(path, tid, step, value))
        return [self._trial_from_row(r, reports.get(r[0], [])) for r in rows]

    def count_trials(self, study_id: int) -> int:
        with self._read() as conn:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM trials WHERE study_id = ?", (study_id,)
            ).fetchone()
        return int(n)

    # ----------------------------------------------------------------------------- helpers
    def _trial(self, conn: sqlite3.Connection, trial_id: int) -> Trial:
        row = conn.execute(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE trial_id = ?", (trial_id,)
        ).fetchone()
        if row is None:
            raise self._not_found(conn, trial_id)
        path = str(self.path)
        reports = [
            _rows.report_from_row(path, trial_id, step, value)
            for step, value in conn.execute(
                "SELECT step, value FROM reports WHERE trial_id = ? ORDER BY step", (trial_id,)
            )
        ]
        return self._trial_from_row(row, reports)

    def _not_found(self, conn: sqlite3.Connection, trial_id: Any) -> TrialNotFoundError:
        (n,) = conn.execute("SELECT COUNT(*) FROM trials").fetchone()
        return TrialNotFoundError(
            f"no trial with id {trial_id!r} in {str(self.path)!r} ({n} trials stored); use the "
            "trial_id of a trial returned by ask() or study.trials"
        )

    def _trial_from_row(self, row: tuple[Any, ...], reports: list[IntermediateReport]) -> Trial:
        return _rows.trial_from_row(str(self.path), row, reports)
