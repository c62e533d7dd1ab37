"""Shared fixtures: the shipped NAS-Bench-201 table, a PostgreSQL server, a local Ray cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


@pytest.fixture(scope="session")
def nb201_table() -> pd.DataFrame:
    """The NB201 table (15,625 rows) indexed by the official arch string."""
    return pd.read_csv(DATA / "nb201.csv.gz").set_index("arch_str", drop=False)


@pytest.fixture(scope="session")
def nb201_accuracy(nb201_table: pd.DataFrame) -> dict[str, float]:
    """CIFAR-10 200-epoch validation accuracy (%) by arch string."""
    return dict(zip(nb201_table.arch_str, nb201_table.c10v_valid_acc_200, strict=True))


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tests that use torch run it on one thread: the GP algebra and networks here are small,
    slower with several threads on a busy machine, and their results do not depend on it."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a PostgreSQL server of the test session's own (initdb in a temporary directory)."""
    from jahs_bo.storage.local_postgres import LocalPostgres, find_postgres_bin

    if find_postgres_bin() is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are neither on PATH nor under "
            "/usr/lib/postgresql/*/bin; scripts/setup.sh installs them"
        )
    # stop() also runs on Ctrl-C (pytest tears session fixtures down) and, as a last resort, from
    # LocalPostgres's atexit hook; it kills the server by pid if pg_ctl stop fails.
    server = LocalPostgres().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A ``postgresql://`` URL whose tables live in a fresh schema (an empty database per test)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    return f"{postgres_server}?options=-csearch_path%3D{schema}"


# ------------------------------------------------------------------------------ Ray cluster
class RayCluster:
    """A real Ray cluster on this machine: a head (``ray start --head``) and extra nodes
    (``ray start --address``), each a ``--block`` process whose process tree can be killed to
    simulate a lost node. The test process joins it as the driver."""

    def __init__(self, tmp: Path) -> None:
        import socket

        self.tmp = tmp
        self.ray = str(Path(sys.executable).parent / "ray")
        repo = str(Path(__file__).resolve().parents[1])
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            ),
            "OMP_NUM_THREADS": "1",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",  # a private cluster on this machine, gone after the tests
            # detect a killed node within seconds instead of about half a minute
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
            "RAY_health_check_initial_delay_ms": "1000",
        }
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.nodes: list[Any] = []
        self.head = self._start(
            ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}"], 1
        )
        self.address = f"127.0.0.1:{port}"

    def _start(self, args: list[str], num_cpus: int) -> Any:
        import subprocess
        import time

        log = self.tmp / f"node{len(self.nodes)}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [self.ray, "start", *args, f"--num-cpus={num_cpus}", "--block"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        self.nodes.append(proc)
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in log.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                self.kill(proc)
                raise RuntimeError(f"ray start failed:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        return proc

    def add_node(self, num_cpus: int) -> Any:
        """Start a node that joins the head; returns its ``ray start`` process."""
        import time

        import ray

        before = sum(n["Alive"] for n in ray.nodes())
        proc = self._start([f"--address={self.address}"], num_cpus)
        while sum(n["Alive"] for n in ray.nodes()) <= before:
            time.sleep(0.2)
        return proc

    @staticmethod
    def kill(proc: Any) -> None:
        """SIGKILL a node's ``ray start`` process and every process below it (by pid)."""
        import psutil

        try:
            tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            tree = []
        for p in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        proc.wait(timeout=30)

    def shutdown(self) -> None:
        for proc in reversed(self.nodes):
            self.kill(proc)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A one-CPU Ray head with this process connected as the driver (tests add nodes)."""
    import tempfile

    import ray

    tmp = Path(tempfile.mkdtemp(prefix="jbray", dir="/tmp"))  # short: Ray's socket paths
    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # as the cluster's processes have it
    cluster = RayCluster(tmp)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before
