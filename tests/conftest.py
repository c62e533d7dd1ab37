"""Shared fixtures: the shipped NAS-Bench-201 table, a PostgreSQL server."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

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
