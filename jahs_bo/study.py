"""Studies: ask/tell and the optimization loop, over a storage that holds every trial.

A :class:`Study` is a thin view of one study in a :class:`~jahs_bo.storage.base.Storage`; it keeps
no state of its own that matters, so reopening the storage with :func:`load_study` (in this or
another process) continues the study where it stopped.

* ``ask()`` proposes the next trial: the searcher picks the configuration from the finished and
  pending trials, with the generator ``np.random.default_rng([seed, k])`` for trial number ``k``
  (same seed, same trials; a resumed study continues the same sequence). Without a scheduler the
  fidelity is ``space.max_fidelity()``. Before proposing, trials of dead workers are marked failed
  (the rule is in :mod:`jahs_bo.storage.base`).
* ``tell()`` records a result, committed before it returns. NaN/inf values make the trial FAILED
  with the reason; a wrong number of values raises :class:`~jahs_bo.exceptions.ObjectiveValueError`
  and leaves the trial running.
* ``optimize(fn)`` runs ``fn(trial) -> values`` in a loop; a crashing ``fn`` is recorded as a
  FAILED trial with its traceback and the loop goes on. ``n_workers > 1`` evaluates ``fn`` in
  local worker processes (``concurrent.futures.ProcessPoolExecutor`` with the ``spawn`` or
  ``forkserver`` start method); only the main process asks and tells. ``fn`` and the trials travel
  to the workers by pickling, so ``fn`` must be a module-level function (or a picklable callable
  object) importable by a fresh interpreter: not a lambda, not a closure, not defined in an
  interactive session; a script must guard its entry point with ``if __name__ == "__main__":``
  (workers re-import it). A worker process that dies (killed, out of memory) fails the trials of
  its pool, which is replaced; pools that die before finishing any evaluation twice in a row stop
  ``optimize`` with an error saying why. Ctrl-C fails the running trials ("interrupted"), ends
  the workers and re-raises ``KeyboardInterrupt``.

Several processes may ask and tell on one SQLite study at once. The number of the next trial is
the study's trial count; the searcher proposes for that number with every earlier trial (pending
ones included) in view, and the storage creates the trial only if the number is still free;
otherwise the study reads the trials again and proposes anew. Numbers are thus unique and gap-free,
and no proposal overlooks an earlier trial.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import pickle
import secrets
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from jahs_bo.exceptions import (
    DuplicateStudyError,
    InputError,
    ObjectiveValueError,
    StorageError,
    TrialNotFoundError,
    TrialStateError,
)
from jahs_bo.multiobjective import OutcomeConstraint, as_constraints, pareto_front, violations
from jahs_bo.searchers import Searcher, make_searcher
from jahs_bo.spaces import SearchSpace
from jahs_bo.storage import Storage, StudyInfo, TrialNumberTakenError, get_storage
from jahs_bo.storage.base import owner_attrs
from jahs_bo.types import Config, Direction, FidelityValues, Trial, TrialState, check_values

if TYPE_CHECKING:
    import os

    import pandas as pd

__all__ = ["Study", "TrialPlan", "SchedulerHook", "create_study", "load_study"]

#: Values an objective may return: one number, one per objective, or a mapping by objective name.
ObjectiveValues = float | Sequence[float] | Mapping[str, float]

_SEARCHER_OPTIONS = "searcher_options"
_OBJECTIVE_NAMES = "objective_names"
_SCHEDULER = "scheduler"
_SCHEDULER_OPTIONS = "scheduler_options"
_CONSTRAINTS = "constraints"
_MAX_ASK_RETRIES = 100


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
        scheduler: Optional fidelity/promotion scheduler (see :class:`SchedulerHook`).
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
        self.scheduler = scheduler
        self.grace_period = grace_period
        self._stop = False
        names = info.system_attrs.get(_OBJECTIVE_NAMES)
        self._objective_names: tuple[str, ...] | None = tuple(names) if names else None
        self._constraints = tuple(
            OutcomeConstraint.from_dict(c) for c in info.system_attrs.get(_CONSTRAINTS) or ()
        )
        if self._constraints:  # the searcher (and scheduler) model and rank by them
            searcher.constraints = list(self._constraints)
            if scheduler is not None and not getattr(scheduler, "constraints", True):
                scheduler.constraints = list(self._constraints)  # type: ignore[attr-defined]

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
        self._storage.fail_stale_trials(self.study_id, self.grace_period)
        for _ in range(_MAX_ASK_RETRIES):
            trials = self._storage.get_trials(self.study_id)
            number = len(trials)  # numbers are gap-free: the next one is the count
            finished = [t for t in trials if t.state.is_finished]
            pending = [t for t in trials if t.state is TrialState.RUNNING]
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

    def _plan(
        self,
        number: int,
        finished: list[Trial],
        pending: list[Trial],
        config: Config | None,
        fidelity: FidelityValues | None,
    ) -> TrialPlan:
        rng = self.rng(number)
        if config is not None or self.scheduler is None:
            if config is None:
                config = self.searcher.suggest(finished, pending, rng)
            return TrialPlan(config, fidelity or self.space.max_fidelity())
        request = self.scheduler.next_trial(finished, pending, rng)
        return TrialPlan(
            config=dict(request.config),
            fidelity=fidelity or self.space.validate_fidelity(request.fidelity),
            parent_id=request.parent_id,
            system_attrs=dict(request.system_attrs or {}),
        )

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
        if self._storage.get_trial_study_id(trial_id) != self.study_id:
            raise TrialNotFoundError(
                f"trial id {trial_id} belongs to another study than {self.study_name!r}"
            )
        return trial_id

    def report(self, trial: Trial | int, step: int, value: float) -> None:
        """Record an intermediate value of a running trial (and refresh its heartbeat)."""
        self._storage.report(self._own_trial_id(trial), int(step), float(value))

    def should_stop(self, trial: Trial | int, step: int, value: float) -> bool:
        """Whether the study's scheduler stops ``trial`` after it reported ``value`` at ``step``.

        Always ``False`` without a scheduler. Call it after :meth:`report`; when it says
        ``True``, end the evaluation and ``tell(trial, state="pruned")``.
        """
        on_report = getattr(self.scheduler, "on_report", None)
        if on_report is None:
            return False
        current = self._storage.get_trial(self._own_trial_id(trial))
        decision = on_report(current, int(step), float(value), self.trials)
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
        fn: Callable[[Trial], ObjectiveValues],
        n_trials: int | None = None,
        timeout: float | None = None,
        n_workers: int = 1,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        callbacks: Sequence[Callable[[Study, Trial], None]] | None = None,
        show_progress: bool = False,
        mp_context: str = "spawn",
    ) -> None:
        """Evaluate ``fn`` on asked trials until ``n_trials`` ran or ``timeout`` passed.

        Args:
            fn: ``fn(trial) -> values``. A raised exception listed in ``catch`` makes the
                trial FAILED with the traceback and the loop goes on; any other exception is
                recorded the same way and then raised. ``fn`` may tell its trial itself (for
                example as pruned) and return ``None``.
            n_trials: Trials this call runs (``None``: no limit).
            timeout: Seconds after which no new trial starts (running ones finish).
            n_workers: Parallel worker processes evaluating ``fn`` (see the module docstring:
                ``fn`` must be picklable and importable).
            catch: Exceptions of ``fn`` that do not stop the loop.
            callbacks: ``callback(study, trial)`` after each finished trial.
            show_progress: Show a progress bar (rich).
            mp_context: ``"spawn"`` or ``"forkserver"``, the start method of worker processes.

        A ``KeyboardInterrupt`` stops the loop: trials in progress are told FAILED
        ("interrupted"), worker processes are ended, and the interrupt propagates.
        """
        if n_trials is not None and n_trials < 0:
            raise InputError(f"n_trials={n_trials} must be >= 0 or None")
        if timeout is not None and not timeout > 0:
            raise InputError(f"timeout={timeout} must be a positive number of seconds or None")
        if n_workers < 1:
            raise InputError(f"n_workers={n_workers} must be >= 1")
        catch = catch if isinstance(catch, tuple) else (catch,)
        loop = _Loop(self, fn, n_trials, timeout, catch, list(callbacks or ()), show_progress)
        self._stop = False
        if n_workers == 1:
            loop.run_serial()
        else:
            loop.run_parallel(n_workers, mp_context)

    # --------------------------------------------------------------------------- results
    def _candidates(self) -> list[Trial]:
        complete = self.get_trials(states=(TrialState.COMPLETE,))
        if not complete:
            raise TrialNotFoundError(
                f"study {self.study_name!r} has no complete trial yet; run ask/tell or optimize"
            )
        top = self.space.max_fidelity()
        at_top = [t for t in complete if _same_fidelity(t.fidelity, top)]
        return at_top or complete

    @property
    def best_trial(self) -> Trial:
        """The best complete trial of a single-objective study.

        Among trials at the full fidelity (``space.max_fidelity()``) if there are any, else
        among all complete trials; ties go to the earliest trial. With outcome constraints, the
        best feasible trial; when no trial is feasible yet, the trial that violates the
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
        candidates = self._candidates()
        sign = self.directions[0].sign
        viol = violations(candidates, self._constraints)
        best = min(
            range(len(candidates)),
            key=lambda i: (viol[i], sign * candidates[i].values[0]),  # type: ignore[index]
        )
        return candidates[best]

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
        return pareto_front(self._candidates(), self.directions, self._constraints)

    def is_feasible(self, trial: Trial) -> bool:
        """Whether ``trial`` satisfies every outcome constraint of the study (always without any)."""
        return bool(violations([trial], self._constraints)[0] == 0.0)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial.

        Columns: ``number``, ``trial_id``, ``state``, ``value`` (one objective) or
        ``values_<i>`` / ``values_<name>``, ``config_<key>``, ``fidelity_<key>``,
        ``datetime_start``, ``datetime_complete``, ``duration`` (seconds), ``parent_id``,
        ``error``, ``user_attrs_<key>``, ``n_reports`` and ``last_report``.
        """
        import pandas as pd

        n_obj = len(self.directions)
        if n_obj == 1:
            value_cols = ["value"]
        else:
            value_cols = [f"values_{n}" for n in (self._objective_names or range(n_obj))]
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "trial_id": t.trial_id}
            row["state"] = t.state.value
            vals = t.values if t.values is not None else (math.nan,) * n_obj
            row.update(zip(value_cols, vals))
            row.update({f"config_{k}": v for k, v in t.config.items()})
            row.update({f"fidelity_{k}": v for k, v in t.fidelity.items()})
            row["datetime_start"] = t.datetime_start
            row["datetime_complete"] = t.datetime_complete
            row["duration"] = t.duration
            row["parent_id"] = t.parent_id
            row["error"] = t.error
            row.update({f"user_attrs_{k}": v for k, v in t.user_attrs.items()})
            row["n_reports"] = len(t.intermediate)
            row["last_report"] = t.intermediate[-1].value if t.intermediate else math.nan
            rows.append(row)
        base = ["number", "trial_id", "state", *value_cols]
        return pd.DataFrame(rows, columns=None if rows else base)

    to_dataframe = trials_dataframe


def _same_fidelity(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    if set(a) != set(b):
        return False
    return all(math.isclose(float(a[k]), float(b[k]), rel_tol=1e-9, abs_tol=1e-12) for k in b)


# ------------------------------------------------------------------------ the optimize loop
def _format_exception(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"{type(exc).__name__}: {exc}\n{text}"


class _Heartbeat:
    """Refreshes the heartbeat of the loop's running trials from a daemon thread."""

    def __init__(self, storage: Storage, grace_period: float | None) -> None:
        self.storage = storage
        self.ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.interval = None if grace_period is None else max(0.5, min(60.0, grace_period / 4))
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _Heartbeat:
        if self.interval is not None:
            self._thread = threading.Thread(target=self._run, name="jahs-bo-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def add(self, trial_id: int) -> None:
        with self._lock:
            self.ids.add(trial_id)

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self.ids.discard(trial_id)

    def _run(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self.ids)
            try:
                self.storage.record_heartbeat(ids)
            except Exception as exc:  # a missed beat is harmless; the next one retries
                warnings.warn(f"jahs-bo heartbeat failed: {exc}", RuntimeWarning, stacklevel=1)


class _Loop:
    """State of one ``Study.optimize`` call."""

    def __init__(
        self,
        study: Study,
        fn: Callable[[Trial], Any],
        n_trials: int | None,
        timeout: float | None,
        catch: tuple[type[BaseException], ...],
        callbacks: list[Callable[[Study, Trial], None]],
        show_progress: bool,
    ) -> None:
        self.study = study
        self.fn = fn
        self.n_trials = n_trials
        self.timeout = timeout
        self.catch = catch
        self.callbacks = callbacks
        self.show_progress = show_progress
        self.started = 0
        self.t0 = time.monotonic()
        self.in_flight: dict[int, Trial] = {}

    def can_start(self) -> bool:
        if self.study._stop:
            return False
        if self.n_trials is not None and self.started >= self.n_trials:
            return False
        return self.timeout is None or time.monotonic() - self.t0 < self.timeout

    def start(self, hb: _Heartbeat) -> Trial:
        trial = self.study.ask()
        self.in_flight[trial.trial_id] = trial
        hb.add(trial.trial_id)
        self.started += 1
        return trial

    def fail(self, trial: Trial, error: str) -> Trial:
        return self.study.storage.finish_trial(trial.trial_id, TrialState.FAILED, None, error)

    def finish(self, trial: Trial, values: Any, hb: _Heartbeat, progress: Any) -> None:
        """Tell ``values`` (or a failure already formatted as ``_Failure``) for ``trial``."""
        if isinstance(values, _Failure):
            done = self.fail(trial, values.error)
        elif values is None:
            current = self.study.storage.get_trial(trial.trial_id)
            if current.state.is_finished:  # fn told the trial itself
                done = current
            else:
                done = self.fail(
                    trial,
                    "objective returned None; return one value per objective (or tell the "
                    "trial yourself before returning None)",
                )
        else:
            try:
                done = self.study.tell(trial, values)
            except ObjectiveValueError as exc:
                warnings.warn(f"trial {trial.number} failed: {exc}", RuntimeWarning, stacklevel=3)
                done = self.fail(trial, f"ObjectiveValueError: {exc}")
        self.in_flight.pop(trial.trial_id, None)
        hb.discard(trial.trial_id)
        if progress is not None:
            progress.advance()
        for callback in self.callbacks:
            callback(self.study, done)

    def abort(self, reason: str) -> None:
        """Tell every trial still in flight FAILED with ``reason`` (best effort)."""
        for trial in list(self.in_flight.values()):
            with contextlib.suppress(TrialStateError, StorageError):
                self.fail(trial, reason)
        self.in_flight.clear()

    def _progress(self) -> _Progress | None:
        return _Progress(self.n_trials) if self.show_progress else None

    # ---------------------------------------------------------------------------- serial
    def run_serial(self) -> None:
        hb = _Heartbeat(self.study.storage, self.study.grace_period)
        progress = self._progress()
        try:
            with hb, _maybe(progress):
                while self.can_start():
                    trial = self.start(hb)
                    try:
                        values = self.fn(trial)
                    except KeyboardInterrupt:
                        raise
                    except self.catch as exc:
                        values = _Failure(_format_exception(exc))
                    except BaseException as exc:
                        self.finish(trial, _Failure(_format_exception(exc)), hb, progress)
                        raise
                    self.finish(trial, values, hb, progress)
        except KeyboardInterrupt:
            self.abort("interrupted by KeyboardInterrupt before the objective returned")
            raise
        except BaseException:
            self.abort("optimize stopped by an error before the objective returned")
            raise

    # -------------------------------------------------------------------------- parallel
    def run_parallel(self, n_workers: int, mp_context: str) -> None:
        if mp_context not in ("spawn", "forkserver"):
            raise InputError(
                f"mp_context={mp_context!r} is not supported; use 'spawn' or 'forkserver'"
            )
        _check_picklable(self.fn)
        pools = _Pools(n_workers, multiprocessing.get_context(mp_context))
        hb = _Heartbeat(self.study.storage, self.study.grace_period)
        progress = self._progress()
        futures: dict[Future[Any], tuple[Trial, int]] = {}  # future -> (trial, pool generation)
        try:
            with hb, _maybe(progress):
                while True:
                    while len(futures) < n_workers and self.can_start():
                        trial = self.start(hb)
                        futures[pools.submit(self.fn, trial)] = (trial, pools.generation)
                    if not futures:
                        break
                    done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                    broken = False
                    for fut in done:
                        trial, generation = futures.pop(fut)
                        try:
                            values = fut.result()
                        except (BrokenProcessPool, CancelledError):
                            broken |= generation == pools.generation
                            values = _Failure(_DEAD_WORKER)
                        except self.catch as exc:
                            values = _Failure(_format_exception(exc))
                        except BaseException as exc:
                            self.finish(trial, _Failure(_format_exception(exc)), hb, progress)
                            raise
                        else:
                            pools.evaluated += generation == pools.generation
                        self.finish(trial, values, hb, progress)
                    if broken:  # the other trials of the dead pool come back failed too
                        pools.restart()
        except KeyboardInterrupt:
            pools.close(now=True)
            self.abort("interrupted by KeyboardInterrupt before the objective returned")
            raise
        except BaseException:
            pools.close(now=True)
            self.abort("optimize stopped by an error before the objective returned")
            raise
        pools.close(now=False)


_DEAD_WORKER = (
    "a worker process died while this trial was running (killed, out of memory or crashed); "
    "the whole worker pool stops then, so trials running beside the dead one fail too"
)


class _Pools:
    """The worker pool of a parallel ``optimize``, replaced when a worker process dies."""

    def __init__(self, n_workers: int, ctx: Any) -> None:
        self.n_workers = n_workers
        self.ctx = ctx
        self.pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx)
        self.generation = 0
        self.evaluated = 0  # evaluations the current pool finished (returned or raised)
        self.dead_in_a_row = 0  # pools in a row that broke before finishing any evaluation

    def submit(self, fn: Callable[..., Any], trial: Trial) -> Future[Any]:
        try:
            return self.pool.submit(fn, trial)
        except BrokenProcessPool:  # broke since the last wait(): its futures fail by themselves
            self.restart()
            return self.pool.submit(fn, trial)

    def restart(self) -> None:
        _shutdown(self.pool)
        self.dead_in_a_row = self.dead_in_a_row + 1 if self.evaluated == 0 else 0
        if self.dead_in_a_row >= 2:
            raise InputError(
                "worker processes die before finishing any evaluation. Guard the entry point "
                "of a script that optimizes with n_workers > 1 by `if __name__ == '__main__':` "
                "(workers re-import it), make the objective importable, or run with "
                "n_workers=1 to see the objective's error"
            )
        self.pool = ProcessPoolExecutor(max_workers=self.n_workers, mp_context=self.ctx)
        self.generation += 1
        self.evaluated = 0

    def close(self, now: bool) -> None:
        if now:
            _shutdown(self.pool)
        else:
            self.pool.shutdown(wait=True)


@dataclass(frozen=True)
class _Failure:
    error: str


class _Progress:
    """A rich progress bar over the trials of one ``optimize`` call."""

    def __init__(self, total: int | None) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=False)
        self._task = self._progress.add_task("trials", total=total)

    def __enter__(self) -> _Progress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self) -> None:
        self._progress.advance(self._task)


class _maybe:
    """``with _maybe(x)``: enter ``x`` if it is not ``None``."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx

    def __enter__(self) -> Any:
        return None if self.ctx is None else self.ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


def _shutdown(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel queued work and end its worker processes."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public handle
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _check_picklable(fn: Callable[..., Any]) -> None:
    """Refuse objectives that worker processes could not receive."""
    module = getattr(fn, "__module__", None)
    main = sys.modules.get("__main__")
    if module == "__main__" and not getattr(main, "__file__", None):
        raise InputError(
            f"objective {fn!r} is defined in an interactive session; worker processes cannot "
            "import it: define it in a module (a .py file) or use n_workers=1"
        )
    try:
        pickle.dumps(fn)  # what ProcessPoolExecutor will do; we only check it is possible
    except Exception as exc:
        raise InputError(
            f"objective {fn!r} cannot be sent to worker processes ({exc}); with n_workers > 1 "
            "use a module-level function or a picklable callable object, not a lambda or a "
            "closure, or use n_workers=1"
        ) from None


# ------------------------------------------------------------------------------- factories
def _directions(
    direction: str | Direction | None,
    directions: Sequence[str | Direction] | None,
    objectives: Mapping[str, str | Direction] | None,
    objective_names: Sequence[str] | None,
) -> tuple[tuple[Direction, ...], list[str] | None]:
    given = [x is not None for x in (direction, directions, objectives)]
    if sum(given) > 1:
        raise InputError("give only one of direction=, directions= or objectives=")
    names: list[str] | None = None
    if objectives is not None:
        if not objectives:
            raise InputError("objectives= needs at least one name: direction pair")
        if objective_names is not None:
            raise InputError("objectives= already names the objectives; drop objective_names=")
        return tuple(Direction.parse(d) for d in objectives.values()), list(objectives)
    if direction is not None:
        dirs: tuple[Direction, ...] = (Direction.parse(direction),)
    elif directions is not None:
        if isinstance(directions, (str, Direction)):
            directions = [directions]
        dirs = tuple(Direction.parse(d) for d in directions)
        if not dirs:
            raise InputError("directions= needs at least one direction")
    else:
        dirs = (Direction.MINIMIZE,)
    if objective_names is not None:
        names = [str(n) for n in objective_names]
        if len(names) != len(dirs) or len(set(names)) != len(names):
            raise InputError(
                f"objective_names={names} must hold {len(dirs)} distinct name(s), one per "
                f"direction {[d.value for d in dirs]}"
            )
    return dirs, names


def _check_seed(seed: Any) -> int:
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} must be a non-negative integer or None")
    return int(seed)


def _build_searcher(
    searcher: str | Searcher,
    space: SearchSpace,
    directions: Sequence[Direction],
    options: Mapping[str, Any],
) -> Searcher:
    if isinstance(searcher, Searcher):
        if options:
            raise InputError("searcher_options= apply to a searcher given by name only")
        return searcher
    if not isinstance(searcher, str):
        raise InputError(
            f"searcher must be a registered name or a Searcher instance, got {searcher!r}"
        )
    return make_searcher(searcher, space, directions, **options)


def _build_scheduler(
    scheduler: str | SchedulerHook | None,
    space: SearchSpace,
    searcher: Searcher,
    directions: Sequence[Direction],
    options: Mapping[str, Any],
) -> SchedulerHook | None:
    if scheduler is None or not isinstance(scheduler, str):
        if options:
            raise InputError("scheduler_options= apply to a scheduler given by name only")
        return scheduler
    from jahs_bo.schedulers import make_scheduler  # imported only when a scheduler is used

    return make_scheduler(scheduler, space, searcher, directions, **options)


def create_study(
    space: SearchSpace,
    *,
    direction: str | Direction | None = None,
    directions: Sequence[str | Direction] | None = None,
    objectives: Mapping[str, str | Direction] | None = None,
    objective_names: Sequence[str] | None = None,
    searcher: str | Searcher = "gp",
    storage: None | str | os.PathLike[str] | Storage = None,
    study_name: str | None = None,
    seed: int | None = None,
    load_if_exists: bool = False,
    searcher_options: Mapping[str, Any] | None = None,
    scheduler: str | SchedulerHook | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    grace_period: float | None = 600.0,
    user_attrs: Mapping[str, Any] | None = None,
    constraints: Sequence[str | OutcomeConstraint] | str | OutcomeConstraint | None = None,
) -> Study:
    """Create a study (or load it, with ``load_if_exists=True``).

    Args:
        space: The search space.
        direction: ``"minimize"`` (default) or ``"maximize"`` for one objective.
        directions: One direction per objective.
        objectives: Objective names mapped to directions (then ``fn`` may return a mapping).
        objective_names: Names of the objectives given by ``direction(s)``.
        searcher: A registered searcher name (``available_searchers()``) or an instance.
            Default ``"gp"``: GP-based BO with Weisfeiler-Lehman graph kernels.
        storage: ``None`` (in memory), ``"sqlite:///path.db"`` or a Storage.
        study_name: Unique name in the storage (default: ``"study-<random hex>"``).
        seed: Seed of every random choice of the study (default: drawn once and stored).
        load_if_exists: Load the study of that name if it exists instead of raising.
        searcher_options: Keyword arguments of the searcher (stored, reused by ``load_study``).
        scheduler: A registered scheduler name (``"asha"``, ``"hyperband"``, ...), an instance
            (see :class:`SchedulerHook`) or ``None`` (every trial at the full fidelity).
        scheduler_options: Keyword arguments of a scheduler given by name (stored).
        grace_period: See :mod:`jahs_bo.storage.base` (dead workers on other hosts).
        user_attrs: Initial JSON user attributes of the study.
        constraints: Outcome constraints, as text (``"latency_ms <= 10"``, ``"0 >= 0.9"``: an
            integer names an objective index, any other name a number the objective stores with
            ``set_trial_user_attr``) or :class:`~jahs_bo.multiobjective.OutcomeConstraint`.
            Stored with the study (``load_study`` restores them). Infeasible trials stay in the
            study and the searcher models them; :attr:`Study.best_trial` and
            :attr:`Study.best_trials` only return feasible trials (see there for the case where
            none is feasible). The GP searcher fits one model per constrained metric; random
            search ignores them; evolution ranks by constrained domination.

    Raises:
        DuplicateStudyError: The name exists and ``load_if_exists`` is false.
        InputError: Inconsistent arguments (the message names them).
    """
    if not isinstance(space, SearchSpace):
        raise InputError(f"space must be a jahs_bo SearchSpace, got {type(space).__name__}")
    dirs, names = _directions(direction, directions, objectives, objective_names)
    cons = _check_constraints(constraints, len(dirs), names)
    storage = get_storage(storage)
    options = dict(searcher_options or {})
    sched_options = dict(scheduler_options or {})
    search = _build_searcher(searcher, space, dirs, options)
    sched = _build_scheduler(scheduler, space, search, dirs, sched_options)
    if study_name is None:
        study_name = f"study-{uuid.uuid4().hex[:12]}"
    system_attrs: dict[str, Any] = {_SEARCHER_OPTIONS: options}
    if names is not None:
        system_attrs[_OBJECTIVE_NAMES] = names
    if cons:
        system_attrs[_CONSTRAINTS] = [c.to_dict() for c in cons]
    if sched is not None:
        system_attrs[_SCHEDULER] = scheduler if isinstance(scheduler, str) else ""
        system_attrs[_SCHEDULER_OPTIONS] = sched_options
    try:
        storage.create_study(
            study_name,
            space.to_json(),
            dirs,
            _check_seed(seed),
            search.name,
            user_attrs,
            system_attrs,
        )
    except DuplicateStudyError:
        if not load_if_exists:
            raise
        study = load_study(
            study_name, storage, searcher=search, scheduler=sched, grace_period=grace_period
        )
        _check_same(study, space, dirs, seed)
        if constraints is not None and tuple(cons) != study.constraints:
            raise InputError(
                f"study {study.study_name!r} exists with constraints "
                f"{[str(c) for c in study.constraints]}, not {[str(c) for c in cons]}; pass "
                "constraints=None to load it, or use another study_name"
            ) from None
        return study
    info = storage.get_study(study_name)
    return Study(storage, info, space, search, sched, grace_period)


def _check_constraints(
    constraints: Sequence[str | OutcomeConstraint] | str | OutcomeConstraint | None,
    n_objectives: int,
    names: Sequence[str] | None,
) -> list[OutcomeConstraint]:
    """Parse ``constraints``; an objective given by name becomes its index."""
    cons = []
    for c in as_constraints(constraints):
        if isinstance(c.metric, str) and names is not None and c.metric in names:
            c = OutcomeConstraint(list(names).index(c.metric), upper=c.upper, lower=c.lower)
        if isinstance(c.metric, int) and not 0 <= c.metric < n_objectives:
            raise InputError(
                f"constraint '{c}' names objective {c.metric}, but the study has "
                f"{n_objectives} objective(s) (indices 0..{n_objectives - 1}); use an index in "
                "range or the name of a user attribute the objective stores"
            )
        cons.append(c)
    return cons


def _check_same(study: Study, space: SearchSpace, dirs: tuple[Direction, ...], seed: Any) -> None:
    if study.space != space:
        raise InputError(
            f"study {study.study_name!r} exists with another search space; use another "
            "study_name, or load it with load_study()"
        )
    if study.directions != dirs:
        raise InputError(
            f"study {study.study_name!r} exists with directions "
            f"{[d.value for d in study.directions]}, not {[d.value for d in dirs]}; use "
            "another study_name"
        )
    if seed is not None and int(seed) != study.seed:
        raise InputError(
            f"study {study.study_name!r} exists with seed {study.seed}, not {seed}; pass "
            "seed=None to load it, or use another study_name"
        )


def load_study(
    study_name: str,
    storage: str | os.PathLike[str] | Storage,
    searcher: str | Searcher | None = None,
    *,
    searcher_options: Mapping[str, Any] | None = None,
    scheduler: str | SchedulerHook | None = None,
    scheduler_options: Mapping[str, Any] | None = None,
    grace_period: float | None = 600.0,
) -> Study:
    """Reopen a stored study; asking continues with the next trial number.

    The space is rebuilt from its stored JSON, the searcher (and scheduler) from their stored
    names and options; pass ``searcher``/``scheduler`` to use other ones (an instance given to
    ``create_study`` cannot be rebuilt by name: pass it again). Trials left running by dead
    workers are marked failed by the rule of :mod:`jahs_bo.storage.base`.

    Raises:
        StudyNotFoundError: No study of that name (the message lists the existing ones).
    """
    if storage is None:
        raise InputError("load_study needs the storage holding the study, e.g. 'sqlite:///x.db'")
    storage = get_storage(storage)
    info = storage.get_study(study_name)
    space = SearchSpace.from_json(info.space_json)
    if searcher is None:
        if not info.searcher_name:
            raise InputError(
                f"study {study_name!r} was created with an unregistered searcher; pass "
                "searcher= to load_study"
            )
        searcher = info.searcher_name
        if searcher_options is None:
            searcher_options = info.system_attrs.get(_SEARCHER_OPTIONS, {})
    search = _build_searcher(searcher, space, info.directions, dict(searcher_options or {}))
    if scheduler is None and _SCHEDULER in info.system_attrs:
        scheduler = info.system_attrs[_SCHEDULER]
        if not scheduler:
            raise InputError(
                f"study {study_name!r} was created with a scheduler instance; pass it again "
                "as scheduler= to load_study"
            )
        if scheduler_options is None:
            scheduler_options = info.system_attrs.get(_SCHEDULER_OPTIONS, {})
    sched = _build_scheduler(
        scheduler, space, search, info.directions, dict(scheduler_options or {})
    )
    study = Study(storage, info, space, search, sched, grace_period)
    storage.fail_stale_trials(info.study_id, grace_period)
    return study
