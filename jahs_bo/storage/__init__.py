"""Storages of studies and trials: in memory, in a SQLite file shared by processes, or in a
PostgreSQL database shared by machines (``postgresql://`` URLs; psycopg is imported lazily).

The rule for trials left RUNNING by a dead process is documented in :mod:`jahs_bo.storage.base`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jahs_bo.exceptions import InputError, StorageNotFoundError
from jahs_bo.storage.base import Storage, StudyInfo, TrialNumberTakenError
from jahs_bo.storage.memory import InMemoryStorage
from jahs_bo.storage.sqlite import SQLiteStorage

if TYPE_CHECKING:
    from jahs_bo.storage.postgres import PostgresStorage

__all__ = [
    "InMemoryStorage",
    "PostgresStorage",
    "SQLiteStorage",
    "Storage",
    "StudyInfo",
    "TrialNumberTakenError",
    "get_storage",
    "storage_path",
]

_SQLITE_PREFIX = "sqlite:///"


def __getattr__(name: str) -> Any:
    if name == "PostgresStorage":  # imported on first use: psycopg is an optional dependency
        from jahs_bo.storage.postgres import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_storage(
    storage: None | str | os.PathLike[str] | Storage,
    *,
    must_exist: bool = False,
    create_dirs: bool = False,
) -> Storage:
    """Turn a storage argument into a :class:`Storage`: one grammar for Python, CLI and tuner.

    Args:
        storage: ``None`` (a new in-memory storage); a plain path (``"study.db"``,
            ``"runs/a.db"``, a ``pathlib.Path``), which means a SQLite file; a URL
            ``"sqlite:///relative/path.db"`` or ``"sqlite:////absolute/path.db"`` (as in
            SQLAlchemy and Optuna); a ``"postgresql://user:password@host:port/dbname"`` URL
            (a :class:`~jahs_bo.storage.postgres.PostgresStorage`; needs the ``postgres``
            extra); or a :class:`Storage`, returned as is.
        must_exist: The SQLite file must exist already (loading a study): a mistyped path is an
            error instead of a new, empty study.
        create_dirs: Create the file's missing parent directories. Without it a missing
            directory is an error (a mistyped directory should not silently start a new study).

    Raises:
        StorageNotFoundError: The file (``must_exist``) or its directory does not exist.
        InputError: The URL's scheme is unknown or names no file.
        StorageError: A PostgreSQL server cannot be reached (or psycopg is missing).
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if isinstance(storage, os.PathLike):
        storage = os.fspath(storage)
    if not isinstance(storage, str):
        raise InputError(
            f"storage must be None, a path or 'sqlite:///path.db' URL of a SQLite file, a "
            f"'postgresql://...' URL, or a Storage, not {type(storage).__name__} {storage!r}"
        )
    text = storage
    if text.startswith(("postgresql://", "postgres://")):
        from jahs_bo.storage.postgres import PostgresStorage

        return PostgresStorage(text)
    if "://" in text:
        if not text.startswith(_SQLITE_PREFIX):
            from jahs_bo.storage.postgres import redact

            scheme = text.split("://", 1)[0]
            raise InputError(
                f"unknown storage URL {redact(text)!r} (scheme {scheme!r}); use a file path, "
                "'sqlite:///relative/path.db', 'sqlite:////absolute/path.db', "
                "'postgresql://user:password@host:port/dbname', None (in memory) or a Storage "
                "instance"
            )
        text = text[len(_SQLITE_PREFIX) :]
    if not text or text == ":memory:":
        raise InputError(
            f"storage {storage!r} names no database file; use 'path/to/study.db' (or "
            "'sqlite:///path/to/study.db'), or storage=None for an in-memory study"
        )
    path = Path(text).expanduser()
    if must_exist and not path.is_file():
        raise StorageNotFoundError(
            f"storage file {str(path)!r} (from {storage!r}) does not exist; check the path, or "
            "create the study first"
        )
    parent = path.parent
    if not parent.is_dir():
        if not create_dirs:
            raise StorageNotFoundError(
                f"directory {str(parent)!r} of storage {storage!r} does not exist; fix the path, "
                "or create the directory (Python: create_dirs=True, CLI: --mkdir)"
            )
        parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStorage(path)


def storage_path(storage: Storage) -> Path | None:
    """The file of a SQLite storage, ``None`` for other storages (in memory, PostgreSQL)."""
    path = getattr(storage, "path", None)
    return None if path is None else Path(path)
