"""Storages of studies and trials: in memory, or in a SQLite file shared by processes.

The rule for trials left RUNNING by a dead process is documented in :mod:`jahs_bo.storage.base`.
"""

from __future__ import annotations

import os

from jahs_bo.exceptions import InputError
from jahs_bo.storage.base import Storage, StudyInfo, TrialNumberTakenError
from jahs_bo.storage.memory import InMemoryStorage
from jahs_bo.storage.sqlite import SQLiteStorage

__all__ = [
    "InMemoryStorage",
    "SQLiteStorage",
    "Storage",
    "StudyInfo",
    "TrialNumberTakenError",
    "get_storage",
]

_SQLITE_PREFIX = "sqlite:///"


def get_storage(storage: None | str | os.PathLike[str] | Storage) -> Storage:
    """Turn a storage argument into a :class:`Storage`.

    Args:
        storage: ``None`` (a new in-memory storage), a URL ``"sqlite:///path.db"`` (relative path;
            ``"sqlite:////abs/path.db"`` for an absolute one, as in SQLAlchemy), a path object of
            a SQLite file, or a :class:`Storage`, returned as is.

    Raises:
        InputError: The URL's scheme is unknown or the path is missing.
    """
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if isinstance(storage, os.PathLike):
        return SQLiteStorage(storage)
    if isinstance(storage, str):
        if storage.startswith(_SQLITE_PREFIX):
            path = storage[len(_SQLITE_PREFIX) :]
            if not path or path == ":memory:":
                raise InputError(
                    f"storage URL {storage!r} names no database file; use "
                    "'sqlite:///path/to/study.db', or storage=None for an in-memory study"
                )
            return SQLiteStorage(path)
        scheme = storage.split("://", 1)[0] if "://" in storage else None
        what = f"scheme {scheme!r}" if scheme else "no scheme"
        raise InputError(
            f"unknown storage URL {storage!r} ({what}); use None (in memory), "
            "'sqlite:///relative/path.db', 'sqlite:////absolute/path.db' or a Storage instance"
        )
    raise InputError(
        f"storage must be None, a 'sqlite:///path.db' URL or a Storage, not "
        f"{type(storage).__name__} {storage!r}"
    )
