"""A throwaway PostgreSQL server in a directory: for tests, benchmarks and trying a shared study.

:class:`LocalPostgres` runs ``initdb`` in a fresh directory and ``pg_ctl start`` on a free local
port (its unix socket in that directory too), creates a database and gives its
``postgresql://`` URL; ``stop()`` shuts the server down and deletes the directory. If ``pg_ctl
stop`` fails (or the directory was deleted under it), ``stop()`` kills the server by the process
id read from ``postmaster.pid`` at start; an ``atexit`` hook stops a server the program forgot. The server
binaries are found on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin`` (Debian, Ubuntu).
PostgreSQL refuses to run as root, so when called as root the server runs as the ``postgres``
user (``runuser -u postgres``), which owns the directory. A production study uses a managed
server instead (see the README's "Many machines").
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from jahs_bo.exceptions import StorageError

__all__ = ["LocalPostgres", "find_postgres_bin"]


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl`` (``None`` if PostgreSQL is not installed)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return debian[-1].parent if debian else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPostgres:
    """A PostgreSQL server of its own in a temporary directory.

    Args:
        database: Name of the database to create.
        durable: Keep PostgreSQL's ``fsync`` on (off by default: a throwaway server needs no
            crash safety, and tests run faster).
        bin_dir: Where ``initdb``/``pg_ctl``/``postgres`` are (default: :func:`find_postgres_bin`).

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(
        self, database: str = "jahs_bo", *, durable: bool = False, bin_dir: Path | None = None
    ) -> None:
        self.database = database
        self.durable = durable
        self.bin_dir = bin_dir or find_postgres_bin()
        self.root: Path | None = None
        self.port: int | None = None
        self.pid: int | None = None  # the postmaster's, from postmaster.pid

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/<database>`` of the running server."""
        if self.port is None:
            raise StorageError("the local PostgreSQL server is not started; call start() first")
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> str:
        assert self.bin_dir is not None
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = ""
            if self.root is not None and (self.root / "server.log").exists():
                log = (self.root / "server.log").read_text()[-2000:]
            raise StorageError(
                f"{' '.join(cmd)} failed with status {proc.returncode}:\n{proc.stdout}"
                f"{proc.stderr}{log}"
            )
        return proc.stdout

    def start(self) -> LocalPostgres:
        """Create the cluster, start the server, create the database; returns ``self``."""
        if self.bin_dir is None:
            raise StorageError(
                "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or under "
                "/usr/lib/postgresql/*/bin; install them, e.g. apt-get install -y postgresql"
            )
        self.root = Path(tempfile.mkdtemp(prefix="jahs_bo_pg_"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        assert self.root is not None
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self.port = _free_port()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.pid = int((data / "postmaster.pid").read_text().split("\n", 1)[0])
        self._run("createdb", "-h", str(self.root), "-p", str(self.port), "-U", "postgres",
                  self.database)  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory; never raises.

        When ``pg_ctl stop`` fails or the directory is gone, the server is killed by its process
        id (``SIGQUIT``, PostgreSQL's immediate shutdown, then ``SIGKILL``). Idempotent.
        """
        root, pid = self.root, self.pid
        self.root = self.port = self.pid = None
        atexit.unregister(self.stop)
        if root is None:
            return
        try:
            stopped = False
            if (root / "data" / "postmaster.pid").exists():
                with contextlib.suppress(StorageError, OSError, subprocess.SubprocessError):
                    self.root = root  # for _run's server log
                    self._run("pg_ctl", "-D", str(root / "data"), "-m", "fast", "-w", "-t", "30",
                              "stop")  # fmt: skip
                    stopped = True
                self.root = None
            if not stopped and pid is not None:
                _kill_postmaster(pid)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_postgres(pid: int) -> bool:
    """Whether process ``pid`` is alive and a PostgreSQL server (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        try:
            os.kill(pid, 0)  # no /proc (macOS): trust the pid while it lives
        except OSError:
            return False
        return True
    return b"postgres" in cmdline


def _kill_postmaster(pid: int, timeout: float = 10.0) -> None:
    """Immediate shutdown of the postmaster ``pid`` (SIGQUIT, then SIGKILL); never raises."""
    for sig in (signal.SIGQUIT, signal.SIGKILL):
        if not _is_postgres(pid):
            return
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_postgres(pid):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our child
            time.sleep(0.05)
