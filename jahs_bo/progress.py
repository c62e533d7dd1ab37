"""Live progress of a search: trials done, running, failed and the best value so far.

:class:`RichProgress` draws a progress bar with `rich` on a terminal and falls back to one line
per finished trial elsewhere (logs, CI). Any object with the same five methods can be passed to
:class:`jahs_bo.tuner.Tuner` as ``progress``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from jahs_bo.types import Direction, Trial, TrialState


def summarize(trials: Sequence[Trial], directions: Sequence[Direction | str]) -> dict[str, Any]:
    """Counts per state and the best value of the first objective among complete trials.

    Returns:
        ``{"complete", "pruned", "failed", "running", "best", "best_number"}``; ``best`` is
        ``None`` while no trial is complete.
    """
    dirs = [Direction.parse(d) for d in directions]
    out: dict[str, Any] = {s.value: 0 for s in TrialState}
    best, best_number = None, None
    for t in trials:
        out[t.state.value] += 1
        if t.state is TrialState.COMPLETE and t.values:
            v = t.values[0]
            if math.isfinite(v) and (best is None or dirs[0].sign * v < dirs[0].sign * best):
                best, best_number = v, t.number
    out["best"], out["best_number"] = best, best_number
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
        s = summarize(study.trials, study.directions)
        from jahs_bo.tuner import counts_towards_budget

        done = sum(counts_towards_budget(t) for t in study.trials)
        best = "-" if s["best"] is None else f"{s['best']:.4g} (#{s['best_number']})"
        return {
            "completed": done,
            "running": s["running"] if running is None else running,
            "failed": s["failed"],
            "pruned": s["pruned"],
            "best": best,
        }

    def start(self, study: Any, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.total = total
        if not self.console.is_terminal:
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
            why = ""
            if trial.state is TrialState.FAILED and trial.error:
                why = " (" + trial.error.strip().splitlines()[0][:120] + ")"
            self.console.print(
                f"trial {trial.number} {trial.state.value}{value}{why} | "
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
