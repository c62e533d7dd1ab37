"""The per-run CSV writer used by the peer runners.

Peers are scored by ``benchmarks.problems.CurveRecorder``, the same code that scores jahs-bo's own
runs (``benchmarks/README.md``: "Per-run CSV schema"); ``benchmarks.problems`` needs only numpy,
pandas and (for LCBench) onnxruntime, so it imports in every peer's virtual environment.
"""

from __future__ import annotations

from typing import Any

from benchmarks.problems import CurveRecorder


def make_recorder(problem: Any, optimizer: str, seed: int) -> CurveRecorder:
    """``CurveRecorder(problem, optimizer=..., seed=...)`` for one peer run."""
    return CurveRecorder(problem, optimizer=optimizer, seed=seed)
