"""Transfer across datasets: the GP searcher with a meta-learned surrogate (issue 12).

``create_study(space, searcher="transfer", searcher_options={"meta": "nb201-meta"})`` loads the
meta-model checkpoint written by :meth:`jahs_bo.metalearn.MetaModel.save` (the space is checked
against the checkpoint's: another space raises :class:`~jahs_bo.exceptions.InputError`) and runs
the :class:`~jahs_bo.searchers.gp.GPSearcher` with two changes:

- **Initial design.** While fewer than ``n_init`` trials are complete, each suggestion is the
  meta-model's zero-shot best (its learned prior mean, at full fidelity) among the sources'
  best configurations kept in the checkpoint, ``n_candidates`` random configurations drawn
  with the trial's generator and the neighbours of the best of those, leaving out
  configurations already evaluated or pending (:meth:`TransferSearcher.zero_shot`). The GP
  searcher draws these at random instead.
- **Surrogate.** Every later suggestion fits the meta-model's deep-kernel GP
  (:meth:`~jahs_bo.metalearn.MetaModel.model_factory`: a copy fine-tuned for at most
  ``fine_tune_steps`` Adam steps on the study's observations, conditioned on the task) instead of
  the joint WL GP. It is never re-fitted with ``fit_gpytorch_mll``. Constrained metrics keep the
  default GP.
- **Negative-transfer guard.** From ``guard_min_points`` observations on, the plain joint WL GP
  is fitted too, and whichever orders the study's observations better (leave-one-out
  predictions, :class:`GuardedFactory`) is the surrogate of that suggestion: when the new
  task contradicts the sources, the search falls back to the plain GP.

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

import math
import os
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

import numpy as np
from botorch.exceptions import ModelFittingError
from botorch.models.model import Model
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

from jahs_bo.exceptions import InputError
from jahs_bo.models.factory import ModelFactory, WarmStart
from jahs_bo.models.gp import loo_predictions, ranking_accuracy
from jahs_bo.searchers._torch import torch_threads
from jahs_bo.searchers.base import register_searcher
from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.searchers.random import fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial

if TYPE_CHECKING:
    from jahs_bo.metalearn.model import MetaModel
    from jahs_bo.models.encoder import JointEncoder
    from jahs_bo.multiobjective import OutcomeConstraint
    from jahs_bo.spaces.space import SearchSpace

__all__ = ["GuardedFactory", "MetaModelFactory", "TransferSearcher"]

#: Best zero-shot candidates whose neighbours are ranked too, and neighbours of each.
ZERO_SHOT_PARENTS = 5
ZERO_SHOT_NEIGHBOURS = 30


class GuardedFactory:
    """The negative-transfer guard: the meta-model's GP unless the plain GP ranks the task better.

    Every call fits the meta-model's GP and, from ``min_points`` observations on, also the
    plain GP (the GP searcher's default joint WL GP, fitted from scratch so that resumed
    studies propose what uninterrupted ones do). Each model is scored by how well its
    leave-one-out predictions (:func:`~jahs_bo.models.gp.loo_predictions`) order the study's
    observations (:func:`~jahs_bo.models.gp.ranking_accuracy`, the criterion RGPE weighs its
    base models by); the plain GP is returned when its score exceeds the meta-model's by more
    than ``margin``. Where the sources are related, the meta-model orders held-out points better
    and keeps the weight; where the target's observations contradict it (unrelated or
    adversarial sources), the plain GP does and takes over. Ranks rather than predictive
    likelihoods: the meta-model's few fine-tuning steps leave its noise small, and a likelihood
    would punish that overconfidence even where its ordering, which is what the acquisition
    needs, is right.

    Args:
        meta: The meta-model factory.
        plain: The plain GP factory.
        min_points: Observations before the first comparison (below, the meta-model).
        margin: How much better (share of pairs) the plain GP must order the observations.
        maxiter: Optimizer iterations of each plain GP fit.

    Attributes:
        choices: ``(n, chosen, meta score, plain score)`` per call, ``chosen`` being
            ``"meta"`` or ``"plain"`` (scores ``nan`` below ``min_points``).
    """

    def __init__(
        self,
        meta: ModelFactory,
        plain: ModelFactory,
        min_points: int = 5,
        margin: float = 0.05,
        maxiter: int = 100,
    ) -> None:
        self.meta = meta
        self.plain = plain
        self.min_points = int(min_points)
        self.margin = float(margin)
        self.maxiter = int(maxiter)
        self.choices: list[tuple[int, str, float, float]] = []

    def __call__(
        self, train_X: Tensor, train_Y: Tensor, encoder: JointEncoder, warm_start: WarmStart
    ) -> Model:
        """The chosen model on ``n x d`` ``train_X`` and ``n x 1`` ``train_Y``."""
        n = train_X.shape[0]
        meta_model = self.meta(train_X, train_Y, encoder, warm_start)
        if n < self.min_points:
            self.choices.append((n, "meta", math.nan, math.nan))
            return meta_model
        y = train_Y.squeeze(-1)
        try:
            plain_model = self.plain(train_X, train_Y, encoder, WarmStart(None, self.maxiter))
            meta_score = ranking_accuracy(loo_predictions(meta_model)[0], y)
            plain_score = ranking_accuracy(loo_predictions(plain_model)[0], y)
        except (ModelFittingError, NotPSDError, RuntimeError):
            self.choices.append((n, "meta", math.nan, math.nan))
            return meta_model
        if plain_score > meta_score + self.margin:
            self.choices.append((n, "plain", meta_score, plain_score))
            return plain_model
        self.choices.append((n, "meta", meta_score, plain_score))
        return meta_model


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
        guard: Guard against negative transfer (:class:`GuardedFactory`): from
            ``guard_min_points`` observations on, the plain GP replaces the meta-model whenever
            its leave-one-out predictions order the observations better by more than
            ``guard_margin`` (share of pairs). ``False``: always the meta-model.
        guard_min_points: Observations before the guard first compares the two models.
        guard_margin: How much better the plain GP must order the observations.
        **gp_options: Other :class:`~jahs_bo.searchers.gp.GPSearcher` options (candidate
            search, ``pending_strategy``, ...); ``model_factory`` is taken. The acquisition
            defaults to UCB with ``beta=4`` (mean + 2 standard deviations) instead of the GP
            searcher's log-EI: the meta-learned kernel is confident, and EI then stays on the
            first good cells (NB201, 3 seeds, mean regret after 30 evaluations, log-EI / UCB:
            ImageNet16-120 0.333 / 0.178, CIFAR-10 0.053 / 0.000, CIFAR-100 0.000 / 0.000).
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
        guard: bool = True,
        guard_min_points: int = 5,
        guard_margin: float = 0.05,
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
        from jahs_bo.metalearn.tasks import check_directions

        given = [s["direction"] for s in self.meta.sources if "direction" in s]
        check_directions(directions[0], given, "searcher 'transfer'")
        self.meta_path = os.fspath(meta)
        self._anchors: list[Config] | None = None
        self.n_candidates = int(n_candidates)
        self.dataset = dataset
        if guard_min_points < 2:
            raise InputError(f"guard_min_points must be >= 2, got {guard_min_points}")
        factory = MetaModelFactory(self.meta, dataset, fine_tune_steps, tune)
        gp_options.setdefault("acquisition", "ucb")
        gp_options.setdefault("beta", 4.0)
        super().__init__(
            space,
            directions,
            n_init=n_init,
            model_factory=factory,
            constraints=constraints,
            screened=screened,
            **gp_options,
        )
        #: The negative-transfer guard (``None`` when ``guard=False``); its ``choices`` tell
        #: which model each fit used.
        self.guard: GuardedFactory | None = None
        if guard:
            self.guard = GuardedFactory(
                factory,
                self._constraint_factory,
                guard_min_points,
                guard_margin,
                self.schedule.fit_maxiter,
            )
            self.model_factory = self.guard
        # The anchors enter the architecture store first, whatever the study's history, so
        # that a resumed study encodes (and proposes) exactly what an uninterrupted one does.
        self._extra_rows()

    def _suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        done, _ = self.losses(trials)
        if len(done) >= self.n_init:
            return super()._suggest(trials, pending, rng)
        return self.zero_shot(seen_keys(self, trials, pending), rng)

    def _extra_rows(self) -> Tensor | None:
        """The sources' best configurations, encoded at full fidelity: always candidates."""
        anchors = self.anchors()
        if not anchors:
            return None
        return self.encoder.encode(anchors)

    def anchors(self) -> list[Config]:
        """The sources' best configurations kept in the checkpoint (valid in this space)."""
        if self._anchors is None:
            self._anchors = []
            for source in self.meta.sources:
                for cfg in source.get("best", []):
                    try:
                        self._anchors.append(self.space.validate(cfg))
                    except (InputError, ValueError, TypeError):
                        continue  # written by another version of the space: not a candidate
        return self._anchors

    def zero_shot(self, seen: AbstractSet[str], rng: np.random.Generator) -> Config:
        """The meta-model's best unseen configuration (highest prior mean).

        The candidates are the sources' best configurations (:meth:`anchors`) and
        ``n_candidates`` random ones drawn with ``rng``, then the neighbours of the
        ``ZERO_SHOT_PARENTS`` best of those (one local step), all ranked by the meta-model.

        Args:
            seen: Keys (``space.config_key``) of the configurations to leave out.
            rng: Draws the candidates.
        """
        pool: dict[str, Config] = {}

        def add(configs: Sequence[Config]) -> None:
            for cfg in configs:
                key = self.space.config_key(cfg)
                if key not in seen:
                    pool.setdefault(key, cfg)

        add(self.anchors())
        add(self.space.sample_many(self.n_candidates, rng))
        if not pool:  # a nearly exhausted space
            return fresh_sample(self, seen, rng)
        with torch_threads(self.num_threads):
            configs = list(pool.values())
            order = self.meta.initial_design(configs, ZERO_SHOT_PARENTS, dataset=self.dataset)
            for i in order:
                add(self.space.neighbours(configs[i], rng, ZERO_SHOT_NEIGHBOURS))
            configs = list(pool.values())
            best = self.meta.initial_design(configs, 1, dataset=self.dataset)[0]
        return configs[best]
