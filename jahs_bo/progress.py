"""Live progress of a search: trials done, running, failed and the best value so far.

:class:`RichProgress` draws a progress bar with `rich` on a terminal and falls back to one line
per finished trial elsewhere (logs, CI). Any object with the same five methods can be passed to
``Study.optimize(show_progress=...)`` or :func:`jahs_bo.tune` as ``progress``.
"""

from __future__ import annotations

from typing import Any

from jahs_bo.storage.base import LOST
from jahs_bo.types import Trial, TrialState


def summarize(study: Any) -> dict[str, Any]:
    """Counts per state and the study's incumbent (:mod:`jahs_bo.study.incumbent`).

    Returns:
        ``{"complete", "pruned", "failed", "running", "lost", "counted", "best",
        "best_number", "best_text"}``: ``lost`` trials (interrupted, dead worker) are among
        ``failed`` and are re-run on resume; ``counted`` is what ``n_trials`` counts; ``best`` is
        the incumbent's first objective value (``None`` while no trial is complete) and
        ``best_text`` says it with its trial number and, below the full fidelity, the fidelity.
    """
    trials = study.trials
    out: dict[str, Any] = {s.value: 0 for s in TrialState}
    out["lost"] = 0
    for t in trials:
        out[t.state.value] += 1
        out["lost"] += bool(t.system_attrs.get(LOST))
    out["counted"] = out["complete"] + out["pruned"] + out["failed"] - out["lost"]
    inc = study.incumbent
    best = inc.best if inc.best is not None else (inc.front[0] if inc.front else None)
    out["best"] = None if best is None or best.values is None else best.values[0]
    out["best_number"] = None if best is None else best.number
    text = "-"
    if out["best"] is not None:
        text = f"{out['best']:.4g} (#{out['best_number']})"
        if len(study.directions) > 1:
            text = f"{len(inc.front)} on the Pareto front"
        if inc.note:
            text += f" {inc.note}"
    out["best_text"] = text
    return out


class RichProgress:
    """A rich progress bar: ``done/total``, running, failed, best so far, elapsed time.

    Args:
        console: A ``rich.console.Console`` (default: stderr).
    """

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True)
        self._progress: Any = None
        self._task: Any = None
        self.total = 0

    def _fields(self, study: Any, running: int | None = None) -> dict[str, Any]:
        s = summarize(study)
        return {
            "completed": s["counted"],
            "running": s["running"] if running is None else running,
            "failed": s["failed"],
            "pruned": s["pruned"],
            "best": s["best_text"],
        }

    def start(self, study: Any, total: int | None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.total = total
        if not self.console.is_terminal:
            total = "?" if total is None else total  # type: ignore[assignment]
            f = self._fields(study)
            self.console.print(
                f"study {getattr(study, 'study_name', '')!s}: {f['completed']}/{total} trials done",
                markup=False,
                soft_wrap=True,
            )
            return
        self._progress = Progress(
            TextColumn("[bold]trials"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("running {task.fields[running]}"),
            TextColumn("[red]failed {task.fields[failed]}"),
            TextColumn("pruned {task.fields[pruned]}"),
            TextColumn("[green]best {task.fields[best]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("search", total=total, **self._fields(study))

    def _update(self, study: Any, running: int | None = None) -> None:
        if self._progress is not None:
            self._progress.update(self._task, **self._fields(study, running))

    def trial_started(self, study: Any, trial: Trial, running: int) -> None:
        self._update(study, running)

    def trial_finished(self, study: Any, trial: Trial) -> None:
        if self._progress is None:
            f = self._fields(study)
            value = (
                ""
                if trial.values is None
                else " values " + ", ".join(f"{v:.4g}" for v in trial.values)
            )
            self.console.print(
                f"trial {trial.number} {trial.state.value}{value} | "
                f"{f['completed']}/{self.total} done, failed {f['failed']}, best {f['best']}",
                markup=False,
                soft_wrap=True,
            )
        else:
            self._update(study)

    def tick(self, study: Any, running: int) -> None:
        self._update(study, running)

    def stop(self, study: Any, interrupted: bool = False) -> None:
        if self._progress is not None:
            self._update(study, 0)
            self._progress.stop()
            self._progress = None
        if interrupted:
            self.console.print("[yellow]interrupted: run the same command again to resume")
