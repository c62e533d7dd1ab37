"""The storage interface: the single source of truth of studies and their trials.

A storage holds studies (a name, the search space as JSON, the objective directions, the seed and
the searcher's name) and their trials. Every method that writes has finished writing (and, for
persistent storages, committed) before it returns, and every method that reads returns frozen
:class:`~jahs_bo.types.Trial` objects: callers never share mutable state with the storage.

Trials left RUNNING by a dead process
-------------------------------------
A study asks a trial on behalf of one process, its *owner*: :meth:`Study.ask
<jahs_bo.study.Study.ask>` records ``system_attrs["owner_host"]`` (``socket.gethostname()``) and
``system_attrs["owner_pid"]`` (``os.getpid()``), and the storage keeps a heartbeat time
(``system_attrs["heartbeat"]``, seconds since the epoch) that starts at creation and is refreshed
by :meth:`Storage.record_heartbeat` (``Study.optimize`` does so from a background thread,
``Study.report`` and ``Study.heartbeat`` do so too). :meth:`Storage.fail_stale_trials`, which
``load_study`` calls (every ``ask`` applies the same rule, :meth:`Storage.fail_dead_trials`, to
the running trials it reads), marks a RUNNING trial FAILED with the error
``"worker died (pid N on host H) before telling a result"`` when

* its owner runs on this host and the process is gone (``os.kill(pid, 0)`` raises
  ``ProcessLookupError``), or
* its owner runs on another host (or in another process-id namespace of this host, such as
  another container: ``system_attrs["owner_pid_namespace"]``) and its last heartbeat is older
  than ``grace_period`` seconds (``None`` turns this second check off).

Trials without an owner (created directly through a storage) are left alone. The study goes on:
told trials are untouched, and the next ``ask`` proposes the next trial number. Limits: a process
that died but was not yet reaped by its parent (a zombie) still counts as alive until reaped; a
dead pid that the system has handed to a new process counts as alive.
"""

from __future__ import annotations

import math
import operator
import os
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jahs_bo.exceptions import StorageError, TrialStateError
from jahs_bo.types import (
    Config,
    Direction,
    FidelityValues,
    Trial,
    TrialState,
    finished_trials,
    running_trials,
)

#: ``system_attrs`` keys written by the study and the storage for the dead-worker rule.
OWNER_HOST = "owner_host"
OWNER_PID = "owner_pid"
OWNER_PID_NAMESPACE = "owner_pid_namespace"
HEARTBEAT = "heartbeat"
#: ``system_attrs`` key set when a trial was lost rather than failed by its objective: its value
#: says why (``"interrupted"``: Ctrl-C or a stopped loop; ``"worker died"``: its owning process
#: or its worker process died). Lost trials do not count towards ``n_trials``, searchers and
#: schedulers do not see them, and the next ``ask`` re-runs them (see :mod:`jahs_bo.study`).
LOST = "lost"
_SYSTEM_ATTRS = operator.attrgetter("system_attrs")
_GET_LOST = operator.methodcaller("get", LOST)
LOST_INTERRUPTED = "interrupted"
LOST_WORKER_DIED = "worker died"


class TrialNumberTakenError(StorageError):
    """``create_trial(number=k)`` lost a race: another process created trial ``k`` first.

    The study catches it, reads the trials again and proposes a new configuration for the next
    number; users never see it.
    """


@dataclass(frozen=True)
class StudyInfo:
    """A study as the storage holds it.

    Attributes:
        study_id: Storage-wide unique id.
        name: Unique study name.
        space_json: The search space (``SearchSpace.to_json()``).
        directions: One direction per objective.
        seed: The study's seed (drawn once at creation when the user gave none).
        searcher_name: Registry name of the searcher (``""`` when unknown).
        user_attrs: Free JSON attributes set by the user.
        system_attrs: Free JSON attributes set by jahs-bo (searcher options, objective names).
        datetime_created: When the study was created (UTC).
    """

    study_id: int
    name: str
    space_json: str
    directions: tuple[Direction, ...]
    seed: int
    searcher_name: str
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)
    datetime_created: datetime | None = None


def check_finish(
    trial: Trial, state: TrialState, values: Sequence[float] | None, error: str | None
) -> None:
    """Raise if ``finish_trial(trial, state, values, error)`` is not allowed.

    Raises:
        TrialStateError: The trial is already finished, or ``state`` is RUNNING, or a COMPLETE
            state comes without values.
    """
    if trial.state.is_finished:
        why = ""
        if trial.state is TrialState.FAILED and trial.error:
            why = f" (error: {trial.error.strip().splitlines()[-1][:200]})"
        raise TrialStateError(
            f"trial {trial.number} (id {trial.trial_id}) is already {trial.state.value}{why}; "
            "a trial can be told only once: ask a new trial instead"
        )
    if state is TrialState.RUNNING:
        raise TrialStateError(
            f"cannot finish trial {trial.number} with state 'running'; use complete, failed "
            "or pruned"
        )
    if state is TrialState.COMPLETE and values is None:
        raise TrialStateError(
            f"values are required when the state of trial {trial.number} is complete"
        )
    if values is not None and not all(math.isfinite(v) for v in values):
        raise TrialStateError(
            f"values {list(values)!r} of trial {trial.number} are not finite; tell the trial "
            "as failed with the reason instead"
        )


def check_running(trial: Trial, action: str) -> None:
    """Raise ``TrialStateError`` if ``trial`` is finished (``action`` names what was refused)."""
    if trial.state.is_finished:
        raise TrialStateError(
            f"cannot {action} trial {trial.number} (id {trial.trial_id}): it is already "
            f"{trial.state.value}"
        )


def _pid_namespace() -> str | None:
    """The process-id namespace (Linux), so that containers sharing a host name stay apart."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def owner_attrs() -> dict[str, Any]:
    """The ``system_attrs`` that mark a trial as owned by the calling process."""
    return {
        OWNER_HOST: socket.gethostname(),
        OWNER_PID: os.getpid(),
        OWNER_PID_NAMESPACE: _pid_namespace(),
    }


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return True
    return True


def dead_worker_reason(trial: Trial, grace_period: float | None, now: float) -> str | None:
    """Why a RUNNING trial's owner is dead by the documented rule, or ``None`` if it is alive."""
    host = trial.system_attrs.get(OWNER_HOST)
    pid = trial.system_attrs.get(OWNER_PID)
    if host is None or pid is None:
        return None
    reason = f"worker died (pid {pid} on host {host}) before telling a result"
    namespace = trial.system_attrs.get(OWNER_PID_NAMESPACE)
    same_pids = namespace is None or namespace == _pid_namespace()
    if host == socket.gethostname() and same_pids:
        if pid == os.getpid():
            return None
        return None if pid_alive(int(pid)) else reason
    beat = trial.system_attrs.get(HEARTBEAT)
    if grace_period is None or beat is None:
        return None
    if now - float(beat) > grace_period:
        return f"{reason}: no heartbeat for {now - float(beat):.0f} s > {grace_period:g} s"
    return None


@dataclass(frozen=True)
class TrialViews:
    """A study's trials split as every ask reads them (:meth:`Storage.get_trial_views`).

    Attributes:
        trials: Every trial, in number order (``len(trials)`` is the next trial's number).
        finished: The finished ones (complete, failed, pruned), in number order.
        running: The running ones, in number order.
        has_lost: Whether some trial carries ``system_attrs[LOST]`` (lost to an interruption
            or a dead worker: the study re-runs or hides such trials).
    """

    trials: list[Trial]
    finished: list[Trial]
    running: list[Trial]
    has_lost: bool


class Storage(ABC):
    """Where studies and trials live. Implementations: in memory, SQLite and PostgreSQL.

    Implementations make every write atomic and, for persistent storages, durable before the call
    returns; trial numbers are unique and gap-free within a study even when several processes
    create trials at once.
    """

    # ----------------------------------------------------------------------------- studies
    @abstractmethod
    def create_study(
        self,
        name: str,
        space_json: str,
        directions: Sequence[Direction | str],
        seed: int,
        searcher_name: str,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> int:
        """Create a study and return its id.

        Raises:
            DuplicateStudyError: A study of that name exists already.
        """

    @abstractmethod
    def get_study(self, name: str) -> StudyInfo:
        """The study called ``name``.

        Raises:
            StudyNotFoundError: No such study (the message lists the existing names).
        """

    @abstractmethod
    def get_study_by_id(self, study_id: int) -> StudyInfo:
        """The study with id ``study_id`` (raises ``StudyNotFoundError``)."""

    @abstractmethod
    def list_studies(self) -> list[StudyInfo]:
        """Every study, in creation order."""

    @abstractmethod
    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set one JSON user attribute of a study."""

    @abstractmethod
    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        """Set one JSON system attribute of a study."""

    # ------------------------------------------------------------------------------ trials
    @abstractmethod
    def create_trial(
        self,
        study_id: int,
        config: Config,
        fidelity: FidelityValues | None = None,
        parent_id: int | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        *,
        number: int | None = None,
    ) -> Trial:
        """Create a RUNNING trial with the next number of its study.

        Args:
            study_id: The study.
            config: Plain JSON configuration.
            fidelity: Fidelity values the trial runs at.
            parent_id: Trial id this one continues (a promotion), if any.
            system_attrs: Initial system attributes (the owner, the searcher, a bracket).
            number: The number the caller expects the trial to get (the study's current trial
                count when it proposed the configuration). ``None`` takes the next number.

        Raises:
            TrialNumberTakenError: ``number`` is not the next free number any more.
            StudyNotFoundError: Unknown ``study_id``.
        """

    @abstractmethod
    def finish_trial(
        self,
        trial_id: int,
        state: TrialState,
        values: Sequence[float] | None = None,
        error: str | None = None,
        *,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Move a RUNNING trial to a final state and return it.

        ``system_attrs`` are merged into the trial's system attributes in the same write (for
        example :data:`LOST`, which marks a trial lost to an interruption or a dead worker).

        Raises:
            TrialNotFoundError: Unknown ``trial_id``.
            TrialStateError: The trial is finished already (a second tell), or the request is
                inconsistent (see :func:`check_finish`).
        """

    @abstractmethod
    def report(self, trial_id: int, step: int, value: float) -> None:
        """Record an intermediate value of a RUNNING trial (a repeated step overwrites).

        Raises:
            TrialNotFoundError: Unknown ``trial_id``.
            TrialStateError: The trial is finished.
        """

    @abstractmethod
    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set one JSON user attribute of a trial."""

    @abstractmethod
    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Set one JSON system attribute of a trial."""

    @abstractmethod
    def record_heartbeat(self, trial_ids: Iterable[int], when: float | None = None) -> None:
        """Refresh the heartbeat of RUNNING trials (finished ones are skipped silently)."""

    @abstractmethod
    def get_trial(self, trial_id: int) -> Trial:
        """One trial (raises ``TrialNotFoundError``)."""

    @abstractmethod
    def get_trial_study_id(self, trial_id: int) -> int:
        """The id of the study a trial belongs to (raises ``TrialNotFoundError``)."""

    def get_trial_origin(self, trial_id: int) -> tuple[int, int, Config]:
        """``(study id, number, configuration)`` of a trial: what ``Study.tell`` checks a
        :class:`~jahs_bo.types.Trial` against (raises ``TrialNotFoundError``).

        SQL storages answer it in one read of three columns."""
        study_id = self.get_trial_study_id(trial_id)
        trial = self.get_trial(trial_id)
        return study_id, trial.number, trial.config

    @abstractmethod
    def get_trials(
        self,
        study_id: int,
        states: Iterable[TrialState | str] | None = None,
        *,
        deepcopy: bool = True,
    ) -> list[Trial]:
        """The study's trials in number order, optionally only those in ``states``.

        Args:
            study_id: The study.
            states: Only trials in these states (``None``: all).
            deepcopy: Return private copies read afresh (the default). ``False`` returns trials
                the storage may share between calls and keep in memory, so that a call costs
                only what changed since the last one (what ``Study.ask`` uses); callers must
                not mutate them. An attribute that another process sets on an already finished
                trial may be missed by such a read (see :mod:`jahs_bo.storage.sql`).
        """

    def get_trial_views(self, study_id: int) -> TrialViews:
        """The study's trials as every ask needs them: all, finished and running (shared objects,
        as ``get_trials(deepcopy=False)``; callers must not mutate them).

        This default splits the list in one pass each; storages that cache the study keep the
        parts up to date as trials change, so an ask costs what changed, not the study's size.
        """
        trials = self.get_trials(study_id, deepcopy=False)
        lost = any(map(_GET_LOST, map(_SYSTEM_ATTRS, trials)))
        return TrialViews(trials, finished_trials(trials), running_trials(trials), lost)

    def count_trials(self, study_id: int) -> int:
        """Number of trials of a study (the number the next trial gets)."""
        return len(self.get_trials(study_id, deepcopy=False))

    # --------------------------------------------------------------------- shared behaviour
    # Aliases with the names of the task brief / Optuna.
    def set_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Alias of :meth:`set_trial_user_attr`."""
        self.set_trial_user_attr(trial_id, key, value)

    def set_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        """Alias of :meth:`set_trial_system_attr`."""
        self.set_trial_system_attr(trial_id, key, value)

    def fail_stale_trials(self, study_id: int, grace_period: float | None = 600.0) -> list[Trial]:
        """Mark RUNNING trials of dead workers FAILED, by the rule in this module's docstring.

        Safe to call from several processes at once: a trial finished meanwhile by someone else
        is skipped.

        Args:
            study_id: The study.
            grace_period: Seconds without heartbeat after which a trial owned by a process on
                another host counts as dead; ``None`` never fails trials of other hosts.

        Returns:
            The trials this call marked FAILED.
        """
        running = self.get_trials(study_id, states=(TrialState.RUNNING,), deepcopy=False)
        return self.fail_dead_trials(running, grace_period)

    def fail_dead_trials(
        self, running: Iterable[Trial], grace_period: float | None = 600.0
    ) -> list[Trial]:
        """Mark those of ``running`` (a study's RUNNING trials, as just read) whose worker is
        dead FAILED, by the rule of :meth:`fail_stale_trials`; returns the trials it marked.

        :meth:`Study.ask <jahs_bo.study.Study.ask>` passes the running trials of the views it
        reads anyway, so checking for dead workers costs no read of its own.
        """
        now = time.time()
        failed: list[Trial] = []
        for trial in running:
            reason = dead_worker_reason(trial, grace_period, now)
            if reason is None:
                continue
            try:
                failed.append(
                    self.finish_trial(
                        trial.trial_id,
                        TrialState.FAILED,
                        None,
                        reason,
                        system_attrs={LOST: LOST_WORKER_DIED},
                    )
                )
            except TrialStateError:
                continue  # told or failed by another process meanwhile
        return failed


def parse_states(states: Iterable[TrialState | str] | None) -> tuple[TrialState, ...] | None:
    """Normalise a ``states`` filter (``None`` means all states)."""
    if states is None:
        return None
    if isinstance(states, (str, TrialState)):
        states = (states,)
    out = []
    for s in states:
        try:
            out.append(TrialState(s))
        except ValueError:
            from jahs_bo.exceptions import InputError

            raise InputError(
                f"unknown trial state {s!r}; use one of {[x.value for x in TrialState]}"
            ) from None
    return tuple(out)
