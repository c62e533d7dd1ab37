"""The drop-in tuner: :func:`tune` creates or resumes a study and runs a training function on it.

::

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

    study = jahs_bo.tune(train, space, n_trials=50, n_workers=2, storage="study.db",
                         directions=["maximize"], timeout_per_trial=600)

The objective contract (:mod:`jahs_bo.study.objective`) and the loop
(:mod:`jahs_bo.study.optimize`) are those of ``Study.optimize`` and ``jahs-bo run``: ``n_trials``
is the number of finished trials the study holds when ``tune`` returns, so running the same call
again after Ctrl-C (exit status 130) resumes, re-running the interrupted trials.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jahs_bo.study.objective import (
    ObjectiveLoadError,
    TrialContext,
    TrialPruned,
    load_objective,
    objective_spec,
)
from jahs_bo.types import Config, FidelityValues

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace
    from jahs_bo.study.core import Study

__all__ = [
    "ObjectiveLoadError",
    "TrialContext",
    "TrialPruned",
    "load_objective",
    "objective_spec",
    "open_study",
    "tune",
]


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
    timeout: float | None = None,
    timeout_per_trial: float | None = None,
    checkpoint_root: str | Path | None = None,
    threads_per_worker: int | None = None,
    progress: Any = None,
    catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    enqueue: Sequence[Config | tuple[Config, FidelityValues | None]] = (),
    **study_kwargs: Any,
) -> Study:
    """Create or resume a study and run ``objective(config, ctx)`` until it holds ``n_trials``.

    Args:
        objective: ``train(config, ctx) -> value(s)`` (see :class:`TrialContext`), or a
            ``"path/to/train.py:train"`` / ``"module:train"`` string.
        space: The search space.
        n_trials: Finished trials the study should hold when this returns (lost ones do not
            count), so the same call resumes an interrupted search.
        n_workers: Local worker processes running trials in parallel.
        storage: A SQLite file (``"study.db"`` or ``"sqlite:///study.db"``) for a persistent,
            resumable study; ``None`` keeps it in memory. Its directory must exist unless
            ``create_dirs=True`` is passed.
        study_name: Name of the study in the storage (created, or loaded when it exists).
        directions: ``"minimize"``/``"maximize"`` per objective (default: one, minimize).
        objectives: Objective names mapped to directions instead (the function may then
            return a dict by name).
        searcher: Searcher name or instance (default: the study's default, ``"gp"``).
        scheduler: Multi-fidelity scheduler: a name (``"asha"``, ``"hyperband"``, ``"bohb"``,
            ``"sh"``, ``"fifo"``) or a ``jahs_bo.schedulers.Scheduler``.
        scheduler_options: Keyword arguments of a scheduler given by name.
        seed: Seed of a new study.
        timeout: Seconds after which no new trial starts.
        timeout_per_trial: Seconds; a trial running longer is killed and recorded FAILED.
        checkpoint_root: Where per-configuration checkpoint directories go.
        threads_per_worker: Torch threads per worker (default: CPUs / workers).
        progress: ``None`` (live display on a terminal), ``True``, ``False`` or an object.
        catch: Exceptions of the objective that do not stop the search.
        enqueue: Configurations to evaluate first (see :func:`jahs_bo.study.optimize.optimize`).
        **study_kwargs: Passed on to :func:`jahs_bo.create_study` (``constraints``,
            ``searcher_options``, ``create_dirs``, ...).

    Returns:
        The study.

    Raises:
        KeyboardInterrupt: After Ctrl-C, once the running trials are recorded as lost.
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
    return study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout,
        n_workers=n_workers,
        catch=catch,
        show_progress=progress,
        timeout_per_trial=timeout_per_trial,
        threads_per_worker=threads_per_worker,
        checkpoint_root=checkpoint_root,
        enqueue=enqueue,
    )


def open_study(space: SearchSpace, **kwargs: Any) -> Study:
    """``create_study(space, load_if_exists=True, ...)``, leaving out arguments that are ``None``
    so the study's defaults apply."""
    from jahs_bo.study import create_study

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return create_study(space, load_if_exists=True, **kwargs)
