"""Trials as Ray tasks on a local or remote Ray cluster (``optimize(..., executor="ray")``).

The process that runs the optimize loop (the *driver*) owns the study: it asks the searcher,
tells results and decides promotions, exactly as with local workers. Each trial is one Ray task
(``max_retries=0``: Ray itself never re-runs a trial) that calls the objective on whichever node
has the trial's resources free. Reports (``ctx.report``) and user attributes travel to the driver
through a small *hub* actor pinned to the driver's node, which returns the scheduler's decision
to the waiting task.

Failures and retries:

* A task whose node dies fails its trial with ``system_attrs["lost"] = "node lost"``; a task
  whose worker process dies (killed, out of memory, a crash in native code) with ``"worker
  died"``. The error says which node and why. Lost trials do not count towards ``n_trials``, so
  the loop asks again and the study re-runs them with the same configuration, fidelity and parent
  (see :mod:`jahs_bo.study.core`). A trial lost again after :data:`~jahs_bo.study.core.MAX_RERUNS`
  re-runs is recorded as an ordinary failure, so a configuration that always kills its worker
  cannot stall the study.
* Ctrl-C cancels the running tasks, records their trials as lost (interrupted) and re-raises;
  the same call resumes.
* ``timeout_per_trial`` force-cancels a trial's task and fails the trial (not lost), as local
  workers do.

``ray`` is an optional dependency (``pip install "jahs-bo[ray]"``), imported when a Ray executor
starts. Every node must be able to import ``jahs_bo`` and the objective (the same environment on
every node, or a ``"file.py:name"`` objective on a shared file system); checkpoint directories
(``checkpoint_root``) must be on a path that every node reaches for promotions to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from jahs_bo.exceptions import InputError, JahsBOError
from jahs_bo.storage.base import LOST_WORKER_DIED
from jahs_bo.study.core import ATTEMPT, MAX_RERUNS
from jahs_bo.study.executor import Outcome, Task, TrialHooks, run_objective
from jahs_bo.study.objective import (
    ObjectiveLoadError,
    _fallback_spec,
    _load_with_fallback,
    objective_spec,
)
from jahs_bo.types import Trial, TrialState

__all__ = ["LOST_NODE_LOST", "RayExecutor", "RayNotInstalledError", "import_ray"]

#: ``system_attrs["lost"]`` of a trial whose Ray node died while it ran.
LOST_NODE_LOST = "node lost"
#: Seconds a pending ``take`` of the hub waits for a message before returning empty.
_TAKE_WAIT = 5.0
#: Seconds between two reads of the cluster's resources (for ``capacity``).
_CAPACITY_REFRESH = 5.0


class RayNotInstalledError(JahsBOError, ImportError):
    """``executor="ray"`` or the Ray Tune integration was used without Ray installed."""


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`RayNotInstalledError` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RayNotInstalledError(
            f"Ray is not installed ({exc}); install the extra: pip install 'jahs-bo[ray]'"
        ) from None
    return ray


# ------------------------------------------------------------------------------ worker side
class _Hub:
    """Actor (asyncio) carrying reports and user attributes from trial tasks to the driver.

    A task's ``report`` waits until the driver answers with the scheduler's decision; the driver
    collects messages with ``take`` (waits for the first one) and ``drain`` (returns at once).
    """

    def __init__(self) -> None:
        self._inbox: list[tuple[Any, ...]] = []
        self._waiting: dict[int, asyncio.Future[bool]] = {}
        self._next = 0
        self._event: asyncio.Event | None = None
        self._drains = 0

    def _post(self, message: tuple[Any, ...]) -> None:
        self._inbox.append(message)
        if self._event is not None:
            self._event.set()

    async def started(self, trial_id: int, node_id: str) -> None:
        self._post(("started", trial_id, node_id))

    async def user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._post(("attr", trial_id, key, value))

    async def report(self, trial_id: int, step: int, value: float) -> bool:
        key = self._next
        self._next += 1
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        self._post(("report", trial_id, key, step, value))
        return await future

    async def answer(self, key: int, stop: bool) -> None:
        future = self._waiting.pop(key, None)
        if future is not None and not future.done():
            future.set_result(stop)

    async def take(self, wait: float) -> list[tuple[Any, ...]]:
        if not self._inbox:
            if self._event is None:
                self._event = asyncio.Event()
            self._event.clear()
            drains = self._drains
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._event.wait(), wait)
            if self._drains != drains:  # woken by ``drain``: newer messages wait for the next
                return []
        out, self._inbox = self._inbox, []
        return out

    async def drain(self) -> list[tuple[Any, ...]]:
        out, self._inbox = self._inbox, []
        self._drains += 1
        if self._event is not None:
            self._event.set()  # a waiting ``take`` returns now, empty
        return out


_LOADED: dict[str, Callable[..., Any]] = {}


def _run_trial(objective: Any, fallback: str | None, fields: dict[str, Any], hub: Any) -> Outcome:
    """Body of a trial's Ray task: load the objective, run it, return its outcome."""
    import ray

    if isinstance(objective, str):
        fn = _LOADED.get(objective)
        if fn is None:
            fn = _LOADED[objective] = _load_with_fallback(objective, fallback)
    else:
        fn = objective
    task = Task(**fields)
    ray.get(hub.started.remote(task.trial_id, ray.get_runtime_context().get_node_id()))

    def reporter(step: int, value: float) -> bool:
        return bool(ray.get(hub.report.remote(task.trial_id, step, value)))

    def attr_setter(key: str, value: Any) -> None:
        ray.get(hub.user_attr.remote(task.trial_id, key, value))

    return run_objective(fn, task, reporter, attr_setter, sendable=True)


# ------------------------------------------------------------------------------ driver side
def _check_resources(resources: Mapping[str, Any] | None) -> dict[str, float]:
    """``resources_per_trial`` as Ray resource names (``cpu`` -> ``CPU``, ``gpu`` -> ``GPU``)."""
    if resources is None:
        return {"CPU": 1.0}
    if not isinstance(resources, Mapping):
        raise InputError(
            f"resources_per_trial={resources!r} must be a dict such as {{'cpu': 4, 'gpu': 1}}"
        )
    out: dict[str, float] = {}
    for key, value in resources.items():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        if not isinstance(key, str) or not ok:
            raise InputError(
                f"resources_per_trial entry {key!r}: {value!r} must map a resource name to a "
                "non-negative number, e.g. {'cpu': 4, 'gpu': 1}"
            )
        name = {"cpu": "CPU", "gpu": "GPU"}.get(key.lower(), key)
        out[name] = float(value)
    return out


def _task_options(resources: Mapping[str, float]) -> dict[str, Any]:
    options: dict[str, Any] = {"max_retries": 0, "retry_exceptions": False}
    custom = {}
    for name, amount in resources.items():
        if name == "CPU":
            options["num_cpus"] = amount
        elif name == "GPU":
            options["num_gpus"] = amount
        elif name == "memory":
            options["memory"] = amount
        else:
            custom[name] = amount
    options.setdefault("num_cpus", 0 if resources else 1)
    if custom:
        options["resources"] = custom
    return options


@dataclass
class _Running:
    trial: Trial
    started: float
    node_id: str | None = None


class RayExecutor:
    """Runs trials as Ray tasks (pass it, or ``"ray"``, as ``optimize(executor=...)``).

    Args:
        address: The cluster to join, as for ``ray.init(address=...)``: ``"auto"`` (the cluster
            that ``ray start`` started on this machine), ``"HOST:PORT"`` of a head node, or
            ``None`` (``RAY_ADDRESS`` when set, else a new local Ray instance that ``close``
            shuts down). Ignored when Ray is already initialized in this process.
        resources_per_trial: Resources one trial holds, e.g. ``{"cpu": 4, "gpu": 1}``
            (``cpu``/``gpu`` and Ray's ``memory`` and custom resource names); default one CPU.
        max_concurrent: Trials running at once; ``None``: as many as the cluster's resources
            hold (re-read every few seconds, so joining nodes add capacity).
        timeout_per_trial: Seconds after which a trial's task is cancelled and the trial FAILED.
        max_retries: Re-runs of a trial lost to a dead node or worker (0 to
            :data:`~jahs_bo.study.core.MAX_RERUNS`); a trial lost once more is recorded as an
            ordinary (counted) failure.
        init_kwargs: Further keyword arguments of ``ray.init``.
    """

    def __init__(
        self,
        address: str | None = None,
        resources_per_trial: Mapping[str, Any] | None = None,
        max_concurrent: int | None = None,
        timeout_per_trial: float | None = None,
        max_retries: int = MAX_RERUNS,
        init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if address is not None and not isinstance(address, str):
            raise InputError(
                f"ray_address={address!r} must be 'auto', 'HOST:PORT' of a Ray head, or None"
            )
        if max_concurrent is not None and (
            isinstance(max_concurrent, bool)
            or not isinstance(max_concurrent, int)
            or max_concurrent < 1
        ):
            raise InputError(f"n_workers={max_concurrent!r} must be a positive integer or None")
        if timeout_per_trial is not None and not (
            isinstance(timeout_per_trial, (int, float)) and timeout_per_trial > 0
        ):
            raise InputError(
                f"timeout_per_trial={timeout_per_trial!r} must be a positive number of seconds "
                "or None"
            )
        if (
            isinstance(max_retries, bool)
            or not isinstance(max_retries, int)
            or not 0 <= max_retries <= MAX_RERUNS
        ):
            raise InputError(
                f"max_retries={max_retries!r} must be an integer from 0 to {MAX_RERUNS} (the "
                "study re-runs a lost trial at most that often)"
            )
        self.address = address
        self.max_retries = max_retries
        self.resources = _check_resources(resources_per_trial)
        self.max_concurrent = max_concurrent
        self.timeout_per_trial = timeout_per_trial
        self.init_kwargs = dict(init_kwargs or {})

    def start(self, objective: Callable[..., Any] | str, hooks: TrialHooks) -> _RayRunner:
        """Connect to (or start) Ray and return the runner the optimize loop drives."""
        return _RayRunner(self, objective, hooks)


class _RayRunner:
    """The optimize loop's handle on Ray (the ``Executor`` protocol)."""

    def __init__(
        self, config: RayExecutor, objective: Callable[..., Any] | str, hooks: TrialHooks
    ) -> None:
        ray = import_ray()
        self._ray = ray
        self.config = config
        self.hooks = hooks
        if isinstance(objective, str) or _is_plain_function(objective):
            spec = objective_spec(objective)
            fallback = _fallback_spec(spec)
            _load_with_fallback(spec, fallback)  # fail fast, here, with a clear message
            self._objective: Any = spec
            self._fallback = fallback
        else:  # lambdas, closures, callable objects: sent by value (cloudpickle)
            self._objective = objective
            self._fallback = None
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=config.address, **config.init_kwargs)
        if not isinstance(self._objective, str):
            self._objective = ray.put(self._objective)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = ray.get_runtime_context().get_node_id()
        hub_cls = ray.remote(num_cpus=0, max_restarts=0)(_Hub)
        self._hub = hub_cls.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
        ).remote()
        self._take = self._hub.take.remote(_TAKE_WAIT)
        self._remote = ray.remote(_run_trial).options(**_task_options(config.resources))
        self._running: dict[Any, _Running] = {}
        self._by_id: dict[int, _Running] = {}
        self._capacity = 1
        self._capacity_at = -_CAPACITY_REFRESH
        self._warned = False

    # ------------------------------------------------------------------ capacity
    @property
    def capacity(self) -> int:
        if self.config.max_concurrent is not None:
            return self.config.max_concurrent
        now = time.monotonic()
        if now - self._capacity_at >= _CAPACITY_REFRESH:
            self._capacity_at = now
            total = self._ray.cluster_resources()
            fits = [int(total.get(k, 0.0) // v) for k, v in self.config.resources.items() if v > 0]
            cap = min(fits) if fits else 1
            if cap < 1 and not self._warned:
                self._warned = True
                warnings.warn(
                    f"no node of the Ray cluster has the resources of one trial "
                    f"{self.config.resources} (cluster: {total}); trials wait until one joins",
                    RuntimeWarning,
                    stacklevel=2,
                )
            self._capacity = max(1, cap)
        return self._capacity

    # ------------------------------------------------------------------ protocol
    def submit(self, trial: Trial, task: Task) -> None:
        ref = self._remote.remote(self._objective, self._fallback, asdict(task), self._hub)
        entry = _Running(trial, time.monotonic())
        self._running[ref] = entry
        self._by_id[trial.trial_id] = entry

    def running(self) -> list[Trial]:
        return [e.trial for e in self._running.values()]

    def poll(self, timeout: float) -> list[tuple[Trial, Outcome]]:
        ray = self._ray
        refs = list(self._running)
        waitables = [*refs, self._take]
        wait = timeout
        if self.config.timeout_per_trial is not None and refs:
            oldest = min(e.started for e in self._running.values())
            left = oldest + self.config.timeout_per_trial - time.monotonic()
            wait = max(0.0, min(wait, left))
        ready, _ = ray.wait(waitables, num_returns=1, timeout=wait)
        if ready:
            ready, _ = ray.wait(waitables, num_returns=len(waitables), timeout=0)
        ready_set = set(ready)
        if self._take in ready_set:
            messages = ray.get(self._take)
            self._take = self._hub.take.remote(_TAKE_WAIT)
            self._handle(messages)
        done = [r for r in refs if r in ready_set]
        finished: list[tuple[Trial, Outcome]] = []
        if done:
            # Reports and attributes sent before the results go first. The outstanding ``take``
            # may already hold some of them (it returned after the wait above looked), so it is
            # collected too, in order: it holds older messages than ``drain``, or none (a
            # ``take`` still waiting is woken by ``drain`` and returns empty).
            drained = self._hub.drain.remote()
            messages = ray.get(self._take)
            messages += ray.get(drained)
            self._take = self._hub.take.remote(_TAKE_WAIT)
            self._handle(messages)
            for ref in done:
                finished.append(self._result(ref))
        finished.extend(self._timeouts())
        return finished

    def cancel(self) -> list[Trial]:
        trials = []
        for ref, entry in list(self._running.items()):
            self._forget(ref)
            trials.append(entry.trial)
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:  # its node may be gone already
                warnings.warn(f"could not cancel a Ray task: {exc}", RuntimeWarning, stacklevel=2)
        return trials

    def close(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            return
        if self._running:
            self.cancel()
        try:
            ray.kill(self._hub)
        except Exception as exc:  # already gone with its node
            warnings.warn(f"could not stop the Ray hub actor: {exc}", RuntimeWarning, stacklevel=2)
        if self._owns_ray:
            ray.shutdown()

    # ------------------------------------------------------------------ internals
    def _forget(self, ref: Any) -> _Running:
        entry = self._running.pop(ref)
        self._by_id.pop(entry.trial.trial_id, None)
        return entry

    def _handle(self, messages: list[tuple[Any, ...]]) -> None:
        for message in messages:
            kind, trial_id = message[0], message[1]
            entry = self._by_id.get(trial_id)
            if kind == "started" and entry is not None:
                entry.node_id = message[2]
            elif kind == "attr" and entry is not None:
                self.hooks.set_user_attr(entry.trial, message[2], message[3])
            elif kind == "report":
                key, step, value = message[2:]
                stop = True  # the trial is no longer running here: let it end
                if entry is not None:
                    stop = bool(self.hooks.report(entry.trial, step, value))
                self._hub.answer.remote(key, stop)

    def _result(self, ref: Any) -> tuple[Trial, Outcome]:
        ray = self._ray
        entry = self._forget(ref)
        try:
            return entry.trial, ray.get(ref)
        except ray.exceptions.RayTaskError as err:
            cause = getattr(err, "cause", None)
            if isinstance(cause, ObjectiveLoadError):
                raise ObjectiveLoadError(
                    f"a Ray worker could not load the objective: {cause}"
                ) from None
            return entry.trial, Outcome(TrialState.FAILED, error=f"{type(err).__name__}: {err}")
        except ray.exceptions.RayError as err:
            return entry.trial, self._lost(entry, err)

    def _lost(self, entry: _Running, err: Exception) -> Outcome:
        """The outcome of a trial whose task died with ``err``: node lost or worker died."""
        ray = self._ray
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        node_dead = isinstance(err, ray.exceptions.NodeDiedError) or (
            entry.node_id is not None and entry.node_id not in alive
        )
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if entry.node_id is None:
            if node_dead:
                why, text = LOST_NODE_LOST, "the Ray node it was sent to died before it started"
            else:
                why, text = LOST_WORKER_DIED, "its Ray worker process died before it started"
        elif node_dead:
            why, text = LOST_NODE_LOST, f"the Ray node {entry.node_id} died while it ran"
        else:
            why, text = (
                LOST_WORKER_DIED,
                (
                    f"its Ray worker process on node {entry.node_id} died while it ran (killed, "
                    "out of memory, or a crash in native code)"
                ),
            )
        attempt = int(entry.trial.system_attrs.get(ATTEMPT, 0))
        if attempt >= self.config.max_retries:  # counted: a trial that keeps dying ends
            error = f"{why}: {text}, after {attempt} re-runs ({type(err).__name__}: {first})"
            return Outcome(TrialState.FAILED, error=error)
        error = f"{why}: {text}; the study re-runs it ({type(err).__name__}: {first})"
        return Outcome(TrialState.FAILED, error=error, lost=why)

    def _timeouts(self) -> list[tuple[Trial, Outcome]]:
        limit = self.config.timeout_per_trial
        if limit is None:
            return []
        now = time.monotonic()
        out = []
        for ref, entry in list(self._running.items()):
            if now - entry.started <= limit:
                continue
            self._forget(ref)
            try:
                self._ray.cancel(ref, force=True)
            except Exception as exc:
                warnings.warn(f"could not cancel a Ray task: {exc}", RuntimeWarning, stacklevel=2)
            error = (
                f"timeout: the trial ran longer than timeout_per_trial={limit:g} s and its Ray "
                "task was cancelled"
            )
            out.append((entry.trial, Outcome(TrialState.FAILED, error=error)))
        return out


def _is_plain_function(objective: Any) -> bool:
    """A top-level function that workers can import by reference."""
    import inspect

    if not inspect.isfunction(objective) or objective.__module__ == "__main__":
        return False  # a script's functions go by value: other nodes may not have the file
    try:
        objective_spec(objective)
    except ObjectiveLoadError:
        return False
    return True
