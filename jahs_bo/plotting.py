"""PNG plots of a study: incumbent over trials and over cost, fidelity usage, Pareto front.

Uses matplotlib's non-interactive ``Agg`` backend (no display needed). Each function draws on a
new figure, saves it and returns the path; :func:`plot_study` draws every plot that applies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jahs_bo.types import Direction, Trial, TrialState

_STATE_COLORS = {"complete": "tab:blue", "pruned": "tab:orange", "failed": "tab:red"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _complete(trials: Sequence[Trial]) -> list[Trial]:
    return [t for t in trials if t.state is TrialState.COMPLETE and t.values]


def incumbent_curve(values: Sequence[float], direction: Direction | str) -> np.ndarray:
    """Best value so far after each entry (``nan`` entries are skipped, not propagated).

    Args:
        values: ``n`` values in evaluation order.
        direction: Whether lower or higher is better.

    Returns:
        ``n`` best-so-far values (``nan`` until the first finite value).
    """
    sign = Direction.parse(direction).sign
    out = np.full(len(values), math.nan)
    best = math.inf
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v):
            best = min(best, sign * v)
        out[i] = sign * best if math.isfinite(best) else math.nan
    return out


def _primary_fidelity(trials: Sequence[Trial]) -> str | None:
    """The fidelity schedulers vary by default (``epoch``/``epochs``, else the first)."""
    from jahs_bo.schedulers.rungs import default_primary

    for t in trials:
        if t.fidelity:
            return default_primary(list(t.fidelity))
    return None


def _at_full(study: Any, trials: Sequence[Trial]) -> list[Trial]:
    """Complete trials at the highest fidelity reached (the study's one incumbent rule,
    :mod:`jahs_bo.study.incumbent`)."""
    from jahs_bo.study.incumbent import at_highest_fidelity

    return at_highest_fidelity(_complete(trials), study.space)


def plot_incumbent(study: Any, path: str | Path, objective: int = 0) -> Path:
    """Every trial's value (coloured by fidelity) and the incumbent against the trial number.

    The incumbent is the best value among trials at the full fidelity (when a trial ran at it;
    otherwise among all complete trials), as ``Study.best_trial`` defines it.
    """
    plt = _pyplot()
    trials = study.trials
    direction = study.directions[objective]
    fid = _primary_fidelity(trials)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    done = _complete(trials)
    levels = sorted({float(t.fidelity.get(fid, 0)) for t in done}) if fid else [0.0]
    cmap = plt.get_cmap("viridis")
    for i, level in enumerate(levels):
        pts = [
            (t.number, t.values[objective])
            for t in done
            if (not fid or float(t.fidelity.get(fid, 0)) == level)
            and math.isfinite(t.values[objective])
        ]
        if pts:
            x, y = zip(*pts, strict=True)
            color = cmap(i / max(len(levels) - 1, 1))
            label = f"{fid} = {level:g}" if fid else "complete trials"
            ax.scatter(x, y, s=14, alpha=0.7, color=color, label=label)
    for t in trials:
        if t.state is TrialState.PRUNED and t.values and math.isfinite(t.values[objective]):
            ax.scatter(t.number, t.values[objective], marker="x", s=18, color="tab:orange")
    n_failed = sum(t.state is TrialState.FAILED for t in trials)
    best = sorted(_at_full(study, trials), key=lambda t: t.number)
    if best:
        x = [t.number for t in best] + [max(t.number for t in trials)]
        y = list(incumbent_curve([t.values[objective] for t in best], direction))
        ax.step(x, [*y, y[-1]], where="post", color="black", lw=2, label="incumbent")
    ax.set_xlabel("trial number" + (f" ({n_failed} failed, not shown)" if n_failed else ""))
    ax.set_ylabel(_objective_label(study, objective))
    ax.set_title(f"{study.study_name}: incumbent over trials")
    _legend(ax, loc="best")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_incumbent_over_cost(study: Any, path: str | Path, objective: int = 0) -> Path:
    """Incumbent against cumulative cost: wall-clock seconds and, with a fidelity, its sum.

    Cost of a trial is its duration (seconds) and, for the right panel, the value of its first
    fidelity minus the parent's (a promotion that resumes only pays for the new epochs). Trials
    are taken in completion order; the incumbent follows the rule of :func:`plot_incumbent`.
    """
    plt = _pyplot()
    trials = sorted(
        (t for t in study.trials if t.state.is_finished),
        key=lambda t: (t.datetime_complete is None, t.datetime_complete or 0, t.number),
    )
    direction = study.directions[objective]
    fid = _primary_fidelity(trials)
    by_id = {t.trial_id: t for t in study.trials}
    ncols = 2 if fid else 1
    fig, axes = plt.subplots(1, ncols, figsize=(6 * ncols, 4.5), squeeze=False)
    eligible = {t.trial_id for t in _at_full(study, trials)}
    vals = [t.values[objective] if t.trial_id in eligible else math.nan for t in trials]
    inc = incumbent_curve(vals, direction)
    seconds = np.cumsum([t.duration or 0.0 for t in trials])
    axes[0, 0].step(seconds, inc, where="post", color="black")
    axes[0, 0].set_xlabel("cumulative training time (s)")
    if fid:

        def paid(t: Trial) -> float:
            parent = by_id.get(t.parent_id) if t.parent_id is not None else None
            before = parent.fidelity.get(fid, 0.0) if parent is not None else 0.0
            return max(float(t.fidelity.get(fid, 0.0)) - float(before), 0.0)

        axes[0, 1].step(np.cumsum([paid(t) for t in trials]), inc, where="post", color="black")
        axes[0, 1].set_xlabel(f"cumulative {fid}")
    for ax in axes[0]:
        ax.set_ylabel(f"incumbent {_objective_label(study, objective)}")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{study.study_name}: incumbent over cost")
    return _save(fig, path)


def plot_fidelity_usage(study: Any, path: str | Path) -> Path | None:
    """Trials per level of the scheduled fidelity (rung), stacked by final state.

    Returns ``None`` (and draws nothing) when the trials have no fidelity.
    """
    trials = [t for t in study.trials if t.state.is_finished]
    fid = _primary_fidelity(trials)
    if fid is None:
        return None
    plt = _pyplot()
    levels = sorted({float(t.fidelity[fid]) for t in trials if fid in t.fidelity})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    bottom = np.zeros(len(levels))
    labels = [f"{v:g}" for v in levels]
    for state, color in _STATE_COLORS.items():
        counts = np.array(
            [
                sum(
                    1
                    for t in trials
                    if t.state.value == state and float(t.fidelity.get(fid, -1)) == v
                )
                for v in levels
            ],
            dtype=float,
        )
        if counts.any():
            ax.bar(labels, counts, bottom=bottom, color=color, label=state)
            bottom += counts
    ax.set_xlabel(f"{fid} (rung)")
    ax.set_ylabel("trials")
    ax.set_title(f"{study.study_name}: fidelity usage per rung")
    _legend(ax)
    return _save(fig, path)


def plot_pareto_front(
    study: Any, path: str | Path, objectives: tuple[int, int] = (0, 1)
) -> Path | None:
    """Complete trials in the plane of two objectives with the Pareto front highlighted.

    Returns ``None`` for single-objective studies.
    """
    if len(study.directions) < 2:
        return None
    plt = _pyplot()
    i, j = objectives
    done = _complete(study.trials)
    fig, ax = plt.subplots(figsize=(6, 5))
    if done:
        ax.scatter(
            [t.values[i] for t in done],
            [t.values[j] for t in done],
            s=14,
            alpha=0.5,
            color="tab:gray",
            label="complete trials",
        )
        front = sorted(study.best_trials, key=lambda t: t.values[i])
        ax.plot(
            [t.values[i] for t in front],
            [t.values[j] for t in front],
            "o-",
            color="tab:red",
            label="Pareto front",
        )
    ax.set_xlabel(f"{_objective_label(study, i)}")
    ax.set_ylabel(f"{_objective_label(study, j)}")
    ax.set_title(f"{study.study_name}: Pareto front")
    _legend(ax)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_study(study: Any, out_dir: str | Path) -> list[Path]:
    """Draw every plot that applies to ``study`` into ``out_dir``; returns the PNG paths.

    Files are named ``<database>-<study>_<plot>.png`` for a study in a SQLite file, so studies
    of the same name in two databases do not overwrite each other's plots.
    """
    from jahs_bo.storage import storage_path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in study.study_name)
    db = storage_path(study.storage)
    if db is not None:
        name = f"{db.stem}-{name}"
    paths = [
        plot_incumbent(study, out / f"{name}_incumbent.png"),
        plot_incumbent_over_cost(study, out / f"{name}_incumbent_cost.png"),
        plot_fidelity_usage(study, out / f"{name}_fidelity_usage.png"),
        plot_pareto_front(study, out / f"{name}_pareto_front.png"),
    ]
    return [p for p in paths if p is not None]


def _legend(ax: Any, **kwargs: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, **kwargs)


def _objective_label(study: Any, k: int) -> str:
    names = getattr(study, "objective_names", None)
    name = names[k] if names else ("value" if len(study.directions) == 1 else f"objective {k}")
    return f"{name} ({study.directions[k].value})"


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
