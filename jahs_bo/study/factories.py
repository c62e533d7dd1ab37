"""Building studies: :func:`create_study` and :func:`load_study`.

The searcher and the scheduler are built here, with everything they need passed to their
constructors (outcome constraints; whether a bracket scheduler screens the searcher's proposals),
and their names and options are stored with the study so that :func:`load_study` rebuilds them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import CorruptStudyError, DuplicateStudyError, InputError, JahsBOError
from jahs_bo.multiobjective import OutcomeConstraint, as_constraints
from jahs_bo.searchers import Searcher, available_searchers, make_searcher
from jahs_bo.spaces import SearchSpace
from jahs_bo.storage import Storage, StudyInfo, get_storage
from jahs_bo.study.core import _CONSTRAINTS, _OBJECTIVE_NAMES, WARM_START, SchedulerHook, Study
from jahs_bo.types import Direction

if TYPE_CHECKING:
    import os

__all__ = ["create_study", "load_study"]

_SEARCHER_OPTIONS = "searcher_options"
_SCHEDULER = "scheduler"
_SCHEDULER_OPTIONS = "scheduler_options"


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
        if not isinstance(objectives, Mapping):
            raise InputError(
                f"objectives={objectives!r} must be a mapping of names to directions, e.g. "
                "{'error': 'minimize', 'latency': 'minimize'}"
            )
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
        if isinstance(directions, (bytes, Mapping)) or not isinstance(directions, Iterable):
            raise InputError(
                f"directions={directions!r} must be a list of 'minimize'/'maximize', one per "
                "objective"
            )
        dirs = tuple(Direction.parse(d) for d in directions)
        if not dirs:
            raise InputError("directions= needs at least one direction")
    else:
        dirs = (Direction.MINIMIZE,)
    if objective_names is not None:
        if isinstance(objective_names, (str, bytes)) or not isinstance(objective_names, Iterable):
            raise InputError(f"objective_names={objective_names!r} must be a list of names")
        names = [str(n) for n in objective_names]
        if len(names) != len(dirs) or len(set(names)) != len(names):
            raise InputError(
                f"objective_names={names} must hold {len(dirs)} distinct name(s), one per "
                f"direction {[d.value for d in dirs]}"
            )
    return dirs, names


def _options(value: Any, name: str) -> dict[str, Any]:
    """``value`` (``None`` or a mapping with string keys) as a dict, or raise naming ``name``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InputError(
            f"{name}={value!r:.80} must be a mapping of option names to values (or None)"
        )
    return dict(value)


def _check_seed(seed: Any) -> int:
    if seed is None:
        return secrets.randbits(63)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed={seed!r} must be a non-negative integer or None")
    return int(seed)


def _screens(scheduler: str | SchedulerHook | None) -> bool:
    """Whether ``scheduler`` screens new configurations at low fidelity (bracket schedulers)."""
    if scheduler is None:
        return False
    if isinstance(scheduler, str):
        from jahs_bo.schedulers import scheduler_class

        return bool(scheduler_class(scheduler).screens_proposals)
    return bool(getattr(scheduler, "screens_proposals", False))


def _build_searcher(
    searcher: str | Searcher,
    space: SearchSpace,
    directions: Sequence[Direction],
    options: Mapping[str, Any],
    constraints: Sequence[OutcomeConstraint],
    screened: bool,
) -> Searcher:
    if isinstance(searcher, Searcher):
        if options:
            raise InputError("searcher_options= apply to a searcher given by name only")
        if list(searcher.constraints) != list(constraints):
            raise InputError(
                f"the study's constraints {[str(c) for c in constraints]} differ from those the "
                f"searcher instance was built with {[str(c) for c in searcher.constraints]}; "
                "pass constraints=... to the searcher's constructor too, or give the searcher "
                "by name"
            )
        return searcher
    if not isinstance(searcher, str):
        raise InputError(
            f"searcher={searcher!r} must be a registered name ({available_searchers()}) or a "
            "Searcher instance"
        )
    return make_searcher(
        searcher, space, directions, constraints=constraints, screened=screened, **options
    )


def _build_scheduler(
    scheduler: str | SchedulerHook | None,
    space: SearchSpace,
    searcher: Searcher,
    directions: Sequence[Direction],
    options: Mapping[str, Any],
    constraints: Sequence[OutcomeConstraint],
) -> SchedulerHook | None:
    if scheduler is None or not isinstance(scheduler, str):
        if options:
            raise InputError("scheduler_options= apply to a scheduler given by name only")
        if scheduler is not None and not callable(getattr(scheduler, "next_trial", None)):
            raise InputError(
                f"scheduler={scheduler!r} must be a registered name (asha, bohb, fifo, "
                "hyperband, sh), a Scheduler instance or None"
            )
        return scheduler
    from jahs_bo.schedulers import make_scheduler  # imported only when a scheduler is used

    if "constraints" in options:
        raise InputError(
            "scheduler_options={'constraints': ...} is not allowed; pass constraints= to "
            "create_study, which gives them to the searcher and the scheduler"
        )
    return make_scheduler(
        scheduler, space, searcher, directions, constraints=list(constraints), **options
    )


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
    create_dirs: bool = False,
    warm_start: Sequence[Any] | None = None,
    warm_start_size: int = 5,
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
        storage: ``None`` (in memory), a SQLite file (``"study.db"`` or ``"sqlite:///study.db"``)
            or a Storage; see :func:`jahs_bo.storage.get_storage`.
        create_dirs: Create the SQLite file's missing directories (else a missing directory is
            an error: a mistyped path should not start a new, empty study).
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
        warm_start: Source tasks on the same space (studies, or ``metalearn.TaskData``): the
            first trials evaluate a greedy complementary portfolio of their best
            configurations (:func:`jahs_bo.metalearn.portfolio.portfolio_configs`), stored
            with the study, at the full fidelity (also under a bracket scheduler); then the
            searcher continues. Ignored when an existing study is loaded.
        warm_start_size: Configurations in that portfolio.

    Raises:
        DuplicateStudyError: The name exists and ``load_if_exists`` is false.
        InputError: Inconsistent arguments (the message names them).
    """
    if not isinstance(space, SearchSpace):
        raise InputError(f"space must be a jahs_bo SearchSpace, got {type(space).__name__}")
    dirs, names = _directions(direction, directions, objectives, objective_names)
    cons = _check_constraints(constraints, len(dirs), names)
    storage = get_storage(storage, create_dirs=create_dirs)
    options = _options(searcher_options, "searcher_options")
    sched_options = _options(scheduler_options, "scheduler_options")
    user_attrs = _options(user_attrs, "user_attrs")
    search = _build_searcher(searcher, space, dirs, options, cons, _screens(scheduler))
    sched = _build_scheduler(scheduler, space, search, dirs, sched_options, cons)
    if study_name is None:
        study_name = f"study-{uuid.uuid4().hex[:12]}"
    if not isinstance(study_name, str) or not study_name:
        raise InputError(f"study_name={study_name!r} must be a non-empty string (or None)")
    system_attrs: dict[str, Any] = {_SEARCHER_OPTIONS: options}
    if names is not None:
        system_attrs[_OBJECTIVE_NAMES] = names
    if cons:
        system_attrs[_CONSTRAINTS] = [c.to_dict() for c in cons]
    if sched is not None:
        system_attrs[_SCHEDULER] = scheduler if isinstance(scheduler, str) else ""
        system_attrs[_SCHEDULER_OPTIONS] = sched_options
    if warm_start is not None:
        from jahs_bo.metalearn.portfolio import portfolio_configs

        system_attrs[WARM_START] = portfolio_configs(
            space, warm_start, warm_start_size, direction=dirs[0]
        )
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
        by_name = isinstance(searcher, str)
        study = load_study(
            study_name,
            storage,
            searcher=searcher,
            searcher_options=options if by_name and options else None,
            scheduler=scheduler,
            scheduler_options=sched_options if isinstance(scheduler, str) else None,
            grace_period=grace_period,
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


def _stored_space(text: Any, storage: Storage, study_name: str) -> SearchSpace:
    """The study's space from its stored JSON text (never a path: a stored file is data)."""
    where = f"study {study_name!r} in {storage!r}"
    if not isinstance(text, str) or not text.lstrip().startswith("{"):
        raise CorruptStudyError(
            f"{where} has a damaged search space (stored value {str(text)[:60]!r} is not a "
            "JSON object); restore the file from a backup or recreate the study"
        )
    try:
        return SearchSpace.from_json(text)
    except JahsBOError as exc:
        raise CorruptStudyError(f"{where} has a damaged search space: {exc}") from None
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        raise CorruptStudyError(
            f"{where} has a damaged search space ({type(exc).__name__}: {exc})"
        ) from None


def _stored(info: StudyInfo, key: str, kind: type, storage: Storage) -> Any:
    """The study's system attribute ``key`` (empty when missing), checked to be a ``kind``."""
    value = info.system_attrs.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise CorruptStudyError(
            f"study {info.name!r} in {storage!r} is damaged: table studies, row study_id="
            f"{info.study_id}: system attribute {key!r} holds {value!r:.80}, not a "
            f"{kind.__name__}; restore the file from a backup or recreate the study"
        )
    return value


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
        CorruptStudyError: The file is damaged or was edited into something jahs-bo cannot
            have written (the message names the file, the table and row, and what is wrong).
    """
    if storage is None:
        raise InputError("load_study needs the storage holding the study, e.g. 'study.db'")
    if not isinstance(study_name, str):
        raise InputError(f"study_name={study_name!r:.80} must be the study's name (a string)")
    storage = get_storage(storage, must_exist=True)
    info = storage.get_study(study_name)
    space = _stored_space(info.space_json, storage, study_name)
    if searcher is None:
        if not info.searcher_name:
            raise InputError(
                f"study {study_name!r} was created with an unregistered searcher; pass "
                "searcher= to load_study"
            )
        searcher = info.searcher_name
        if searcher_options is None:
            searcher_options = _stored(info, _SEARCHER_OPTIONS, dict, storage)
    try:
        cons = [OutcomeConstraint.from_dict(c) for c in _stored(info, _CONSTRAINTS, list, storage)]
    except InputError as exc:
        raise CorruptStudyError(f"study {study_name!r} in {storage!r}: {exc}") from None
    if scheduler is None and _SCHEDULER in info.system_attrs:
        scheduler = _stored(info, _SCHEDULER, str, storage)
        if not scheduler:
            raise InputError(
                f"study {study_name!r} was created with a scheduler instance; pass it again "
                "as scheduler= to load_study"
            )
        if scheduler_options is None:
            scheduler_options = _stored(info, _SCHEDULER_OPTIONS, dict, storage)
    options = _options(searcher_options, "searcher_options")
    sched_options = _options(scheduler_options, "scheduler_options")
    search = _build_searcher(searcher, space, info.directions, options, cons, _screens(scheduler))
    sched = _build_scheduler(scheduler, space, search, info.directions, sched_options, cons)
    study = Study(storage, info, space, search, sched, grace_period)
    storage.get_trials(info.study_id)  # decodes every row once: a damaged one fails here
    storage.fail_stale_trials(info.study_id, grace_period)
    return study
