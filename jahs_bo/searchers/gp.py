"""GP-based Bayesian optimization over joint architecture x hyperparameter x fidelity spaces.

Each suggestion:

1. Encodes the complete and the running trials once (:class:`~jahs_bo.models.encoder.JointEncoder`:
   architecture index columns, unit-cube hyperparameters, normalised fidelities), turns the
   objective values into the modelled targets (``y_transform``, botorch outcome transforms of
   :mod:`jahs_bo.models.transforms`) and asks the ``model_factory`` for a fitted botorch model
   (default :class:`~jahs_bo.models.factory.JointGPFactory`: ``SingleTaskGP`` with the joint WL
   kernel, warm-started from the previous fit; a :class:`~jahs_bo.models.factory.RefitSchedule`
   decides how many optimizer iterations the fits may spend).
2. Conditions on running trials (kriging believer: their predicted means are believed as
   observations, and count for the incumbent) so parallel workers spread out; while trials run
   (one objective, no bracket scheduler) it suggests by Thompson sampling
   (``pending_acquisition``).
3. Optimizes the acquisition with :func:`jahs_bo.acquisition.optimize_acquisition` (random
   samples and neighbourhoods of the best configurations, local search, optional gradient
   refinement of continuous hyperparameters) and decodes the best new candidate.

Several objectives (``mo_acquisition``):

* ``"parego"`` (default): a fresh random augmented-Chebyshev weighting of the objectives per
  suggestion and the single-objective acquisition on the scalarized values.
* ``"ehvi"``: one model per objective (same factory, each with its own warm start and
  transformed targets), combined in a botorch ``ModelListGP``, and botorch's
  ``qLogNoisyExpectedHypervolumeImprovement`` (Daulton et al., 2021) with the observed rows (at
  full fidelity) as ``X_baseline``, running trials as ``X_pending`` and the reference point
  ``nadir - 0.1 * range`` of the observed (feasible) front in the models' units (botorch's
  ``infer_reference_point``; maximization convention, minimized objectives negated). If building
  or scoring EHVI fails, the searcher warns (:class:`EHVIWarning`) and uses ParEGO for that
  suggestion. Measurements (EHVI against ParEGO, the default): ``benchmarks/results/gp-defaults.md``.

Outcome constraints (``constraints``): every constrained metric gets its own GP (the default
joint GP, raw units, standardized) on the trials that measured it (trials lacking the metric are
left out of that model only; a constraint with fewer than 3 measurements is not modelled yet).
Infeasible trials stay in every model. One objective (or ParEGO): botorch's
``LogConstrainedExpectedImprovement`` with the best *feasible* value as incumbent; with
constraints this replaces ``acquisition="ucb"``/``"ts"``. EHVI: the constraints enter
``qLogNoisyExpectedHypervolumeImprovement(constraints=...)`` and the reference point comes from
the feasible front. Parents of the local search are ranked feasible-first.

Expert priors (``use_prior``, piBO, Hvarfner et al. 2022): the first suggestion is the prior's
mode (:meth:`SearchSpace.prior_mode <jahs_bo.spaces.SearchSpace.prior_mode>`, the user's best
guess), the rest of the initial design alternately from the prior
(:meth:`SearchSpace.sample_prior <jahs_bo.spaces.SearchSpace.sample_prior>`) and uniformly
(``prior_init_fraction``), half as many prior samples as ``n_random`` join the candidate pool,
and the log acquisition gains ``(prior_beta / n) * log prior(x)`` after ``n`` observations
(:mod:`jahs_bo.acquisition.prior`), i.e. the acquisition is multiplied by
``prior(x) ** (prior_beta / n)``. The prior in that weight is mixed with uniform
(``prior_floor``), so that a misleading prior can be overcome within a budget.

If the model cannot be fitted, the searcher warns and proposes a mutation of the best
configuration instead of failing the study.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.models import ModelListGP
from botorch.models.model import Model
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from jahs_bo.acquisition import (
    ACQUISITIONS,
    DEFAULT_PRIOR_BETA,
    DEFAULT_PRIOR_FLOOR,
    CandidateSearch,
    PriorWeightedAcquisition,
    check_prior_floor,
    default_n_random,
    incumbent_value,
    make_acquisition,
    make_constrained_acquisition,
    make_ehvi,
    make_scorer,
    optimize_acquisition,
    pibo_exponent,
)
from jahs_bo.exceptions import InputError
from jahs_bo.kernels.joint import COMBINATIONS
from jahs_bo.models.encoder import DEFAULT_STORE_SIZE, JointEncoder
from jahs_bo.models.factory import JointGPFactory, ModelFactory, RefitSchedule
from jahs_bo.models.gp import exact_gp_settings, kriging_believer
from jahs_bo.models.transforms import Y_TRANSFORMS, resolve_y_transform, target_transform
from jahs_bo.multiobjective import (
    OutcomeConstraint,
    nsga2_order,
    parego_scalarize,
    sample_simplex_weights,
    violations,
)
from jahs_bo.searchers._subset import model_subset
from jahs_bo.searchers._torch import torch_threads
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.searchers.random import check_use_prior, fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial

if TYPE_CHECKING:
    from jahs_bo.spaces.space import SearchSpace

__all__ = [
    "EHVIWarning",
    "GPFitWarning",
    "GPSearcher",
    "MIN_CONSTRAINT_POINTS",
    "MO_ACQUISITIONS",
    "Y_TRANSFORMS",
    "resolve_y_transform",
]


class GPFitWarning(RuntimeWarning):
    """The GP could not be fitted; the searcher fell back to a mutation of the best config."""


class EHVIWarning(RuntimeWarning):
    """Expected hypervolume improvement failed; the searcher used ParEGO for this suggestion."""


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {list(allowed)}, got {value!r}")


MO_ACQUISITIONS = ("parego", "ehvi")
PENDING_ACQUISITIONS = ("auto", *ACQUISITIONS, "ts-logei")
#: A constraint is modelled once this many trials measured it.
MIN_CONSTRAINT_POINTS = 3
#: Default cap on the observations the models are fitted on. Below it nothing changes; at 2,000
#: observations it cut the median ask 3.1x on JAHS-Bench-201 (8.8 -> 2.8 s on a loaded 2-core
#: machine) and 3.5x on NB201 (``benchmarks/results/parallel/large-studies.md``).
DEFAULT_MAX_OBSERVATIONS: int | None = 1000


@dataclass(frozen=True)
class _Rows:
    """Trials of one suggestion, encoded once.

    Attributes:
        X: ``n x d`` rows at the trials' fidelities.
        X_full: ``n x d`` the same rows at full fidelity.
    """

    X: Tensor
    X_full: Tensor


@register_searcher("gp")
class GPSearcher(Searcher):
    """Bayesian optimization with a GP over WL graph kernels and hyperparameter kernels.

    Args:
        space: The search space.
        directions: Objective directions (several: see ``mo_acquisition``).
        n_init: Random configurations before the first model-based proposal.
        acquisition: ``"logei"`` (log expected improvement), ``"ucb"`` or ``"ts"`` (Thompson
            sampling over the candidate set).
        beta: UCB exploration weight.
        combination: How the kernel parts combine (``"product"``, ``"sum"``, ``"sum_product"``;
            see :mod:`jahs_bo.kernels.joint`).
        arch_kernel: ``"wl"`` (for multi-level domains such as grammars: hierarchical WL,
            softmax-weighted levels), ``"wl-product"`` (multi-level: the product of the
            per-level WL kernels) or ``"deep"`` (GIN).
        wl_iterations: WL refinement steps ``h`` (measurements:
            ``benchmarks/results/gp-defaults.md``).
        wl_direction: WL neighbourhood: ``"in"``, ``"out"`` or ``"both"`` (default; measurements:
            ``benchmarks/results/gp-defaults.md``).
        n_random: Random candidates per suggestion (default 256; 16 in spaces with a grammar
            architecture, where a random derivation costs ~6x a mutation and random candidates
            never won the acquisition in our measurements: see
            :data:`~jahs_bo.acquisition.optimize.N_RANDOM_GRAMMAR`).
        n_parents: Best configurations whose neighbourhoods become candidates.
        n_neighbours: Neighbours drawn per parent (domains that list all neighbours, like
            NB201, give up to this many).
        local_rounds: Rounds of acquisition local search from the best scored candidates.
        n_refine: Best candidates whose continuous hyperparameters get gradient refinement
            (0 disables it).
        fit_maxiter: L-BFGS-B iterations of the first fit.
        warm_maxiter: Iterations of later, warm-started fits.
        pending_strategy: ``"kriging_believer"`` or ``"ignore"`` for running trials.
        refit_fraction: From ``refit_every_below`` observations on, hyperparameters are
            re-optimized only once the number of observations grew by this fraction since the
            last optimization; in between the model takes the new data with the kept
            hyperparameters (exact conditioning, no optimizer). Hyperparameters move little
            when 5% more data arrive, and the optimizer dominates ask() time at large n.
        refit_every_below: Below this many observations, re-optimize at every suggestion.
        y_transform: How the objective values are modelled: ``"copula"`` (ranks -> normal
            scores), ``"power"`` (standardized, then Yeo-Johnson), ``"none"`` (standardized as
            they are) or ``"auto"`` (default): ``"copula"`` when the searcher's proposals are
            evaluated as they are, ``"none"`` when a bracket scheduler screens them (the
            ``screened`` attribute) in a space with numeric hyperparameters; see
            :func:`~jahs_bo.models.transforms.resolve_y_transform`.
        mo_acquisition: Several objectives: ``"parego"`` (random Chebyshev scalarization, the
            default) or ``"ehvi"`` (qLogNEHVI over one model per objective; its box
            decompositions grow quickly with the number of objectives, so keep it to 2-4).
        mc_samples: Quasi-MC samples of EHVI (its cost grows linearly with them).
        num_threads: torch intra-op threads while suggesting (restored afterwards). The GP
            algebra here is small (n <= a few thousand), where one thread is as fast as several
            on an idle machine and several times faster on a loaded one; ``None`` keeps
            torch's setting.
        models_fidelity: Under a fidelity scheduler, fit on the trials of every fidelity with
            the fidelity as a kernel input (``True``) instead of on the highest level with enough
            complete trials (BOHB's rule, ``False``); see :mod:`jahs_bo.schedulers.base`.
        model_factory: Builds and fits the surrogate of each objective
            (:class:`~jahs_bo.models.factory.ModelFactory`); default
            :class:`~jahs_bo.models.factory.JointGPFactory` with ``combination`` and
            ``arch_kernel``. Constrained metrics always use the default.
        arch_store_size: Architectures each store keeps between suggestions; beyond it the
            least recently used ones that no trial references are evicted (``None``: no
            bound). The default holds all of NB201.
        use_prior: piBO with the space's expert prior (module docstring); needs
            ``acquisition="logei"`` and a space that states a prior.
        prior_beta: piBO's ``beta``: the prior's exponent is ``prior_beta / n`` after ``n``
            observations (default 10, as in the paper).
        prior_floor: Weight of the uniform distribution mixed into the prior in piBO's weight,
            ``floor + (1 - floor) * prior`` (relative to uniform), in ``[0, 1)``. It bounds
            the penalty of a region the prior rules out at ``(prior_beta / n) * log(floor)``;
            ``0`` is the paper's piBO. Default ``0.01``.
        prior_mode_first: With ``use_prior``, the study's first suggestion is the prior's mode
            (default ``True``).
        prior_init_fraction: With ``use_prior``, the share of the initial design (after the
            mode) drawn from the prior, spread evenly; the rest is drawn uniformly (default
            ``0.5``, as PriorBand mixes prior and uniform draws; ``1.0`` draws it all from the
            prior). Uniform draws give the model the global view a misleading prior denies it
            (measurements behind the three prior defaults: ``benchmarks/results/gp-defaults.md``).
        constraints: Outcome constraints (see the module docstring).
        screened: Whether a scheduler screens the proposals at low fidelity first.
        pending_acquisition: The acquisition of a suggestion made while trials are running
            (asynchronous workers), with one objective, no constraints and no bracket scheduler
            screening the proposals: ``"logei"``, ``"ucb"``, ``"ts"``, ``"ts-logei"`` (the two
            in turn, by the parity of the number of trials handed out) or ``"auto"`` (default:
            ``"ts"`` when ``acquisition`` is ``"logei"`` and no prior is used, else
            ``acquisition``). Thompson sampling draws one posterior sample per suggestion
            (Kandasamy et al., 2018), so suggestions made while others run spread over the
            candidates the model is unsure of instead of all climbing the believed incumbent's
            neighbourhood; running trials are still believed (``pending_strategy``).
            Measurements against the alternatives: ``benchmarks/results/parallel/quality.md``.
        stall_patience: One objective without constraints: once this many complete trials in
            a row have not improved on the best value, suggest by Thompson sampling over the
            candidate pool instead of ``acquisition`` until a trial improves on it (``None``:
            never, the default; with ``use_prior`` the prior does not weight those samples,
            it still adds candidates); while trials run it switches Thompson sampling to log-EI. Off
            by default (``benchmarks/results/gp-defaults.md``, ``parallel/quality-notes.md``).
        max_observations: Fit the models on at most this many observations (default 1,000;
            ``None``: all): the best half of them and a seeded random sample of the rest
            (:mod:`jahs_bo.searchers._subset`). Every observation still counts as seen (it
            is never proposed again) and for the refit schedule. Measurements (ask seconds at
            2,000 observations, regret with the cap binding):
            ``benchmarks/results/parallel/large-studies.md``.

    Example:
        >>> searcher = GPSearcher(space, ["maximize"], model_factory=my_factory)
        >>> study = jahs_bo.create_study(space, searcher=searcher)
    """

    def __init__(
        self,
        space: SearchSpace,
        directions: Sequence[Direction | str] = ("minimize",),
        n_init: int = 10,
        acquisition: str = "logei",
        beta: float = 2.0,
        combination: str = "sum_product",
        arch_kernel: str = "wl",
        wl_iterations: int = 1,
        wl_direction: str = "both",
        n_random: int | None = None,
        n_parents: int = 10,
        n_neighbours: int = 30,
        local_rounds: int = 2,
        n_refine: int = 0,
        fit_maxiter: int = 100,
        warm_maxiter: int = 20,
        pending_strategy: str = "kriging_believer",
        refit_fraction: float = 0.05,
        refit_every_below: int = 100,
        y_transform: str = "auto",
        mo_acquisition: str = "parego",
        mc_samples: int = 32,
        num_threads: int | None = 1,
        models_fidelity: bool = False,
        model_factory: ModelFactory | None = None,
        arch_store_size: int | None = DEFAULT_STORE_SIZE,
        use_prior: bool = False,
        prior_beta: float = DEFAULT_PRIOR_BETA,
        *,
        prior_floor: float = DEFAULT_PRIOR_FLOOR,
        prior_mode_first: bool = True,
        prior_init_fraction: float = 0.5,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
        max_observations: int | None = DEFAULT_MAX_OBSERVATIONS,
        pending_acquisition: str = "auto",
        stall_patience: int | None = None,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        self.use_prior = check_use_prior(space, use_prior, "GPSearcher")
        if self.use_prior and acquisition != "logei":
            raise InputError(
                f"use_prior (piBO) weights a logarithmic acquisition; acquisition={acquisition!r}"
                " is not one, use acquisition='logei'"
            )
        if isinstance(prior_beta, bool) or not isinstance(prior_beta, (int, float)):
            raise InputError(f"prior_beta must be a number >= 0, got {prior_beta!r}")
        if not 0.0 <= float(prior_beta) < float("inf"):
            raise InputError(f"prior_beta must be a finite number >= 0, got {prior_beta!r}")
        self.prior_beta = float(prior_beta)
        self.prior_floor = check_prior_floor(prior_floor)
        if not isinstance(prior_mode_first, (bool, np.bool_)):
            raise InputError(f"prior_mode_first must be True or False, got {prior_mode_first!r}")
        self.prior_mode_first = bool(prior_mode_first)
        if (
            isinstance(prior_init_fraction, bool)
            or not isinstance(prior_init_fraction, (int, float))
            or not 0.0 <= float(prior_init_fraction) <= 1.0
        ):
            raise InputError(
                f"prior_init_fraction must be a number in [0, 1], got {prior_init_fraction!r}"
            )
        self.prior_init_fraction = float(prior_init_fraction)
        self._prior_share = Fraction(self.prior_init_fraction).limit_denominator(10_000)
        self._initial_count = 0
        _check_choice("acquisition", acquisition, ACQUISITIONS)
        _check_choice("pending_acquisition", pending_acquisition, PENDING_ACQUISITIONS)
        if pending_acquisition == "auto":
            pending_acquisition = (
                "ts" if acquisition == "logei" and not self.use_prior else acquisition
            )
        if self.use_prior and pending_acquisition != "logei":
            raise InputError(
                "use_prior (piBO) weights a logarithmic acquisition; "
                f"pending_acquisition={pending_acquisition!r} is not one, use 'logei' or 'auto'"
            )
        self.pending_acquisition = pending_acquisition
        _check_choice("combination", combination, COMBINATIONS)
        _check_choice("arch_kernel", arch_kernel, ("wl", "wl-product", "deep"))
        _check_choice("pending_strategy", pending_strategy, ("kriging_believer", "ignore"))
        _check_choice("y_transform", y_transform, Y_TRANSFORMS)
        _check_choice("mo_acquisition", mo_acquisition, MO_ACQUISITIONS)
        if n_init < 1:
            raise InputError(f"n_init must be >= 1, got {n_init}")
        if mc_samples < 1:
            raise InputError(f"mc_samples must be >= 1, got {mc_samples}")
        if max_observations is not None and (
            isinstance(max_observations, bool)
            or not isinstance(max_observations, int)
            or max_observations < max(2, n_init)
        ):
            raise InputError(
                f"max_observations must be None or an integer >= max(2, n_init), "
                f"got {max_observations!r}"
            )
        self.max_observations = max_observations
        if stall_patience is not None and (
            isinstance(stall_patience, bool)
            or not isinstance(stall_patience, int)
            or stall_patience < 1
        ):
            raise InputError(
                f"stall_patience must be None or an integer >= 1, got {stall_patience!r}"
            )
        self.stall_patience = stall_patience
        #: How the last model-based suggestion was chosen: ``"constrained-logei"``, ``"ehvi"``
        #: or the name :meth:`_acquisition_name` gave (``None`` before the first model).
        self.last_acquisition: str | None = None
        #: Complete trials at the current suggestion, before any cap (the refit schedule's n).
        self._n_observed = 0
        self.n_init = n_init
        self.acquisition = acquisition
        self.beta = beta
        self.pending_strategy = pending_strategy
        self.num_threads = num_threads
        self.models_fidelity = models_fidelity
        self.y_transform = y_transform
        self.mo_acquisition = mo_acquisition
        self.mc_samples = mc_samples
        if n_random is None:
            n_random = default_n_random(space)
        self.search = CandidateSearch(n_random, n_parents, n_neighbours, local_rounds, n_refine)
        self.schedule = RefitSchedule(fit_maxiter, warm_maxiter, refit_fraction, refit_every_below)
        self.encoder = JointEncoder(
            space,
            wl_iterations,
            wl_direction,  # type: ignore[arg-type]
            arch_store_size,
        )
        default = JointGPFactory(combination, arch_kernel)  # type: ignore[arg-type]
        self.model_factory: ModelFactory = model_factory if model_factory is not None else default
        self._constraint_factory: ModelFactory = default
        #: Warm-start states of the last successful fits, per modelled output (``"objective"``,
        #: ``"objective_<j>"`` with EHVI, ``"constraint_<k>"``).
        self.states: dict[str, dict[str, Tensor]] = {}
        #: The last fitted model (for inspection and tests): the factory's model, or a
        #: ``ModelListGP`` (objectives, then constraints) with EHVI or constraints.
        self.model: Model | None = None

    @property
    def state(self) -> dict[str, Tensor] | None:
        """Warm-start state of the (first) objective's model, ``None`` before a fit."""
        return self.states.get("objective", self.states.get("objective_0"))

    # ------------------------------------------------------------------ data
    def _encode(self, trials: Sequence[Trial]) -> _Rows:
        """Encode ``trials`` at their fidelities and at full fidelity.

        Observed trials are encoded before the fits and running ones after them (new
        architectures enter the store in the order they always did).
        """
        X = self.encoder.encode([t.config for t in trials], [t.fidelity for t in trials])
        X_full = X.clone()
        X_full[:, self.encoder.fidelity_dims] = 1.0
        return _Rows(X, X_full)

    def _targets(self, values: np.ndarray) -> Tensor:
        """``n x m`` values (higher is better) -> ``n x m`` modelled targets (``y_transform``)."""
        numeric = bool(self.encoder.continuous_dims)
        name = resolve_y_transform(self.y_transform, self.screened, numeric)
        Y = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float64))
        transform = target_transform(name)
        return Y if transform is None else transform(Y)[0]

    def _fit(
        self, key: str, X: Tensor, Y: Tensor, maxiter: int, factory: ModelFactory | None = None
    ) -> Model:
        """Fit (warm-started) the model of output ``key`` on ``X`` (``n x d``), ``Y`` (``n x 1``)."""
        warm_start = self.schedule.for_output(maxiter, self.states.get(key))
        model = (factory or self.model_factory)(X, Y, self.encoder, warm_start)
        if warm_start.state is not None:
            self.states[key] = warm_start.state
        return model

    def _fit_constraints(
        self, done: list[Trial], X: Tensor, maxiter: int
    ) -> list[tuple[Model, OutcomeConstraint]]:
        """One GP per modelled constraint, on the trials that measured it."""
        out = []
        for k, con in enumerate(self.constraints):
            values = np.array(
                [np.nan if (v := con.measure(t)) is None else v for t in done], dtype=float
            )
            ok = np.isfinite(values)
            if ok.sum() < MIN_CONSTRAINT_POINTS:
                continue  # too few measurements to model; the incumbents still respect it
            Y = torch.from_numpy(np.ascontiguousarray(values[ok])).unsqueeze(-1)
            rows = torch.from_numpy(np.flatnonzero(ok))
            out.append(
                (self._fit(f"constraint_{k}", X[rows], Y, maxiter, self._constraint_factory), con)
            )
        return out

    def _believe(self, model: Model, X_pending: Tensor) -> Model:
        if len(X_pending) and self.pending_strategy == "kriging_believer":
            return kriging_believer(model, X_pending)  # type: ignore[arg-type]
        return model

    def _fallback(
        self, done: list[Trial], y: Tensor, seen: AbstractSet[str], rng: np.random.Generator
    ) -> Config:
        best = done[int(torch.argmax(y))].config
        for _ in range(20):
            cfg = self.space.mutate(best, rng)
            if self.space.config_key(cfg) not in seen:
                return cfg
        return fresh_sample(self, seen, rng, prior=self.use_prior)

    # ------------------------------------------------------------------ suggest
    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        with torch_threads(self.num_threads):
            return self._suggest(trials, pending, rng)

    def _suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        seen = seen_keys(self, trials, pending)
        done, losses = self.losses(trials)
        if len(done) < self.n_init:
            return self._initial(len(trials) + len(pending), seen, rng)
        self._n_observed = len(done)
        name = self._acquisition_name(len(trials) + len(pending), pending, losses)
        if self.max_observations is not None and len(done) > self.max_observations:
            keep = model_subset(losses, self.max_observations, rng)
            done, losses = [done[i] for i in keep], losses[keep]
        self.encoder.evict_unused([t.config for t in (*done, *pending)])
        data = self._encode(done)
        if losses.shape[1] > 1 and self.mo_acquisition == "ehvi":
            try:
                return self._suggest_ehvi(done, losses, data, pending, seen, rng)
            except Exception as err:  # numerical failure of any kind must not stop the study
                warnings.warn(
                    f"expected hypervolume improvement failed with {len(done)} observations "
                    f"({type(err).__name__}: {err}); using ParEGO for this suggestion",
                    EHVIWarning,
                    stacklevel=3,
                )
                for key in [k for k in self.states if k.startswith("objective_")]:
                    del self.states[key]
        return self._suggest_scalar(done, losses, data, pending, seen, rng, name)

    def _acquisition_name(
        self, handed_out: int, pending: Sequence[Trial], losses: np.ndarray
    ) -> str:
        """``pending_acquisition`` while trials run, else ``acquisition``; once the last
        ``stall_patience`` of the ``n x 1`` losses (trial order, before any cap) missed the best,
        the other of Thompson sampling and log-EI (``"ts"`` for any other acquisition)."""
        if losses.shape[1] != 1:
            return self.acquisition
        if not pending or self.screened:
            name = self.acquisition
        elif self.pending_acquisition == "ts-logei":
            name = ("ts", "logei")[handed_out % 2]
        else:
            name = self.pending_acquisition
        since_best = len(losses) - 1 - int(np.argmin(losses[:, 0]))
        if self.stall_patience is not None and since_best >= self.stall_patience:
            return "logei" if name == "ts" else "ts"
        return name

    def _suggest_scalar(
        self,
        done: list[Trial],
        losses: np.ndarray,
        data: _Rows,
        pending: Sequence[Trial],
        seen: AbstractSet[str],
        rng: np.random.Generator,
        acquisition: str,
    ) -> Config:
        """One objective, or several scalarized by ParEGO, with ``acquisition``
        (:meth:`_acquisition_name`); constrained log-EI with constraints."""
        if losses.shape[1] == 1:
            values = -losses[:, 0]
        else:
            values = -parego_scalarize(losses, sample_simplex_weights(losses.shape[1], rng))
        Y = self._targets(values[:, None])
        y = Y.squeeze(-1)
        n = len(done)
        maxiter = self.schedule.maxiter(self._n_observed, warm=self.state is not None)
        try:
            model = self._fit("objective", data.X, Y, maxiter)
            cons = self._fit_constraints(done, data.X, maxiter)
            self.schedule.record(self._n_observed, maxiter)
        except Exception as err:  # numerical failure of any kind must not stop the study
            warnings.warn(
                f"GP fit failed with {len(done)} observations ({type(err).__name__}: {err}); "
                "proposing a mutation of the best configuration instead",
                GPFitWarning,
                stacklevel=3,
            )
            self.states.clear()
            return self._fallback(done, y, seen, rng)
        running = self._encode(pending)
        model = self._believe(model, running.X)
        cons = [(self._believe(m, running.X), c) for m, c in cons]
        self.model = model

        viol = violations(done, self.constraints)
        believed = self.pending_strategy == "kriging_believer" and not cons
        best_f = incumbent_value(
            model,
            y,
            data.X_full,
            torch.from_numpy(viol == 0.0),
            by_posterior=bool(self.encoder.fidelity_dims),
            X_believed=running.X_full if believed else None,
        )
        if cons:
            model = ModelListGP(model, *[m for m, _ in cons])
            bounds = {1 + i: (c.lower, c.upper) for i, (_, c) in enumerate(cons)}
            acqf = make_constrained_acquisition(model, best_f, bounds)
            self.model = model
            self.last_acquisition = "constrained-logei"
        else:
            acqf = make_acquisition(acquisition, model, best_f, self.beta)  # type: ignore[arg-type]
            self.last_acquisition = acquisition
        acqf = self._pibo(acqf, n)
        order = np.lexsort((np.arange(n), -y.numpy(), viol))  # feasible first, then best target
        return self._search(model, acqf, data, running, order, seen, rng)

    def _suggest_ehvi(
        self,
        done: list[Trial],
        losses: np.ndarray,
        data: _Rows,
        pending: Sequence[Trial],
        seen: AbstractSet[str],
        rng: np.random.Generator,
    ) -> Config:
        """Several objectives: qLogNEHVI over one model per objective (and per constraint)."""
        n, m = losses.shape
        Y = self._targets(-losses)  # maximized
        maxiter = self.schedule.maxiter(self._n_observed, warm=self.state is not None)
        models = [self._fit(f"objective_{j}", data.X, Y[:, [j]], maxiter) for j in range(m)]
        cons = self._fit_constraints(done, data.X, maxiter)
        self.schedule.record(self._n_observed, maxiter)
        model = ModelListGP(*models, *[c_model for c_model, _ in cons])
        self.model = model

        viol = violations(done, self.constraints)
        feasible = torch.from_numpy(viol == 0.0)
        Y_ref = Y[feasible] if bool(feasible.any()) else Y
        ref_point = infer_reference_point(Y_ref[is_non_dominated(Y_ref)], scale=0.1)
        bounds = [(m + i, c.lower, c.upper) for i, (_, c) in enumerate(cons)]
        running = self._encode(pending)
        X_pending = running.X_full if self.pending_strategy != "ignore" else None
        with exact_gp_settings():
            acqf = make_ehvi(
                model,
                ref_point,
                data.X_full,
                m,
                bounds,
                X_pending,
                mc_samples=self.mc_samples,
                seed=int(rng.integers(2**31)),
            )
        acqf = self._pibo(acqf, n)
        self.last_acquisition = "ehvi"
        order = nsga2_order(losses, viol)
        return self._search(model, acqf, data, running, order, seen, rng)

    def _initial(self, k: int, seen: AbstractSet[str], rng: np.random.Generator) -> Config:
        """The ``k``-th configuration of the initial design (``k`` trials proposed before it).

        Bracket schedulers show the searcher no trials until a fidelity level has enough
        results, so ``k`` is also counted here: the larger of the study's count and the
        suggestions of this initial design so far (a resumed process counts from the study).
        """
        k = max(k, self._initial_count)
        self._initial_count = k + 1
        if not self.use_prior:
            return fresh_sample(self, seen, rng)
        mode_first = self.prior_mode_first
        if mode_first and k == 0:
            return self.space.prior_mode(rng)
        j = k - int(mode_first)  # index in the design after the mode
        share = self._prior_share
        from_prior = math.ceil((j + 1) * share) > math.ceil(j * share)
        return fresh_sample(self, seen, rng, prior=from_prior)

    def _pibo(self, acqf: AcquisitionFunction | None, n: int) -> AcquisitionFunction | None:
        """``acqf`` weighted by ``prior ** (prior_beta / n)`` with ``use_prior``, else as is."""
        if not self.use_prior or acqf is None:
            return acqf
        weight = pibo_exponent(self.prior_beta, n)
        return PriorWeightedAcquisition(acqf, self.encoder, weight, self.prior_floor)

    def _prior_rows(self, rng: np.random.Generator) -> Tensor | None:
        """``n_random // 2`` prior samples for the candidate pool (with ``use_prior``)."""
        if not self.use_prior:
            return None
        return self.encoder.encode(self.space.sample_prior(self.search.n_random // 2, rng))

    def _extra_rows(self) -> Tensor | None:
        """``e x d`` full-fidelity rows always among the acquisition's candidates (none here;
        the transfer searcher adds the sources' best configurations)."""
        return None

    def _search(
        self,
        model: Model,
        acqf,
        data: _Rows,
        running: _Rows,
        order: np.ndarray,
        seen: AbstractSet[str],
        rng: np.random.Generator,
    ) -> Config:
        """Optimize the acquisition (Thompson sampling when ``acqf`` is ``None``); decode."""
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        extra = [r for r in (self._extra_rows(), self._prior_rows(rng)) if r is not None]
        ranked = optimize_acquisition(
            make_scorer(acqf, model, generator),
            self.encoder,
            data.X_full,
            running.X_full,
            order,
            rng,
            self.search,
            acqf,
            torch.cat(extra) if extra else None,
        )
        for x in ranked:
            cfg = self.encoder.decode(x)
            if self.space.config_key(cfg) not in seen:
                return cfg
        return fresh_sample(self, seen, rng, prior=self.use_prior)
