"""The one optimize loop: ``Study.optimize``, :func:`jahs_bo.tune` and ``jahs-bo run`` all run it.

It asks trials from the study, hands them to an executor (:mod:`jahs_bo.study.executor`), and
tells the outcomes, with one rule for each concern:

* **Budget**: ``n_trials`` is the number of finished trials the study should hold when the loop
  returns; trials already in the study count, lost ones (interrupted, dead worker) do not, so the
  same call resumes a stopped search. ``timeout`` stops starting new trials after that many
  seconds.
* **Values**: one check (:func:`jahs_bo.types.check_values`): numbers, numpy and torch scalars
  count; strings, bytes and bools do not; NaN/inf fail the trial with the reason.
* **Failures** are data: a raising objective makes a FAILED trial with its traceback. The first
  failure is printed with its traceback, later ones one line each. Exceptions not listed in
  ``catch`` stop the loop after they are recorded.
* **Interrupts**: Ctrl-C records the running trials as lost (failed, with
  ``system_attrs["lost"] = "interrupted"``), stops the workers and re-raises
  ``KeyboardInterrupt`` (a script exits with status 130). The next ``ask`` of the study re-runs
  lost trials with the same configuration, fidelity and parent.
* **Dead workers**: a worker process that dies fails its trial (it may have died of the
  configuration); the loop's own process dying leaves RUNNING trials that the storage's
  dead-worker rule marks lost when the study is next opened. On Ray
  (:mod:`jahs_bo.study.ray_executor`) a dead node or worker makes the trial lost ("node lost",
  "worker died"), so it is re-run, up to the executor's ``max_retries``.
* **Progress**: one display (:class:`jahs_bo.progress.RichProgress`), on by default on a terminal.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jahs_bo.exceptions import InputError, ObjectiveValueError, StorageError, TrialStateError
from jahs_bo.storage import storage_path
from jahs_bo.storage.base import LOST, LOST_INTERRUPTED
from jahs_bo.study.core import counts
from jahs_bo.study.executor import Executor, LocalExecutor, Outcome, Task
from jahs_bo.study.objective import check_objective
from jahs_bo.types import Config, FidelityValues, Trial, TrialState, check_values

if TYPE_CHECKING:
    from jahs_bo.study.core import Study

__all__ = ["checkpoint_root_for", "optimize"]


def checkpoint_root_for(db: Path | None, study_name: str) -> Path:
    """Default checkpoint root: ``<db>_checkpoints/<study>/`` beside a SQLite file, else a
    directory under the system's temporary directory."""
    import tempfile

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name) or "study"
    if db is not None:
        db = db.expanduser().resolve()
        return db.parent / f"{db.stem}_checkpoints" / safe
    return Path(tempfile.gettempdir()) / "jahs_bo_checkpoints" / safe


class _Heartbeat:
    """Refreshes the heartbeat of the loop's running trials from a daemon thread."""

    def __init__(self, study: Study) -> None:
        self.storage = study.storage
        grace = study.grace_period
        self.interval = None if grace is None else max(0.5, min(60.0, grace / 4))
        self.ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
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


class _FailureLog:
    """Shows the objective's failures: the first with its traceback, later ones one line each."""

    def __init__(self, console: Any = None) -> None:
        self.console = console
        self.shown = 0

    def show(self, trial: Trial, error: str) -> None:
        text = error.strip()
        if self.shown == 0:
            msg = (
                f"trial {trial.number} failed (later failures are shown in one line; every "
                f"traceback is stored with its trial):\n{text}"
            )
        else:
            first = text.splitlines()[0] if text else ""
            msg = f"trial {trial.number} failed: {first[:200]}"
        self.shown += 1
        if self.console is not None:
            self.console.print(msg, markup=False, highlight=False, soft_wrap=True)
        else:
            print(msg, file=sys.stderr, flush=True)


def _check_n_trials(n_trials: Any) -> int | None:
    if n_trials is None:
        return None
    if isinstance(n_trials, bool) or not isinstance(n_trials, (int, float)):
        raise InputError(f"n_trials={n_trials!r} must be a non-negative integer or None")
    if isinstance(n_trials, float) and not (math.isfinite(n_trials) and n_trials.is_integer()):
        raise InputError(f"n_trials={n_trials!r} must be a non-negative integer or None")
    if n_trials < 0:
        raise InputError(f"n_trials={n_trials!r} must be a non-negative integer or None")
    return int(n_trials)


def _check_timeout(timeout: Any) -> float | None:
    if timeout is None:
        return None
    ok = isinstance(timeout, (int, float)) and not isinstance(timeout, bool)
    if not ok or not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"timeout={timeout!r} must be a positive number of seconds or None")
    return float(timeout)


def _check_catch(catch: Any) -> tuple[type[BaseException], ...]:
    items = catch if isinstance(catch, tuple) else (catch,)
    for c in items:
        if not (isinstance(c, type) and issubclass(c, BaseException)):
            raise InputError(
                f"catch={catch!r} must be an exception class or a tuple of them, e.g. "
                "catch=(ValueError,) or catch=() to stop at the first exception"
            )
    return items


def _progress(progress: Any) -> Any:
    """``None``: the rich display on a terminal; ``True``/``False``; or a progress object."""
    from jahs_bo.progress import RichProgress

    if progress is None:
        return RichProgress() if sys.stderr.isatty() else None
    if progress is True:
        return RichProgress()
    if progress is False:
        return None
    return progress


class _Loop:
    """State of one optimize call (see the module docstring for the rules)."""

    def __init__(
        self,
        study: Study,
        n_trials: int | None,
        timeout: float | None,
        catch: tuple[type[BaseException], ...],
        callbacks: Sequence[Callable[[Study, Trial], None]],
        progress: Any,
        enqueue: Sequence[Config | tuple[Config, FidelityValues | None]],
        checkpoint_root: str | Path | None,
    ) -> None:
        self.study = study
        self.n_trials = n_trials
        self.timeout = timeout
        self.catch = catch
        self.callbacks = list(callbacks)
        self.progress = progress
        self.failures = _FailureLog(getattr(progress, "console", None))
        self.t0 = time.monotonic()
        self.submitting: Trial | None = None
        if checkpoint_root is None:
            checkpoint_root = checkpoint_root_for(storage_path(study.storage), study.study_name)
        self.checkpoint_root = Path(checkpoint_root)
        space = study.space
        self.enqueued: list[tuple[Config, FidelityValues]] = []
        for item in enqueue:
            config, fidelity = item if isinstance(item, tuple) else (item, None)
            self.enqueued.append(
                (
                    space.validate(config),
                    space.validate_fidelity(fidelity or space.max_fidelity()),
                )
            )

    # ------------------------------------------------------------------ asking
    def want_more(self) -> bool:
        """Whether to start another trial: not stopped, not timed out, and the study holds
        fewer than ``n_trials`` trials that count or run (this and other processes' alike, so
        several processes sharing one study stop together)."""
        if self.study._stop:
            return False
        if self.timeout is not None and time.monotonic() - self.t0 >= self.timeout:
            return False
        if self.n_trials is None:
            return True
        trials = self.study._shared_trials()
        held = sum(counts(t) or t.state is TrialState.RUNNING for t in trials)
        return held < self.n_trials

    def ask(self) -> Trial:
        """The first enqueued configuration not in the study yet, else the study's proposal."""
        if self.enqueued:
            space = self.study.space
            present = {
                (space.config_key(t.config), tuple(sorted(t.fidelity.items())))
                for t in self.study._shared_trials()
                if t.state is TrialState.RUNNING or counts(t)
            }
            for config, fidelity in self.enqueued:
                if (space.config_key(config), tuple(sorted(fidelity.items()))) not in present:
                    return self.study.ask(config, fidelity=fidelity)
        return self.study.ask()

    def task(self, trial: Trial) -> Task:
        prev = trial.system_attrs.get("previous_fidelity")
        if prev is None and trial.parent_id is not None:
            with contextlib.suppress(Exception):  # a parent we cannot read: no resume
                prev = dict(self.study.storage.get_trial(trial.parent_id).fidelity)
        key = self.study.space.value_key(trial.config)  # isomorphic cells: own weights
        return Task(
            trial_id=trial.trial_id,
            number=trial.number,
            config=dict(trial.config),
            fidelity=dict(trial.fidelity),
            previous_fidelity=dict(prev) if prev else None,
            checkpoint_dir=str(
                self.checkpoint_root / hashlib.sha256(key.encode()).hexdigest()[:16]
            ),
            max_fidelity=dict(self.study.space.max_fidelity()),
        )

    # ------------------------------------------------------------------ hooks
    def report(self, trial: Trial, step: int, value: float) -> bool:
        self.study.report(trial, step, value)
        return bool(self.study.should_stop(trial, step, value))

    def set_user_attr(self, trial: Trial, key: str, value: Any) -> None:
        self.study.set_trial_user_attr(trial, key, value)

    # ------------------------------------------------------------------ telling
    def _values(self, raw: Any) -> tuple[float, ...] | str:
        """Checked values, or the reason they are unusable."""
        if raw is None:
            return (
                "objective returned None; return one number per objective (a float, a numpy or "
                "torch scalar, a sequence, or a dict by objective name)"
            )
        try:
            return check_values(self.study._ordered(raw), len(self.study.directions))
        except ObjectiveValueError as exc:
            return f"ObjectiveValueError: {exc}"

    def finish(self, trial: Trial, outcome: Outcome) -> Trial:
        """Tell ``outcome``; show a failure; raise the objective's exception if not caught."""
        done = self._store(trial, outcome)
        if done.state is TrialState.FAILED and not outcome.lost:
            self.failures.show(done, done.error or "")
        if self.progress is not None:
            self.progress.trial_finished(self.study, done)
        for callback in self.callbacks:
            callback(self.study, done)
        exc = outcome.exception
        if isinstance(exc, BaseException) and not isinstance(exc, self.catch):
            raise exc
        return done

    def finish_all(self, results: Sequence[tuple[Trial, Outcome]]) -> None:
        """:meth:`finish` each result; if one raises (a callback, Ctrl-C, an uncaught objective
        exception), the results after it are still told before the exception goes on: the
        executor has handed them over and holds them no more."""
        for i, (trial, outcome) in enumerate(results):
            try:
                self.finish(trial, outcome)
            except BaseException:
                for rest, later in results[i + 1 :]:
                    with contextlib.suppress(TrialStateError, StorageError):
                        self._store(rest, later)
                raise

    def _store(self, trial: Trial, outcome: Outcome) -> Trial:
        """Write ``outcome`` to the storage (values checked) and return the finished trial."""
        state, values, error = outcome.state, None, outcome.error
        if state is TrialState.COMPLETE:
            checked = self._values(outcome.values)
            if isinstance(checked, str):
                state, error = TrialState.FAILED, checked
            else:
                values = checked
        elif state is TrialState.PRUNED:
            last = outcome.last_report
            values = (last[1],) if last and len(self.study.directions) == 1 else None
        attrs = {LOST: outcome.lost} if outcome.lost else None
        return self.study.storage.finish_trial(
            trial.trial_id, state, values, error, system_attrs=attrs
        )

    def lose(self, trials: Sequence[Trial], why: str) -> None:
        """Record running ``trials`` (and one being submitted) as lost (re-run by the next ask)."""
        if self.submitting is not None:
            trials = [*trials, self.submitting]
            self.submitting = None
        for trial in trials:
            with contextlib.suppress(TrialStateError, StorageError):
                self.study.storage.finish_trial(
                    trial.trial_id,
                    TrialState.FAILED,
                    None,
                    why,
                    system_attrs={LOST: LOST_INTERRUPTED},
                )

    # ------------------------------------------------------------------ the loop
    def run(self, runner: Executor) -> None:
        hb = _Heartbeat(self.study)
        with hb:
            while True:
                running = runner.running()
                while len(running) < runner.capacity and self.want_more():
                    trial = self.ask()
                    self.submitting = trial  # asked, not yet held by the executor
                    hb.add(trial.trial_id)
                    if self.progress is not None:
                        self.progress.trial_started(self.study, trial, running=len(running) + 1)
                    runner.submit(trial, self.task(trial))
                    self.submitting = None
                    running = runner.running()
                if not running:
                    return
                results = runner.poll(0.5)
                for trial, _ in results:
                    hb.discard(trial.trial_id)
                self.finish_all(results)
                if self.progress is not None:
                    self.progress.tick(self.study, running=len(runner.running()))


def _executor(
    executor: Any,
    n_workers: int | None,
    timeout_per_trial: float | None,
    threads_per_worker: int | None,
) -> Any:
    """The executor that ``executor=`` names (the Ray one is imported only when asked for)."""
    if executor is None or executor == "local":
        return LocalExecutor(
            1 if n_workers is None else n_workers, timeout_per_trial, threads_per_worker
        )
    if executor == "ray":
        from jahs_bo.study.ray_executor import RayExecutor

        return RayExecutor(max_concurrent=n_workers, timeout_per_trial=timeout_per_trial)
    if isinstance(executor, str) or not callable(getattr(executor, "start", None)):
        raise InputError(
            f"executor={executor!r} is not known; use None or 'local' (this machine), 'ray', "
            "a jahs_bo.study.ray_executor.RayExecutor(...) or an object with "
            "start(objective, hooks)"
        )
    return executor


def optimize(
    study: Study,
    objective: Callable[..., Any] | str,
    *,
    n_trials: int | None = None,
    timeout: float | None = None,
    n_workers: int | None = None,
    timeout_per_trial: float | None = None,
    threads_per_worker: int | None = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    callbacks: Sequence[Callable[[Study, Trial], None]] | None = None,
    progress: Any = None,
    enqueue: Sequence[Config | tuple[Config, FidelityValues | None]] = (),
    checkpoint_root: str | Path | None = None,
    executor: Any = None,
) -> Study:
    """Run ``objective(config, ctx)`` over ``study`` (the rules are in the module docstring).

    Args:
        study: The study.
        objective: ``objective(config, ctx) -> value(s)`` (:mod:`jahs_bo.study.objective`) or a
            ``"path/to/file.py:name"`` / ``"module:name"`` reference.
        n_trials: Finished trials the study should hold when this returns (``None``: no limit;
            then give ``timeout`` or call ``study.stop()`` from a callback).
        timeout: Seconds after which no new trial starts (running ones finish).
        n_workers: Trials running at once (local worker processes when > 1; ``None``: one
            locally, as many as the cluster's resources hold with ``executor="ray"``).
        timeout_per_trial: Seconds after which a trial's worker is killed and the trial FAILED
            (runs the objective in a worker process even with one worker).
        threads_per_worker: Torch threads per worker process (``None``: CPUs / workers).
        catch: Exceptions of the objective that do not stop the loop.
        callbacks: ``callback(study, trial)`` after each finished trial.
        progress: ``None`` (the live display on a terminal), ``True``, ``False`` or an object
            with the methods of :class:`jahs_bo.progress.RichProgress`.
        enqueue: Configurations to evaluate first (e.g. a default as a baseline), each a config
            or ``(config, fidelity)``; one already in the study is not run again.
        checkpoint_root: Parent of the per-configuration checkpoint directories (default:
            beside the SQLite file, see :func:`checkpoint_root_for`).
        executor: Where trials run: ``None`` or ``"local"`` (this machine,
            :class:`~jahs_bo.study.executor.LocalExecutor` with ``n_workers``), ``"ray"`` (Ray
            tasks on the cluster of ``RAY_ADDRESS`` or a new local one,
            :class:`~jahs_bo.study.ray_executor.RayExecutor`; pass an instance for an address
            and resources per trial) or an object with the ``start(objective, hooks)`` method
            of ``LocalExecutor``.

    Returns:
        The study.

    Raises:
        KeyboardInterrupt: After Ctrl-C, once running trials are recorded as lost.
        InputError: Bad arguments (the message names them), before any trial starts.
    """
    check_objective(objective)
    loop = _Loop(
        study,
        _check_n_trials(n_trials),
        _check_timeout(timeout),
        _check_catch(catch),
        list(callbacks or ()),
        _progress(progress),
        enqueue,
        checkpoint_root,
    )
    if loop.n_trials is None and loop.timeout is None and not loop.callbacks:
        raise InputError(
            "optimize needs n_trials=, timeout= or a callback that calls study.stop(); "
            "without them it would never end"
        )
    executor = _executor(executor, n_workers, timeout_per_trial, threads_per_worker)
    runner = executor.start(objective, loop)
    study._stop = False
    interrupted = False
    if loop.progress is not None:
        loop.progress.start(study, loop.n_trials)
    try:
        loop.run(runner)
    except KeyboardInterrupt:
        interrupted = True
        loop.lose(runner.cancel(), "interrupted: stopped by the user (Ctrl-C); resuming re-runs it")
        raise
    except BaseException as exc:
        loop.lose(
            runner.cancel(),
            f"interrupted: the optimize loop stopped ({type(exc).__name__}: {exc}); resuming "
            "re-runs it",
        )
        raise
    finally:
        runner.close()
        if loop.progress is not None:
            loop.progress.stop(study, interrupted=interrupted)
    return study
