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

from jahs_bo.exceptions import InputError
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
    n_workers: int | None = None,
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
    executor: Any = None,
    ray_address: str | None = None,
    resources_per_trial: Mapping[str, float] | None = None,
    **study_kwargs: Any,
) -> Study:
    """Create or resume a study and run ``objective(config, ctx)`` until it holds ``n_trials``.

    Args:
        objective: ``train(config, ctx) -> value(s)`` (see :class:`TrialContext`), or a
            ``"path/to/train.py:train"`` / ``"module:train"`` string.
        space: The search space.
        n_trials: Finished trials the study should hold when this returns (lost ones do not
            count), so the same call resumes an interrupted search.
        n_workers: Trials running in parallel: local worker processes (default one, in this
            process), or at most this many Ray tasks with ``executor="ray"`` (default: as many
            as the cluster's resources hold).
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
        executor: ``None`` (this machine) or ``"ray"``: each trial runs as a Ray task on the
            cluster at ``ray_address`` (:mod:`jahs_bo.study.ray_executor`); the calling process
            keeps the study and asks the searcher. Needs ``pip install "jahs-bo[ray]"``.
        ray_address: ``"auto"``, ``"HOST:PORT"`` of a Ray head, or ``None`` (``RAY_ADDRESS``,
            else a new local Ray instance). Only with ``executor="ray"``.
        resources_per_trial: Ray resources one trial holds, e.g. ``{"cpu": 4, "gpu": 1}``
            (default one CPU). Only with ``executor="ray"``.
        **study_kwargs: Passed on to :func:`jahs_bo.create_study` (``constraints``,
            ``searcher_options``, ``create_dirs``, ...).

    Returns:
        The study.

    Raises:
        KeyboardInterrupt: After Ctrl-C, once the running trials are recorded as lost.
    """
    if executor == "ray":
        from jahs_bo.study.ray_executor import RayExecutor

        executor = RayExecutor(
            address=ray_address,
            resources_per_trial=resources_per_trial,
            max_concurrent=n_workers,
            timeout_per_trial=timeout_per_trial,
        )
    elif ray_address is not None or resources_per_trial is not None:
        raise InputError(
            f"ray_address={ray_address!r} and resources_per_trial={resources_per_trial!r} "
            "apply to Ray only; pass executor='ray' as well"
        )
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
        executor=executor,
    )


def open_study(space: SearchSpace, **kwargs: Any) -> Study:
    """``create_study(space, load_if_exists=True, ...)``, leaving out arguments that are ``None``
    so the study's defaults apply."""
    from jahs_bo.study import create_study

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return create_study(space, load_if_exists=True, **kwargs)
