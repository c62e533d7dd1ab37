"""Shared fixtures: the shipped NAS-Bench-201 table."""

from __future__ import annotations

import sys
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
