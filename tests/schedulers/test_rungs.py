"""Rung levels, the Hyperband bracket table and the several-fidelities tie rule."""

from __future__ import annotations

import pytest

from jahs_bo.exceptions import InputError, InvalidSpaceError
from jahs_bo.schedulers import FidelityPlan, default_eta, geometric_levels, hyperband_brackets
from jahs_bo.spaces import nb201_space


def test_hyperband_brackets_golden_table():
    """Li et al. (2018), Table 1: R = 81, eta = 3."""
    got = hyperband_brackets(1, 81, 3)
    assert got == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    assert sum(b[0][0] for b in got) == 143


def test_brackets_small_and_degenerate():
    assert hyperband_brackets(1, 9, 3) == [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    assert hyperband_brackets(5, 5, 3) == [[(1, 5)]]
    # a range that is not a power of eta: the top level is exact, the lowest >= min
    assert geometric_levels(1, 100, 3) == pytest.approx([100 / 81, 100 / 27, 100 / 9, 100 / 3, 100])


@pytest.mark.parametrize("bad", [1, 0.5, "3"])
def test_bad_eta(bad):
    with pytest.raises(InputError, match="eta"):
        hyperband_brackets(1, 81, bad)


def test_integer_levels_are_rounded(toy_space):
    plan = FidelityPlan.from_space(toy_space(200), eta=3)
    assert plan.levels == (2, 7, 22, 67, 200)
    assert plan.values(0) == {"epochs": 2}
    assert isinstance(plan.values(0)["epochs"], int)


def test_discrete_fidelity_levels_are_its_values():
    plan = FidelityPlan.from_space(nb201_space(epochs=(12, 200)), eta=3)
    assert plan.levels == (12, 200)
    assert plan.brackets() == [[(3, 0), (1, 1)], [(2, 1)]]
    assert plan.values(0) == {"epochs": 12}


def test_default_eta_matches_discrete_levels(toy_space):
    # Fixed values: eta is the levels' mean ratio, so one bracket trains 17 configurations for
    # 12 epochs and the best one for 200, and the spend per rung stays level.
    plan = FidelityPlan.from_space(nb201_space(epochs=(12, 200)))
    assert plan.eta == pytest.approx(200 / 12)
    assert plan.brackets() == [[(17, 0), (1, 1)], [(2, 1)]]
    assert default_eta([1, 4, 16]) == pytest.approx(4.0)
    assert default_eta([10, 12]) == 3.0  # never below the usual 3
    assert default_eta([200]) == 3.0
    # A range keeps Hyperband's usual 3.
    assert FidelityPlan.from_space(toy_space(81)).eta == 3.0
    assert FidelityPlan.from_space(toy_space(81)).levels == (1, 3, 9, 27, 81)


def test_min_and_max_fidelity_override(toy_space):
    plan = FidelityPlan.from_space(toy_space(81), eta=3, min_fidelity=3, max_fidelity=27)
    assert plan.levels == (3, 9, 27)


def test_secondary_fidelity_tied_to_primary(toy_space):
    """Rule: u = primary.normalize(level), secondary = secondary.unnormalize(u)."""
    plan = FidelityPlan.from_space(toy_space(81, resolution=True), eta=3, tie_others=True)
    assert plan.levels == (1, 3, 9, 27, 81)
    res = [plan.values(i)["resolution"] for i in range(5)]
    # epochs are log-scaled, so the rungs sit at u = 0, 1/4, ..., 1 and resolution is linear
    assert res == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0])


def test_plan_errors(toy_space):
    space = toy_space()
    with pytest.raises(InvalidSpaceError, match="'steps' is not in the space"):
        FidelityPlan.from_space(space, "steps")
    with pytest.raises(InvalidSpaceError, match="need a space with a fidelity"):
        FidelityPlan.from_space(nb201_space())
    with pytest.raises(InputError, match="max_fidelity=100"):
        FidelityPlan.from_space(space, max_fidelity=100)


def test_level_of(make_trial, toy_space):
    plan = FidelityPlan.from_space(toy_space(), eta=3)
    assert plan.level_of(make_trial(0, epochs=3)) == 1
    assert plan.level_of(make_trial(0, epochs=4)) is None


def test_epochs_are_scheduled_and_the_others_held_at_full_by_default():
    """JAHS-Bench-201: N, W and Resolution come first, yet the rungs are epochs of the full net."""
    from jahs_bo.spaces import jahs_bench_201_space

    plan = FidelityPlan.from_space(jahs_bench_201_space(), eta=3)
    assert plan.primary.name == "epoch"
    assert [round(lv) for lv in plan.levels] == [2, 7, 22, 67, 200]
    full = {"N": 5, "W": 16, "Resolution": 1.0}
    assert all(plan.values(i) == {"epoch": round(lv), **full} for i, lv in enumerate(plan.levels))
    tied = FidelityPlan.from_space(jahs_bench_201_space(), eta=3, tie_others=True)
    assert tied.values(0) == {"epoch": 2, "N": 1, "W": 4, "Resolution": 0.25}
    asked = FidelityPlan.from_space(jahs_bench_201_space(), "N")  # asked for: N is scheduled
    assert asked.levels == (1, 3, 5) and asked.values(0)["epoch"] == 200
    with pytest.raises(InputError, match="tie_others"):
        FidelityPlan.from_space(jahs_bench_201_space(), tie_others="yes")  # type: ignore[arg-type]


def test_a_study_on_jahs_bench_201_runs_rungs_of_epochs():
    from jahs_bo.spaces import jahs_bench_201_space
    from jahs_bo.study import create_study

    study = create_study(jahs_bench_201_space(), searcher="random", scheduler="hyperband", seed=0)
    seen = set()
    for _ in range(5):
        trial = study.ask()
        assert (trial.fidelity["N"], trial.fidelity["W"], trial.fidelity["Resolution"]) == (
            5,
            16,
            1.0,
        )
        seen.add(trial.fidelity["epoch"])
        study.tell(trial, float(trial.config["LearningRate"]))
    assert seen == {2}  # the first bracket starts at the cheapest rung: 2 epochs, not N=1
