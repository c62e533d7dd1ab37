"""Studies: ask/tell over a storage that holds every trial.

A :class:`Study` is a thin view of one study in a :class:`~jahs_bo.storage.base.Storage`; it keeps
no state of its own that matters, so reopening the storage with :func:`~jahs_bo.study.load_study`
(in this or another process) continues the study where it stopped.

* ``ask()`` proposes the next trial through the study's scheduler (FIFO, every trial at the full
  fidelity, unless another one was chosen), whose searcher picks the configuration from the
  finished and pending trials with the generator ``np.random.default_rng([seed, k])`` for trial
  number ``k`` (same seed, same trials). Before proposing, trials of dead workers are marked
  failed and *lost* (the rule is in :mod:`jahs_bo.storage.base`); a lost trial (dead worker or
  interruption) is re-run first, with the same configuration, fidelity and parent, so a resumed
  study continues where it stopped, promotions included.
* ``tell()`` records a result, committed before it returns. NaN/inf values make the trial FAILED
  with the reason; values that are not numbers raise
  :class:`~jahs_bo.exceptions.ObjectiveValueError` and leave the trial running.
* ``optimize(objective)`` runs ``objective(config, ctx)`` in the one optimize loop
  (:mod:`jahs_bo.study.optimize`), shared with :func:`jahs_bo.tune` and ``jahs-bo run``.

Several processes may ask and tell on one SQLite study at once. The number of the next trial is
the study's trial count; the searcher proposes for that number with every earlier trial (pending
ones included) in view, and the storage creates the trial only if the number is still free;
otherwise the study reads the trials again and proposes anew. Numbers are thus unique and gap-free,
and no proposal overlooks an earlier trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, KeysView, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from jahs_bo.exceptions import (
    InputError,
    ObjectiveValueError,
    StorageError,
    TrialNotFoundError,
    TrialStateError,
)
from jahs_bo.multiobjective import OutcomeConstraint, violations
from jahs_bo.searchers import Searcher
from jahs_bo.spaces import SearchSpace
from jahs_bo.storage import Storage, StudyInfo, TrialNumberTakenError
from jahs_bo.storage.base import LOST, owner_attrs
from jahs_bo.study.incumbent import Incumbent, incumbent
from jahs_bo.types import (
    Config,
    Direction,
    FidelityValues,
    FinishedTrials,
    Trial,
    TrialState,
    check_values,
    finished_trials,
    running_trials,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ObjectiveValues", "SchedulerHook", "Study", "TrialPlan", "counts", "is_lost"]

#: Values an objective may return: one number, one per objective, or a mapping by objective name.
ObjectiveValues = float | Sequence[float] | Mapping[str, float]

_OBJECTIVE_NAMES = "objective_names"
_CONSTRAINTS = "constraints"
#: ``system_attrs`` of a warm-started study: the portfolio's configurations, evaluated first;
#: and of each trial that evaluates one: its index in the portfolio.
WARM_START = "warm_start"
_MAX_ASK_RETRIES = 100
#: A lost trial is re-run at most this many times (a re-run that is lost again counts).
MAX_RERUNS = 3
#: ``system_attrs`` of a re-run: the ``trial_id`` it re-runs and the attempt (1 = first re-run).
RERUN_OF = "rerun_of"
ATTEMPT = "attempt"
#: System attributes that belong to one attempt, not to the plan a re-run repeats.
_PER_ATTEMPT = {"owner_host", "owner_pid", "owner_pid_namespace", "heartbeat", LOST, RERUN_OF}


def is_lost(trial: Trial) -> bool:
    """Whether ``trial`` was lost (interrupted, or its worker died) rather than failed by itself."""
    return bool(trial.system_attrs.get(LOST))


def counts(trial: Trial) -> bool:
    """Whether a trial counts towards ``n_trials``: finished and not lost."""
    return trial.state.is_finished and not is_lost(trial)


@dataclass(frozen=True)
class TrialPlan:
    """What the next trial will be (config, fidelity, parent, scheduler bookkeeping)."""

    config: Config
    fidelity: FidelityValues
    parent_id: int | None = None
    system_attrs: Mapping[str, Any] = field(default_factory=dict)


class SchedulerHook(Protocol):
    """What ``Study`` calls on a ``scheduler`` (``jahs_bo.schedulers.base.Scheduler`` fits).

    The scheduler decides at which fidelity a trial runs and which trials are promoted (its
    request's ``parent_id``); it holds the searcher that proposes new configurations.
    """

    def next_trial(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Any:
        """The next trial: an object with ``config``, ``fidelity``, ``parent_id``, ``system_attrs``."""
        ...

    def on_report(self, trial: Trial, step: int, value: float, trials: Sequence[Trial]) -> Any:
        """``"stop"`` or ``"continue"`` (a ``Decision``) after an intermediate report."""
        ...


class Study:
    """One study in a storage. Build it with :func:`create_study` or :func:`load_study`.

    Args:
        storage: Where the study lives.
        info: The stored study.
        space: Its search space.
        searcher: The searcher proposing configurations.
        scheduler: The fidelity/promotion scheduler (see :class:`SchedulerHook`); ``None``:
            FIFO without pruning (every trial at the full fidelity).
        grace_period: Seconds without heartbeat after which a running trial of a process on
            another host counts as dead (``None``: never); see :mod:`jahs_bo.storage.base`.
    """

    def __init__(
        self,
        storage: Storage,
        info: StudyInfo,
        space: SearchSpace,
        searcher: Searcher,
        scheduler: SchedulerHook | None = None,
        grace_period: float | None = 600.0,
    ) -> None:
        self._storage = storage
        self._info = info
        self.space = space
        self.searcher = searcher
        self.grace_period = grace_period
        self._stop = False
        # Keys of trials 0.._n_keyed-1 (configurations never change, numbers are gap-free), so
        # each ask keys only the trials that arrived since the last one. A dict, so that
        # searchers get a read-only live view (``keys()``). Like the searchers' own state, this
        # assumes one thread asks at a time (the optimize loops ask from the driver thread).
        self._seen: dict[str, None] = {}
        self._n_keyed = 0
        names = info.system_attrs.get(_OBJECTIVE_NAMES)
        self._objective_names: tuple[str, ...] | None = tuple(names) if names else None
        self._constraints = tuple(
            OutcomeConstraint.from_dict(c) for c in info.system_attrs.get(_CONSTRAINTS) or ()
        )
        if scheduler is None:
            from jahs_bo.schedulers import FIFO  # every study runs through a scheduler

            scheduler = FIFO(
                space, searcher, info.directions, pruning=None, constraints=self._constraints
            )
        self.scheduler: SchedulerHook = scheduler

    def __repr__(self) -> str:
        return (
            f"Study(name={self.study_name!r}, storage={self._storage!r}, "
            f"directions={[d.value for d in self.directions]}, searcher={self.searcher.name!r})"
        )

    # ----------------------------------------------------------------------- properties
    @property
    def study_name(self) -> str:
        return self._info.name

    @property
    def study_id(self) -> int:
        return self._info.study_id

    @property
    def storage(self) -> Storage:
        return self._storage

    @property
    def directions(self) -> tuple[Direction, ...]:
        return self._info.directions

    @property
    def direction(self) -> Direction:
        """The direction of a single-objective study."""
        if len(self.directions) != 1:
            raise ObjectiveValueError(
                f"study {self.study_name!r} has {len(self.directions)} objectives; use .directions"
            )
        return self.directions[0]

    @property
    def objective_names(self) -> tuple[str, ...] | None:
        """Objective names given as ``create_study(objectives={...})``, else ``None``."""
        return self._objective_names

    @property
    def constraints(self) -> tuple[OutcomeConstraint, ...]:
        """Outcome constraints given as ``create_study(constraints=...)`` (stored)."""
        return self._constraints

    @property
    def seed(self) -> int:
        return self._info.seed

    @property
    def user_attrs(self) -> dict[str, Any]:
        return dict(self._storage.get_study_by_id(self.study_id).user_attrs)

    @property
    def system_attrs(self) -> dict[str, Any]:
        return dict(self._storage.get_study_by_id(self.study_id).system_attrs)

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON user attribute on the study."""
        self._storage.set_study_user_attr(self.study_id, key, value)

    @property
    def trials(self) -> list[Trial]:
        """Every trial, in number order."""
        return self.get_trials()

    def get_trials(self, states: Iterable[TrialState | str] | None = None) -> list[Trial]:
        """The trials in ``states`` (all by default), in number order."""
        return self._storage.get_trials(self.study_id, states)

    def _shared_trials(self) -> list[Trial]:
        """Every trial, read cheaply: objects the storage shares between calls (never mutate
        them); see ``Storage.get_trials(deepcopy=False)``."""
        return self._storage.get_trials(self.study_id, deepcopy=False)

    # ---------------------------------------------------------------------------- ask
    def rng(self, number: int) -> np.random.Generator:
        """The searcher's generator for trial ``number``: ``default_rng([seed, number])``."""
        return np.random.default_rng([self.seed, number])

    def ask(self, config: Config | None = None, *, fidelity: FidelityValues | None = None) -> Trial:
        """Create the next trial (RUNNING) and return it.

        Args:
            config: Evaluate this configuration (validated against the space) instead of asking
                the searcher.
            fidelity: Run at these fidelity values instead of the full fidelity (or the
                scheduler's choice).

        Raises:
            InvalidConfigError: ``config`` or ``fidelity`` does not belong to the space.
        """
        if config is not None:
            config = self.space.validate(config)
        if fidelity is not None:
            fidelity = self.space.validate_fidelity(fidelity)
        for _ in range(_MAX_ASK_RETRIES):
            views = self._storage.get_trial_views(self.study_id)  # costs what changed
            if self._storage.fail_dead_trials(views.running, self.grace_period):
                views = self._storage.get_trial_views(self.study_id)  # with those marked lost
            trials = views.trials
            number = len(trials)  # numbers are gap-free: the next one is the count
            plan = None
            if views.has_lost and config is None and fidelity is None:
                plan = self._rerun(trials)
            if plan is None:
                if views.has_lost:
                    visible = [t for t in trials if not is_lost(t)]
                    finished, pending = finished_trials(visible), running_trials(visible)
                else:
                    finished = FinishedTrials(views.finished, self._keys(trials))
                    pending = views.running
                plan = self._plan(number, finished, pending, config, fidelity)
            system_attrs = {**owner_attrs(), "searcher": self.searcher.name}
            system_attrs.update(plan.system_attrs)
            try:
                return self._storage.create_trial(
                    self.study_id,
                    dict(plan.config),
                    plan.fidelity,
                    plan.parent_id,
                    system_attrs,
                    number=number,
                )
            except TrialNumberTakenError:
                continue  # another process asked first: propose again with its trial in view
        raise StorageError(
            f"could not create a trial in study {self.study_name!r} after {_MAX_ASK_RETRIES} "
            "attempts: other processes keep taking the next number; retry"
        )

    def _keys(self, trials: list[Trial]) -> KeysView[str]:
        """The keys of every trial of the study (``trials``: all of them, in number order),
        keying only those that arrived since the last call; a read-only view."""
        if len(trials) < self._n_keyed:  # not this study's trials: start over
            self._seen, self._n_keyed = {}, 0
        if len(trials) > self._n_keyed:
            self._seen.update(dict.fromkeys(self.space.trial_keys(trials[self._n_keyed :])))
            self._n_keyed = len(trials)
        return self._seen.keys()

    def _plan(
        self,
        number: int,
        finished: list[Trial],
        pending: list[Trial],
        config: Config | None,
        fidelity: FidelityValues | None,
    ) -> TrialPlan:
        rng = self.rng(number)
        if config is not None:
            return TrialPlan(config, fidelity or self.space.max_fidelity())
        warm = self._warm_start(finished, pending, fidelity)
        if warm is not None:
            return warm
        request = self.scheduler.next_trial(finished, pending, rng)
        return TrialPlan(
            config=dict(request.config),
            fidelity=fidelity or self.space.validate_fidelity(request.fidelity),
            parent_id=request.parent_id,
            system_attrs=dict(request.system_attrs or {}),
        )

    def _warm_start(
        self, finished: list[Trial], pending: list[Trial], fidelity: FidelityValues | None
    ) -> TrialPlan | None:
        """The next configuration of the warm-start portfolio not in the study yet, or ``None``.

        Portfolio trials run at the full fidelity (or ``fidelity``) even under a bracket
        scheduler, like configurations given to ``ask(config=...)``: the scheduler does not
        place them in its brackets, and its searcher models them as full-fidelity trials.
        A portfolio configuration already in the study (evaluated, pending or failed) is skipped.
        """
        portfolio = self._info.system_attrs.get(WARM_START)
        if not portfolio:
            return None
        trials = [*finished, *pending]
        marked = {t.system_attrs.get(WARM_START) for t in trials}
        left = [i for i in range(len(portfolio)) if i not in marked]
        if not left:
            return None
        keys = set(self.space.trial_keys(trials))
        for i in left:
            if self.space.config_key(portfolio[i]) not in keys:
                return TrialPlan(
                    dict(portfolio[i]),
                    fidelity or self.space.max_fidelity(),
                    system_attrs={WARM_START: i},
                )
        return None

    @staticmethod
    def _rerun(trials: Sequence[Trial]) -> TrialPlan | None:
        """The plan of the oldest lost trial not re-run yet (``None`` if there is none).

        The re-run repeats the lost trial's configuration, fidelity, parent and scheduler
        bookkeeping (rung, bracket, previous fidelity), so a promotion resumes from its parent's
        checkpoint and the scheduler's rungs come out as if nothing had been lost.
        """
        rerun = {t.system_attrs.get(RERUN_OF) for t in trials}
        for t in trials:
            if not is_lost(t) or t.trial_id in rerun:
                continue
            attempt = int(t.system_attrs.get(ATTEMPT, 0)) + 1
            if attempt > MAX_RERUNS:
                continue
            attrs = {k: v for k, v in t.system_attrs.items() if k not in _PER_ATTEMPT}
            attrs.update({RERUN_OF: t.trial_id, ATTEMPT: attempt})
            return TrialPlan(dict(t.config), dict(t.fidelity), t.parent_id, attrs)
        return None

    # --------------------------------------------------------------------------- tell
    def tell(
        self,
        trial: Trial | int,
        values: ObjectiveValues | None = None,
        state: TrialState | str = TrialState.COMPLETE,
        error: str | None = None,
    ) -> Trial:
        """Record the result of a running trial; committed before returning.

        Args:
            trial: The trial returned by :meth:`ask`, or its ``trial_id``.
            values: One value per objective (a number for one objective; a mapping by name when
                the study has objective names). Required for COMPLETE, optional for PRUNED,
                not allowed for FAILED.
            state: ``"complete"``, ``"failed"`` or ``"pruned"``.
            error: Why the trial failed (message, traceback).

        Returns:
            The finished trial. Non-finite values give a FAILED trial whose ``error`` says so.

        Raises:
            ObjectiveValueError: Values missing, of the wrong number, or not numbers; the trial
                stays running and may be told again.
            TrialNotFoundError: The trial is not one of this study's.
            TrialStateError: The trial was told already.
        """
        trial_id = self._own_trial_id(trial)
        if error is not None and not isinstance(error, str):
            raise InputError(
                f"error={error!r} must be a string (the reason the trial failed) or None"
            )
        try:
            state = TrialState(state)
        except ValueError:
            raise InputError(
                f"unknown trial state {state!r}; use 'complete', 'failed' or 'pruned'"
            ) from None
        vals: tuple[float, ...] | None = None
        if state is TrialState.RUNNING:
            raise TrialStateError("tell() finishes a trial; use 'complete', 'failed' or 'pruned'")
        if state is TrialState.FAILED:
            if values is not None:
                raise ObjectiveValueError(
                    f"values {values!r} given for a failed trial; pass state='complete' to "
                    "record them, or leave values=None and give the reason in error="
                )
        elif values is None:
            if state is TrialState.COMPLETE:
                raise ObjectiveValueError(
                    "values are required when the state is complete; pass values=..., or "
                    "state='failed' with error=... when the evaluation did not produce any"
                )
        else:
            checked = check_values(self._ordered(values), len(self.directions))
            if isinstance(checked, str):
                if state is TrialState.COMPLETE:
                    state = TrialState.FAILED
                    error = checked if error is None else f"{checked}\n{error}"
            else:
                vals = checked
        return self._storage.finish_trial(trial_id, state, vals, error)

    def _ordered(self, values: ObjectiveValues) -> float | Sequence[float]:
        if not isinstance(values, Mapping):
            return values  # type: ignore[return-value]
        names = self._objective_names
        if names is None or set(values) != set(names):
            raise ObjectiveValueError(
                f"values given by name {sorted(values)} but the study's objectives are "
                f"{list(names) if names else 'unnamed'}; return "
                + (f"a mapping with exactly the keys {list(names)}" if names else "a sequence")
            )
        return [values[n] for n in names]

    def _own_trial_id(self, trial: Trial | int) -> int:
        if isinstance(trial, Trial):
            trial_id = trial.trial_id
        elif isinstance(trial, (int, np.integer)) and not isinstance(trial, bool):
            trial_id = int(trial)
        else:
            raise TrialNotFoundError(
                f"expected a Trial or a trial_id, got {type(trial).__name__} {trial!r}"
            )
        if not 0 <= trial_id < 2**63:
            raise TrialNotFoundError(
                f"trial id {trial_id} is not a trial of study {self.study_name!r}; pass the "
                "Trial that ask() returned"
            )
        study_id, number, config = self._storage.get_trial_origin(trial_id)
        if study_id != self.study_id:
            raise TrialNotFoundError(
                f"trial id {trial_id} belongs to another study than {self.study_name!r}"
            )
        if isinstance(trial, Trial) and (number != trial.number or config != trial.config):
            raise TrialNotFoundError(
                f"trial {trial.number} (id {trial_id}) was not asked from study "
                f"{self.study_name!r} in {self._storage!r} (another study or file has a "
                "trial with that id); tell each study the trials its own ask() returned"
            )
        return trial_id

    def report(self, trial: Trial | int, step: int, value: float) -> None:
        """Record an intermediate value of a running trial (and refresh its heartbeat).

        Raises:
            ObjectiveValueError: ``step`` is not a non-negative integer (``report(epoch, value)``)
                or ``value`` is not a number.
        """
        from jahs_bo.study.objective import _check_step
        from jahs_bo.types import _number

        step = _check_step(step)
        self._storage.report(self._own_trial_id(trial), step, _number(value, " (report)"))

    def should_stop(self, trial: Trial | int, step: int, value: float) -> bool:
        """Whether the study's scheduler stops ``trial`` after it reported ``value`` at ``step``.

        Always ``False`` without a scheduler. Call it after :meth:`report`; when it says
        ``True``, end the evaluation and ``tell(trial, state="pruned")``.
        """
        on_report = getattr(self.scheduler, "on_report", None)
        if on_report is None:
            return False
        from jahs_bo.study.objective import _check_step
        from jahs_bo.types import _number

        step, value = _check_step(step), _number(value, " (should_stop)")
        current = self._storage.get_trial(self._own_trial_id(trial))
        decision = on_report(current, int(step), float(value), self._shared_trials())
        return str(getattr(decision, "value", decision)).lower() == "stop"

    def heartbeat(self, trial: Trial | int) -> None:
        """Tell the storage the trial's worker is alive (``optimize`` does this by itself)."""
        self._storage.record_heartbeat([self._own_trial_id(trial)])

    def set_trial_user_attr(self, trial: Trial | int, key: str, value: Any) -> None:
        """Store a JSON user attribute on a trial."""
        self._storage.set_trial_user_attr(self._own_trial_id(trial), key, value)

    def stop(self) -> None:
        """Make a running :meth:`optimize` ask no new trial (call it from a callback)."""
        self._stop = True

    # ----------------------------------------------------------------------- optimize
    def optimize(
        self,
        objective: Callable[..., Any] | str,
        n_trials: int | None = None,
        timeout: float | None = None,
        n_workers: int | None = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        callbacks: Sequence[Callable[[Study, Trial], None]] | None = None,
        show_progress: bool | None = None,
        **loop_options: Any,
    ) -> Study:
        """Run ``objective(config, ctx)`` until the study holds ``n_trials`` finished trials.

        The one optimize loop (:func:`jahs_bo.study.optimize.optimize`, shared with
        :func:`jahs_bo.tune` and ``jahs-bo run``); the objective contract is in
        :mod:`jahs_bo.study.objective`.

        Args:
            objective: ``objective(config, ctx) -> value(s)``, or ``"file.py:name"``.
            n_trials: Finished trials the study should hold when this returns; trials already
                in it count, lost ones do not, so the same call resumes a stopped search
                (``None``: until ``timeout`` or :meth:`stop`).
            timeout: Seconds after which no new trial starts.
            n_workers: Trials running at once, in spawned worker processes when > 1 (``None``:
                one, or as many as the Ray cluster holds with ``executor="ray"``).
            catch: Exceptions of the objective that do not stop the run (the trial is FAILED
                either way); ``()`` stops at the first one, as Optuna's default does.
            callbacks: ``callback(study, trial)`` after each finished trial.
            show_progress: Live progress display; ``None`` shows it on a terminal.
            **loop_options: ``timeout_per_trial``, ``threads_per_worker``, ``checkpoint_root``,
                ``enqueue``, ``executor`` (``"ray"`` runs trials on a Ray cluster; see
                :func:`jahs_bo.study.optimize.optimize`).

        Raises:
            KeyboardInterrupt: After Ctrl-C, once the running trials are recorded as lost (the
                next ask re-runs them).
        """
        from jahs_bo.study.optimize import optimize

        return optimize(
            self,
            objective,
            n_trials=n_trials,
            timeout=timeout,
            n_workers=n_workers,
            catch=catch,
            callbacks=callbacks,
            progress=show_progress,
            **loop_options,
        )

    # --------------------------------------------------------------------------- results
    @property
    def incumbent(self) -> Incumbent:
        """The best trials by the study's one rule (:mod:`jahs_bo.study.incumbent`)."""
        return incumbent(self.trials, self.space, self.directions, self._constraints)

    def _incumbent(self) -> Incumbent:
        inc = self.incumbent
        if inc.best is None and not inc.front:
            raise TrialNotFoundError(
                f"study {self.study_name!r} has no complete trial yet; run ask/tell or optimize"
            )
        return inc

    @property
    def best_trial(self) -> Trial:
        """The best complete trial of a single-objective study.

        Among the trials at the highest fidelity reached (``study.incumbent.note`` says which
        when it is not the full one); ties go to the earliest trial. With outcome constraints,
        the best feasible trial; when no trial is feasible yet, the trial that violates the
        constraints least (summed violation, see :func:`jahs_bo.multiobjective.violations`),
        ties broken by the objective. Check ``study.is_feasible(trial)`` to tell the cases apart.

        Raises:
            ObjectiveValueError: The study has several objectives (use :attr:`best_trials`).
            TrialNotFoundError: No trial is complete yet.
        """
        if len(self.directions) != 1:
            raise ObjectiveValueError(
                f"study {self.study_name!r} has {len(self.directions)} objectives; use "
                "best_trials for its Pareto front"
            )
        best = self._incumbent().best
        assert best is not None
        return best

    @property
    def best_value(self) -> float:
        """The objective value of :attr:`best_trial`."""
        return self.best_trial.value

    @property
    def best_trials(self) -> list[Trial]:
        """The Pareto-optimal feasible complete trials (all tied best ones for one objective).

        Uses the same fidelity rule as :attr:`best_trial`; in number order. With outcome
        constraints only feasible trials count; the list is empty while none is feasible
        (unlike :attr:`best_trial`, which then returns the least-violating trial).
        """
        return list(self._incumbent().front)

    def is_feasible(self, trial: Trial) -> bool:
        """Whether ``trial`` satisfies every outcome constraint of the study (always without any)."""
        return bool(violations([trial], self._constraints)[0] == 0.0)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial.

        Columns: ``number`` (0-based, as everywhere in jahs-bo), ``state``, ``value`` (one
        objective) or ``values_<i>`` / ``values_<name>``, ``config_<key>``, ``fidelity_<key>``,
        ``datetime_start``, ``datetime_complete``, ``duration`` (seconds), ``parent_number``
        (the promoted trial's number), ``lost`` (why a trial was lost, else empty), ``error``,
        ``user_attrs_<key>``, ``n_reports`` and ``last_report``.
        """
        import pandas as pd

        n_obj = len(self.directions)
        if n_obj == 1:
            value_cols = ["value"]
        else:
            value_cols = [f"values_{n}" for n in (self._objective_names or range(n_obj))]
        trials = self.trials
        number_of = {t.trial_id: t.number for t in trials}
        rows = []
        for t in trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state.value}
            vals = t.values if t.values is not None else (math.nan,) * n_obj
            row.update(zip(value_cols, vals))
            row.update({f"config_{k}": v for k, v in t.config.items()})
            row.update({f"fidelity_{k}": v for k, v in t.fidelity.items()})
            row["datetime_start"] = t.datetime_start
            row["datetime_complete"] = t.datetime_complete
            row["duration"] = t.duration
            row["parent_number"] = number_of.get(t.parent_id) if t.parent_id else None
            row["lost"] = t.system_attrs.get(LOST) or ""
            row["error"] = t.error
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            row["n_reports"] = len(t.intermediate)
            row["last_report"] = t.intermediate[-1].value if t.intermediate else math.nan
            rows.append(row)
        base = ["number", "state", *value_cols]
        frame = pd.DataFrame(rows, columns=None if rows else base)
        if rows:  # integers with gaps (pandas would make them floats: 7.0)
            frame["parent_number"] = frame["parent_number"].astype("Int64")
        return frame

    to_dataframe = trials_dataframe
