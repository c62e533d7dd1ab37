"""Smoke test of benchmarks/priors/make_priors.py: good priors favour the optimum, misleading
ones do not; the spaces round-trip through JSON."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.priors.make_priors import (
    NEAR_SHIFT,
    lcbench_prior_space,
    lcbench_reference,
    main,
    nb201_op_prior,
    nb201_prior_space,
    problem_prior_space,
)
from benchmarks.problems.nb201 import load_table
from jahs_bo.spaces import SearchSpace


def test_nb201_good_prior_favours_the_best_cells():
    table = load_table()
    good, bad = (nb201_prior_space(k, table) for k in ("good", "misleading"))
    assert nb201_op_prior("good", table) == nb201_op_prior("good", table)  # reproducible
    best = table.sort_values("c10v_valid_acc_200").arch_str.iloc[-50:]
    configs = [{"arch": a} for a in best]
    assert good.log_prior(configs).mean() > bad.log_prior(configs).mean() + 3.0
    probs = nb201_op_prior("good", table)
    assert max(probs, key=probs.get) == "nor_conv_3x3" and min(probs.values()) > 0
    assert SearchSpace.from_json(good.to_json()) == good


def test_nb201_per_edge_priors_state_the_residual_skip():
    table = load_table()
    edge = nb201_op_prior("good-edge", table)
    assert list(edge) == ["0->1", "0->2", "1->2", "0->3", "1->3", "2->3"]
    assert max(edge["0->3"], key=edge["0->3"].get) == "skip_connect"  # input -> output skip
    assert all(max(p, key=p.get) == "nor_conv_3x3" for e, p in edge.items() if e != "0->3")
    assert all(sum(p.values()) == pytest.approx(1.0, abs=1e-5) for p in edge.values())
    best = [{"arch": a} for a in table.sort_values("c10v_valid_acc_200").arch_str.iloc[-50:]]
    good, good_edge, bad_edge = (
        nb201_prior_space(k, table) for k in ("good", "good-edge", "misleading-edge")
    )
    assert good_edge.log_prior(best).mean() > good.log_prior(best).mean() + 1.0
    assert bad_edge.log_prior(best).mean() < good.log_prior(best).mean() - 3.0
    assert SearchSpace.from_json(good_edge.to_json()) == good_edge
    with pytest.raises(ValueError, match="LCBench has no edges"):
        problem_prior_space("lcbench/3945", "good-edge")


def test_lcbench_priors_centre_on_the_reference_or_its_mirror(tmp_path):
    task = sorted(lcbench_reference())[0]
    ref = lcbench_reference()[task]
    good = lcbench_prior_space(task, "good")
    bad = lcbench_prior_space(task, "misleading")
    v_ref = good.hp_vector(ref)
    v_good = good.hp_vector(good.hyperparameters.get_default_configuration())
    v_bad = bad.hp_vector(bad.hyperparameters.get_default_configuration())
    # the good centre lies NEAR_SHIFT from the reference, towards the middle of every range
    shift = np.abs(v_good - v_ref)
    assert np.all(shift <= NEAR_SHIFT + 0.1) and np.median(shift) == pytest.approx(NEAR_SHIFT)
    assert np.all(np.abs(v_good - 0.5) <= np.abs(v_ref - 0.5) + 1e-9)
    assert np.allclose(v_ref + v_bad, 1.0, atol=0.1)  # integers round
    at_ref = [dict(ref)]
    assert good.log_prior(at_ref)[0] > bad.log_prior(at_ref)[0] + 5.0
    assert SearchSpace.from_json(bad.to_json()) == bad
    with pytest.raises(KeyError):
        lcbench_prior_space("no-such-task", "good")
    assert problem_prior_space(f"lcbench/{task}", "misleading") == bad
    assert problem_prior_space("nb201/cifar100", "good") == nb201_prior_space("good")
    with pytest.raises(ValueError, match="no prior"):
        problem_prior_space("nb201-mo/cifar10", "good")
    main(["--out", str(tmp_path)])
    assert (tmp_path / "nb201-good.json").exists()
    assert (tmp_path / f"lcbench-{task}-misleading.json").exists()
