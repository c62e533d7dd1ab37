"""Warm start without a model: a greedy complementary portfolio of the sources' best configurations.

Auto-PyTorch's portfolio (Zimmer et al., 2021; after Feurer et al.'s Auto-sklearn 2.0): from a
matrix of per-task normalized scores, pick configurations one at a time, each time the one that
most increases the mean over source tasks of the best score among the picked ones. The first
pick is the best configuration on average; later picks cover the tasks the earlier ones serve
badly, so the portfolio is complementary rather than the top-k of one ranking.

``create_study(..., warm_start=[studies or TaskData])`` stores :func:`portfolio_configs` with the
study; ``Study.ask`` evaluates them first (see :mod:`jahs_bo.study.core`).

Candidates are the ``per_task`` best configurations of every source. A candidate scores only on
the tasks that evaluated it (normalized to ``[0, 1]`` per task, 1 the task's best); on the others
it gets no credit (0). With sources that evaluated the same configurations (tabular benchmarks)
this is Auto-PyTorch's rule exactly; with disjoint sources it picks the best of each task in
turn, most useful first. Pure numpy: no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn.tasks import TaskData, _plain, as_task, check_directions
from jahs_bo.types import Config, Direction

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["best_configs", "greedy_portfolio", "normalized_scores", "portfolio_configs"]


def normalized_scores(values: np.ndarray, direction: Direction | str = "maximize") -> np.ndarray:
    """Per-task min-max scores: ``1`` for the task's best value, ``0`` for its worst.

    Args:
        values: ``n`` values of one task (NaN: not evaluated, kept NaN).
        direction: Whether the values are maximized or minimized.

    Returns:
        ``n`` scores in ``[0, 1]`` (all ``1`` when the finite values are all equal).
    """
    v = np.asarray(values, dtype=float)
    if Direction.parse(direction) is Direction.MINIMIZE:
        v = -v
    finite = np.isfinite(v)
    if not finite.any():
        return np.full(v.shape, np.nan)
    lo, hi = v[finite].min(), v[finite].max()
    if hi == lo:
        return np.where(finite, 1.0, np.nan)
    return np.where(finite, (v - lo) / (hi - lo), np.nan)


def greedy_portfolio(scores: np.ndarray, size: int) -> list[int]:
    """Pick ``size`` candidates greedily to maximize the mean over tasks of the best picked score.

    Args:
        scores: ``n_candidates x n_tasks`` scores, higher is better (NaN: the task did not
            evaluate the candidate; it counts as no credit).
        size: How many to pick (fewer if there are fewer candidates).

    Returns:
        Candidate indices in the order picked. Ties: the higher mean score over the tasks that
        evaluated the candidate, then the lower index.

    Raises:
        InputError: ``scores`` is not 2-d or ``size < 1``.
    """
    S = np.asarray(scores, dtype=float)
    if S.ndim != 2:
        raise InputError(f"scores must be n_candidates x n_tasks, got shape {S.shape}")
    if size < 1:
        raise InputError(f"portfolio size must be >= 1, got {size}")
    known = np.isfinite(S)
    credit = np.where(known, S, 0.0)
    counts = known.sum(axis=1)
    mean_known = np.where(counts > 0, credit.sum(axis=1) / np.maximum(counts, 1), -np.inf)
    best = np.zeros(S.shape[1])
    picked: list[int] = []
    free = np.ones(S.shape[0], dtype=bool)
    for _ in range(min(size, S.shape[0])):
        gain = np.maximum(best[None, :], credit).mean(axis=1)
        # lexsort: last key first; among free candidates, max gain, then max mean, then min index
        order = np.lexsort((np.arange(S.shape[0]), -mean_known, -gain, ~free))
        pick = int(order[0])
        picked.append(pick)
        free[pick] = False
        best = np.maximum(best, credit[pick])
    return picked


def _full_rows(task: TaskData, space: SearchSpace) -> np.ndarray:
    """Indices of a task's evaluations at its highest fidelity (its full-fidelity ones, if any).

    The level of an evaluation is its mean fidelity as a fraction of each fidelity's upper bound
    (a missing assignment is full fidelity).
    """
    if task.fidelities is None or not space.fidelities:
        return np.arange(len(task))
    levels = []
    for fid in task.fidelities:
        fid = fid or {}
        levels.append(
            np.mean([float(fid.get(n, f.upper)) / f.upper for n, f in space.fidelities.items()])
        )
    lv = np.asarray(levels)
    return np.flatnonzero(lv >= lv.max() - 1e-12)


def best_configs(task: TaskData, space: SearchSpace, k: int) -> list[Config]:
    """The ``k`` best distinct configurations of ``task`` at its highest fidelity, best first,
    as plain JSON values (validated against ``space``)."""
    rows = _full_rows(task, space)
    scores = normalized_scores(np.asarray(task.values)[rows], task.direction)
    out: dict[str, Config] = {}
    for i in np.argsort(-scores, kind="stable"):
        cfg = space.validate(task.configs[rows[i]])
        out.setdefault(space.config_key(cfg), {n: _plain(v) for n, v in cfg.items()})
        if len(out) >= k:
            break
    return list(out.values())


def portfolio_configs(
    space: SearchSpace,
    sources: Sequence[Any],
    size: int = 5,
    per_task: int = 10,
    direction: Direction | str | None = None,
) -> list[Config]:
    """The greedy portfolio of the sources' best configurations.

    Args:
        space: The target study's space (every configuration is validated against it).
        sources: Source tasks: :class:`~jahs_bo.study.Study` objects (their complete trials; the
            first objective) or :class:`TaskData`.
        size: Configurations in the portfolio.
        per_task: Best configurations of each source that are candidates.
        direction: The target study's (first) direction, if known. Each source's best is taken
            by its own direction either way; when no source shares this one, a
            :class:`~jahs_bo.metalearn.tasks.SourceDirectionWarning` says so (a study left at the default
            ``"minimize"`` warm-started from sources that maximize accuracy would search for
            the worst networks after the portfolio).

    Returns:
        ``size`` configurations (fewer if the sources hold fewer distinct ones), in order.

    Raises:
        InputError: no sources, a source that is neither a study nor a task, or a
            configuration outside ``space``.
    """
    if isinstance(sources, (TaskData, Mapping)) or not sources:
        raise InputError(
            "warm_start needs a non-empty list of source studies or metalearn.TaskData, got "
            f"{sources!r}"
        )
    if per_task < 1:
        raise InputError(f"per_task must be >= 1, got {per_task}")
    tasks = [as_task(s, i) for i, s in enumerate(sources)]
    if direction is not None:
        check_directions(direction, [t.direction for t in tasks], "warm_start")
    # per task: config key -> normalized score of its (best) evaluation at the highest fidelity
    per_key: list[dict[str, float]] = []
    configs: dict[str, Config] = {}
    candidates: list[str] = []
    for task in tasks:
        rows = _full_rows(task, space)
        scores = normalized_scores(np.asarray(task.values)[rows], task.direction)
        table: dict[str, float] = {}
        for r, s in zip(rows, scores, strict=True):
            cfg = space.validate(task.configs[r])
            key = space.config_key(cfg)
            configs.setdefault(key, cfg)
            table[key] = max(table.get(key, -np.inf), float(s))
        per_key.append(table)
        ranked = sorted(table, key=lambda k: (-table[k], k))[:per_task]
        candidates.extend(k for k in ranked if k not in candidates)
    S = np.array([[t.get(k, np.nan) for t in per_key] for k in candidates], dtype=float)
    return [configs[candidates[i]] for i in greedy_portfolio(S, size)]
