"""LocalPostgres, the throwaway test server: stop() never leaves a server running."""

from __future__ import annotations

import shutil

import pytest

from jahs_bo.storage.local_postgres import LocalPostgres, _is_postgres, find_postgres_bin

pytestmark = pytest.mark.skipif(
    find_postgres_bin() is None, reason="PostgreSQL server binaries are not installed"
)


def test_stop_kills_the_server_by_pid_when_its_directory_is_gone() -> None:
    server = LocalPostgres().start()
    pid, root = server.pid, server.root
    assert pid is not None and root is not None and _is_postgres(pid)
    shutil.rmtree(root)  # pg_ctl stop cannot work any more
    server.stop()
    assert not _is_postgres(pid) and not root.exists()
    assert server.root is None and server.pid is None
    server.stop()  # idempotent


def test_stop_is_clean_after_a_normal_run() -> None:
    with LocalPostgres() as server:
        pid, root = server.pid, server.root
        assert pid is not None and _is_postgres(pid)
    assert root is not None and not root.exists() and not _is_postgres(pid)
