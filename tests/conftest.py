"""Shared fixtures: the shipped NAS-Bench-201 table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


@pytest.fixture(scope="session")
def nb201_table() -> pd.DataFrame:
    """The NB201 table (15,625 rows) indexed by the official arch string."""
    return pd.read_csv(DATA / "nb201.csv.gz").set_index("arch_str", drop=False)
