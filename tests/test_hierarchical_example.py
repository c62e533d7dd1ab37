"""The hierarchical-grammar example (examples/hierarchical_search.py) runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jahs_bo.study import load_study
from jahs_bo.types import TrialState

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "hierarchical_search.py"


@pytest.mark.slow
def test_hierarchical_example_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the example needs scikit-learn (extra 'examples')")
    db = tmp_path / "hier.db"
    cmd = [sys.executable, str(EXAMPLE), "--n-trials", "12", "--storage", str(db)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "12 trials in" in proc.stdout
    study = load_study("hierarchical-digits-seed0", db)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 12
    assert all(0.0 <= t.value <= 1.0 for t in study.trials)  # two of them proposed by the GP
