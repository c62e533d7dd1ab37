"""The drop-in tuner: run a user's ``train(config, ctx)`` over a study, in local worker processes.

A training function receives the configuration (plain JSON values) and a :class:`TrialContext`::

    def train(config, ctx):
        model = build(config)
        start = 0
        if ctx.previous_fidelity:                       # a promotion: resume the parent's run
            start = load(ctx.checkpoint_dir / "last.pt")
        for epoch in range(start, int(ctx.fidelity["epochs"])):
            acc = train_one_epoch(model)
            ctx.report(epoch, acc)                      # may raise TrialPruned
            save(ctx.checkpoint_dir / "last.pt", epoch + 1)
        return acc

    study = jahs_bo.tune(train, space, n_trials=50, n_workers=2, storage="sqlite:///study.db",
                         directions=["maximize"], timeout_per_trial=600)

Failures are data, never a crash of the search: a trial whose function raises, returns NaN/inf
(or the wrong number of values), exceeds ``timeout_per_trial`` or whose worker process dies is
recorded FAILED with the reason and the traceback, and the search goes on. Ctrl-C stops the
workers, records their trials FAILED with the reason ``"interrupted: ..."`` and returns; calling
:func:`tune` again with the same storage and study name resumes (``n_trials`` is the total the
study should hold, so the same call finishes the remaining trials).

Execution: with ``n_workers=1`` and no per-trial timeout, the function runs in the calling
process (easy to debug). Otherwise each worker is a ``spawn``-ed process that imports the
function by reference (a top-level function of an importable module or script, or a
``"path/to/file.py:func"`` / ``"module:func"`` string). The study's ``ask``/``tell``/``report``
all happen in the main process; workers only run the function and send their reports and results
back through a pipe.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import logging
import math
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jahs_bo.exceptions import InputError, JahsBOError, ObjectiveValueError
from jahs_bo.types import Config, FidelityValues, Trial, TrialState, check_values

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

__all__ = [
    "ObjectiveLoadError",
    "TrialContext",
    "TrialPruned",
    "Tuner",
    "checkpoint_root_for",
    "counts_towards_budget",
    "load_objective",
    "objective_spec",
    "open_study",
    "optimize",
    "tune",
]

logger = logging.getLogger(__name__)

#: Reason prefix of trials stopped by Ctrl-C; such trials do not count towards ``n_trials``.
INTERRUPTED = "interrupted"
#: Reason prefix the storage uses for trials whose owning process died (see jahs_bo.storage.base).
_DEAD_WORKER = "worker died"


class TrialPruned(JahsBOError):
    """Raised by :meth:`TrialContext.report` when the scheduler stops the trial early.

    Let it propagate out of the training function (or raise it yourself); the trial is recorded
    PRUNED with its last reported value.
    """


class ObjectiveLoadError(InputError):
    """The training function cannot be found or imported (wrong path, module or name)."""


# ------------------------------------------------------------------------------------------
# The context the training function receives
# ------------------------------------------------------------------------------------------


class TrialContext:
    """What a training function knows about its trial.

    Attributes:
        trial_id: Storage-wide id of the trial.
        number: Position of the trial in its study (0-based).
        config: The configuration (plain JSON values).
        fidelity: Fidelity values to train at, e.g. ``{"epochs": 9}`` (empty without fidelities).
        previous_fidelity: Fidelity of the parent trial when this trial continues one (a
            promotion by a multi-fidelity scheduler), else ``None``. Resume from the checkpoint
            the parent left in :attr:`checkpoint_dir`; a function that cannot resume may simply
            train from scratch.
        checkpoint_dir: A directory that belongs to this configuration (the same for every
            trial of the same configuration, so promotions find the parent's files). Created
            before the function is called.
        max_fidelity: The space's largest fidelity values (e.g. to set a learning-rate
            schedule that does not depend on the fidelity a trial runs at, so a resumed run
            continues exactly as an uninterrupted one would).
    """

    def __init__(
        self,
        *,
        trial_id: int,
        number: int,
        config: Config,
        fidelity: FidelityValues,
        previous_fidelity: FidelityValues | None,
        checkpoint_dir: Path,
        max_fidelity: FidelityValues | None = None,
        reporter: Callable[[int, float], bool],
        attr_setter: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.trial_id = trial_id
        self.number = number
        self.config = config
        self.fidelity = fidelity
        self.previous_fidelity = previous_fidelity
        self.checkpoint_dir = checkpoint_dir
        self.max_fidelity = dict(max_fidelity or {})
        self._reporter = reporter
        self._attr_setter = attr_setter
        self.last_report: tuple[int, float] | None = None

    def report(self, step: int, value: float) -> None:
        """Record an intermediate metric (e.g. the validation accuracy after epoch ``step``).

        Args:
            step: Increasing step number (epoch).
            value: The metric of the first objective, in its own direction.

        Raises:
            TrialPruned: The study's scheduler decided to stop this trial; let it propagate.
        """
        value = float(value)
        self.last_report = (int(step), value)
        if not math.isfinite(value):
            return  # a NaN report is kept out of the study; the final value decides
        if self._reporter(int(step), value):
            raise TrialPruned(f"trial {self.number} pruned at step {step} (value {value:g})")

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON value on the trial (e.g. a test accuracy or a parameter count).

        Raises:
            InputError: ``value`` is not JSON-serialisable.
        """
        import json

        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InputError(
                f"user attribute {key!r}={value!r} is not JSON-serialisable; store numbers, "
                "strings, lists or dicts"
            ) from None
        if self._attr_setter is not None:
            self._attr_setter(str(key), value)

    def __repr__(self) -> str:
        return (
            f"TrialContext(number={self.number}, fidelity={self.fidelity}, "
            f"previous_fidelity={self.previous_fidelity}, checkpoint_dir='{self.checkpoint_dir}')"
        )


# ------------------------------------------------------------------------------------------
# Finding the training function by reference
# ------------------------------------------------------------------------------------------


def load_objective(spec: str) -> Callable[..., Any]:
    """Load a function from ``"path/to/file.py:name"`` or ``"package.module:name"``.

    Raises:
        ObjectiveLoadError: The file or module does not exist or does not import, or has no
            callable of that name; the message names the path and the function.
    """
    if ":" not in spec:
        raise ObjectiveLoadError(
            f"objective {spec!r} has no ':'; write 'path/to/train.py:train' or 'module:train'"
        )
    target, _, name = spec.rpartition(":")
    if not name:
        raise ObjectiveLoadError(f"objective {spec!r} names no function after ':'")
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ObjectiveLoadError(
                f"training script {str(path)!r} does not exist (from {spec!r})"
            )
        mod_name = "_jahs_bo_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
        module = sys.modules.get(mod_name)
        if module is None:
            file_spec = importlib.util.spec_from_file_location(mod_name, path)
            if file_spec is None or file_spec.loader is None:
                raise ObjectiveLoadError(f"cannot import {str(path)!r} as a Python file")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[mod_name] = module
            sys.path.insert(0, str(path.parent))  # sibling imports of the script
            try:
                file_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ObjectiveLoadError(
                    f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
                ) from exc
        where = repr(str(path))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ObjectiveLoadError(
                f"cannot import module {target!r} (from {spec!r}): {exc}"
            ) from exc
        where = f"module {target!r}"
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(
                k
                for k, v in vars(module).items()
                if callable(v)
                and not k.startswith("_")
                and getattr(v, "__module__", None) == module.__name__
            )
            raise ObjectiveLoadError(
                f"{where} has no function {name!r}; callables defined there: {found}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ObjectiveLoadError(f"{name!r} in {where} is a {type(obj).__name__}, not a function")
    return obj


def objective_spec(objective: Callable[..., Any] | str) -> str:
    """A ``"file.py:name"`` or ``"module:name"`` reference that a spawned worker can import.

    Raises:
        ObjectiveLoadError: The function is a lambda or defined inside another function.
    """
    if isinstance(objective, str):
        return objective
    qualname = getattr(objective, "__qualname__", None)
    module = getattr(objective, "__module__", None)
    if not qualname or not module or "<" in qualname:
        raise ObjectiveLoadError(
            f"{objective!r} cannot run in a worker process: worker processes import the "
            "training function, so define it at the top level of a module or script (no lambda, "
            "no nested function), or use n_workers=1 without timeout_per_trial"
        )
    if module == "__main__":
        main_file = getattr(sys.modules["__main__"], "__file__", None)
        if not main_file:
            raise ObjectiveLoadError(
                f"{qualname!r} is defined in an interactive session; worker processes cannot "
                "import it. Put it in a file and pass 'file.py:name', or use n_workers=1 "
                "without timeout_per_trial"
            )
        return f"{Path(main_file).resolve()}:{qualname}"
    return f"{module}:{qualname}"


def _fallback_spec(spec: str) -> str | None:
    """The ``"file.py:name"`` form of a ``"module:name"`` spec, for workers whose ``sys.path``
    cannot import the module by name (test modules, scripts beside the working directory)."""
    target, _, name = spec.rpartition(":")
    if target.endswith(".py") or "/" in target or os.sep in target:
        return None
    mod_file = getattr(sys.modules.get(target), "__file__", None)
    return f"{Path(mod_file).resolve()}:{name}" if mod_file else None


def _load_with_fallback(spec: str, fallback: str | None) -> Callable[..., Any]:
    try:
        return load_objective(spec)
    except ObjectiveLoadError:
        if fallback is None:
            raise
        return load_objective(fallback)


# ------------------------------------------------------------------------------------------
# Running one trial (shared by the in-process path and the workers)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    trial_id: int
    number: int
    config: Config
    fidelity: FidelityValues
    previous_fidelity: FidelityValues | None
    checkpoint_dir: str
    max_fidelity: FidelityValues | None = None


@dataclass(frozen=True)
class _Outcome:
    """What became of one call of the training function."""

    state: TrialState
    values: Any = None  # raw return value (checked in the main process)
    error: str | None = None
    last_report: tuple[int, float] | None = None


def _call(
    fn: Callable[..., Any],
    task: _Task,
    reporter: Callable[[int, float], bool],
    attr_setter: Callable[[str, Any], None] | None = None,
) -> _Outcome:
    """Run ``fn(config, ctx)`` and turn exceptions into outcomes (KeyboardInterrupt propagates)."""
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
        return _Outcome(TrialState.PRUNED, error=str(exc), last_report=ctx.last_report)
    except Exception as exc:
        tb = traceback.format_exc()
        return _Outcome(
            TrialState.FAILED,
            error=f"{type(exc).__name__}: {exc}\n{tb}",
            last_report=ctx.last_report,
        )
    return _Outcome(TrialState.COMPLETE, values=_jsonable(values), last_report=ctx.last_report)


def _jsonable(values: Any) -> Any:
    """Plain floats (or a dict/list of them) so the value crosses the pipe and stays JSON."""
    if isinstance(values, Mapping):
        return {str(k): _to_float(v) for k, v in values.items()}
    if isinstance(values, (str, bytes)):
        return values
    if isinstance(values, Sequence) or hasattr(values, "tolist"):
        seq = values.tolist() if hasattr(values, "tolist") else list(values)
        return [_to_float(v) for v in seq] if isinstance(seq, list) else _to_float(seq)
    return _to_float(values)


def _to_float(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return repr(v)


# ------------------------------------------------------------------------------------------
# Worker processes
# ------------------------------------------------------------------------------------------


def _worker_main(
    spec: str, fallback: str | None, conn: Connection, threads: int | None, parent_pid: int
) -> None:
    """Entry point of a spawned worker: load the function, then run tasks until told to exit."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C

    def watchdog() -> None:  # exit when the main process is gone (kill -9)
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(3)

    threading.Thread(target=watchdog, daemon=True).start()
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        fn = _load_with_fallback(spec, fallback)
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    except Exception as exc:
        conn.send(("load_error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))

    def reporter(step: int, value: float) -> bool:
        conn.send(("report", (step, value)))
        kind, stop = conn.recv()
        return bool(stop)

    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:
            return
        if kind == "exit":
            return
        outcome = _call(
            fn, _Task(**payload), reporter, lambda k, v: conn.send(("user_attr", (k, v)))
        )
        conn.send(
            (
                "result",
                {
                    "state": outcome.state.value,
                    "values": outcome.values,
                    "error": outcome.error,
                    "last_report": outcome.last_report,
                },
            )
        )


class _Worker:
    """The main process's handle on one worker process."""

    def __init__(self, ctx: Any, spec: str, threads: int | None) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(spec, _fallback_spec(spec), child, threads, os.getpid()),
            daemon=True,
        )
        self.process.start()
        child.close()
        self.ready = False
        self.trial: Trial | None = None
        self.started = 0.0

    def start(self, trial: Trial, task: _Task) -> None:
        self.trial = trial
        self.started = time.monotonic()
        self.conn.send(("run", task.__dict__))

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


# ------------------------------------------------------------------------------------------
# The main loop
# ------------------------------------------------------------------------------------------


def counts_towards_budget(trial: Trial) -> bool:
    """Whether a finished trial counts towards ``n_trials``.

    Trials lost to an interruption (Ctrl-C, or a killed tuner process whose RUNNING trials the
    storage later failed) do not: re-running the same :func:`tune` call replaces them.
    """
    if not trial.state.is_finished:
        return False
    if trial.state is TrialState.FAILED and trial.error:
        return not trial.error.startswith((INTERRUPTED, _DEAD_WORKER))
    return True


def checkpoint_root_for(storage: Any, study_name: str) -> Path:
    """Default checkpoint root: ``<db>_checkpoints/<study>/`` beside a SQLite file, else a
    directory under the system's temporary directory."""
    text = str(storage) if storage is not None else ""
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    if text and text != ":memory:" and not text.startswith(("memory", "sqlite:")):
        db = Path(text).expanduser().resolve()
        return db.parent / f"{db.stem}_checkpoints" / _safe(study_name)
    return Path(tempfile.gettempdir()) / "jahs_bo_checkpoints" / _safe(study_name)


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return keep or "study"


class Tuner:
    """Runs a training function over a study until it holds ``n_trials`` counted trials.

    Most users call :func:`tune`; use this class to run an existing study.

    Args:
        study: A :class:`jahs_bo.study.Study` (its ``ask``/``tell``/``report`` are used).
        objective: ``train(config, ctx)`` or a ``"file.py:name"`` / ``"module:name"`` string.
        n_workers: Parallel worker processes (1: run in this process unless a timeout is set).
        timeout_per_trial: Seconds after which a trial's worker is killed and the trial FAILED.
        checkpoint_root: Parent of the per-configuration checkpoint directories.
        threads_per_worker: ``torch.set_num_threads`` in each worker (``None``: CPUs / workers).
        progress: A progress display (see :mod:`jahs_bo.progress`), ``True`` for the default
            rich display, or ``None``/``False`` for none.
        enqueue: Configurations to evaluate first (e.g. the default configuration, as a
            baseline), each a config or a ``(config, fidelity)`` pair (fidelity ``None``: the
            full fidelity). One already in the study (running or counted) is not run again, so
            a resumed search does not repeat them.
    """

    def __init__(
        self,
        study: Any,
        objective: Callable[..., Any] | str,
        *,
        n_workers: int = 1,
        timeout_per_trial: float | None = None,
        checkpoint_root: str | Path | None = None,
        threads_per_worker: int | None = None,
        progress: Any = None,
        enqueue: Sequence[Config | tuple[Config, FidelityValues | None]] = (),
    ) -> None:
        if int(n_workers) != n_workers or n_workers < 1:
            raise InputError(f"n_workers must be a positive integer, got {n_workers!r}")
        if timeout_per_trial is not None and not timeout_per_trial > 0:
            raise InputError(f"timeout_per_trial must be > 0 seconds, got {timeout_per_trial!r}")
        self.study = study
        self.n_workers = int(n_workers)
        self.timeout_per_trial = timeout_per_trial
        self.in_process = self.n_workers == 1 and timeout_per_trial is None
        if self.in_process:
            self.fn = load_objective(objective) if isinstance(objective, str) else objective
            self.spec = None
        else:
            self.spec = objective_spec(objective)
            # fail fast, in the main process, with a clear message
            _load_with_fallback(self.spec, _fallback_spec(self.spec))
        if checkpoint_root is None:
            db = getattr(study.storage, "path", None)
            checkpoint_root = checkpoint_root_for(db, study.study_name)
        self.checkpoint_root = Path(checkpoint_root)
        cpus = os.cpu_count() or 1
        self.threads = threads_per_worker or max(1, cpus // self.n_workers)
        if progress is True:
            from jahs_bo.progress import RichProgress

            progress = RichProgress()
        self.progress = progress or None
        self.interrupted = False
        self.enqueued: list[tuple[Config, FidelityValues]] = []
        for item in enqueue:
            config, fidelity = item if isinstance(item, tuple) else (item, None)
            self.enqueued.append(
                (
                    study.space.validate(config),
                    study.space.validate_fidelity(fidelity or study.space.max_fidelity()),
                )
            )

    # ------------------------------------------------------------------ helpers

    def counted(self) -> int:
        return sum(counts_towards_budget(t) for t in self.study.trials)

    def _ask(self) -> Trial:
        """The next trial: the first enqueued configuration not in the study yet, else the
        study's proposal."""
        if self.enqueued:
            space = self.study.space
            present = {
                (space.config_key(t.config), tuple(sorted(t.fidelity.items())))
                for t in self.study.trials
                if t.state is TrialState.RUNNING or counts_towards_budget(t)
            }
            for config, fidelity in self.enqueued:
                if (space.config_key(config), tuple(sorted(fidelity.items()))) not in present:
                    return self.study.ask(config, fidelity=fidelity)
        return self.study.ask()

    def checkpoint_dir(self, config: Config) -> Path:
        space = self.study.space
        key = space.config_key(config) if hasattr(space, "config_key") else repr(sorted(config))
        return self.checkpoint_root / hashlib.sha256(key.encode()).hexdigest()[:16]

    def _task(self, trial: Trial) -> _Task:
        prev = trial.system_attrs.get("previous_fidelity")
        if prev is None and trial.parent_id is not None:
            try:
                prev = dict(self.study.storage.get_trial(trial.parent_id).fidelity)
            except Exception:  # the parent may belong to a storage we cannot read: no resume
                prev = None
        return _Task(
            trial_id=trial.trial_id,
            number=trial.number,
            config=dict(trial.config),
            fidelity=dict(trial.fidelity),
            previous_fidelity=dict(prev) if prev else None,
            checkpoint_dir=str(self.checkpoint_dir(trial.config)),
            max_fidelity=dict(self.study.space.max_fidelity()),
        )

    def _report(self, trial: Trial, step: int, value: float) -> bool:
        """Store the report; ask the study's scheduler whether to stop the trial."""
        self.study.report(trial, step, value)
        return bool(self.study.should_stop(trial, step, value))

    def _finish(self, trial: Trial, outcome: _Outcome) -> None:
        """Tell the study what became of ``trial``."""
        state, error, values = outcome.state, outcome.error, None
        if state is TrialState.COMPLETE:
            try:
                checked = check_values(self._as_sequence(outcome.values), self._n_objectives())
            except ObjectiveValueError as exc:
                checked = str(exc)
            if isinstance(checked, str):
                state, error = TrialState.FAILED, checked
            else:
                values = checked
        if state is TrialState.PRUNED:
            last = outcome.last_report
            values = (last[1],) if last and self._n_objectives() == 1 else None
        self.study.tell(trial, values, state=state, error=error)
        if self.progress is not None:
            self.progress.trial_finished(self.study, self.study.storage.get_trial(trial.trial_id))
        if state is TrialState.FAILED and self.progress is None:
            first = (error or "").strip().splitlines()[:1]
            logger.warning("trial %d failed: %s", trial.number, first[0] if first else "")

    def _n_objectives(self) -> int:
        return len(self.study.directions)

    def _as_sequence(self, values: Any) -> Any:
        if isinstance(values, Mapping):
            names = list(getattr(self.study, "objective_names", None) or [])
            if not names or set(values) != set(names):
                raise ObjectiveValueError(
                    f"the training function returned a dict with keys {sorted(values)}; a dict "
                    f"needs exactly the study's objective names {names}"
                )
            return [values[n] for n in names]
        if isinstance(values, str):
            raise ObjectiveValueError(f"objective value {values!r} is not a number; return floats")
        return values

    def _want_more(self, n_trials: int, running: int) -> bool:
        return self.counted() + running < n_trials

    # ------------------------------------------------------------------ loops

    def run(self, n_trials: int) -> Any:
        """Run until the study holds ``n_trials`` counted trials, or Ctrl-C. Returns the study."""
        if int(n_trials) != n_trials or n_trials < 0:
            raise InputError(f"n_trials must be a non-negative integer, got {n_trials!r}")
        if self.progress is not None:
            self.progress.start(self.study, int(n_trials))
        try:
            if self.in_process:
                self._run_in_process(int(n_trials))
            else:
                self._run_workers(int(n_trials))
        finally:
            if self.progress is not None:
                self.progress.stop(self.study, interrupted=self.interrupted)
        return self.study

    def _run_in_process(self, n_trials: int) -> None:
        while self._want_more(n_trials, 0):
            trial = self._ask()
            task = self._task(trial)
            if self.progress is not None:
                self.progress.trial_started(self.study, trial, running=1)
            try:
                outcome = _call(
                    self.fn,
                    task,
                    lambda s, v, t=trial: self._report(t, s, v),
                    lambda k, v, t=trial: self.study.set_trial_user_attr(t, k, v),
                )
            except KeyboardInterrupt:
                self.interrupted = True
                self.study.tell(
                    trial,
                    None,
                    state=TrialState.FAILED,
                    error=f"{INTERRUPTED}: stopped by the user (Ctrl-C); run again to resume",
                )
                return
            self._finish(trial, outcome)

    def _run_workers(self, n_trials: int) -> None:
        mpctx = mp.get_context("spawn")
        workers: list[_Worker] = []
        try:
            workers = [_Worker(mpctx, self.spec, self.threads) for _ in range(self.n_workers)]
            while True:
                busy = [w for w in workers if w.trial is not None]
                # replace workers that died or were killed, while trials remain to be run
                workers = [w for w in workers if w.process.exitcode is None or w.trial]
                while len(workers) < self.n_workers and self._want_more(n_trials, len(busy)):
                    workers.append(_Worker(mpctx, self.spec, self.threads))
                # hand out new trials to idle, ready workers
                for w in workers:
                    if w.trial is None and w.ready and self._want_more(n_trials, len(busy)):
                        trial = self._ask()
                        w.start(trial, self._task(trial))
                        busy.append(w)
                        if self.progress is not None:
                            self.progress.trial_started(self.study, trial, running=len(busy))
                if not busy and not self._want_more(n_trials, 0):
                    return
                self._poll(workers, timeout=0.5)
                self._check_timeouts_and_deaths(workers)
                if self.progress is not None:
                    self.progress.tick(
                        self.study, running=sum(w.trial is not None for w in workers)
                    )
        except KeyboardInterrupt:
            self.interrupted = True
            for w in workers:
                if w.trial is not None:
                    w.kill()
                    self._tell_failed(
                        w.trial,
                        f"{INTERRUPTED}: stopped by the user (Ctrl-C); run again to resume",
                    )
                    w.trial = None
        finally:
            for w in workers:
                if w.trial is not None:  # an unexpected error in the main loop
                    w.kill()
                    self._tell_failed(w.trial, f"{INTERRUPTED}: the tuner stopped")
                    w.trial = None
                elif not w.conn.closed:
                    w.stop()

    def _tell_failed(self, trial: Trial, error: str) -> None:
        self._finish(trial, _Outcome(TrialState.FAILED, error=error))

    def _poll(self, workers: list[_Worker], timeout: float) -> None:
        conns = {w.conn: w for w in workers if not w.conn.closed}
        for conn in wait(list(conns), timeout=timeout):
            w = conns[conn]
            try:
                kind, payload = conn.recv()
            except (EOFError, OSError):
                continue  # the process died: handled by _check_timeouts_and_deaths
            if kind == "ready":
                w.ready = True
            elif kind == "load_error":
                raise ObjectiveLoadError(
                    f"a worker could not load the training function: {payload}"
                )
            elif kind == "user_attr" and w.trial is not None:
                key, value = payload
                self.study.set_trial_user_attr(w.trial, key, value)
            elif kind == "report" and w.trial is not None:
                step, value = payload
                conn.send(("decision", self._report(w.trial, step, value)))
            elif kind == "result" and w.trial is not None:
                trial, w.trial = w.trial, None
                outcome = _Outcome(
                    TrialState(payload["state"]),
                    values=payload["values"],
                    error=payload["error"],
                    last_report=tuple(payload["last_report"]) if payload["last_report"] else None,
                )
                self._finish(trial, outcome)

    def _check_timeouts_and_deaths(self, workers: list[_Worker]) -> None:
        """Fail the trials of dead or timed-out workers; the main loop replaces the workers."""
        now = time.monotonic()
        for w in workers:
            reason = None
            if w.conn.closed:
                continue  # already handled
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
            w.kill()
            if trial is not None:
                self._tell_failed(trial, reason)
            elif not w.ready:
                raise ObjectiveLoadError(
                    f"a worker process exited with code {w.process.exitcode} before it could load "
                    f"the training function {self.spec!r}. Worker processes are spawned and "
                    "re-import the main script: if a script calls tune(), put the call under "
                    '`if __name__ == "__main__":` (its output above shows the error)'
                )


def tune(
    objective: Callable[..., Any] | str,
    space: SearchSpace,
    *,
    n_trials: int,
    n_workers: int = 1,
    storage: str | os.PathLike[str] | None = None,
    study_name: str | None = None,
    directions: Sequence[str] | None = None,
    objectives: Mapping[str, str] | None = None,
    searcher: str | Any | None = None,
    scheduler: Any = None,
    scheduler_options: Mapping[str, Any] | None = None,
    seed: int | None = None,
    timeout_per_trial: float | None = None,
    checkpoint_root: str | Path | None = None,
    threads_per_worker: int | None = None,
    progress: bool | Any = False,
    enqueue: Sequence[Config | tuple[Config, FidelityValues | None]] = (),
    **study_kwargs: Any,
) -> Any:
    """Create or resume a study and run ``objective(config, ctx)`` until it holds ``n_trials``.

    Args:
        objective: ``train(config, ctx) -> value(s)`` (see :class:`TrialContext`), or a
            ``"path/to/train.py:train"`` / ``"module:train"`` string.
        space: The search space.
        n_trials: Total trials the study should hold when this returns (trials lost to an
            interruption do not count), so the same call resumes an interrupted search.
        n_workers: Local worker processes running trials in parallel.
        storage: A SQLite file (path or ``"sqlite:///path.db"``) for a persistent, resumable
            study; ``None`` keeps it in memory.
        study_name: Name of the study in the storage (created, or loaded when it exists).
        directions: ``"minimize"``/``"maximize"`` per objective (default: one, minimize).
        objectives: Objective names mapped to directions instead (the function may then
            return a dict by name).
        searcher: Searcher name or instance (default: the study's default).
        scheduler: Multi-fidelity scheduler: a name (``"asha"``, ``"hyperband"``, ``"bohb"``,
            ``"sh"``, ``"fifo"``) or a ``jahs_bo.schedulers.Scheduler`` (see ``create_study``).
        scheduler_options: Keyword arguments of a scheduler given by name (``eta``,
            ``pruning="median"``, ``min_fidelity``, ...).
        seed: Seed of a new study.
        timeout_per_trial: Seconds; a trial running longer is killed and recorded FAILED.
        checkpoint_root: Where per-configuration checkpoint directories go (default: beside the
            SQLite file, see :func:`checkpoint_root_for`).
        threads_per_worker: Torch threads per worker (default: CPUs / workers).
        progress: ``True`` for a live rich display, or a progress object.
        enqueue: Configurations to evaluate first (see :class:`Tuner`).
        **study_kwargs: Passed on to :func:`jahs_bo.study.create_study`.

    Returns:
        The :class:`jahs_bo.study.Study`. After Ctrl-C it returns early, with the study
        consistent and resumable.
    """
    study = open_study(
        space,
        storage=storage,
        study_name=study_name,
        directions=directions,
        objectives=objectives,
        searcher=searcher,
        scheduler=scheduler,
        scheduler_options=scheduler_options,
        seed=seed,
        **study_kwargs,
    )
    tuner = Tuner(
        study,
        objective,
        n_workers=n_workers,
        timeout_per_trial=timeout_per_trial,
        checkpoint_root=checkpoint_root,
        threads_per_worker=threads_per_worker,
        progress=progress,
        enqueue=enqueue,
    )
    tuner.run(n_trials)
    if tuner.interrupted:
        logger.warning("search interrupted; run the same command again to resume")
    return study


def optimize(
    study: Any,
    objective: Callable[..., Any] | str,
    n_trials: int,
    **tuner_kwargs: Any,
) -> Any:
    """Run ``objective(config, ctx)`` on an existing study until it holds ``n_trials``.

    The ``train(config, ctx)`` counterpart of ``Study.optimize`` (whose functions take a
    trial); ``tuner_kwargs`` are those of :class:`Tuner` (``n_workers``, ``timeout_per_trial``,
    ``progress``, ``enqueue``, ...). Returns the study.
    """
    tuner = Tuner(study, objective, **tuner_kwargs)
    tuner.run(n_trials)
    return study


def open_study(space: SearchSpace, **kwargs: Any) -> Any:
    """``create_study(space, load_if_exists=True, ...)``; a plain file path means SQLite.

    Arguments that are ``None`` are left out, so the study's defaults apply.
    """
    from jahs_bo.study import create_study

    storage = kwargs.pop("storage", None)
    if isinstance(storage, str) and "://" not in storage:
        storage = Path(storage)
    if isinstance(storage, Path):
        storage = storage.expanduser().resolve()
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return create_study(space, storage=storage, load_if_exists=True, **kwargs)
