"""Expert priors over hyperparameters and cell operations (the densities piBO and PriorBand use).

How a user states a prior:

* **ConfigSpace's own distributions** are priors as they are: ``NormalFloatHyperparameter``,
  ``BetaFloatHyperparameter``, ``NormalIntegerHyperparameter``, ``BetaIntegerHyperparameter`` and
  ``CategoricalHyperparameter(weights=...)``.
* **A default value plus a confidence**: ``SearchSpace(..., prior_confidence={"lr": "high"})``
  turns the default of a *uniform* float/integer hyperparameter into a normal prior truncated to
  ConfigSpace's unit-cube vector space (so log-scaled hyperparameters are log-normal), centred
  on the default's vector value with standard deviation :data:`CONFIDENCE_SIGMA` (``low`` 0.5,
  ``medium`` 0.25, ``high`` 0.125 of the range). On an unweighted categorical or an ordinal it
  gives the default :data:`CONFIDENCE_WEIGHT` times (2, 4, 8) the weight of every other choice.
  A default value alone is no prior: ConfigSpace gives every hyperparameter one.
  Confidence on a hyperparameter that already has a distribution (normal, beta, weights) is an
  error: its distribution states the confidence already.
* **Cell operations**: ``NB201Cell(op_prior={"nor_conv_3x3": 0.5, ...})`` and
  ``NB101Cell(op_prior=...)`` (see :func:`check_op_prior`); NB201 cells also per edge,
  ``NB201Cell(op_prior={"0->3": {"skip_connect": 0.8, ...}, ...})``.

Densities are *relative to uniform*: :meth:`HyperparameterPrior.log_pdf` is ``0`` for a
hyperparameter without a prior, and an architecture domain's ``log_prior`` is ``0`` for a uniform
cell. A space without any prior therefore has ``log_prior == 0`` everywhere, and piBO's weight
``prior(x) ** (beta / n)`` is ``1``. Only ratios between configurations matter to piBO.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ConfigSpace.hyperparameters import (
    BetaFloatHyperparameter,
    BetaIntegerHyperparameter,
    CategoricalHyperparameter,
    Hyperparameter,
    NormalFloatHyperparameter,
    NormalIntegerHyperparameter,
    OrdinalHyperparameter,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from jahs_bo.exceptions import InvalidSpaceError

#: Allowed confidence levels of ``SearchSpace(prior_confidence=...)``.
CONFIDENCE_LEVELS: tuple[str, ...] = ("low", "medium", "high")
#: Standard deviation (unit-cube vector space) of a numeric default-value prior, per confidence.
CONFIDENCE_SIGMA: dict[str, float] = {"low": 0.5, "medium": 0.25, "high": 0.125}
#: Weight of the default choice (others weigh 1) of a categorical/ordinal prior, per confidence.
CONFIDENCE_WEIGHT: dict[str, float] = {"low": 2.0, "medium": 4.0, "high": 8.0}
#: Smallest density used inside logarithms (a zero-probability op or choice).
_TINY = 1e-300

_DISTRIBUTIONS = (
    NormalFloatHyperparameter,
    NormalIntegerHyperparameter,
    BetaFloatHyperparameter,
    BetaIntegerHyperparameter,
)


def check_confidence(
    confidence: Mapping[str, str] | None, hyperparameters: Mapping[str, Hyperparameter]
) -> dict[str, str]:
    """Validate ``SearchSpace(prior_confidence=...)``; returns a plain copy.

    Raises:
        InvalidSpaceError: not a mapping, an unknown hyperparameter name, a level outside
            :data:`CONFIDENCE_LEVELS`, or a hyperparameter that already has a distribution.
    """
    if confidence is None:
        return {}
    if not isinstance(confidence, Mapping):
        raise InvalidSpaceError(
            f"prior_confidence must map hyperparameter names to one of {list(CONFIDENCE_LEVELS)}"
            f", e.g. {{'lr': 'high'}}; got {confidence!r:.80}"
        )
    out: dict[str, str] = {}
    for name, level in confidence.items():
        if name not in hyperparameters:
            raise InvalidSpaceError(
                f"prior_confidence names {name!r}, which is not a hyperparameter of the space; "
                f"hyperparameters: {sorted(hyperparameters)} (cell priors go to the domain, "
                "e.g. NB201Cell(op_prior=...))"
            )
        if level not in CONFIDENCE_LEVELS:
            raise InvalidSpaceError(
                f"prior_confidence[{name!r}] = {level!r} is not a confidence level; use one of "
                f"{list(CONFIDENCE_LEVELS)}"
            )
        hp = hyperparameters[name]
        if isinstance(hp, _DISTRIBUTIONS) or (
            isinstance(hp, CategoricalHyperparameter) and hp.weights is not None
        ):
            raise InvalidSpaceError(
                f"hyperparameter {name!r} ({type(hp).__name__}) already states its prior through "
                "its distribution (mu/sigma, alpha/beta or weights); drop it from "
                "prior_confidence or make it uniform"
            )
        if not isinstance(
            hp,
            (
                UniformFloatHyperparameter,
                UniformIntegerHyperparameter,
                CategoricalHyperparameter,
                OrdinalHyperparameter,
            ),
        ):
            raise InvalidSpaceError(
                f"hyperparameter {name!r} ({type(hp).__name__}) cannot take a confidence prior; "
                "only uniform floats/integers, categoricals and ordinals can"
            )
        out[str(name)] = str(level)
    return out


@dataclass(frozen=True)
class HyperparameterPrior:
    """The prior of one hyperparameter in ConfigSpace's vector space.

    Attributes:
        hp: The ConfigSpace hyperparameter.
        kind: ``"none"`` (uniform, no information), ``"native"`` (ConfigSpace's own
            distribution), ``"normal"`` (truncated normal from a default and a confidence) or
            ``"choice"`` (choice probabilities from a default and a confidence).
        center: Vector value of the default (``"normal"``) or index of the default choice.
        sigma: Standard deviation in vector space (``"normal"``).
        probs: Choice probabilities (``"choice"``).
    """

    hp: Hyperparameter
    kind: str
    center: float = 0.0
    sigma: float = 1.0
    probs: tuple[float, ...] = ()

    @classmethod
    def of(cls, hp: Hyperparameter, confidence: str | None) -> HyperparameterPrior:
        """The prior of ``hp`` with an optional confidence (checked by :func:`check_confidence`)."""
        if confidence is None:
            native = isinstance(hp, _DISTRIBUTIONS) or (
                isinstance(hp, CategoricalHyperparameter) and hp.weights is not None
            )
            return cls(hp, "native" if native else "none")
        center = float(np.asarray(hp.to_vector(hp.default_value), dtype=float).reshape(-1)[0])
        if isinstance(hp, (CategoricalHyperparameter, OrdinalHyperparameter)):
            k = len(hp.choices) if isinstance(hp, CategoricalHyperparameter) else len(hp.sequence)
            w = np.ones(k)
            w[int(round(center))] = CONFIDENCE_WEIGHT[confidence]
            return cls(hp, "choice", center=center, probs=tuple((w / w.sum()).tolist()))
        return cls(hp, "normal", center=center, sigma=CONFIDENCE_SIGMA[confidence])

    @property
    def informative(self) -> bool:
        return self.kind != "none"

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` vector values drawn from the prior (shape ``(n,)``)."""
        if self.kind in ("none", "native"):
            # ConfigSpace's categorical/integer samplers need a RandomState; derive one.
            state = np.random.RandomState(int(rng.integers(0, 2**31 - 1)))
            return np.asarray(self.hp.sample_vector(n, seed=state), dtype=float).reshape(n)
        if self.kind == "choice":
            return rng.choice(len(self.probs), size=n, p=np.asarray(self.probs)).astype(float)
        out = np.empty(0)
        while len(out) < n:  # rejection from the untruncated normal (acceptance >= 38%)
            draw = rng.normal(self.center, self.sigma, size=2 * (n - len(out)) + 8)
            out = np.concatenate([out, draw[(draw >= 0.0) & (draw <= 1.0)]])
        vec = out[:n]
        if isinstance(self.hp, UniformIntegerHyperparameter):  # snap to an integer's vector
            vec = np.asarray(self.hp.to_vector(self.hp.to_value(vec)), dtype=float)
        return vec

    def log_pdf(self, vec: np.ndarray) -> np.ndarray:
        """Log prior density relative to uniform at vector values ``vec`` (NaN, inactive -> 0)."""
        vec = np.asarray(vec, dtype=float)
        out = np.zeros(vec.shape)
        active = ~np.isnan(vec)
        if self.kind == "none" or not active.any():
            return out
        v = vec[active]
        if self.kind == "native":
            dens = np.asarray(self.hp.pdf_vector(v), dtype=float)
            if isinstance(self.hp, CategoricalHyperparameter):
                dens = dens * len(self.hp.choices)
            out[active] = np.log(np.maximum(dens, _TINY))
        elif self.kind == "choice":
            p = np.asarray(self.probs)[np.round(v).astype(int)]
            out[active] = np.log(p * len(self.probs))
        else:
            z = (v - self.center) / self.sigma
            mass = _phi((1.0 - self.center) / self.sigma) - _phi(-self.center / self.sigma)
            out[active] = (
                -0.5 * z**2 - math.log(self.sigma * math.sqrt(2 * math.pi)) - math.log(mass)
            )
        return out


def _phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def check_op_prior(
    ops: Sequence[str], op_prior: Mapping[str, float] | None, where: str
) -> np.ndarray | None:
    """Validate a cell domain's ``op_prior``; returns probabilities aligned with ``ops``.

    ``op_prior`` maps op names to non-negative weights (normalised to probabilities; ops left out
    weigh 0, so they are never sampled from the prior). ``None`` means uniform.

    Raises:
        InvalidSpaceError: not a mapping, an unknown op, a negative or non-finite weight, or all
            weights zero.
    """
    if op_prior is None:
        return None
    if not isinstance(op_prior, Mapping):
        raise InvalidSpaceError(
            f"{where}: op_prior must map op names to weights, e.g. {{{ops[0]!r}: 0.5}}; "
            f"got {op_prior!r:.80}"
        )
    weights = np.zeros(len(ops))
    for op, w in op_prior.items():
        if op not in ops:
            raise InvalidSpaceError(
                f"{where}: op_prior names unknown op {op!r}; the domain's ops are {list(ops)}"
            )
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
            raise InvalidSpaceError(f"{where}: op_prior[{op!r}] must be a number, got {w!r}")
        if not math.isfinite(float(w)) or float(w) < 0:
            raise InvalidSpaceError(
                f"{where}: op_prior[{op!r}] = {w!r} must be a finite weight >= 0"
            )
        weights[ops.index(op)] = float(w)
    if weights.sum() <= 0:
        raise InvalidSpaceError(f"{where}: op_prior gives every op weight 0; give one a weight > 0")
    try:
        return normalise(weights)
    except OverflowError:
        raise InvalidSpaceError(
            f"{where}: op_prior's weights sum past the largest float ({weights.tolist()}); "
            "scale them down (only their ratios matter)"
        ) from None


def normalise(weights: np.ndarray) -> np.ndarray:
    """Probabilities proportional to ``weights`` whose exactly rounded sum is ``1.0``.

    Weights whose sum rounds to ``1.0`` (``math.fsum``) are returned as they are, so normalising
    is a fixed point: a domain rebuilt from its JSON holds the same floats and writes the same
    JSON (a stored study or checkpoint compares equal to the space it was made with). Otherwise
    the weights are divided by their sum; should that sum not round to ``1.0``, the residue goes
    to the largest probability.

    Args:
        weights: ``(n,)`` non-negative weights, at least one positive.
    """
    weights = np.asarray(weights, dtype=float)
    if math.fsum(weights) == 1.0:
        return weights.copy()
    probs = weights / weights.sum()
    if math.fsum(probs) != 1.0:
        probs[int(np.argmax(probs))] += math.fsum([1.0, *(-probs)])
    return probs


def op_prior_dict(ops: Sequence[str], probs: np.ndarray | None) -> dict[str, float] | None:
    """The JSON form of a normalised op prior (``None`` for uniform)."""
    if probs is None:
        return None
    return {op: float(p) for op, p in zip(ops, probs, strict=True) if p > 0}


def log_op_prior(probs: np.ndarray | None, indices: Sequence[int]) -> float:
    """Log probability of op ``indices`` relative to uniform (``0`` when ``probs`` is ``None``).

    Args:
        probs: ``(n_ops,)`` probabilities shared by every position, or ``(len(indices), n_ops)``
            with one row per position (a per-edge prior).
        indices: Op index at each position.
    """
    if probs is None:
        return 0.0
    idx = np.asarray(indices, dtype=int)
    p = probs[idx] if probs.ndim == 1 else probs[np.arange(len(idx)), idx]
    return float(np.log(np.maximum(p * probs.shape[-1], _TINY)).sum())


__all__ = [
    "CONFIDENCE_LEVELS",
    "CONFIDENCE_SIGMA",
    "CONFIDENCE_WEIGHT",
    "HyperparameterPrior",
    "check_confidence",
    "check_op_prior",
    "log_op_prior",
    "normalise",
    "op_prior_dict",
]
