"""Synchronous successive halving, Hyperband and BOHB.

A *bracket* is one run of successive halving: ``n_0`` new configurations at its first rung, of
which the best ``n_1`` (``floor(n_0 / eta)``) continue at the next rung, and so on up to the full
fidelity. A rung is promoted only once all its trials have finished (synchronous). Hyperband cycles
over its brackets (most exploratory first, :func:`~jahs_bo.schedulers.rungs.hyperband_brackets`);
successive halving repeats its one bracket.

Several workers: a trial request goes to the oldest bracket that can use one; when every open
bracket waits for pending trials before its next promotion, a new bracket starts (the next one in
the cycle) rather than leaving the worker idle.

Failed or pruned trials count as finished and are never promoted; a rung with fewer complete
trials than its successor's size promotes all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import InputError
from jahs_bo.schedulers.base import Scheduler, TrialRequest, merge_trials, register_scheduler
from jahs_bo.types import Direction, Trial

if TYPE_CHECKING:
    from jahs_bo.searchers.base import Searcher
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["BOHB", "Hyperband", "SuccessiveHalving", "SynchronousBrackets"]


class SynchronousBrackets(Scheduler):
    """Shared machinery of synchronous successive halving and Hyperband.

    Subclasses define :meth:`bracket_plans`: the brackets cycled through, each a list of
    ``(n_configs, rung index)`` pairs.
    """

    def bracket_plans(self) -> list[list[tuple[int, int]]]:
        """The brackets this scheduler cycles through (as ``(n_configs, rung)`` pairs)."""
        raise NotImplementedError

    def next_trial(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> TrialRequest:
        everything = merge_trials(trials, pending)
        running = [t for t in everything if not t.state.is_finished]
        plans = self.bracket_plans()
        by_bracket: dict[int, list[Trial]] = {}
        for t in self.mine(everything):
            b = t.system_attrs.get("bracket")
            if isinstance(b, int):
                by_bracket.setdefault(b, []).append(t)
        for b in sorted(by_bracket):
            req = self._advance(b, plans[b % len(plans)], by_bracket[b], everything, running, rng)
            if req is not None:
                return req
        b = max(by_bracket) + 1 if by_bracket else 0
        plan = plans[b % len(plans)]
        config = self.new_config(everything, running, rng)
        return self._request(config, b, plan, 0, None)

    def _request(
        self,
        config: dict[str, Any],
        bracket: int,
        plan: list[tuple[int, int]],
        position: int,
        parent: Trial | None,
    ) -> TrialRequest:
        return self.request(
            config,
            plan[position][1],
            parent=parent,
            bracket=bracket,
            bracket_index=bracket % len(self.bracket_plans()),
            bracket_rung=position,
        )

    def _advance(
        self,
        bracket: int,
        plan: list[tuple[int, int]],
        members: list[Trial],
        everything: list[Trial],
        running: list[Trial],
        rng: np.random.Generator,
    ) -> TrialRequest | None:
        """The next request of one bracket, or ``None`` when it is done or waits."""
        rung_of = {lv: pos for pos, (_, lv) in enumerate(plan)}
        rungs: list[list[Trial]] = [[] for _ in plan]
        for t in members:
            pos = rung_of.get(t.system_attrs.get("rung"))  # type: ignore[arg-type]
            if pos is not None:
                rungs[pos].append(t)
        top = max((p for p in range(len(plan)) if rungs[p]), default=0)
        target = plan[top][0]
        if top > 0:
            target = min(target, len(self.order(rungs[top - 1])))
        if len(rungs[top]) < target:
            if top == 0:
                return self._request(
                    self.new_config(everything, running, rng), bracket, plan, 0, None
                )
            return self._promote(bracket, plan, top, rungs)
        if any(not t.state.is_finished for t in rungs[top]):
            return None  # wait for this rung; the caller tries younger brackets
        if top + 1 >= len(plan):
            return None  # bracket finished
        if min(plan[top + 1][0], len(self.order(rungs[top]))) == 0:
            return None  # nothing left to promote (all failed)
        return self._promote(bracket, plan, top + 1, rungs)

    def _promote(
        self, bracket: int, plan: list[tuple[int, int]], position: int, rungs: list[list[Trial]]
    ) -> TrialRequest | None:
        promoted = {t.parent_id for t in rungs[position]}
        ranked = self.order(rungs[position - 1])[: plan[position][0]]
        for cand in ranked:
            if cand.trial_id not in promoted:
                return self._request(cand.config, bracket, plan, position, cand)
        return None


@register_scheduler("hyperband")
class Hyperband(SynchronousBrackets):
    """Synchronous Hyperband (Li et al., 2018) cycling over all its brackets.

    New configurations come from the searcher (random search gives the original Hyperband).
    Constructor arguments: see :class:`~jahs_bo.schedulers.base.Scheduler`.
    """

    def bracket_plans(self) -> list[list[tuple[int, int]]]:
        assert self.plan is not None
        return self.plan.brackets()


@register_scheduler("sh")
class SuccessiveHalving(SynchronousBrackets):
    """Synchronous successive halving (Jamieson & Talwalkar, 2016), repeated.

    Each bracket starts ``n_configs`` configurations at the lowest rung (``None``: ``eta**s_max``,
    Hyperband's most exploratory bracket) and keeps ``floor(n / eta**i)`` at rung ``i``.

    Args:
        n_configs: Configurations per bracket at the first rung.
        **kwargs: See :class:`~jahs_bo.schedulers.base.Scheduler`.
    """

    def __init__(
        self,
        space: SearchSpace,
        searcher: Searcher,
        directions: Sequence[Direction | str] = ("minimize",),
        *,
        n_configs: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, searcher, directions, **kwargs)
        if n_configs is not None and n_configs < 1:
            raise InputError(f"n_configs must be >= 1, got {n_configs}")
        self.n_configs = n_configs

    def bracket_plans(self) -> list[list[tuple[int, int]]]:
        assert self.plan is not None
        first = self.plan.brackets()[0]
        if self.n_configs is None:
            return [first]
        n0 = self.n_configs
        return [[(max(1, int(n0 // self.eta**i)), lv) for i, (_, lv) in enumerate(first)]]


@register_scheduler("bohb")
class BOHB(Hyperband):
    """BOHB (Falkner et al., 2018): Hyperband whose new configurations come from a model.

    Pass a model-based searcher (``"gp"``). The searcher is fitted on the highest fidelity level
    with at least ``min_points_in_model`` complete trials (or on every trial if it models the
    fidelity itself); see :mod:`jahs_bo.schedulers.base`. A fraction ``random_fraction``
    (default 1/3, as in the paper) of new configurations is drawn at random.

    ``eta`` defaults to the levels' own ratio for fidelities with fixed values
    (:func:`~jahs_bo.schedulers.rungs.default_eta`), and new configurations proposed between two
    updates of the model's data form one batch (``batch_proposals``,
    :mod:`jahs_bo.schedulers.base`); the measurements behind these choices are in
    ``benchmarks/results/gp-defaults.md`` (section "BOHB").
    """

    def __init__(
        self,
        space: SearchSpace,
        searcher: Searcher,
        directions: Sequence[Direction | str] = ("minimize",),
        *,
        random_fraction: float = 1.0 / 3.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(space, searcher, directions, random_fraction=random_fraction, **kwargs)
