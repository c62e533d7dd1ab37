"""Pareto fronts, hypervolume, NSGA-II, constraints and ParEGO against brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from jahs_bo.exceptions import InputError, ObjectiveValueError
from jahs_bo.multiobjective import (
    OutcomeConstraint,
    crowding_distance,
    hypervolume,
    hypervolume_of_losses,
    is_feasible,
    loss_matrix,
    non_dominated_mask,
    non_dominated_sort,
    nsga2_order,
    nsga2_select,
    nsga2_tournament,
    parego_losses,
    parego_scalarize,
    pareto_front,
    reference_point,
    sample_simplex_weights,
    violations,
)
from jahs_bo.types import Trial, TrialState


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def brute_front(Y: np.ndarray) -> np.ndarray:
    return np.array([not any(dominates(Y[j], Y[i]) for j in range(len(Y))) for i in range(len(Y))])


def brute_ranks(Y: np.ndarray) -> np.ndarray:
    ranks = np.full(len(Y), -1)
    left = set(range(len(Y)))
    r = 0
    while left:
        front = {i for i in left if not any(dominates(Y[j], Y[i]) for j in left)}
        for i in front:
            ranks[i] = r
        left -= front
        r += 1
    return ranks


def brute_hv(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact: sum the grid cells (between sorted coordinates) that some point dominates."""
    m = Y.shape[1]
    axes = [np.unique(np.concatenate([np.minimum(Y[:, j], ref[j]), [ref[j]]])) for j in range(m)]
    total = 0.0
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        lo = np.array([axes[j][c] for j, c in enumerate(cell)])
        hi = np.array([axes[j][c + 1] for j, c in enumerate(cell)])
        if np.any(np.all(lo >= Y, axis=1)):
            total += float(np.prod(hi - lo))
    return total


def table(Y, directions=None, latency=None, states=None) -> list[Trial]:
    """Complete trials whose values are ``Y`` (given as losses, turned into the directions)."""
    directions = directions or ["minimize"] * Y.shape[1]
    signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
    out = []
    for i, row in enumerate(Y):
        out.append(
            Trial(
                i,
                i,
                {"i": i},
                state=TrialState.COMPLETE if states is None else states[i],
                values=tuple(float(v) for v in row * signs),
                user_attrs={} if latency is None else {"latency": float(latency[i])},
            )
        )
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [2, 3])
def test_front_matches_brute_force(seed, m):
    rng = np.random.default_rng(seed)
    Y = rng.integers(0, 5, size=(12, m)).astype(float)  # integers: ties and duplicates happen
    assert np.array_equal(non_dominated_mask(Y), brute_front(Y))
    dirs = ["minimize", "maximize", "minimize"][:m]
    trials = table(Y, dirs)
    got = [t.trial_id for t in pareto_front(trials, dirs)]
    assert got == list(np.flatnonzero(brute_front(Y)))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_brute_force(seed, m):
    rng = np.random.default_rng(seed)
    Y = rng.random((8, m))
    ref = np.full(m, 0.9)  # some points outside the reference box
    assert hypervolume_of_losses(Y, ref) == pytest.approx(brute_hv(Y, ref))
    dirs = ["maximize"] + ["minimize"] * (m - 1)
    trials = table(Y, dirs)
    ref_user = ref * np.array([-1.0] + [1.0] * (m - 1))  # in the objectives' own units
    assert hypervolume(trials, dirs, ref_point=ref_user) == pytest.approx(brute_hv(Y, ref))


def test_default_reference_point_rule():
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [2.0, 2.0]])
    # nadir of the front (1, 1) plus 0.1 * range (1, 1)
    assert reference_point(Y) == pytest.approx([1.1, 1.1])
    hv = hypervolume(table(Y), ["minimize", "minimize"])
    assert hv == pytest.approx(brute_hv(Y, np.array([1.1, 1.1])))


def test_hypervolume_known_value():
    Y = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume_of_losses(Y, np.array([4.0, 4.0])) == pytest.approx(6.0)
    assert hypervolume_of_losses(np.zeros((0, 2)), np.array([4.0, 4.0])) == 0.0
    with pytest.raises(InputError, match="one entry per objective"):
        hypervolume_of_losses(Y, np.array([4.0]))


@pytest.mark.parametrize("seed", range(5))
def test_nsga2_ranks_match_brute_force(seed):
    Y = np.random.default_rng(seed).integers(0, 6, size=(15, 2)).astype(float)
    assert np.array_equal(non_dominated_sort(Y), brute_ranks(Y))


def test_crowding_distance_hand_example():
    Y = np.array([[0.0, 4.0], [1.0, 2.0], [2.0, 1.0], [4.0, 0.0]])
    d = crowding_distance(Y)
    assert np.isinf(d[0]) and np.isinf(d[3])
    assert d[1] == pytest.approx(2 / 4 + 3 / 4)
    assert d[2] == pytest.approx(3 / 4 + 2 / 4)


def test_nsga2_order_front_then_crowding():
    Y = np.array([[0.0, 4.0], [1.0, 2.0], [1.5, 1.8], [4.0, 0.0], [3.0, 3.0], [5.0, 5.0]])
    order = nsga2_order(Y)
    assert list(order[:2]) == [0, 3]  # front extremes (infinite crowding), in input order
    assert set(order[2:4]) == {1, 2}
    assert list(order[4:]) == [4, 5]
    # one objective: a stable sort by loss
    assert list(nsga2_order(np.array([[3.0], [1.0], [2.0], [1.0]]))) == [1, 3, 2, 0]


def test_constraints_front_hv_and_ranks():
    Y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.8, 0.8]])
    latency = [20.0, 5.0, 9.0, 1.0]  # trial 0 violates latency <= 10 by 10
    trials = table(Y, latency=latency)
    cons = ["latency <= 10"]
    assert list(violations(trials, cons)) == [10.0, 0.0, 0.0, 0.0]
    assert list(is_feasible(trials, cons)) == [False, True, True, True]
    assert [t.trial_id for t in pareto_front(trials, ["minimize"] * 2, cons)] == [1, 2]
    ref = [1.0, 1.0]
    feasible_hv = brute_hv(Y[1:], np.array(ref))
    assert hypervolume(trials, ["minimize"] * 2, ref, cons) == pytest.approx(feasible_hv)
    # infeasible trials are ranked after every feasible one, by violation
    ranks = non_dominated_sort(Y, violations(trials, cons))
    assert ranks[0] > ranks[1:].max()
    assert [t.trial_id for t in nsga2_select(trials, ["minimize"] * 2, 4, cons)][-1] == 0
    # a missing measurement is an infinite violation
    bare = table(Y)
    assert np.isinf(violations(bare, cons)).all()
    # constraints on an objective by index
    assert list(is_feasible(trials, [OutcomeConstraint(0, upper=0.6)])) == [
        True,
        False,
        True,
        False,
    ]


def test_constraint_parsing_and_errors():
    assert OutcomeConstraint.parse("latency_ms <= 10") == OutcomeConstraint(
        "latency_ms", upper=10.0
    )
    assert OutcomeConstraint.parse(" 1 >= 0.5") == OutcomeConstraint(1, lower=0.5)
    with pytest.raises(InputError, match="cannot read constraint 'latency < 10'"):
        OutcomeConstraint.parse("latency < 10")
    with pytest.raises(InputError, match="neither an upper nor a lower"):
        OutcomeConstraint("latency")


def test_loss_matrix_skips_unfinished_and_checks_arity():
    Y = np.array([[1.0, 2.0], [3.0, 4.0]])
    trials = table(Y, states=[TrialState.COMPLETE, TrialState.FAILED])
    done, L = loss_matrix(trials, ["minimize", "maximize"])
    assert [t.trial_id for t in done] == [0] and L.tolist() == [[1.0, -2.0]]
    with pytest.raises(ObjectiveValueError, match="2 values but 1 directions"):
        loss_matrix(trials, ["minimize"])


def test_nsga2_tournament_is_reproducible_and_picks_the_better():
    rng = np.random.default_rng(0)
    Y = rng.random((10, 2))
    trials = table(Y)
    a = [
        nsga2_tournament(trials, ["minimize"] * 2, np.random.default_rng(s)).trial_id
        for s in range(20)
    ]
    b = [
        nsga2_tournament(trials, ["minimize"] * 2, np.random.default_rng(s)).trial_id
        for s in range(20)
    ]
    assert a == b
    # a tournament over the whole population returns the NSGA-II best
    best = nsga2_tournament(trials, ["minimize"] * 2, rng, size=10)
    assert best.trial_id == int(nsga2_order(Y)[0])
    with pytest.raises(InputError, match="at least one complete trial"):
        nsga2_tournament([], ["minimize"], rng)


def test_parego_matches_formula_and_is_reproducible():
    rng = np.random.default_rng(1)
    w = sample_simplex_weights(3, rng)
    assert w.sum() == pytest.approx(1.0) and (w >= 0).all()
    Y = rng.random((7, 3)) * np.array([1.0, 10.0, 100.0])
    Z = (Y - Y.min(0)) / (Y.max(0) - Y.min(0))
    expected = (w * Z).max(1) + 0.05 * (w * Z).sum(1)
    assert parego_scalarize(Y, w) == pytest.approx(expected)
    with pytest.raises(InputError, match="non-negative"):
        parego_scalarize(Y, -w)
    trials = table(Y, latency=[1, 1, 1, 1, 1, 1, 50])
    dirs = ["minimize"] * 3
    d1, l1 = parego_losses(trials, dirs, np.random.default_rng(5), constraints=["latency <= 10"])
    d2, l2 = parego_losses(trials, dirs, np.random.default_rng(5), constraints=["latency <= 10"])
    assert np.array_equal(l1, l2) and len(d1) == 7
    assert l1[6] > l1[:6].max()  # the infeasible trial is kept, with a worse loss
