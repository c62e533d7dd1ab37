"""The candidate-source recorder: one entry per model-based ask, and the searcher restored."""

from __future__ import annotations

import json

import jahs_bo.acquisition.optimize as optimize
import jahs_bo.searchers.gp as gp
from benchmarks.candidate_sources import main
from jahs_bo.models.encoder import JointEncoder


def test_every_model_based_ask_gets_its_sources_and_nothing_stays_wrapped(tmp_path, capsys):
    before = (JointEncoder.sample_rows, optimize.neighbourhood, gp.optimize_acquisition)
    out = tmp_path / "sources.json"
    argv = ["--problem", "nb201/cifar10", "--seeds", "0", "--budget", "14"]
    assert main([*argv, "--out", str(tmp_path), "--json", str(out)]) == 0
    asks = json.loads(out.read_text())
    assert len(asks) == 4  # 10 initial configurations, then 4 asks of the model
    known = {"random", "parents", "local1", "local2"}
    assert all(sources and set(sources) <= known for sources in asks)  # no prior: no "other"
    assert "4 model-based asks" in capsys.readouterr().out
    assert (JointEncoder.sample_rows, optimize.neighbourhood, gp.optimize_acquisition) == before
