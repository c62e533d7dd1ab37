"""Several objectives and outcome constraints: Pareto fronts, hypervolume, NSGA-II, ParEGO.

Conventions:

* Every function works on *losses*: ``sign * value`` per objective (see
  :attr:`jahs_bo.types.Direction.sign`), so lower is better everywhere. :func:`loss_matrix` turns
  a study's trials into such an ``n x m`` array.
* An :class:`OutcomeConstraint` bounds a metric (an objective by index, or a number the objective
  stored in ``trial.user_attrs`` by name). Infeasible trials are *kept*: they stay in the study,
  searchers see them (NSGA-II ranks them after every feasible trial, ordered by how much they
  violate; ParEGO gives them a penalised loss), and :func:`violations` marks them. Fronts,
  hypervolumes and incumbents only ever contain feasible trials.
* Reference point rule (:func:`reference_point`): when none is given, the hypervolume is measured
  against ``nadir + 0.1 * range`` of the feasible Pareto front in loss space, i.e. botorch's
  ``infer_reference_point`` (Ishibuchi et al., 2011). That point moves with the front, so compare
  two studies only with an explicit, fixed ``ref_point``.

Pareto dominance and hypervolume come from :mod:`botorch.utils.multi_objective`
(``is_non_dominated``, ``DominatedPartitioning``, ``infer_reference_point``,
``get_chebyshev_scalarization``); non-dominated sorting peels botorch fronts; only the crowding
distance (a few lines of NSGA-II bookkeeping) is our own. torch and botorch are imported inside the
functions that need them, so constraints and feasibility (used by ``jahs_bo.study``) stay light.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from jahs_bo.exceptions import InputError, ObjectiveValueError
from jahs_bo.types import Direction, Trial, TrialState

__all__ = [
    "OutcomeConstraint",
    "as_constraints",
    "crowding_distance",
    "hypervolume",
    "hypervolume_of_losses",
    "is_feasible",
    "loss_matrix",
    "non_dominated_mask",
    "non_dominated_sort",
    "nsga2_order",
    "nsga2_select",
    "nsga2_tournament",
    "parego_losses",
    "parego_scalarize",
    "pareto_front",
    "reference_point",
    "sample_simplex_weights",
    "violations",
]

_CONSTRAINT_RE = re.compile(r"^\s*([A-Za-z_][\w.]*|\d+)\s*(<=|>=)\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class OutcomeConstraint:
    """A bound on one outcome of a trial: ``lower <= metric <= upper``.

    Args:
        metric: An ``int`` is the index of an objective in ``trial.values``; a ``str`` is the key
            of a number the objective stored in ``trial.user_attrs`` (e.g. ``"latency_ms"``).
        upper: Largest feasible value (``None``: unbounded above).
        lower: Smallest feasible value (``None``: unbounded below).
    """

    metric: int | str
    upper: float | None = None
    lower: float | None = None

    def __post_init__(self) -> None:
        if self.upper is None and self.lower is None:
            raise InputError(
                f"constraint on {self.metric!r} has neither an upper nor a lower bound; "
                "give at least one, e.g. OutcomeConstraint('latency_ms', upper=10.0)"
            )
        if self.upper is not None and self.lower is not None and self.lower > self.upper:
            raise InputError(
                f"constraint on {self.metric!r} has lower bound {self.lower} above its upper "
                f"bound {self.upper}; no trial could satisfy it"
            )
        if isinstance(self.metric, bool) or not isinstance(self.metric, (int, str)):
            raise InputError(
                f"constraint metric {self.metric!r} must be an objective index (int) or a "
                "user attribute name (str)"
            )

    @classmethod
    def parse(cls, text: str) -> OutcomeConstraint:
        """Read ``"latency_ms <= 10"`` or ``"1 >= 0.5"`` (an integer names an objective index)."""
        if not isinstance(text, str):
            raise InputError(
                f"constraint {text!r} is neither text nor an OutcomeConstraint; write e.g. "
                "'latency_ms <= 10' or OutcomeConstraint('latency_ms', upper=10.0)"
            )
        m = _CONSTRAINT_RE.match(text)
        if m is None:
            raise InputError(
                f"cannot read constraint {text!r}; write '<metric> <= <bound>' or "
                "'<metric> >= <bound>', e.g. 'latency_ms <= 10'"
            )
        name, op = m.group(1), m.group(2)
        try:
            bound = float(m.group(3))
        except ValueError:
            raise InputError(
                f"cannot read the bound {m.group(3)!r} of constraint {text!r}; write a number, "
                "e.g. 'latency_ms <= 10'"
            ) from None
        if not math.isfinite(bound):
            raise InputError(f"constraint {text!r} needs a finite bound, e.g. 'latency_ms <= 10'")
        metric: int | str = int(name) if name.isdigit() else name
        return cls(metric, upper=bound) if op == "<=" else cls(metric, lower=bound)

    def __str__(self) -> str:
        parts = []
        if self.lower is not None:
            parts.append(f"{self.metric} >= {self.lower:g}")
        if self.upper is not None:
            parts.append(f"{self.metric} <= {self.upper:g}")
        return " and ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: ``{"metric": ..., "upper": ..., "lower": ...}``."""
        return {"metric": self.metric, "upper": self.upper, "lower": self.lower}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OutcomeConstraint:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(data["metric"], upper=data.get("upper"), lower=data.get("lower"))
        except (KeyError, TypeError, AttributeError):
            raise InputError(
                f"cannot read stored constraint {data!r}; expected "
                "{'metric': ..., 'upper': ..., 'lower': ...}"
            ) from None

    def measure(self, trial: Trial) -> float | None:
        """The constrained outcome of ``trial``, or ``None`` where the trial lacks it."""
        if isinstance(self.metric, int):
            if trial.values is None or self.metric >= len(trial.values):
                return None
            return float(trial.values[self.metric])
        raw = trial.user_attrs.get(self.metric)
        try:
            return None if raw is None else float(raw)
        except (TypeError, ValueError):
            return None

    def violation(self, trial: Trial) -> float:
        """How far ``trial`` is outside the bounds (0 when feasible, ``inf`` when unmeasured)."""
        v = self.measure(trial)
        if v is None or not math.isfinite(v):
            return math.inf
        out = 0.0
        if self.upper is not None:
            out += max(0.0, v - self.upper)
        if self.lower is not None:
            out += max(0.0, self.lower - v)
        return out


def as_constraints(
    constraints: Sequence[OutcomeConstraint | str] | OutcomeConstraint | str | None,
) -> list[OutcomeConstraint]:
    """Constraints given as objects or text (``"latency_ms <= 10"``), as objects.

    Raises:
        InputError: A text cannot be read (the message names it and shows the expected form).
    """
    if isinstance(constraints, (str, OutcomeConstraint)):
        constraints = [constraints]
    if constraints is not None and (
        isinstance(constraints, (bytes, Mapping)) or not isinstance(constraints, Iterable)
    ):
        raise InputError(
            f"constraints={constraints!r} must be a constraint or a list of them, e.g. "
            "['latency_ms <= 10']"
        )
    return [
        c if isinstance(c, OutcomeConstraint) else OutcomeConstraint.parse(c)
        for c in constraints or ()
    ]


def violations(
    trials: Sequence[Trial], constraints: Sequence[OutcomeConstraint | str] | None
) -> np.ndarray:
    """Total constraint violation per trial (``n``; 0 = feasible)."""
    cons = as_constraints(constraints)
    return np.array([sum(c.violation(t) for c in cons) for t in trials], dtype=float)


def is_feasible(
    trials: Sequence[Trial], constraints: Sequence[OutcomeConstraint | str] | None
) -> np.ndarray:
    """Boolean mask (``n``) of trials that satisfy every constraint."""
    return violations(trials, constraints) == 0.0


def _signs(directions: Sequence[Direction | str]) -> np.ndarray:
    if len(directions) == 0:
        raise ObjectiveValueError("no objective directions given; pass e.g. ['minimize']")
    return np.array([Direction.parse(d).sign for d in directions], dtype=float)


def loss_matrix(
    trials: Sequence[Trial], directions: Sequence[Direction | str]
) -> tuple[list[Trial], np.ndarray]:
    """The complete trials and their losses.

    Returns:
        ``(complete, Y)`` with ``Y`` of shape ``n x m`` (``sign * value``; lower is better).
    """
    signs = _signs(directions)
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.values is not None]
    for t in done:
        if len(t.values) != len(signs):  # type: ignore[arg-type]
            raise ObjectiveValueError(
                f"trial {t.number} has {len(t.values)} values but {len(signs)} directions "  # type: ignore[arg-type]
                "were given; pass one direction per objective"
            )
    if not done:
        return [], np.zeros((0, len(signs)))
    return done, np.array([t.values for t in done], dtype=float) * signs


def non_dominated_mask(Y: np.ndarray) -> np.ndarray:
    """Boolean mask of the Pareto-optimal rows of the loss matrix ``Y`` (``n x m``).

    Duplicated optimal rows are all marked optimal.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    import torch
    from botorch.utils.multi_objective.pareto import is_non_dominated

    mask = is_non_dominated(torch.from_numpy(Y), maximize=False, deduplicate=False)
    return mask.numpy().astype(bool)


def non_dominated_sort(Y: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """NSGA-II front index of every row of ``Y`` (``n x m`` losses); 0 is the Pareto front.

    With ``violation`` (``n``), constrained domination (Deb, 2002) applies: feasible rows are
    sorted into fronts first; infeasible rows come after them, one front per distinct violation
    value, smaller violation first.
    """
    Y = np.asarray(Y, dtype=float)
    n = Y.shape[0]
    ranks = np.full(n, -1, dtype=int)
    viol = np.zeros(n) if violation is None else np.asarray(violation, dtype=float)
    feasible = np.flatnonzero(viol == 0.0)
    rank = 0
    remaining = feasible
    while remaining.size:
        mask = non_dominated_mask(Y[remaining])
        ranks[remaining[mask]] = rank
        remaining = remaining[~mask]
        rank += 1
    infeasible = np.flatnonzero(viol != 0.0)
    if infeasible.size:
        _, level = np.unique(viol[infeasible], return_inverse=True)
        ranks[infeasible] = rank + level
    return ranks


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of each row of one front ``Y`` (``n x m``); extremes get ``inf``."""
    Y = np.asarray(Y, dtype=float)
    n, m = Y.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, math.inf)
    for j in range(m):
        order = np.argsort(Y[:, j], kind="stable")
        col = Y[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = math.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


def nsga2_order(Y: np.ndarray, violation: np.ndarray | None = None) -> np.ndarray:
    """Indices of the rows of ``Y`` (``n x m`` losses) best first: front, then crowding.

    Within a front, larger crowding distance comes first; ties keep the input order. With one
    objective this is a stable sort by loss (feasible first).
    """
    Y = np.asarray(Y, dtype=float)
    ranks = non_dominated_sort(Y, violation)
    crowd = np.zeros(len(Y))
    for r in np.unique(ranks):
        idx = np.flatnonzero(ranks == r)
        crowd[idx] = crowding_distance(Y[idx])
    return np.lexsort((np.arange(len(Y)), -crowd, ranks))


def nsga2_select(
    trials: Sequence[Trial],
    directions: Sequence[Direction | str],
    k: int,
    constraints: Sequence[OutcomeConstraint | str] | None = None,
) -> list[Trial]:
    """The ``k`` best complete trials by NSGA-II order (front, crowding; feasible first)."""
    done, Y = loss_matrix(trials, directions)
    order = nsga2_order(Y, violations(done, constraints))
    return [done[i] for i in order[: max(0, k)]]


def nsga2_tournament(
    trials: Sequence[Trial],
    directions: Sequence[Direction | str],
    rng: np.random.Generator,
    size: int = 2,
    constraints: Sequence[OutcomeConstraint | str] | None = None,
) -> Trial:
    """Tournament selection for (regularized) evolution with several objectives.

    Draws ``size`` distinct complete trials with ``rng`` and returns the best of them by NSGA-II
    order computed over the whole population (front, then crowding distance, feasible first).

    Raises:
        InputError: There is no complete trial to select from.
    """
    done, Y = loss_matrix(trials, directions)
    if not done:
        raise InputError("nsga2_tournament needs at least one complete trial in `trials`")
    order = nsga2_order(Y, violations(done, constraints))
    position = np.empty(len(done), dtype=int)
    position[order] = np.arange(len(done))
    picked = rng.choice(len(done), size=min(size, len(done)), replace=False)
    return done[int(picked[np.argmin(position[picked])])]


def pareto_front(
    trials: Sequence[Trial],
    directions: Sequence[Direction | str],
    constraints: Sequence[OutcomeConstraint | str] | None = None,
) -> list[Trial]:
    """The feasible, non-dominated complete trials, in trial order (the study's incumbents).

    With one objective this is every feasible trial with the best value.
    """
    done, Y = loss_matrix(trials, directions)
    feas = is_feasible(done, constraints)
    idx = np.flatnonzero(feas)
    mask = non_dominated_mask(Y[idx])
    return [done[i] for i in idx[mask]]


def reference_point(Y: np.ndarray, scale: float = 0.1) -> np.ndarray:
    """Default reference point in loss space (``m``): ``nadir + scale * range`` of the front of ``Y``.

    Uses botorch's ``infer_reference_point`` on the negated front.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.shape[0] == 0:
        raise InputError("cannot infer a reference point without points; pass ref_point")
    front = Y[non_dominated_mask(Y)]
    import torch
    from botorch.utils.multi_objective.hypervolume import infer_reference_point

    ref = infer_reference_point(-torch.from_numpy(front), scale=scale)
    return -ref.numpy()


def hypervolume_of_losses(Y: np.ndarray, ref_point: np.ndarray) -> float:
    """Hypervolume dominated by the rows of ``Y`` (``n x m`` losses) and bounded by ``ref_point``.

    Rows that do not dominate ``ref_point`` contribute nothing.
    """
    Y = np.asarray(Y, dtype=float)
    ref = np.asarray(ref_point, dtype=float)
    if Y.ndim != 2 or ref.shape != (Y.shape[1],):
        raise InputError(
            f"ref_point {ref.tolist()} must have one entry per objective (Y is {Y.shape})"
        )
    if Y.shape[0] == 0:
        return 0.0
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

    part = DominatedPartitioning(ref_point=-torch.from_numpy(ref), Y=-torch.from_numpy(Y))
    return float(part.compute_hypervolume())


def hypervolume(
    trials: Sequence[Trial],
    directions: Sequence[Direction | str],
    ref_point: Sequence[float] | None = None,
    constraints: Sequence[OutcomeConstraint | str] | None = None,
) -> float:
    """Hypervolume of the feasible complete trials.

    Args:
        trials: A study's trials (only complete, feasible ones count).
        directions: One direction per objective.
        ref_point: Reference point in the objectives' own units (e.g. a maximized accuracy gives
            its worst acceptable accuracy). ``None``: :func:`reference_point` of the front.
        constraints: Outcome constraints; infeasible trials are left out.

    Returns:
        The hypervolume (0.0 when no feasible trial is complete).
    """
    done, Y = loss_matrix(trials, directions)
    Y = Y[is_feasible(done, constraints)]
    if ref_point is None:
        if Y.shape[0] == 0:
            return 0.0
        ref = reference_point(Y)
    else:
        ref = np.asarray(ref_point, dtype=float) * _signs(directions)
    return hypervolume_of_losses(Y, ref)


def sample_simplex_weights(n_objectives: int, rng: np.random.Generator) -> np.ndarray:
    """Weights drawn uniformly from the probability simplex (``n_objectives``)."""
    if n_objectives < 1:
        raise InputError(f"n_objectives must be >= 1, got {n_objectives}")
    return rng.dirichlet(np.ones(n_objectives))


def parego_scalarize(Y: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarization of losses (ParEGO, Knowles 2006).

    Each objective is normalised to ``[0, 1]`` over the rows of ``Y``, then
    ``g(y) = max_j w_j y_j + rho * sum_j w_j y_j`` (botorch's ``get_chebyshev_scalarization``).

    Args:
        Y: Losses (``n x m``).
        weights: Non-negative weights (``m``), e.g. from :func:`sample_simplex_weights`.
        rho: Weight of the linear augmentation term.

    Returns:
        The scalar losses (``n``; lower is better).
    """
    Y = np.asarray(Y, dtype=float)
    w = np.asarray(weights, dtype=float)
    if Y.ndim != 2 or w.shape != (Y.shape[1],) or (w < 0).any():
        raise InputError(
            f"weights {w.tolist()} must be non-negative with one entry per objective "
            f"(Y is {tuple(Y.shape)})"
        )
    if Y.shape[0] == 0:
        return np.zeros(0)
    import torch
    from botorch.utils.multi_objective.scalarization import get_chebyshev_scalarization

    Yt = torch.from_numpy(Y)
    # botorch maximises; negative weights mark minimised outcomes, which losses all are.
    obj = get_chebyshev_scalarization(weights=-torch.from_numpy(w), Y=Yt, alpha=rho)
    return (-obj(Yt)).numpy()


def parego_losses(
    trials: Sequence[Trial],
    directions: Sequence[Direction | str],
    rng: np.random.Generator,
    rho: float = 0.05,
    constraints: Sequence[OutcomeConstraint | str] | None = None,
) -> tuple[list[Trial], np.ndarray]:
    """Random-scalarization losses of the complete trials, for a single-objective model.

    Draws one weight vector with ``rng`` (call once per suggestion, as ParEGO does). The
    normalisation uses the feasible trials; an infeasible trial gets ``1 + rho + violation`` more
    than the worst scalarized loss can be (kept and modelled as bad, worse the more it violates).

    Returns:
        ``(complete trials, losses)`` with losses of shape ``n``.
    """
    done, Y = loss_matrix(trials, directions)
    w = sample_simplex_weights(Y.shape[1], rng)
    if not done:
        return [], np.zeros(0)
    viol = violations(done, constraints)
    feas = viol == 0.0
    out = np.empty(len(done))
    if feas.any():
        s = parego_scalarize(Y[feas], w, rho)
        out[feas] = s
        top = float(s.max())
    else:
        top = 0.0
    finite = np.where(np.isfinite(viol), viol, 1e6)
    out[~feas] = top + 1.0 + rho + finite[~feas]
    return done, out
