"""Model-builder tests run torch on one thread: small networks are slower with more threads on a
busy machine (OpenMP threads wait for cores), and the result does not depend on it."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
