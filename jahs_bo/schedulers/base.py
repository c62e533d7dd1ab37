"""The scheduler interface: at which fidelity a trial runs, which trials are promoted or stopped.

A scheduler *has* a :class:`~jahs_bo.searchers.base.Searcher` (Syne Tune's split): the searcher
decides *which configuration* a new trial evaluates, the scheduler decides *at which fidelity* and
*whether a finished trial is continued* at the next rung (a promotion) and *whether a running trial
is stopped* from its intermediate reports (pruning).

Schedulers are stateless over the study, like searchers: every call receives the study's trials
and recomputes the rungs from them and from the ``system_attrs`` the scheduler wrote into its
requests. A resumed study, or several processes sharing one storage, continue where they were.

``system_attrs`` written into every :class:`TrialRequest`:

* ``"scheduler"``: the scheduler's registry name (only trials carrying it count for its rungs),
* ``"rung"``: index of the rung (0 = cheapest level) and ``"level"``: the primary fidelity value,
* ``"bracket"``: the bracket the trial belongs to (synchronous schedulers),
* ``"previous_fidelity"``: for a promotion, the fidelity values the parent ran at (``None`` for a
  new configuration), so that the objective can resume from the parent's checkpoint.

Which trials the searcher sees (the rule of :meth:`Scheduler.searcher_view`): a searcher that
models the fidelity itself (class attribute ``models_fidelity = True``) receives every trial. Any
other searcher is fitted on one fidelity level, as in BOHB (Falkner et al., 2018): the *highest*
rung level that holds at least ``min_points_in_model`` complete trials; while no level has that
many, it receives no trials and so proposes from its initial design (random for every built-in
searcher). Pending trials are always passed on so that it avoids duplicates.

Proposals as a batch (``batch_proposals``, on by default): a searcher fitted on one level sees no
new data while a bracket fills its lower rungs, so it would propose the same optimum of the same
model over and over (on LCBench, BOHB's rungs filled with copies of one configuration whose
learning rates differed in the third digit). The configurations proposed since the newest trial of
the searcher's data are therefore passed to it as *pending at the modelled level* as well: a GP
conditions on them (kriging believer), so a bracket's new configurations form one spread-out batch,
as a batch of parallel workers would.
"""

from __future__ import annotations

import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.multiobjective import OutcomeConstraint, nsga2_order, violations
from jahs_bo.schedulers.prior_mix import PriorMix
from jahs_bo.schedulers.pruning import Decision, Pruner, make_pruner
from jahs_bo.schedulers.rungs import DEFAULT_ETA, FidelityPlan
from jahs_bo.types import Config, Direction, FidelityValues, Trial, TrialState, finished_trials

if TYPE_CHECKING:
    from jahs_bo.searchers.base import Searcher
    from jahs_bo.spaces.space import SearchSpace

__all__ = [
    "Decision",
    "Scheduler",
    "TrialRequest",
    "available_schedulers",
    "make_scheduler",
    "register_scheduler",
]

#: At most this many (the most recent) open proposals are passed on as pending.
MAX_OPEN_PROPOSALS = 100


@dataclass(frozen=True)
class TrialRequest:
    """What the study should create next.

    Attributes:
        config: The configuration (plain JSON values).
        fidelity: The value of every fidelity of the space.
        parent_id: For a promotion, the ``trial_id`` of the trial it continues; else ``None``.
        system_attrs: Scheduler bookkeeping to store on the trial (see the module docstring).
    """

    config: Config
    fidelity: FidelityValues
    parent_id: int | None = None
    system_attrs: dict[str, Any] = field(default_factory=dict)


_TRIAL_ID = operator.attrgetter("trial_id")
_NUMBER_ORDER = operator.attrgetter("number", "trial_id")
_NUMBER = operator.attrgetter("number")


def merge_trials(trials: Sequence[Trial], pending: Sequence[Trial]) -> list[Trial]:
    """Every trial once (by ``trial_id``), in ``number`` order; accepts overlapping inputs.

    A trial in both keeps its version from ``trials`` (the first one seen). Built from C-level
    maps and one sort (linear on sorted input): it runs twice in every ask.
    """
    seen: dict[int, Trial] = dict(zip(map(_TRIAL_ID, reversed(pending)), reversed(pending)))
    seen.update(zip(map(_TRIAL_ID, reversed(trials)), reversed(trials)))
    return sorted(seen.values(), key=_NUMBER_ORDER)


class Scheduler(ABC):
    """Decides fidelities, promotions and stops; delegates new configurations to a searcher.

    Args:
        space: The search space; it must have a fidelity (except for ``"fifo"``).
        searcher: Proposes the configurations of new trials.
        directions: One direction per objective. Promotions rank a rung by the loss (one
            objective) or by NSGA-II order (several objectives, MO-BOHB style); intermediate
            reports are judged in the direction of the first objective.
        fidelity: Name of the scheduled (primary) fidelity; ``None``: the one named ``epoch``
            or ``epochs`` if the space has it, else the space's first one. The other fidelities
            stay at their full value (:mod:`jahs_bo.schedulers.rungs`).
        tie_others: Tie the other fidelities to the primary instead (the cheapest rung runs
            every fidelity at its lower bound; :mod:`jahs_bo.schedulers.rungs`).
        eta: Reduction factor: a rung keeps the best ``1/eta`` of its trials. ``None``: 3 for a
            fidelity range; for a fidelity with fixed values, the mean ratio of its rung levels
            (:func:`~jahs_bo.schedulers.rungs.default_eta`), e.g. 16.7 for epochs {12, 200}.
        min_fidelity: Lowest rung of the primary fidelity (``None``: its lower bound).
        max_fidelity: Top rung (``None``: its upper bound).
        pruning: Stopping rule for intermediate reports: ``None``, ``"median"``, ``"asha"`` or a
            :class:`~jahs_bo.schedulers.pruning.Pruner`.
        constraints: Outcome constraints; infeasible trials are ranked after feasible ones.
        min_points_in_model: Complete trials a fidelity level needs before the searcher is fitted
            on it (``None``: the number of searchable names + 1 as in BOHB, at least 5 and at
            least the searcher's ``n_init``, below which a model-based searcher samples at random
            anyway).
        random_fraction: Probability that a new configuration is drawn from ``space.sample``
            instead of the searcher (BOHB keeps 1/3 random for its convergence guarantee).
        batch_proposals: Pass the configurations proposed since the searcher's data last
            changed to it as pending at the modelled level (see the module docstring).
        prior_mix: PriorBand-style sampling (:mod:`jahs_bo.schedulers.prior_mix`): ``True``
            (a third each) or weights ``{"prior": .., "incumbent": .., "uniform": ..}``. With a
            history-free searcher (random search) every new configuration is drawn from the
            mix; otherwise the ``random_fraction`` draws are. The space must state a prior.
    """

    #: Registry name (``create_study(scheduler=name)``).
    name: str = ""
    #: Whether the scheduler needs a fidelity in the space.
    needs_fidelity: bool = True
    #: Whether new configurations are screened at low fidelity before any runs in full
    #: (``create_study`` builds the searcher with ``screened`` set to this).
    screens_proposals: bool = True

    def __init__(
        self,
        space: SearchSpace,
        searcher: Searcher,
        directions: Sequence[Direction | str] = ("minimize",),
        *,
        fidelity: str | None = None,
        eta: float | None = None,
        min_fidelity: float | None = None,
        max_fidelity: float | None = None,
        tie_others: bool = False,
        pruning: str | Pruner | None = None,
        constraints: Sequence[OutcomeConstraint | str] = (),
        min_points_in_model: int | None = None,
        random_fraction: float = 0.0,
        batch_proposals: bool = True,
        prior_mix: bool | Mapping[str, float] | PriorMix | None = None,
    ) -> None:
        self.space = space
        self.searcher = searcher
        self.directions = tuple(Direction.parse(d) for d in directions)
        if not self.directions:
            raise InputError("directions is empty; pass one direction per objective")
        self.plan: FidelityPlan | None = None
        if self.needs_fidelity or getattr(space, "fidelities", None):
            self.plan = FidelityPlan.from_space(
                space,
                fidelity,
                eta=eta,
                min_fidelity=min_fidelity,
                max_fidelity=max_fidelity,
                tie_others=tie_others,
            )
        self.eta = self.plan.eta if self.plan is not None else (DEFAULT_ETA if eta is None else eta)
        self.pruner = make_pruner(pruning, eta=self.eta)
        self.constraints = [
            c if isinstance(c, OutcomeConstraint) else OutcomeConstraint.parse(c)
            for c in constraints
        ]
        if min_points_in_model is None:
            n_init = getattr(searcher, "n_init", 0)
            n_init = n_init if isinstance(n_init, int) else 0
            min_points_in_model = max(len(getattr(space, "names", ())) + 1, 5, n_init)
        if min_points_in_model < 1:
            raise InputError(f"min_points_in_model must be >= 1, got {min_points_in_model}")
        self.min_points_in_model = int(min_points_in_model)
        if not 0.0 <= random_fraction <= 1.0:
            raise InputError(f"random_fraction must lie in [0, 1], got {random_fraction}")
        self.random_fraction = float(random_fraction)
        self.batch_proposals = bool(batch_proposals)
        self.prior_mix = PriorMix.parse(prior_mix)
        if self.prior_mix is not None and not getattr(space, "has_prior", False):
            raise InputError(
                "prior_mix needs a space that states a prior (SearchSpace(prior_confidence=...),"
                " ConfigSpace normal/beta hyperparameters or categorical weights, "
                "NB201Cell(op_prior=...)); drop prior_mix or give the space a prior"
            )

    # ----------------------------------------------------------------- interface

    @abstractmethod
    def next_trial(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> TrialRequest:
        """The next trial to create: a promotion or a new configuration.

        Args:
            trials: The study's finished trials (running ones may be included too).
            pending: Trials still running.
            rng: The generator to draw from (passed on to the searcher).
        """

    def on_report(self, trial: Trial, step: int, value: float, trials: Sequence[Trial]) -> Decision:
        """Whether ``trial`` continues after reporting ``value`` at ``step``.

        Args:
            trial: The running trial (its ``intermediate`` may or may not hold this report yet).
            step: The step of the report (e.g. the epoch, counted from the start of training).
            value: The reported metric, in the direction of the first objective.
            trials: The study's trials (their ``intermediate`` reports are compared).
        """
        if self.pruner is None:
            return Decision.CONTINUE
        return self.pruner.decide(trial, step, value, trials, self.directions[0])

    # ----------------------------------------------------------------- helpers

    def mine(self, trials: Sequence[Trial]) -> list[Trial]:
        """The trials this scheduler created (their ``system_attrs["scheduler"]`` is its name)."""
        return [t for t in trials if t.system_attrs.get("scheduler") == self.name]

    def order(self, trials: Sequence[Trial]) -> list[Trial]:
        """Complete trials best first (loss, or NSGA-II order for several objectives).

        Infeasible trials come after feasible ones; ties keep trial order.
        """
        done = [
            t
            for t in trials
            if t.state is TrialState.COMPLETE
            and t.values is not None
            and len(t.values) == len(self.directions)
        ]
        if not done:
            return []
        signs = np.array([d.sign for d in self.directions])
        Y = np.array([t.values for t in done], dtype=float) * signs
        viol = violations(done, self.constraints)
        return [done[i] for i in nsga2_order(Y, viol)]

    def searcher_view(self, trials: Sequence[Trial]) -> list[Trial]:
        """The finished trials the searcher is fitted on (rule in the module docstring)."""
        finished = finished_trials(trials)
        if getattr(self.searcher, "models_fidelity", False) or self.plan is None:
            return finished
        by_level: dict[int, list[Trial]] = {}
        for t in finished:
            lv = self.plan.level_of(t)
            if lv is not None:
                by_level.setdefault(lv, []).append(t)
        for lv in sorted(by_level, reverse=True):
            n_done = sum(t.state is TrialState.COMPLETE for t in by_level[lv])
            if n_done >= self.min_points_in_model:
                return by_level[lv]
        return []

    def new_config(
        self,
        trials: Sequence[Trial],
        pending: Sequence[Trial],
        rng: np.random.Generator,
        *,
        view: Sequence[Trial] | None = None,
    ) -> Config:
        """A configuration for a new trial: random with ``random_fraction``, else the searcher's.

        With ``prior_mix`` the random draws come from the mix, and so does every draw when the
        searcher ignores the history (``samples_independently``). ``view`` is
        ``searcher_view(trials)`` when the caller has it already (it is computed otherwise).
        """
        if self.prior_mix is not None and getattr(self.searcher, "samples_independently", False):
            return self.mix_draw(trials, rng)[0]
        if self.random_fraction > 0 and rng.random() < self.random_fraction:
            if self.prior_mix is not None:
                return self.mix_draw(trials, rng)[0]
            return self.space.sample(rng)
        view = self.searcher_view(trials) if view is None else view
        if not self._batches(view):  # the common case: no merge over the whole study
            return self.searcher.suggest(view, pending, rng)
        proposals = self.open_proposals(merge_trials(trials, pending), view)
        ids = {t.trial_id for t in proposals}
        running = [t for t in pending if t.trial_id not in ids]
        return self.searcher.suggest(view, [*running, *proposals], rng)

    def _batches(self, view: Sequence[Trial]) -> bool:
        """Whether :meth:`open_proposals` may return any (see there)."""
        return bool(
            self.batch_proposals and view and not getattr(self.searcher, "models_fidelity", False)
        )

    def mix_draw(self, trials: Sequence[Trial], rng: np.random.Generator) -> tuple[Config, str]:
        """A draw from ``prior_mix`` and its source; the incumbent is the best trial of
        :meth:`searcher_view` (none while no level has ``min_points_in_model`` results)."""
        assert self.prior_mix is not None
        best = self.order(self.searcher_view(trials))
        return self.prior_mix.draw(self.space, best[0].config if best else None, rng)

    def open_proposals(self, trials: Sequence[Trial], view: Sequence[Trial]) -> list[Trial]:
        """New configurations proposed after the newest trial of ``view`` and not in it.

        ``trials`` must be in ``number`` order (as :func:`merge_trials` returns them).

        They are returned (finished or running) as running copies at the fidelity of ``view``
        (one level), to be passed to the searcher as pending; at most ``MAX_OPEN_PROPOSALS``, the
        most recent. Empty when ``batch_proposals`` is off, when ``view`` is empty or when the
        searcher models the fidelity itself (it then sees every result anyway).
        """
        if not self._batches(view):
            return []
        newest = max(map(_NUMBER, view))
        level = dict(view[-1].fidelity)
        candidates = []
        for t in reversed(trials):  # newest first; ``trials`` is in ``number`` order
            if t.number <= newest:
                break
            if t.parent_id is None:
                candidates.append(t)
        if not candidates:
            return []  # without building ``known`` over the whole view
        known = set(self.space.trial_keys(view))
        out: list[Trial] = []
        for t in candidates:
            if len(out) >= MAX_OPEN_PROPOSALS:
                break
            key = self.space.trial_key(t)
            if key in known:
                continue
            known.add(key)
            out.append(
                replace(t, fidelity=level, state=TrialState.RUNNING, values=None, intermediate=())
            )
        return out[::-1]

    def request(
        self,
        config: Config,
        rung: int,
        *,
        parent: Trial | None = None,
        **attrs: Any,
    ) -> TrialRequest:
        """Build the request for ``config`` at rung ``rung`` (a promotion of ``parent`` if given)."""
        assert self.plan is not None
        sys_attrs: dict[str, Any] = {
            "scheduler": self.name,
            "rung": int(rung),
            "level": self.plan.values(rung)[self.plan.primary.name],
            **attrs,
            "previous_fidelity": dict(parent.fidelity) if parent is not None else None,
        }
        return TrialRequest(
            config=dict(config),
            fidelity=self.plan.values(rung),
            parent_id=parent.trial_id if parent is not None else None,
            system_attrs=sys_attrs,
        )


_SCHEDULERS: dict[str, Callable[..., Scheduler]] = {}


def register_scheduler(name: str) -> Callable[[type[Scheduler]], type[Scheduler]]:
    """Class decorator: make a scheduler available as ``create_study(scheduler=name)``."""

    def deco(cls: type[Scheduler]) -> type[Scheduler]:
        cls.name = name
        _SCHEDULERS[name] = cls
        return cls

    return deco


def scheduler_class(name: str) -> type[Scheduler]:
    """The registered scheduler class called ``name``."""
    if not isinstance(name, str) or name not in _SCHEDULERS:
        raise InputError(f"unknown scheduler {name!r}; choose one of {sorted(_SCHEDULERS)}")
    return _SCHEDULERS[name]  # type: ignore[return-value]


def make_scheduler(
    name: str,
    space: SearchSpace,
    searcher: Searcher,
    directions: Sequence[Direction | str] = ("minimize",),
    **options: Any,
) -> Scheduler:
    """Build a registered scheduler by name."""
    from jahs_bo._build import build

    return build(
        scheduler_class(name), f"scheduler {name!r}", (space, searcher, directions), options
    )


def available_schedulers() -> list[str]:
    """Names accepted by ``create_study(scheduler=...)``."""
    return sorted(_SCHEDULERS)
