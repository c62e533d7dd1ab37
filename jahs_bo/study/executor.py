"""Executors: where the objective of a trial runs. The optimize loop asks and tells; they only run.

:class:`LocalExecutor` runs trials in the calling process (one worker, no per-trial timeout: easy
to debug) or in ``spawn``-ed worker processes on this machine. Other executors (a Ray cluster) plug
in beside it with the same four calls: ``submit`` a trial, ``poll`` for finished ones, ``cancel``
everything running, ``close``. Whatever the executor, the study's ``ask``/``tell``/``report`` all
happen in the process that runs the loop; workers only call the objective and send its reports
and result back.

A worker process that dies while running a trial (killed, out of memory, a crash in native code)
fails that trial with the reason; a trial running past ``timeout_per_trial`` is killed and failed;
the loop replaces the worker and goes on.
"""

from __future__ import annotations

import contextlib
import inspect
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from jahs_bo.exceptions import InputError
from jahs_bo.study.objective import (
    ObjectiveLoadError,
    TrialContext,
    TrialPruned,
    _fallback_spec,
    _load_with_fallback,
    load_objective,
    objective_spec,
)
from jahs_bo.types import Config, FidelityValues, Trial, TrialState

__all__ = ["Executor", "LocalExecutor", "Outcome", "Task", "TrialHooks", "run_objective"]


@dataclass(frozen=True)
class Task:
    """What a worker needs to run one trial (plain data: it crosses process boundaries)."""

    trial_id: int
    number: int
    config: Config
    fidelity: FidelityValues
    previous_fidelity: FidelityValues | None
    checkpoint_dir: str
    max_fidelity: FidelityValues | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one call of the objective.

    Attributes:
        state: COMPLETE (values to check), PRUNED or FAILED.
        values: The objective's return value, made picklable (checked by the loop).
        error: Why the trial failed (message and traceback) or was pruned.
        last_report: The last ``(step, value)`` the objective reported.
        exception: The objective's exception, when it raised one that could be sent back (the
            loop decides with ``catch`` whether it stops the run).
        lost: Set when the trial did not fail by itself (the loop stopped it): ``"interrupted"``.
    """

    state: TrialState
    values: Any = None
    error: str | None = None
    last_report: tuple[int, float] | None = None
    exception: BaseException | None = None
    lost: str | None = None


class TrialHooks(Protocol):
    """The loop's side of a running trial: reports and user attributes go to the study."""

    def report(self, trial: Trial, step: int, value: float) -> bool:
        """Store a report; ``True`` when the scheduler stops the trial."""
        ...

    def set_user_attr(self, trial: Trial, key: str, value: Any) -> None:
        """Store a user attribute of the trial."""
        ...


class Executor(Protocol):
    """Runs trials. ``capacity`` trials may run at once."""

    capacity: int

    def submit(self, trial: Trial, task: Task) -> None:
        """Start running ``trial``."""
        ...

    def poll(self, timeout: float) -> list[tuple[Trial, Outcome]]:
        """Wait up to ``timeout`` seconds; return the trials that finished (with outcomes)."""
        ...

    def running(self) -> list[Trial]:
        """Trials submitted and not yet returned by :meth:`poll`."""
        ...

    def cancel(self) -> list[Trial]:
        """Stop every running trial now; return them (the loop records them as lost)."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


def _picklable(value: Any) -> Any:
    """``value`` if it pickles (to cross a pipe), else its text."""
    try:
        pickle.dumps(value)
    except Exception:
        return repr(value)
    return value


def _sendable(values: Any) -> Any:
    """The objective's return value in a form that crosses a pipe and keeps its type checks.

    numpy/torch scalars and arrays become Python numbers or lists (``tolist``); everything else
    is passed as is when it pickles (strings and bools reach the loop's check unchanged).
    """
    if hasattr(values, "tolist") and not isinstance(values, (str, bytes)):
        with contextlib.suppress(Exception):
            return values.tolist()
    if isinstance(values, dict):
        return {k: _sendable(v) for k, v in values.items()}
    if isinstance(values, (list, tuple)):
        return type(values)(_sendable(v) for v in values)
    return _picklable(values)


def run_objective(
    fn: Callable[..., Any],
    task: Task,
    reporter: Callable[[int, float], bool],
    attr_setter: Callable[[str, Any], None] | None = None,
    *,
    sendable: bool = False,
) -> Outcome:
    """Run ``fn(config, ctx)``; exceptions become outcomes (``KeyboardInterrupt`` propagates).

    Args:
        fn: The objective.
        task: The trial to run.
        reporter: Stores a report; returns ``True`` when the trial should stop.
        attr_setter: Stores a user attribute.
        sendable: Make values and exceptions picklable (the outcome crosses a pipe).
    """
    ckpt = Path(task.checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)
    ctx = TrialContext(
        trial_id=task.trial_id,
        number=task.number,
        config=dict(task.config),
        fidelity=dict(task.fidelity),
        previous_fidelity=None if task.previous_fidelity is None else dict(task.previous_fidelity),
        checkpoint_dir=ckpt,
        max_fidelity=task.max_fidelity,
        reporter=reporter,
        attr_setter=attr_setter,
    )
    try:
        values = fn(dict(task.config), ctx)
    except TrialPruned as exc:
        return Outcome(TrialState.PRUNED, error=str(exc), last_report=ctx.last_report)
    except Exception as exc:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return Outcome(
            TrialState.FAILED,
            error=f"{type(exc).__name__}: {exc}\n{text}",
            last_report=ctx.last_report,
            exception=_picklable(exc) if sendable else exc,
        )
    if sendable:
        values = _sendable(values)
    return Outcome(TrialState.COMPLETE, values=values, last_report=ctx.last_report)


# ------------------------------------------------------------------------------ in process
class InProcessExecutor:
    """Runs one trial at a time in the calling process (``poll`` runs it to the end)."""

    capacity = 1

    def __init__(self, objective: Callable[..., Any] | str, hooks: TrialHooks) -> None:
        self.fn = load_objective(objective) if isinstance(objective, str) else objective
        self.hooks = hooks
        self._queue: list[tuple[Trial, Task]] = []

    def submit(self, trial: Trial, task: Task) -> None:
        self._queue.append((trial, task))

    def poll(self, timeout: float) -> list[tuple[Trial, Outcome]]:
        if not self._queue:
            return []
        trial, task = self._queue[0]
        outcome = run_objective(
            self.fn,
            task,
            lambda s, v: self.hooks.report(trial, s, v),
            lambda k, v: self.hooks.set_user_attr(trial, k, v),
        )
        self._queue.pop(0)
        return [(trial, outcome)]

    def running(self) -> list[Trial]:
        return [t for t, _ in self._queue]

    def cancel(self) -> list[Trial]:
        trials = self.running()
        self._queue.clear()
        return trials

    def close(self) -> None:
        self._queue.clear()


# ------------------------------------------------------------------------- worker processes
def _objective_ref(objective: Callable[..., Any] | str) -> str | Callable[..., Any]:
    """What a spawned worker receives: an import reference for functions, else the callable.

    Callable objects and ``functools.partial`` are pickled into the worker instead (they must
    be picklable: their class importable by a fresh interpreter).
    """
    if isinstance(objective, str) or inspect.isfunction(objective):
        return objective_spec(objective)
    try:
        pickle.dumps(objective)
    except Exception as exc:
        raise InputError(
            f"objective {objective!r} cannot be sent to worker processes ({exc}); use a "
            "module-level function, a picklable callable object, or n_workers=1 without "
            "timeout_per_trial"
        ) from None
    return objective


def _worker_main(
    ref: str | Callable[..., Any],
    fallback: str | None,
    conn: Connection,
    threads: int | None,
    parent_pid: int,
) -> None:
    """Entry point of a spawned worker: load the objective, then run tasks until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the loop's process handles Ctrl-C

    def watchdog() -> None:  # exit when the loop's process is gone (kill -9)
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        fn = _load_with_fallback(ref, fallback) if isinstance(ref, str) else ref
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    except Exception as exc:
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))

    def reporter(step: int, value: float) -> bool:
        conn.send(("report", (step, value)))
        _, stop = conn.recv()
        return bool(stop)

    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            return
        if kind == "exit":
            return
        outcome = run_objective(
            fn,
            Task(**payload),
            reporter,
            lambda k, v: conn.send(("user_attr", (k, v))),
            sendable=True,
        )
        try:
            conn.send(("result", outcome))
        except Exception:  # an exception object that pickles but does not unpickle, say
            conn.send(("result", Outcome(outcome.state, outcome.values, outcome.error)))


class _Worker:
    """The loop's handle on one worker process."""

    def __init__(self, ctx: Any, ref: str | Callable[..., Any], threads: int | None) -> None:
        self.conn, child = ctx.Pipe()
        fallback = _fallback_spec(ref) if isinstance(ref, str) else None
        self.process = ctx.Process(
            target=_worker_main, args=(ref, fallback, child, threads, os.getpid()), daemon=True
        )
        self.process.start()
        child.close()
        self.ready = False
        self.trial: Trial | None = None
        self.started = 0.0

    def start(self, trial: Trial, task: Task) -> None:
        self.trial = trial
        self.started = time.monotonic()
        self.conn.send(("run", asdict(task)))

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("exit", None))
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=2)
        self.conn.close()


class ProcessExecutor:
    """Runs trials in ``n_workers`` spawned processes on this machine.

    Args:
        objective: The objective or its ``"file.py:name"`` reference.
        hooks: Where reports and user attributes go.
        n_workers: Worker processes.
        timeout_per_trial: Seconds after which a trial's worker is killed and the trial failed.
        threads_per_worker: ``torch.set_num_threads`` and ``OMP_NUM_THREADS`` in each worker.
    """

    def __init__(
        self,
        objective: Callable[..., Any] | str,
        hooks: TrialHooks,
        n_workers: int,
        timeout_per_trial: float | None = None,
        threads_per_worker: int | None = None,
    ) -> None:
        self.ref = _objective_ref(objective)
        if isinstance(self.ref, str):  # fail fast, here, with a clear message
            _load_with_fallback(self.ref, _fallback_spec(self.ref))
        self.hooks = hooks
        self.capacity = int(n_workers)
        self.timeout_per_trial = timeout_per_trial
        self.threads = threads_per_worker
        self._ctx = mp.get_context("spawn")
        self.workers: list[_Worker] = []
        self._dead_before_ready = 0
        self._finished: list[tuple[Trial, Outcome]] = []

    def _spawn(self) -> None:
        self.workers = [w for w in self.workers if w.trial is not None or w.process.is_alive()]
        while len(self.workers) < self.capacity:
            self.workers.append(_Worker(self._ctx, self.ref, self.threads))

    def submit(self, trial: Trial, task: Task) -> None:
        self._spawn()
        deadline = time.monotonic() + 300.0
        while True:
            idle = [w for w in self.workers if w.trial is None and w.ready]
            if idle:
                idle[0].start(trial, task)
                return
            if time.monotonic() > deadline:
                raise ObjectiveLoadError(
                    "no worker process became ready within 300 s to load the objective"
                )
            self._receive(0.2)
            self._check_deaths()
            self._spawn()

    def running(self) -> list[Trial]:
        busy = [w.trial for w in self.workers if w.trial is not None]
        return busy + [t for t, _ in self._finished]  # finished but not returned by poll yet

    def poll(self, timeout: float) -> list[tuple[Trial, Outcome]]:
        self._receive(0.0 if self._finished else timeout)
        self._check_deaths()
        done, self._finished = self._finished, []
        return done

    def _receive(self, timeout: float) -> None:
        conns = {w.conn: w for w in self.workers if not w.conn.closed}
        for conn in wait(list(conns), timeout=timeout):
            w = conns[conn]
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                continue  # the process died: handled by _check_deaths
            if kind == "ready":
                w.ready = True
            elif kind == "load_error":
                raise ObjectiveLoadError(f"a worker could not load the objective: {payload}")
            elif kind == "user_attr" and w.trial is not None:
                self.hooks.set_user_attr(w.trial, *payload)
            elif kind == "report" and w.trial is not None:
                step, value = payload
                conn.send(("decision", self.hooks.report(w.trial, step, value)))
            elif kind == "result" and w.trial is not None:
                trial, w.trial = w.trial, None
                self._finished.append((trial, payload))

    def _check_deaths(self) -> None:
        """Fail the trials of dead or timed-out workers (they are replaced at the next submit)."""
        now = time.monotonic()
        for w in self.workers:
            if w.conn.closed:
                continue
            reason = None
            if not w.process.is_alive():
                reason = (
                    f"worker process exited with code {w.process.exitcode} while running the "
                    "trial (out of memory, a crash in native code, or os._exit)"
                )
            elif (
                w.trial is not None
                and self.timeout_per_trial is not None
                and now - w.started > self.timeout_per_trial
            ):
                reason = (
                    f"timeout: the trial ran longer than timeout_per_trial="
                    f"{self.timeout_per_trial:g} s and its worker was killed"
                )
            if reason is None:
                continue
            trial, w.trial = w.trial, None
            was_ready = w.ready
            w.kill()
            if trial is not None:
                self._finished.append((trial, Outcome(TrialState.FAILED, error=reason)))
            elif not was_ready:
                self._dead_before_ready += 1
                if self._dead_before_ready >= 2:
                    raise ObjectiveLoadError(
                        f"worker processes exited with code {w.process.exitcode} before they "
                        "could load the objective. Worker processes are spawned and re-import "
                        "the main script: put the call of optimize()/tune() under "
                        '`if __name__ == "__main__":` (its output above shows the error)'
                    )

    def cancel(self) -> list[Trial]:
        trials = [t for t, _ in self._finished]  # their results arrived after the stop
        self._finished = []
        for w in self.workers:
            if w.trial is not None:
                trials.append(w.trial)
                w.trial = None
                w.kill()
        return trials

    def close(self) -> None:
        for w in self.workers:
            if w.trial is not None:
                w.kill()
            elif not w.conn.closed:
                w.stop()
        self.workers = []


class LocalExecutor:
    """Chooses how to run trials on this machine.

    ``n_workers=1`` without ``timeout_per_trial`` runs the objective in the calling process;
    anything else runs it in spawned worker processes (:class:`ProcessExecutor`).

    Args:
        n_workers: Trials running at once.
        timeout_per_trial: Seconds after which a trial's worker is killed (processes only).
        threads_per_worker: Torch threads per worker process (``None``: CPUs / workers).
    """

    def __init__(
        self,
        n_workers: int = 1,
        timeout_per_trial: float | None = None,
        threads_per_worker: int | None = None,
    ) -> None:
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise InputError(f"n_workers={n_workers!r} must be a positive integer")
        if timeout_per_trial is not None and not (
            isinstance(timeout_per_trial, (int, float)) and timeout_per_trial > 0
        ):
            raise InputError(
                f"timeout_per_trial={timeout_per_trial!r} must be a positive number of seconds "
                "or None"
            )
        self.n_workers = n_workers
        self.timeout_per_trial = timeout_per_trial
        cpus = os.cpu_count() or 1
        self.threads = threads_per_worker or max(1, cpus // n_workers)

    @property
    def in_process(self) -> bool:
        return self.n_workers == 1 and self.timeout_per_trial is None

    def start(self, objective: Callable[..., Any] | str, hooks: TrialHooks) -> Executor:
        """An executor bound to ``objective`` and the loop's ``hooks``."""
        if self.in_process:
            return InProcessExecutor(objective, hooks)
        return ProcessExecutor(
            objective, hooks, self.n_workers, self.timeout_per_trial, self.threads
        )
