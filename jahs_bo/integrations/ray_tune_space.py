"""Search spaces both ways between jahs-bo and Ray Tune, where Ray Tune can express them.

========================================  ===================================================
jahs-bo (ConfigSpace hyperparameter)      Ray Tune ``param_space`` entry
========================================  ===================================================
``UniformFloat(lower, upper)``            ``tune.uniform(lower, upper)``
``UniformFloat(lower, upper, log=True)``  ``tune.loguniform(lower, upper)``
``UniformInteger(lower, upper)``          ``tune.randint(lower, upper + 1)`` (Ray's upper
                                          bound is exclusive)
``UniformInteger(..., log=True)``         ``tune.lograndint(lower, upper + 1)``
``Categorical(choices)``                  ``tune.choice(choices)``
``Ordinal(sequence)``                     ``tune.choice(sequence)`` (the order is lost)
``Constant(value)``                       the plain value
========================================  ===================================================

Architectures (cells, grammars), fidelities, conditions and forbidden clauses have no Ray Tune
form: converting a space that has them raises :class:`~jahs_bo.exceptions.InvalidSpaceError`
naming them. (:class:`~jahs_bo.integrations.ray_tune.JahsBOSearch` itself takes any jahs-bo
space, architectures included: Ray Tune only sees the configurations it suggests.) Quantized,
normal, grid and function domains of Ray Tune have no jahs-bo form and raise the same error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jahs_bo.exceptions import InvalidSpaceError
from jahs_bo.spaces import SearchSpace
from jahs_bo.study.ray_executor import import_ray

__all__ = ["from_ray_tune", "to_ray_tune"]


def to_ray_tune(space: SearchSpace) -> dict[str, Any]:
    """The Ray Tune ``param_space`` of a hyperparameter-only jahs-bo space.

    Raises:
        InvalidSpaceError: The space has architectures, fidelities, conditions, forbidden
            clauses or hyperparameters of another kind than those in the module's table.
    """
    import_ray()
    from ConfigSpace.hyperparameters import (
        CategoricalHyperparameter,
        Constant,
        OrdinalHyperparameter,
        UniformFloatHyperparameter,
        UniformIntegerHyperparameter,
    )
    from ray import tune

    if not isinstance(space, SearchSpace):
        raise InvalidSpaceError(
            f"to_ray_tune takes a jahs_bo SearchSpace, got {type(space).__name__} {space!r}"
        )
    if space.architectures:
        raise InvalidSpaceError(
            f"architectures {sorted(space.architectures)} cannot be expressed in a Ray Tune "
            "param_space; pass the jahs-bo space to JahsBOSearch(space) instead (Ray Tune "
            "then receives each architecture as a string in the config)"
        )
    if space.fidelities:
        raise InvalidSpaceError(
            f"fidelities {sorted(space.fidelities)} have no Ray Tune param_space form; drop them "
            "and let a Ray Tune scheduler (ASHAScheduler(max_t=...)) decide how long trials run"
        )
    cs = space.hyperparameters
    if list(cs.conditions) or list(cs.forbidden_clauses):
        raise InvalidSpaceError(
            f"space {space.name!r} has conditions or forbidden clauses, which Ray Tune's "
            "param_space cannot express; pass the space to JahsBOSearch(space) instead"
        )
    out: dict[str, Any] = {}
    for hp in cs.values():
        if isinstance(hp, UniformFloatHyperparameter):
            make = tune.loguniform if hp.log else tune.uniform
            out[hp.name] = make(float(hp.lower), float(hp.upper))
        elif isinstance(hp, UniformIntegerHyperparameter):
            make = tune.lograndint if hp.log else tune.randint
            out[hp.name] = make(int(hp.lower), int(hp.upper) + 1)
        elif isinstance(hp, CategoricalHyperparameter):
            out[hp.name] = tune.choice(list(hp.choices))
        elif isinstance(hp, OrdinalHyperparameter):
            out[hp.name] = tune.choice(list(hp.sequence))
        elif isinstance(hp, Constant):
            out[hp.name] = hp.value
        else:
            raise InvalidSpaceError(
                f"hyperparameter {hp.name!r} ({type(hp).__name__}) has no Ray Tune form; use "
                "uniform/log-uniform floats and integers, categoricals, ordinals or constants"
            )
    return out


def from_ray_tune(param_space: Mapping[str, Any], name: str = "ray_tune") -> SearchSpace:
    """The jahs-bo space of a flat Ray Tune ``param_space`` (inverse of :func:`to_ray_tune`).

    Raises:
        InvalidSpaceError: A nested dict, or a Ray Tune domain with no jahs-bo form
            (quantized, normal, grid search, ``sample_from``).
    """
    import_ray()
    from ConfigSpace import ConfigurationSpace
    from ConfigSpace.hyperparameters import (
        CategoricalHyperparameter,
        Constant,
        UniformFloatHyperparameter,
        UniformIntegerHyperparameter,
    )
    from ray.tune.search.sample import Categorical, Domain, Float, Integer, LogUniform, Uniform

    if not isinstance(param_space, Mapping) or not param_space:
        raise InvalidSpaceError(
            f"param_space={param_space!r} must be a non-empty dict of Ray Tune domains, e.g. "
            "{'lr': tune.loguniform(1e-4, 1e-1)}"
        )
    cs = ConfigurationSpace(name=name)
    for key, domain in param_space.items():
        sampler = getattr(domain, "sampler", None)
        kind = type(sampler).__mro__[1].__name__ if sampler is not None else ""
        log = isinstance(sampler, LogUniform)
        if isinstance(domain, Float) and isinstance(sampler, (Uniform, LogUniform)):
            cs.add(UniformFloatHyperparameter(key, domain.lower, domain.upper, log=log))
        elif isinstance(domain, Integer) and isinstance(sampler, (Uniform, LogUniform)):
            upper = int(domain.upper) - 1  # Ray's randint excludes the upper bound
            cs.add(UniformIntegerHyperparameter(key, int(domain.lower), upper, log=log))
        elif isinstance(domain, Categorical) and isinstance(sampler, Uniform):
            cs.add(CategoricalHyperparameter(key, list(domain.categories)))
        elif isinstance(domain, (Domain, Mapping)):
            what = type(domain).__name__ + (
                f" with a {kind or 'custom'} sampler" if sampler else ""
            )
            raise InvalidSpaceError(
                f"param_space[{key!r}] ({what}) has no jahs-bo form; use tune.uniform, "
                "tune.loguniform, tune.randint, tune.lograndint or tune.choice (flat, not nested)"
            )
        elif isinstance(domain, (str, int, float, bool)) or domain is None:
            cs.add(Constant(key, domain if domain is not None else "None"))
        else:
            raise InvalidSpaceError(
                f"param_space[{key!r}]={domain!r} is neither a Ray Tune domain nor a constant "
                "(str, int, float, bool)"
            )
    return SearchSpace(cs, name=name)
