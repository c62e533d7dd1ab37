"""Transfer across datasets: the GP searcher with a meta-learned surrogate (issue 12).

``create_study(space, searcher="transfer", searcher_options={"meta": "nb201-meta"})`` loads the
meta-model checkpoint written by :meth:`jahs_bo.metalearn.MetaModel.save` (the space is checked
against the checkpoint's: another space raises :class:`~jahs_bo.exceptions.InputError`) and runs
the :class:`~jahs_bo.searchers.gp.GPSearcher` with two changes:

- **Initial design.** While fewer than ``n_init`` trials are complete, each suggestion is the
  meta-model's zero-shot best (its learned prior mean, at full fidelity) among ``n_candidates``
  random configurations drawn with the trial's generator, leaving out configurations already
  evaluated or pending. The GP searcher draws these at random instead.
- **Surrogate.** Every later suggestion fits the meta-model's deep-kernel GP
  (:meth:`~jahs_bo.metalearn.MetaModel.model_factory`: a copy fine-tuned for at most
  ``fine_tune_steps`` Adam steps on the study's observations, conditioned on the task) instead of
  the joint WL GP. It is never re-fitted with ``fit_gpytorch_mll``. Constrained metrics keep the
  default GP.

The searcher is stateless over the study: every fine-tuning starts from the checkpoint's weights
(no warm start from the previous suggestion), so a study reloaded with
:func:`~jahs_bo.study.load_study` proposes exactly what an uninterrupted one would. Searcher
options are stored with the study as JSON: ``meta`` is a path (relative paths are resolved
against the working directory of the process that loads the study; ``jahs-bo run --meta``
stores an absolute path) and ``dataset`` samples ``(X, y)`` (numpy arrays are stored as nested
lists, which the searcher reads back as the same samples).

Example:
    >>> study = jahs_bo.create_study(
    ...     space,
    ...     direction="maximize",
    ...     searcher="transfer",
    ...     searcher_options={"meta": "nb201-meta", "n_init": 5},
    ...     scheduler="hyperband",
    ... )
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from botorch.models.model import Model
from torch import Tensor

from jahs_bo.exceptions import InputError
from jahs_bo.models.factory import WarmStart
from jahs_bo.searchers.base import register_searcher
from jahs_bo.searchers.gp import GPSearcher, _torch_threads
from jahs_bo.searchers.random import fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial

if TYPE_CHECKING:
    from jahs_bo.metalearn.model import MetaModel
    from jahs_bo.models.encoder import JointEncoder
    from jahs_bo.multiobjective import OutcomeConstraint
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["MetaModelFactory", "TransferSearcher"]


class MetaModelFactory:
    """Adapts :meth:`MetaModel.model_factory` to the :class:`~jahs_bo.models.factory.ModelFactory`
    protocol.

    The meta-model's factory takes ``(train_X, train_Y, encoder, state)`` with ``state`` a
    ``state_dict`` or ``None``; the searcher passes a :class:`WarmStart`. This adapter always
    passes ``None`` and leaves ``warm_start.state`` unset, so every fit fine-tunes a fresh copy of
    the meta-learned weights (deterministic given the data: resumed studies continue exactly).

    Args:
        meta: The meta-model.
        dataset: Samples ``(X, y)`` of the target dataset for the dataset encoder.
        fine_tune_steps: Adam steps per fit (0: the meta-learned weights as they are).
        tune: What fine-tuning adapts (``"gp"``, ``"heads"`` or ``"all"``).
    """

    def __init__(
        self,
        meta: MetaModel,
        dataset: Any = None,
        fine_tune_steps: int = 20,
        tune: str = "heads",
    ) -> None:
        self._factory: Callable[..., Model] = meta.model_factory(
            dataset=dataset,
            fine_tune_steps=fine_tune_steps,
            tune=tune,  # type: ignore[arg-type]
        )

    def __call__(
        self, train_X: Tensor, train_Y: Tensor, encoder: JointEncoder, warm_start: WarmStart
    ) -> Model:
        """A fine-tuned meta-model GP on ``n x d`` ``train_X`` and ``n x 1`` ``train_Y``."""
        return self._factory(train_X, train_Y, encoder, None)


@register_searcher("transfer")
class TransferSearcher(GPSearcher):
    """GP-based BO whose surrogate and initial design come from a meta-learned model.

    Args:
        space: The search space (must be the checkpoint's).
        directions: Objective directions.
        meta: Directory of a checkpoint written by :meth:`MetaModel.save` (a path, so that the
            option is stored with the study and ``load_study`` reloads it).
        dataset: Samples of the target dataset, ``(X, y)`` with ``X`` of shape ``m x p`` and
            ``y`` of shape ``m`` (arrays or nested lists), or ``None``.
        n_init: Zero-shot suggestions before the first model-based one.
        n_candidates: Random configurations the meta-model ranks for each zero-shot suggestion.
        fine_tune_steps: Adam steps of each fit's fine-tuning (early stopping may end it sooner).
        tune: What fine-tuning adapts: ``"gp"``, ``"heads"`` (default) or ``"all"``.
        **gp_options: Other :class:`~jahs_bo.searchers.gp.GPSearcher` options (acquisition,
            candidate search, ``pending_strategy``, ...); ``model_factory`` is taken.
        constraints: Outcome constraints (modelled by the default GP).
        screened: Whether a scheduler screens the proposals at low fidelity first.

    Raises:
        InputError: No ``meta``, a directory that is not a checkpoint, a checkpoint for another
            search space, or bad option values.
    """

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction | str] = ("minimize",),
        meta: str | os.PathLike[str] | None = None,
        dataset: Any = None,
        n_init: int = 5,
        n_candidates: int = 512,
        fine_tune_steps: int = 20,
        tune: str = "heads",
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
        **gp_options: Any,
    ) -> None:
        if meta is None or not isinstance(meta, (str, os.PathLike)):
            raise InputError(
                f"searcher 'transfer' needs the meta-model checkpoint directory, got meta={meta!r}"
                "; pass searcher_options={'meta': 'path/to/checkpoint'} (written by "
                "jahs_bo.metalearn.meta_train(...).save(path))"
            )
        if "model_factory" in gp_options:
            raise InputError(
                "searcher 'transfer' builds its model_factory from meta=; use searcher='gp' "
                "with model_factory=... for another surrogate"
            )
        if n_candidates < 1:
            raise InputError(f"n_candidates must be >= 1, got {n_candidates}")
        if tune not in ("gp", "heads", "all"):
            raise InputError(f"tune must be one of ['all', 'gp', 'heads'], got {tune!r}")
        if fine_tune_steps < 0:
            raise InputError(f"fine_tune_steps must be >= 0, got {fine_tune_steps}")
        from jahs_bo.metalearn import load

        self.meta: MetaModel = load(os.fspath(meta), space=space)
        self.meta_path = os.fspath(meta)
        self.n_candidates = int(n_candidates)
        self.dataset = dataset
        factory = MetaModelFactory(self.meta, dataset, fine_tune_steps, tune)
        super().__init__(
            space,
            directions,
            n_init=n_init,
            model_factory=factory,
            constraints=constraints,
            screened=screened,
            **gp_options,
        )

    def _suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        done, _ = self.losses(trials)
        if len(done) >= self.n_init:
            return super()._suggest(trials, pending, rng)
        return self.zero_shot(seen_keys(self, trials, pending), rng)

    def zero_shot(self, seen: set[str], rng: np.random.Generator) -> Config:
        """The meta-model's best unseen configuration among ``n_candidates`` random ones.

        Args:
            seen: Keys (``space.config_key``) of the configurations to leave out.
            rng: Draws the candidate pool.
        """
        pool: list[Config] = []
        keys: set[str] = set()
        for cfg in self.space.sample_many(self.n_candidates, rng):
            key = self.space.config_key(cfg)
            if key not in seen and key not in keys:
                keys.add(key)
                pool.append(cfg)
        if not pool:  # a nearly exhausted space
            return fresh_sample(self, seen, rng)
        with _torch_threads(self.num_threads):
            best = self.meta.initial_design(pool, 1, dataset=self.dataset)[0]
        return pool[best]
