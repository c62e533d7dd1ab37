"""SQLite storage: the embedded default for persistent studies (stdlib ``sqlite3`` only).

The tables, statements and the cached reads are shared with PostgreSQL (:mod:`jahs_bo.storage.sql`).
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
SQLite's locking is unreliable on network file systems (use PostgreSQL for several machines).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from jahs_bo.exceptions import CorruptStudyError, StorageError
from jahs_bo.storage.sql import SCHEMA_VERSION, SQLStorage

__all__ = ["SCHEMA_VERSION", "SQLiteStorage"]

#: Words of SQLite's messages for errors of the environment (a lock, a full or read-only disk),
#: as opposed to a damaged file.
_TRANSIENT = ("locked", "busy", "unable to open", "readonly", "read-only", "disk i/o", "full")


class SQLiteStorage(SQLStorage):
    """Studies in one SQLite file.

    Args:
        path: The database file (created, with its parent folders, if missing).
        timeout: Seconds a write waits for another process's lock before giving up.
        cache: Read only the trials that changed (see :mod:`jahs_bo.storage.sql`).

    Raises:
        StorageError: The file cannot be opened or holds another schema version.
        CorruptStudyError: The file is not a SQLite database or is damaged (a
            :class:`StorageError` too). Every later read raises it as well when it meets a
            damaged page or a row jahs-bo cannot have written (see :mod:`jahs_bo.storage._rows`).
    """

    _BEGIN_WRITE = "BEGIN IMMEDIATE"
    _DRIVER_ERRORS = (sqlite3.Error,)
    _UNIQUE_ERRORS = (sqlite3.IntegrityError,)

    def __init__(
        self, path: str | os.PathLike[str], timeout: float = 60.0, *, cache: bool = True
    ) -> None:
        super().__init__(cache)
        self.path = Path(path)
        self.timeout = float(timeout)
        self._conn()  # open now so that a bad path fails here, not at the first ask

    def __repr__(self) -> str:
        return f"SQLiteStorage({str(self.path)!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "timeout": self.timeout, "cache": self.cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"], state["timeout"], cache=state.get("cache", True))  # type: ignore[misc]

    @property
    def where(self) -> str:
        return repr(str(self.path))

    def _begin_failed(self, exc: BaseException) -> StorageError:
        return StorageError(
            f"cannot lock {self.where} for writing within {self.timeout:g} s ({exc}); another "
            "process holds it, raise `timeout` or retry"
        )

    def _is_damage(self, exc: BaseException) -> bool:
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc).lower()
            return not any(w in text for w in _TRANSIENT)
        return isinstance(exc, (sqlite3.Error, UnicodeDecodeError))

    def _db_error(self, exc: BaseException, doing: str) -> StorageError:
        if not self._is_damage(exc):
            return StorageError(
                f"cannot {doing} the database {self.where}: {exc}; check the path, its "
                "permissions and free space, or retry"
            )
        return CorruptStudyError(
            f"cannot {doing} {self.where} as a jahs-bo SQLite database: the file is damaged or "
            f"is not one ({type(exc).__name__}: {exc}); restore it from a backup, or pass a new "
            "file name"
        )

    def _open(self) -> sqlite3.Connection:
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
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except (sqlite3.Error, UnicodeDecodeError) as exc:
            raise self._db_error(exc, "open") from exc
        except OSError as exc:
            raise StorageError(f"cannot create the database {self.where}: {exc}") from exc
        return conn
