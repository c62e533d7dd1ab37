"""GP-based Bayesian optimization over joint architecture x hyperparameter x fidelity spaces.

Each suggestion:

1. Encodes the complete trials (:class:`~jahs_bo.models.encoder.JointEncoder`: architecture
   index columns, unit-cube hyperparameters, normalised fidelities) and fits a botorch
   ``SingleTaskGP`` with the joint WL kernel, warm-started from the previous fit's
   hyperparameters (few L-BFGS-B iterations instead of a fit from scratch).
2. Conditions on running trials (kriging believer: their predicted means are believed as
   observations, and count for the incumbent) so parallel workers spread out.
3. Builds a candidate set from random samples and from the neighbours/mutations of the best
   configurations (the space's own operators, so graphs and grammars stay valid), scores it in
   batched joint-posterior calls, runs a few rounds of local search on the acquisition, and
   optionally refines the continuous hyperparameters of the best candidates by gradient ascent.

Several objectives (``mo_acquisition``):

* ``"parego"`` (default): a fresh random augmented-Chebyshev weighting of the objectives per
  suggestion and the single-objective acquisition on the scalarized values.
* ``"ehvi"``: one GP per objective (same encoder and kernel, each
  with its own warm-started hyperparameters and Gaussian-copula targets), combined in a botorch
  ``ModelListGP``, and botorch's ``qLogNoisyExpectedHypervolumeImprovement`` (Daulton et al.,
  2021) with the observed rows (at full fidelity) as ``X_baseline``, running trials as
  ``X_pending`` and the reference point ``nadir - 0.1 * range`` of the observed (feasible) front
  in the models' (copula) units (botorch's ``infer_reference_point``; maximization convention,
  minimized objectives negated). The hypervolume is thus measured in rank space, robust to
  heavy tails; Pareto dominance is the same as in the raw values. Candidates are scored in
  ``b x 1 x d`` batches exactly like the single-objective acquisitions. If building or scoring
  EHVI fails, the searcher warns (:class:`EHVIWarning`) and uses ParEGO for that suggestion.

Measured on ``nb201-mo/cifar10`` (validation error vs Pixel 3 latency, the benchmark's
normalised hypervolume regret, seeds 0-7, defaults otherwise): EHVI 0.050 +- 0.008 after 25
evaluations and 0.036 +- 0.005 after 40; ParEGO 0.036 +- 0.007 and 0.031 +- 0.006 (random
search: 0.082 at 25, 0.042 at 50). EHVI with raw (standardized) targets did worse (0.067,
0.053), with 128 instead of 32 MC samples the same (0.052, 0.040). ``ask()`` at 100
observations (NB201, two objectives, shared 2-core machine): about 0.7 s with EHVI, 0.4 s with
ParEGO. In the benchmark harness (``benchmarks/results/nb201-mo``, 100 evaluations,
``wl_iterations=2``) ParEGO reached a hypervolume regret of 0.015 +- 0.002 (20 seeds) and EHVI
0.022 +- 0.005 (10 seeds; random search 0.030, Optuna's NSGA-II 0.033), with ParEGO asks about
half as long: hence the default.

Outcome constraints (``searcher.constraints``, set by ``create_study(constraints=...)``): every
constrained metric gets its own GP (raw units, standardized) on the trials that measured it
(trials lacking the metric are left out of that model only; a constraint with fewer than 3
measurements is not modelled yet). Infeasible trials stay in every model. One objective (or
ParEGO): botorch's ``LogConstrainedExpectedImprovement`` (log EI times the probability that every
constraint holds, from one batched posterior call) with the best *feasible* value as incumbent;
with constraints this replaces ``acquisition="ucb"``/``"ts"``. EHVI: the constraints enter
``qLogNoisyExpectedHypervolumeImprovement(constraints=...)`` and the reference point comes from
the feasible front. Parents of the local search are ranked feasible-first.

If the model cannot be fitted, the searcher warns and proposes a mutation of the best
configuration instead of failing the study.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from botorch.models import ModelListGP
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from scipy.stats import norm, rankdata, yeojohnson

from jahs_bo.acquisition import (
    ACQUISITIONS,
    make_acquisition,
    make_constrained_acquisition,
    make_ehvi,
    refine_continuous,
    score_candidates,
    thompson_scores,
)
from jahs_bo.exceptions import InputError
from jahs_bo.kernels.joint import COMBINATIONS
from jahs_bo.models.encoder import JointEncoder
from jahs_bo.models.gp import exact_gp_settings, fit_gp, hyperparameter_state, kriging_believer
from jahs_bo.multiobjective import (
    OutcomeConstraint,
    nsga2_order,
    parego_scalarize,
    sample_simplex_weights,
    violations,
)
from jahs_bo.searchers.base import Searcher, register_searcher
from jahs_bo.searchers.random import fresh_sample, seen_keys
from jahs_bo.types import Config, Direction, Trial


@contextlib.contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class GPFitWarning(RuntimeWarning):
    """The GP could not be fitted; the searcher fell back to a mutation of the best config."""


def _check_choice(name: str, value: object, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {list(allowed)}, got {value!r}")


class EHVIWarning(RuntimeWarning):
    """Expected hypervolume improvement failed; the searcher used ParEGO for this suggestion."""


MO_ACQUISITIONS = ("parego", "ehvi")
#: A constraint is modelled once this many trials measured it.
MIN_CONSTRAINT_POINTS = 3


def _copula(y: np.ndarray) -> np.ndarray:
    """Ranks -> normal scores (``n``)."""
    return norm.ppf((rankdata(y) - 0.5) / len(y))


def _power(y: np.ndarray) -> np.ndarray:
    """Standardize, then a Yeo-Johnson power transform with its maximum-likelihood exponent.

    Like the copula it tames a heavy tail (a few diverged networks far below the rest), but it
    keeps the spacing of the values: near-equal results stay near-equal, where ranks would
    spread them over the whole normal range (``n`` -> ``n``).
    """
    sd = float(np.std(y))
    if len(y) < 3 or sd == 0.0:
        return y - float(np.mean(y))
    z = (y - float(np.mean(y))) / sd
    out, _ = yeojohnson(z)
    return np.asarray(out, dtype=float)


#: Accepted values of ``GPSearcher(y_transform=...)``.
Y_TRANSFORMS = ("auto", "copula", "power", "none")


def resolve_y_transform(y_transform: str, screened: bool, numeric: bool) -> str:
    """The transform ``"auto"`` stands for.

    The values standardized (``"none"``) when a bracket scheduler (successive halving,
    Hyperband, BOHB, ASHA) screens the searcher's proposals at low fidelity first (its
    ``screened`` attribute) *and* the space has numeric (float or integer) hyperparameters;
    ranks (``"copula"``) otherwise.

    Why: ranks put the incumbent about two standard deviations above the mean however small its
    lead, so expected improvement away from it is tiny and proposals gather around it. Numeric
    hyperparameters let the candidate search make near-copies of the incumbent whose results
    differ in the second decimal, which ranks spread over the whole normal range; under BOHB a
    bracket's whole batch of new configurations then stays in the first basin found. On LCBench
    (7 numeric hyperparameters, epochs 1-52, seeds 20-24, mean regret at 30x / 100x the cost of a
    full run, ``benchmarks/results/lcbench-mf-ablation``) values gave 0.6 / -1.4 on task 126025
    and -0.7 / -1.3 on 7593 against 8.3 / 3.9 and 9.0 / -0.3 with ranks. Where every proposal is
    evaluated in full, ranks measured better (GP-BO, 100 evaluations, seeds 0-4, mean regret at 50
    / 100 evaluations, ranks against values: LCBench 168329 2.6 / -1.1 against 5.6 / 1.4, NB201
    CIFAR-10 0.31 / 0.02 against 0.48 / 0.34), and so they did under BOHB on NB201, whose
    architectures admit no near-copies (epochs 12 / 200, 20 seeds, at 50 / 100 full evaluations'
    worth of epochs: 0.012 / 0.000 against 0.049 / 0.038).
    """
    if y_transform != "auto":
        return y_transform
    return "none" if screened and numeric else "copula"


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
        arch_kernel: ``"wl"`` (hierarchical WL for multi-level domains) or ``"deep"`` (GIN).
        wl_iterations: WL refinement steps ``h``. Measured on NAS-Bench-201 (100 evaluations, 20
            seeds, the benchmark harness; mean regret CIFAR-10 / CIFAR-100 / ImageNet16-120):
            ``h = 1`` 0.005 / 0.018 / 0.062, ``h = 2`` 0.000 / 0.028 / 0.154 (paired difference on
            ImageNet16 -0.091 +- 0.026, Wilcoxon p = 0.006), ``h = 3`` on ImageNet16 seeds 0-9
            0.093 against 0.053 for ``h = 1``. Fewer refinements share more of the kernel's
            features between cells that differ in one operation, which helps a search that
            moves by such changes.
        wl_direction: WL neighbourhood: ``"in"``, ``"out"`` or ``"both"`` (default; on NB201
            with 100 evaluations, seeds 0-4: mean regret 0.013 with "both", 0.034 with "in").
        n_random: Random candidates per suggestion.
        n_parents: Best configurations whose neighbourhoods become candidates.
        n_neighbours: Neighbours drawn per parent (domains that list all neighbours, like
            NB201, give up to this many).
        local_rounds: Rounds of acquisition local search from the best scored candidates.
        n_refine: Best candidates whose continuous hyperparameters get gradient refinement
            (0 disables it).
        fit_maxiter: L-BFGS-B iterations of the first fit.
        warm_maxiter: Iterations of later, warm-started fits.
        refit_fraction: From ``refit_every_below`` observations on, hyperparameters are
            re-optimized only once the number of observations grew by this fraction since the
            last optimization; in between the model takes the new data with the kept
            hyperparameters (exact conditioning, no optimizer). Hyperparameters move little
            when 5% more data arrive, and the optimizer dominates ask() time at large n.
        refit_every_below: Below this many observations, re-optimize at every suggestion.
        pending_strategy: ``"kriging_believer"`` or ``"ignore"`` for running trials.
        y_transform: How the objective values are modelled: ``"copula"`` (ranks -> normal
            scores), ``"power"`` (standardized, then Yeo-Johnson), ``"none"`` (standardized as
            they are) or ``"auto"`` (default): ``"copula"`` when the searcher's proposals are
            evaluated as they are, ``"none"`` when a bracket scheduler screens them (the
            ``screened`` attribute) in a space with numeric hyperparameters; see
            :func:`resolve_y_transform` for the measurements.
        mo_acquisition: Several objectives: ``"parego"`` (random Chebyshev scalarization, the
            default) or ``"ehvi"`` (qLogNEHVI over one GP per objective; its box decompositions
            grow quickly with the number of objectives, so keep it to 2-4).
        mc_samples: Quasi-MC samples of EHVI (its cost grows linearly with them; 32 keep
            ``ask()`` under a second at 100 observations on NB201 with two objectives).
        num_threads: torch intra-op threads while suggesting (restored afterwards). The GP
            algebra here is small (n <= a few thousand), where one thread is as fast as several
            on an idle machine and several times faster on a loaded one; ``None`` keeps
            torch's setting.
        models_fidelity: Under a fidelity scheduler, fit on the trials of every fidelity with
            the fidelity as a kernel input (``True``) instead of on the highest level with enough
            complete trials (BOHB's rule, ``False``); see :mod:`jahs_bo.schedulers.base`.
    """

    def __init__(
        self,
        space,
        directions: Sequence[Direction | str] = ("minimize",),
        n_init: int = 10,
        acquisition: str = "logei",
        beta: float = 2.0,
        combination: str = "sum_product",
        arch_kernel: str = "wl",
        wl_iterations: int = 1,
        wl_direction: str = "both",
        n_random: int = 256,
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
        *,
        constraints: Sequence[OutcomeConstraint] = (),
        screened: bool = False,
    ) -> None:
        super().__init__(space, directions, constraints=constraints, screened=screened)
        _check_choice("acquisition", acquisition, ACQUISITIONS)
        _check_choice("combination", combination, COMBINATIONS)
        _check_choice("arch_kernel", arch_kernel, ("wl", "deep"))
        _check_choice("pending_strategy", pending_strategy, ("kriging_believer", "ignore"))
        _check_choice("y_transform", y_transform, Y_TRANSFORMS)
        _check_choice("mo_acquisition", mo_acquisition, MO_ACQUISITIONS)
        if n_init < 1:
            raise InputError(f"n_init must be >= 1, got {n_init}")
        self.n_init = n_init
        self.acquisition = acquisition
        self.beta = beta
        self.combination = combination
        self.arch_kernel = arch_kernel
        self.n_random = n_random
        self.n_parents = n_parents
        self.n_neighbours = n_neighbours
        self.local_rounds = local_rounds
        self.n_refine = n_refine
        self.fit_maxiter = fit_maxiter
        self.warm_maxiter = warm_maxiter
        self.pending_strategy = pending_strategy
        self.num_threads = num_threads
        self.models_fidelity = models_fidelity
        self.y_transform = y_transform
        if mc_samples < 1:
            raise InputError(f"mc_samples must be >= 1, got {mc_samples}")
        self.mo_acquisition = mo_acquisition
        self.mc_samples = mc_samples
        self.refit_fraction = refit_fraction
        self.refit_every_below = refit_every_below
        self._n_optimized = 0
        self.encoder = JointEncoder(space, wl_iterations, wl_direction)  # type: ignore[arg-type]
        #: Hyperparameters of the last successful fits, per modelled output (``"objective"``,
        #: ``"objective_<j>"`` with EHVI, ``"constraint_<k>"``): warm starts of the next fits.
        self.states: dict[str, dict[str, torch.Tensor]] = {}
        #: The last fitted model (for inspection and tests): a ``SingleTaskGP``, or a
        #: ``ModelListGP`` (objectives, then constraints) with EHVI or constraints.
        self.model = None

    @property
    def state(self) -> dict[str, torch.Tensor] | None:
        """Hyperparameters of the last fit of the (first) objective's GP, ``None`` before one."""
        return self.states.get("objective", self.states.get("objective_0"))

    # ------------------------------------------------------------------ data
    def _transform(self, y: np.ndarray) -> np.ndarray:
        """``y`` (``n``, higher is better) as the GP models it (``y_transform``, see there)."""
        numeric = bool(self.encoder.continuous_dims)
        transform = resolve_y_transform(self.y_transform, self.screened, numeric)
        if transform == "copula":
            # Gaussian copula: ranks -> normal scores. Robust to heavy tails (diverged or
            # broken networks far below the rest) that otherwise dominate the GP's scale.
            return _copula(y)
        return _power(y) if transform == "power" else y

    def _targets(self, losses: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if losses.shape[1] == 1:
            return self._transform(-losses[:, 0])
        weights = sample_simplex_weights(losses.shape[1], rng)
        return self._transform(-parego_scalarize(losses, weights))

    def _maxiter(self, n: int) -> int:
        """Optimizer iterations of this suggestion's fits (0: keep the hyperparameters)."""
        if self.state is None:
            return self.fit_maxiter
        if n < self.refit_every_below or n - self._n_optimized >= max(
            1.0, self.refit_fraction * self._n_optimized
        ):
            return self.warm_maxiter
        return 0

    def _fit(self, key: str, X: torch.Tensor, y: np.ndarray, maxiter: int):
        """Fit (warm-started) the GP of output ``key`` on ``X`` (``n x d``) and ``y`` (``n``)."""
        Y = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float64)).unsqueeze(-1)
        state = self.states.get(key)
        model = fit_gp(
            X,
            Y,
            self.encoder.covar_module(self.combination, self.arch_kernel),  # type: ignore[arg-type]
            warm_state=state,
            maxiter=maxiter if state is not None else max(maxiter, self.fit_maxiter),
        )
        self.states[key] = hyperparameter_state(model)
        return model

    def _fit_constraints(
        self, done: list[Trial], X: torch.Tensor, maxiter: int
    ) -> list[tuple[object, OutcomeConstraint, torch.Tensor]]:
        """One GP per constraint on the trials that measured it: ``(model, constraint, rows)``."""
        out = []
        for k, con in enumerate(self.constraints):
            values = np.array(
                [np.nan if (v := con.measure(t)) is None else v for t in done], dtype=float
            )
            ok = np.isfinite(values)
            if ok.sum() < MIN_CONSTRAINT_POINTS:
                continue  # too few measurements to model; the incumbents still respect it
            rows = torch.from_numpy(np.flatnonzero(ok))
            out.append((self._fit(f"constraint_{k}", X[rows], values[ok], maxiter), con, rows))
        return out

    def _believe(self, model, X_pending: torch.Tensor):
        if len(X_pending) and self.pending_strategy == "kriging_believer":
            return kriging_believer(model, X_pending)
        return model

    def _fallback(
        self, done: list[Trial], y: np.ndarray, seen: set[str], rng: np.random.Generator
    ) -> Config:
        best = done[int(np.argmax(y))].config
        for _ in range(20):
            cfg = self.space.mutate(best, rng)
            if self.space.config_key(cfg) not in seen:
                return cfg
        return fresh_sample(self, seen, rng)

    # ------------------------------------------------------------------ candidates
    def _arch_moves(self, x: torch.Tensor, rng: np.random.Generator, k: int) -> torch.Tensor:
        """Rows of ``x`` with one architecture replaced by a neighbour (up to ``k`` per arch)."""
        out = []
        for col, (name, store) in zip(
            self.encoder.arch_dims, self.encoder.stores.items(), strict=True
        ):
            dom = self.space.architectures[name]
            value = store.value(int(x[col]))
            listed = dom.neighbours(value)
            if listed is None:
                listed = [dom.mutate(value, rng) for _ in range(k)]
            elif len(listed) > k:
                listed = [listed[i] for i in rng.choice(len(listed), size=k, replace=False)]
            rows = x.unsqueeze(0).repeat(len(listed), 1)
            rows[:, col] = torch.from_numpy(store.add(listed)).to(rows)
            out.append(rows)
        return torch.cat(out) if out else x.new_zeros(0, x.shape[-1])

    def _hp_moves(self, x: torch.Tensor, rng: np.random.Generator, k: int) -> torch.Tensor:
        if not self.encoder.hp_dims:
            return x.new_zeros(0, x.shape[-1])
        if self.encoder.vector_moves:
            return self.encoder.perturb_hyperparameters(x, k, rng)
        cfg = self.encoder.decode(x)
        nbs = [c for c in self.space.neighbours(cfg, rng, 4 * k) if c.keys() == cfg.keys()]
        nbs = [c for c in nbs if all(c[a] == cfg[a] for a in self.space.architectures)]
        return self.encoder.encode(nbs[:k]) if nbs else x.new_zeros(0, x.shape[-1])

    def _neighbourhood(self, parents: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """One-step moves of each parent row, plus a few two-step moves."""
        k = self.n_neighbours
        out = []
        for x in parents:
            one = torch.cat([self._arch_moves(x, rng, k), self._hp_moves(x, rng, k)])
            out.append(one)
            if len(one):
                for i in rng.choice(len(one), size=max(k // 6, 1)).tolist():
                    two = torch.cat(
                        [self._arch_moves(one[i], rng, 1), self._hp_moves(one[i], rng, 1)]
                    )
                    if len(two):
                        out.append(two[int(rng.integers(len(two)))].unsqueeze(0))
        return torch.cat(out) if out else parents.new_zeros(0, parents.shape[-1])

    def _row_keys(self, X: torch.Tensor) -> list[bytes]:
        """Dedup keys: architecture columns mapped to WL-equivalence representatives."""
        Z = X.numpy().copy()
        for col, store in zip(self.encoder.arch_dims, self.encoder.stores.values(), strict=True):
            Z[:, col] = store.representatives(Z[:, col].round().astype(np.int64))
        return [row.tobytes() for row in Z]

    def _unique_rows(self, X: torch.Tensor, exclude: set[bytes]) -> torch.Tensor:
        """Rows of ``X`` not WL-equivalent to each other or to ``exclude`` (keys of rows)."""
        keep, keys = [], set()
        for i, key in enumerate(self._row_keys(X)):
            if key not in exclude and key not in keys:
                keys.add(key)
                keep.append(i)
        return X[keep]

    def _score(self, model, acqf, X: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if acqf is None:
            return thompson_scores(model, X, generator)
        return score_candidates(acqf, X)

    # ------------------------------------------------------------------ suggest
    def suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        with _torch_threads(self.num_threads):
            return self._suggest(trials, pending, rng)

    def _suggest(
        self, trials: Sequence[Trial], pending: Sequence[Trial], rng: np.random.Generator
    ) -> Config:
        seen = seen_keys(self, trials, pending)
        done, losses = self.losses(trials)
        if len(done) < self.n_init:
            return fresh_sample(self, seen, rng)
        if losses.shape[1] > 1 and self.mo_acquisition == "ehvi":
            try:
                return self._suggest_ehvi(done, losses, pending, seen, rng)
            except Exception as err:  # numerical failure of any kind must not stop the study
                warnings.warn(
                    f"expected hypervolume improvement failed with {len(done)} observations "
                    f"({type(err).__name__}: {err}); using ParEGO for this suggestion",
                    EHVIWarning,
                    stacklevel=3,
                )
                for key in [k for k in self.states if k.startswith("objective_")]:
                    del self.states[key]
        return self._suggest_scalar(done, losses, pending, seen, rng)

    def _suggest_scalar(
        self,
        done: list[Trial],
        losses: np.ndarray,
        pending: Sequence[Trial],
        seen: set[str],
        rng: np.random.Generator,
    ) -> Config:
        """One objective, or several scalarized by ParEGO; constrained log-EI with constraints."""
        y = self._targets(losses, rng)
        X = self.encoder.encode([t.config for t in done], [t.fidelity for t in done])
        n = len(done)
        maxiter = self._maxiter(n)
        try:
            model = self._fit("objective", X, y, maxiter)
            cons = self._fit_constraints(done, X, maxiter)
            if maxiter > 0:
                self._n_optimized = n
        except Exception as err:  # numerical failure of any kind must not stop the study
            warnings.warn(
                f"GP fit failed with {len(done)} observations ({type(err).__name__}: {err}); "
                "proposing a mutation of the best configuration instead",
                GPFitWarning,
                stacklevel=3,
            )
            self.states.clear()
            return self._fallback(done, y, seen, rng)
        X_pending = self.encoder.encode([t.config for t in pending], [t.fidelity for t in pending])
        model = self._believe(model, X_pending)
        cons = [(self._believe(m, X_pending), c, rows) for m, c, rows in cons]
        self.model = model

        # Incumbent: best (feasible) observation, or with fidelities the best posterior mean at
        # full fidelity over the observed configurations (low-fidelity values are not
        # comparable). Without a feasible observation, the worst value: EI then rewards the
        # probability of feasibility.
        full = X.clone()
        full[:, self.encoder.fidelity_dims] = 1.0
        viol = violations(done, self.constraints)
        feasible = torch.from_numpy(viol == 0.0)
        if not bool(feasible.any()):
            best_f = float(y.min())
        elif self.encoder.fidelity_dims:
            with torch.no_grad(), exact_gp_settings():
                best_f = float(model.posterior(full[feasible]).mean.max())
        else:
            best_f = float(y[feasible.numpy()].max())
        if len(X_pending) and self.pending_strategy == "kriging_believer" and not cons:
            # Believed outcomes count as observed: the incumbent includes them. Otherwise a
            # pending point whose predicted mean beats the incumbent keeps its EI and the next
            # proposal repeats it (the variance shrinks, the predicted improvement does not).
            pend_full = X_pending.clone()
            pend_full[:, self.encoder.fidelity_dims] = 1.0
            with torch.no_grad(), exact_gp_settings():
                best_f = max(best_f, float(model.posterior(pend_full).mean.max()))
        if cons:
            model = ModelListGP(model, *[m for m, _, _ in cons])
            bounds = {1 + i: (c.lower, c.upper) for i, (_, c, _) in enumerate(cons)}
            acqf = make_constrained_acquisition(model, best_f, bounds)
            self.model = model
        else:
            acqf = make_acquisition(self.acquisition, model, best_f, self.beta)  # type: ignore[arg-type]
        order = np.lexsort((np.arange(n), -y, viol))  # feasible first, then best target
        return self._search(model, acqf, full, pending, order, seen, rng)

    def _suggest_ehvi(
        self,
        done: list[Trial],
        losses: np.ndarray,
        pending: Sequence[Trial],
        seen: set[str],
        rng: np.random.Generator,
    ) -> Config:
        """Several objectives: qLogNEHVI over one GP per objective (and per constraint)."""
        n, m = losses.shape
        Y = np.stack([self._transform(-losses[:, j]) for j in range(m)], axis=1)  # maximized
        X = self.encoder.encode([t.config for t in done], [t.fidelity for t in done])
        maxiter = self._maxiter(n)
        models = [self._fit(f"objective_{j}", X, Y[:, j], maxiter) for j in range(m)]
        cons = self._fit_constraints(done, X, maxiter)
        if maxiter > 0:
            self._n_optimized = n
        model = ModelListGP(*models, *[c_model for c_model, _, _ in cons])
        self.model = model

        full = X.clone()
        full[:, self.encoder.fidelity_dims] = 1.0
        viol = violations(done, self.constraints)
        Y_t = torch.from_numpy(np.ascontiguousarray(Y))
        feasible = torch.from_numpy(viol == 0.0)
        Y_ref = Y_t[feasible] if bool(feasible.any()) else Y_t
        ref_point = infer_reference_point(Y_ref[is_non_dominated(Y_ref)], scale=0.1)
        bounds = [(m + i, c.lower, c.upper) for i, (_, c, _) in enumerate(cons)]
        X_pending = None
        if pending and self.pending_strategy != "ignore":
            X_pending = self.encoder.encode([t.config for t in pending])
        with exact_gp_settings():
            acqf = make_ehvi(
                model,
                ref_point,
                full,
                m,
                bounds,
                X_pending,
                mc_samples=self.mc_samples,
                seed=int(rng.integers(2**31)),
            )
        order = nsga2_order(losses, viol)
        return self._search(model, acqf, full, pending, order, seen, rng)

    def _search(
        self,
        model,
        acqf,
        full: torch.Tensor,
        pending: Sequence[Trial],
        order: np.ndarray,
        seen: set[str],
        rng: np.random.Generator,
    ) -> Config:
        """Score random and local candidates (rows at full fidelity); decode the best new one.

        Args:
            model: The fitted model (Thompson sampling when ``acqf`` is ``None``).
            acqf: Acquisition over ``b x 1 x d``.
            full: ``n x d`` observed rows at full fidelity.
            pending: Running trials (never proposed again).
            order: Indices of the observed rows, best first (parents of the local search).
            seen: Config keys of every trial.
            rng: Randomness.
        """
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))

        # Candidates live as encoded rows at full fidelity; only the winner is decoded.
        pend = self.encoder.encode([t.config for t in pending])
        seen_rows = set(self._row_keys(torch.cat([full, pend])))
        parents = self._unique_rows(full[torch.from_numpy(order.copy())], set())[: self.n_parents]
        X_c = self._unique_rows(
            torch.cat(
                [
                    self.encoder.sample_rows(self.n_random, rng),
                    self._neighbourhood(parents, rng),
                ]
            ),
            seen_rows,
        )
        if len(X_c) == 0:
            return fresh_sample(self, seen, rng)
        scores = self._score(model, acqf, X_c, generator)
        for _ in range(self.local_rounds):
            top = torch.topk(scores, min(5, len(X_c))).indices
            scored = seen_rows | set(self._row_keys(X_c))
            X_m = self._unique_rows(self._neighbourhood(X_c[top], rng), scored)
            if len(X_m) == 0:
                break
            X_c = torch.cat([X_c, X_m])
            scores = torch.cat([scores, self._score(model, acqf, X_m, generator)])
        if self.n_refine > 0 and acqf is not None and self.encoder.continuous_dims:
            X_c, scores = self._refine(acqf, X_c, scores)
        for i in torch.argsort(scores, descending=True).tolist()[:50]:
            cfg = self.encoder.decode(X_c[i])
            if self.space.config_key(cfg) not in seen:
                return cfg
        return fresh_sample(self, seen, rng)

    def _refine(self, acqf, X_c: torch.Tensor, scores: torch.Tensor):
        """Append gradient-refined copies of the best candidates (continuous columns only)."""
        top = torch.topk(scores, min(self.n_refine, len(X_c))).indices
        starts = X_c[top]
        dims = [d for d in self.encoder.continuous_dims if bool((starts[:, d] >= 0).all())]
        if not dims:
            return X_c, scores
        refined, values = refine_continuous(acqf, starts, dims)
        return torch.cat([X_c, refined]), torch.cat([scores, values])
