"""The benchmark problem type and its registry.

A :class:`Problem` is a plain callable objective plus the metadata a harness needs (objectives,
directions, optimum, fidelity, cost model) and a plain description of its space. Nothing here
imports jahs_bo or torch: peer libraries in other virtual environments import this package with only
numpy, pandas and onnxruntime installed. The jahs-bo ``SearchSpace`` is built on demand by
:meth:`Problem.space`, which imports jahs_bo lazily.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

#: Where the shipped benchmark data lives (``benchmarks/data``).
DATA_DIR = Path(__file__).resolve().parent.parent / "data"

Config = dict[str, Any]
Fidelity = dict[str, float]


@dataclass(frozen=True)
class Param:
    """One dimension of a problem's space, described without any library.

    Attributes:
        name: Key in the configuration dict.
        kind: ``"categorical"``, ``"float"`` or ``"int"``.
        choices: The categories (``kind == "categorical"``).
        lower: Lower bound, inclusive (numeric kinds).
        upper: Upper bound, inclusive (numeric kinds).
        log: Whether the numeric range is searched on a log scale.
    """

    name: str
    kind: Literal["categorical", "float", "int"]
    choices: tuple[str, ...] = ()
    lower: float | None = None
    upper: float | None = None
    log: bool = False

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values uniformly (log-uniformly if ``log``); ints are rounded in the scale.

        Returns:
            A length-``n`` array (objects for categoricals).
        """
        if self.kind == "categorical":
            return np.asarray(self.choices, dtype=object)[rng.integers(len(self.choices), size=n)]
        assert self.lower is not None and self.upper is not None
        lo, hi = float(self.lower), float(self.upper)
        if self.kind == "int":  # widen by half a step so the end points get a full bin
            lo, hi = lo - 0.5, hi + 0.5
        if self.log:
            x = np.exp(rng.uniform(math.log(lo), math.log(hi), size=n))
        else:
            x = rng.uniform(lo, hi, size=n)
        if self.kind == "int":
            return np.clip(np.rint(x), self.lower, self.upper).astype(int)
        return x


@dataclass(frozen=True)
class FidelitySpec:
    """The fidelity of a multi-fidelity problem.

    Attributes:
        name: Key in the fidelity dict (``"epochs"``, ``"epoch"``).
        lower: Lowest value.
        upper: Highest value (the "full" fidelity).
        values: The allowed values in increasing order, if discrete (e.g. ``(12, 200)``).
        integer: Whether values are integers.
    """

    name: str
    lower: float
    upper: float
    values: tuple[float, ...] | None = None
    integer: bool = True

    def check(self, value: float) -> float:
        """Return ``value`` if it is an allowed fidelity, else raise ``ValueError``."""
        v = float(value)
        if self.values is not None:
            if v not in self.values:
                raise ValueError(
                    f"fidelity {self.name}={value!r} is not one of {list(self.values)}; "
                    "use one of those values"
                )
        elif not self.lower <= v <= self.upper or (self.integer and v != round(v)):
            kind = "an integer" if self.integer else "a number"
            raise ValueError(
                f"fidelity {self.name}={value!r} must be {kind} in [{self.lower}, {self.upper}]"
            )
        return v


@dataclass(frozen=True)
class Problem:
    """A benchmark problem: objective, metadata and a plain space description.

    Attributes:
        name: Registry name, e.g. ``"nb201/cifar10"``.
        params: The space, one :class:`Param` per configuration key.
        objectives: Metric names returned by ``evaluate`` that are the objectives, in order.
        directions: ``"minimize"`` / ``"maximize"``, one per objective.
        evaluate_fn: ``(config, fidelity) -> metrics``; ``fidelity`` is a dict or ``None``.
        optimum: Best achievable value of the single objective (``None`` for multi-objective).
        fidelity: The fidelity, or ``None`` for single-fidelity problems.
        cost_fn: ``fidelity -> cost`` of one evaluation (``fidelity`` is a complete dict).
        test_metric: Metric reported for the incumbent (e.g. test accuracy), if any.
        space_factory: Builds the jahs-bo ``SearchSpace`` (imports jahs_bo lazily).
        sample_fn: ``(rng, n) -> list of configs`` drawn uniformly from ``params``, if overridden.
        pareto_front_fn: Computes the true Pareto front (multi-objective problems).
        reference_point: Hypervolume reference point in normalised objective space.
        description: What the optimum or reference means, for reports.
    """

    name: str
    params: tuple[Param, ...]
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    evaluate_fn: Callable[[Mapping[str, Any], Fidelity | None], dict[str, float]]
    optimum: float | None = None
    fidelity: FidelitySpec | None = None
    cost_fn: Callable[[Fidelity], float] = field(default=lambda f: 1.0)
    test_metric: str | None = None
    space_factory: Callable[[], Any] | None = None
    sample_fn: Callable[[np.random.Generator, int], list[Config]] | None = None
    pareto_front_fn: Callable[[], np.ndarray] | None = None
    reference_point: tuple[float, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.objectives) != len(self.directions):
            raise ValueError(
                f"{self.name}: {len(self.objectives)} objectives but {len(self.directions)} directions"
            )
        for d in self.directions:
            if d not in ("minimize", "maximize"):
                raise ValueError(f"{self.name}: direction {d!r} must be 'minimize' or 'maximize'")

    # ------------------------------------------------------------------ evaluation
    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def max_fidelity(self) -> Fidelity | None:
        """The full fidelity as a dict, or ``None`` without fidelity."""
        if self.fidelity is None:
            return None
        return {self.fidelity.name: self.fidelity.upper}

    def complete_fidelity(self, fidelity: Mapping[str, float] | None) -> Fidelity | None:
        """Check ``fidelity`` and fill in the full fidelity where it is missing.

        Raises:
            ValueError: Unknown fidelity name or a value outside the allowed set.
        """
        if self.fidelity is None:
            if fidelity:
                raise ValueError(f"{self.name} has no fidelity; got {dict(fidelity)!r}")
            return None
        fidelity = dict(fidelity or {})
        unknown = set(fidelity) - {self.fidelity.name}
        if unknown:
            raise ValueError(
                f"{self.name}: unknown fidelity {sorted(unknown)}; the fidelity is "
                f"{self.fidelity.name!r}"
            )
        value = fidelity.get(self.fidelity.name, self.fidelity.upper)
        return {self.fidelity.name: self.fidelity.check(value)}

    def evaluate(
        self, config: Mapping[str, Any], fidelity: Mapping[str, float] | None = None
    ) -> dict[str, float]:
        """Every metric of ``config`` at ``fidelity`` (full fidelity if ``None``).

        Returns:
            ``dict[str, float]`` of metrics; the objectives are among them.
        """
        return self.evaluate_fn(config, self.complete_fidelity(fidelity))

    def objective_values(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """The objectives of a metrics dict, in order and in the problem's directions."""
        return tuple(float(metrics[o]) for o in self.objectives)

    def __call__(
        self, config: Mapping[str, Any], fidelity: Mapping[str, float] | None = None
    ) -> float | tuple[float, ...]:
        """Objective value(s): a float for single-objective problems, else a tuple."""
        values = self.objective_values(self.evaluate(config, fidelity))
        return values if self.multi_objective else values[0]

    def cost(self, fidelity: Mapping[str, float] | None = None) -> float:
        """Cost of one evaluation at ``fidelity`` (full fidelity if ``None``)."""
        return float(self.cost_fn(self.complete_fidelity(fidelity) or {}))

    def regret(self, value: float) -> float:
        """Distance of a single-objective value from the optimum (>= 0 unless beaten)."""
        if self.optimum is None:
            raise ValueError(f"{self.name} has no single optimum (multi-objective)")
        if self.directions[0] == "maximize":
            return float(self.optimum - value)
        return float(value - self.optimum)

    def better(self, a: float, b: float) -> bool:
        """Whether single-objective value ``a`` is strictly better than ``b``."""
        return a > b if self.directions[0] == "maximize" else a < b

    # ------------------------------------------------------------------ spaces
    def sample(self, rng: np.random.Generator, n: int = 1) -> list[Config]:
        """``n`` configurations drawn uniformly from :attr:`params` (plain dicts)."""
        if self.sample_fn is not None:
            return self.sample_fn(rng, n)
        columns = {p.name: p.sample(rng, n) for p in self.params}
        return [{k: _plain(v[i]) for k, v in columns.items()} for i in range(n)]

    def space(self) -> Any:
        """The jahs-bo ``SearchSpace`` of this problem (imports jahs_bo)."""
        if self.space_factory is None:
            raise ValueError(f"{self.name} has no jahs-bo space factory")
        return self.space_factory()

    def pareto_front(self) -> np.ndarray:
        """The true Pareto front, ``n x m`` objective values (multi-objective problems)."""
        if self.pareto_front_fn is None:
            raise ValueError(f"{self.name} is not a multi-objective problem")
        return self.pareto_front_fn()


def _plain(v: Any) -> Any:
    """numpy scalars to plain Python values (JSON-friendly)."""
    return v.item() if isinstance(v, np.generic) else v


# ---------------------------------------------------------------------- registry
_FACTORIES: dict[str, Callable[..., Problem]] = {}
_CACHE: dict[tuple[str, tuple[tuple[str, Any], ...]], Problem] = {}


def register_problem(name: str, factory: Callable[..., Problem]) -> None:
    """Make ``factory(**options)`` available as ``get_problem(name, **options)``."""
    _FACTORIES[name] = factory


def list_problems(pattern: str = "*") -> list[str]:
    """Registered problem names matching a glob ``pattern`` (e.g. ``"nb201/*"``), sorted."""
    from benchmarks.problems import _register_all

    _register_all()
    return sorted(n for n in _FACTORIES if fnmatch.fnmatchcase(n, pattern))


def split_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"nb201-mo/cifar10:device=raspi4,params=true"`` -> name and options."""
    name, _, opts = spec.partition(":")
    return name, parse_options([o for o in opts.split(",") if o])


def get_problem(name: str, **options: Any) -> Problem:
    """Build (or return the cached) problem ``name`` with ``options`` (e.g. ``device="raspi4"``).

    ``name`` may carry options itself, as ``"nb201-mo/cifar10:device=raspi4"``; a problem built with
    options is named that way, so the name in a curve CSV rebuilds the same problem.

    Raises:
        KeyError: Unknown name; the message lists the registered ones.
    """
    from benchmarks.problems import _register_all

    _register_all()
    base, spec_options = split_spec(name)
    options = {**spec_options, **options}
    if base not in _FACTORIES:
        raise KeyError(f"unknown problem {base!r}; choose one of {sorted(_FACTORIES)}")
    key = (base, tuple(sorted(options.items())))
    if key not in _CACHE:
        problem = _FACTORIES[base](**options)
        if options:
            opts = ",".join(
                f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in key[1]
            )
            problem = dataclasses.replace(problem, name=f"{base}:{opts}")
        _CACHE[key] = problem
    return _CACHE[key]


def parse_options(items: Sequence[str]) -> dict[str, Any]:
    """``["device=raspi4", "params=true"]`` -> ``{"device": "raspi4", "params": True}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"problem option {item!r} must look like key=value")
        k, v = item.split("=", 1)
        low = v.lower()
        out[k] = True if low == "true" else False if low == "false" else v
    return out
