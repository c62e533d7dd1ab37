"""The digits transfer example (examples/transfer_digits.py) runs end to end on real training."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "transfer_digits.py"


def test_transfer_digits_example_end_to_end(tmp_path: Path) -> None:
    pytest.importorskip("sklearn", reason="the example needs scikit-learn (extra 'examples')")
    cmd = [sys.executable, str(EXAMPLE), "--steps", "20", "--budget", "3", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "digits-meta" / "meta.json").exists()
    found = {
        m.group(1): float(m.group(2))
        for m in re.finditer(r"(transfer|gp|table): best .*? (\d+\.\d) %", proc.stdout)
    }
    assert set(found) == {"transfer", "gp", "table"}, proc.stdout
    # the networks were really trained on the two-class task (the table's training, so at most
    # its best, up to a little rounding on another CPU) and beat chance
    for searcher in ("transfer", "gp"):
        assert 50.0 < found[searcher] <= found["table"] + 2.0
