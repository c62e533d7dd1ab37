"""Asynchronous successive halving (ASHA, Li et al., 2020) and a full-fidelity FIFO scheduler.

ASHA never waits: whenever a worker asks, it promotes a finished trial that is among the best
``floor(n_k / eta)`` of the ``n_k`` complete trials of its rung ``k`` and has not been promoted yet
(checking the highest rungs first); when there is none, a new configuration starts at the lowest
rung. Promotions made on few results can later look premature; that is ASHA's trade for keeping
every worker busy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.schedulers.base import (
    _TRIAL_ID,
    Scheduler,
    TrialRequest,
    merge_trials,
    register_scheduler,
)
from jahs_bo.types import Direction, FinishedTrials, Trial, finished_trials, running_trials

if TYPE_CHECKING:
    from jahs_bo.searchers.base import Searcher
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["ASHA", "FIFO"]


@register_scheduler("asha")
class ASHA(Scheduler):
    """Asynchronous successive halving with promotion (one bracket, rungs from the lowest level).

    Constructor arguments: see :class:`~jahs_bo.schedulers.base.Scheduler`.
    """

    def next_trial(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> TrialRequest:
        assert self.plan is not None
        everything = merge_trials(trials, pending)
        running = running_trials(everything)
        rungs: list[list[Trial]] = [[] for _ in self.plan.levels]
        for t in self.mine(everything):
            k = t.system_attrs.get("rung")
            if isinstance(k, int) and 0 <= k < len(rungs):
                rungs[k].append(t)
        for k in range(len(rungs) - 2, -1, -1):
            promoted = {t.parent_id for t in rungs[k + 1]}
            ranked = self.order(rungs[k])
            for cand in ranked[: int(len(ranked) // self.eta)]:
                if cand.trial_id not in promoted:
                    return self.request(cand.config, k + 1, parent=cand)
        return self.request(self.new_config(everything, running, rng), 0)


@register_scheduler("fifo")
class FIFO(Scheduler):
    """Every trial at the full fidelity; only the pruning rule stops trials early.

    This is the scheduler of the drop-in tuner when no fidelity is scheduled: pass
    ``pruning="median"`` or ``"asha"`` to stop bad trials from their per-epoch reports. Works on
    spaces without a fidelity (the request's fidelity is then empty).
    """

    needs_fidelity = False
    screens_proposals = False

    def __init__(
        self,
        space: SearchSpace,
        searcher: Searcher,
        directions: Sequence[Direction | str] = ("minimize",),
        *,
        pruning: Any = "median",
        **kwargs: Any,
    ) -> None:
        super().__init__(space, searcher, directions, pruning=pruning, **kwargs)

    def searcher_view(self, trials: Sequence[Trial]) -> list[Trial]:
        """Every finished trial: they all ran at the same (full) fidelity."""
        return finished_trials(trials)

    def _batches(self, view: Sequence[Trial]) -> bool:
        """Never: every trial runs at the one fidelity, so the configurations proposed since the
        newest result are the running trials, which the searcher sees as pending already."""
        return False

    def next_trial(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> TrialRequest:
        # What merge_trials(trials, pending) would give, without merging the whole study on
        # every ask: the finished trials (in the order given; the study passes number order)
        # and the running ones, a trial in both counting as finished.
        finished = finished_trials(trials)
        running = list(pending)
        if len(finished) != len(trials):
            running = merge_trials(running_trials(trials), running)
        running = [t for t in running if not t.state.is_finished]
        ids = {t.trial_id for t in running}
        # A stale running copy of a finished trial; never in a study's own FinishedTrials and
        # running views (one snapshot), so the pass over every finished trial is skipped there.
        if (
            ids
            and type(trials) is not FinishedTrials
            and not ids.isdisjoint(map(_TRIAL_ID, finished))
        ):
            ids.difference_update(map(_TRIAL_ID, finished))
            running = [t for t in running if t.trial_id in ids]
        config = self.new_config(finished, running, rng, view=finished)
        if self.plan is None:
            return TrialRequest(
                config=dict(config),
                fidelity={},
                system_attrs={"scheduler": self.name, "previous_fidelity": None},
            )
        return self.request(config, self.plan.max_level)
