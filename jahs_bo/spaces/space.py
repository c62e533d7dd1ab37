"""The joint search space: ConfigSpace hyperparameters + architecture domains + fidelities.

A configuration is a flat ``dict`` of plain JSON values: every active hyperparameter by name and
every architecture by name (its canonical string). Fidelity values are not part of a
configuration; they travel beside it on the trial.

Hyperparameters are a ``ConfigSpace.ConfigurationSpace`` used as is: conditions, forbiddens and
log scales are ConfigSpace's, never reimplemented here.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
from ConfigSpace import Configuration, ConfigurationSpace
from ConfigSpace.hyperparameters import CategoricalHyperparameter, OrdinalHyperparameter
from ConfigSpace.util import deactivate_inactive_hyperparameters, get_one_exchange_neighbourhood

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces.base import ArchitectureDomain, domain_from_dict
from jahs_bo.spaces.fidelity import Fidelity
from jahs_bo.spaces.prior import HyperparameterPrior, check_confidence
from jahs_bo.types import Config, FidelityValues, Trial

_CONFIG_KEY = operator.attrgetter("config_key")

#: Version of the JSON format written by :meth:`SearchSpace.to_json`.
FORMAT_VERSION = 1
_META_KEY = "jahs_bo"


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so configurations stay plain JSON."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _seed_from(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


class SearchSpace:
    """Hyperparameters, architectures and fidelities, in one serializable space.

    Args:
        hyperparameters: A ConfigSpace space (conditions and forbiddens honoured), or ``None``.
        architectures: Architecture domains by configuration key (e.g. ``{"arch": NB201Cell()}``).
        fidelities: The fidelities a trial can run at (several allowed).
        name: A name for reports.
        prior_confidence: Expert priors from default values: hyperparameter name -> ``"low"``,
            ``"medium"`` or ``"high"`` (see :mod:`jahs_bo.spaces.prior`). ConfigSpace's normal
            and beta hyperparameters, categorical weights and the domains' ``op_prior`` are
            priors without it. Serialized with the space.

    Example:
        >>> import ConfigSpace as CS
        >>> from jahs_bo.spaces import SearchSpace, NB201Cell, Fidelity
        >>> space = SearchSpace(CS.ConfigurationSpace({"lr": (1e-4, 1e-1)}),
        ...                     {"arch": NB201Cell()}, [Fidelity("epochs", 1, 200, integer=True)])
    """

    def __init__(
        self,
        hyperparameters: ConfigurationSpace | None = None,
        architectures: Mapping[str, ArchitectureDomain] | None = None,
        fidelities: Sequence[Fidelity] = (),
        name: str = "space",
        prior_confidence: Mapping[str, str] | None = None,
    ) -> None:
        if hyperparameters is not None and not isinstance(hyperparameters, ConfigurationSpace):
            raise InvalidSpaceError(
                f"hyperparameters must be a ConfigSpace.ConfigurationSpace, got "
                f"{type(hyperparameters).__name__}"
            )
        self.hyperparameters = (
            hyperparameters if hyperparameters is not None else ConfigurationSpace()
        )
        self.architectures: dict[str, ArchitectureDomain] = dict(architectures or {})
        for key, dom in self.architectures.items():
            if not isinstance(dom, ArchitectureDomain):
                raise InvalidSpaceError(
                    f"architecture {key!r} must be an ArchitectureDomain (e.g. NB201Cell()), "
                    f"got {type(dom).__name__}"
                )
        self.fidelities: dict[str, Fidelity] = {}
        for f in fidelities:
            if not isinstance(f, Fidelity):
                raise InvalidSpaceError(f"fidelities must be Fidelity objects, got {f!r}")
            if f.name in self.fidelities:
                raise InvalidSpaceError(f"fidelity {f.name!r} is defined twice")
            self.fidelities[f.name] = f
        hp_names = list(self.hyperparameters.keys())
        clash = (set(hp_names) & set(self.architectures)) | (
            set(self.fidelities) & (set(hp_names) | set(self.architectures))
        )
        if clash:
            raise InvalidSpaceError(
                f"names {sorted(clash)} are used by more than one part of the space; rename them"
            )
        if not hp_names and not self.architectures:
            raise InvalidSpaceError(
                "a search space needs at least one hyperparameter or architecture"
            )
        self.name = name
        self._hp_names = hp_names
        hps = {k: self.hyperparameters[k] for k in hp_names}
        self.prior_confidence: dict[str, str] = check_confidence(prior_confidence, hps)
        self._hp_priors = [
            HyperparameterPrior.of(hps[k], self.prior_confidence.get(k)) for k in hp_names
        ]

    # ------------------------------------------------------------------ basic views
    @property
    def hp_names(self) -> list[str]:
        """Hyperparameter names, in ConfigSpace order."""
        return list(self._hp_names)

    @property
    def names(self) -> list[str]:
        """Every configuration key: hyperparameters, then architectures."""
        return self._hp_names + list(self.architectures)

    def max_fidelity(self) -> FidelityValues:
        """The full fidelity (what single-fidelity searches run at)."""
        return {n: f.upper for n, f in self.fidelities.items()}

    def min_fidelity(self) -> FidelityValues:
        return {n: f.lower for n, f in self.fidelities.items()}

    # ------------------------------------------------------------------ sampling
    def _hp_config(self, config: Mapping[str, Any]) -> Configuration:
        values = {k: config[k] for k in self._hp_names if k in config}
        return Configuration(self.hyperparameters, values=values)

    def _hp_values(self, conf: Configuration) -> dict[str, Any]:
        return {k: _plain(v) for k, v in dict(conf).items()}

    def sample(self, rng: np.random.Generator) -> Config:
        """Draw one configuration uniformly (ConfigSpace's priors for hyperparameters)."""
        return self.sample_many(1, rng)[0]

    def sample_many(self, n: int, rng: np.random.Generator) -> list[Config]:
        """Draw ``n`` configurations at once (faster than ``n`` calls to :meth:`sample`)."""
        hps: list[dict[str, Any]] = [{} for _ in range(n)]
        if self._hp_names:
            self.hyperparameters.seed(_seed_from(rng))
            confs = self.hyperparameters.sample_configuration(None if n == 1 else n)
            confs = [confs] if isinstance(confs, Configuration) else confs
            hps = [self._hp_values(c) for c in confs]
        out = []
        for hp in hps:
            cfg = dict(hp)
            for key, dom in self.architectures.items():
                cfg[key] = dom.sample(rng)
            out.append(cfg)
        return out

    # ------------------------------------------------------------------ priors
    @property
    def has_prior(self) -> bool:
        """Whether any hyperparameter or architecture domain states a prior."""
        return any(p.informative for p in self._hp_priors) or any(
            d.has_prior for d in self.architectures.values()
        )

    def sample_prior(self, n: int, rng: np.random.Generator, max_tries: int = 100) -> list[Config]:
        """Draw ``n`` configurations from the expert prior (uniform where none is stated).

        Hyperparameters are drawn independently in vector space from their priors, then
        ConfigSpace deactivates the children of inactive conditions and rejects forbidden
        combinations (redrawn up to ``max_tries`` times, as ConfigSpace's own sampler does).
        Architectures come from their domain's ``sample_prior``.

        Raises:
            InvalidSpaceError: no valid configuration within ``max_tries`` draws.
        """
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise InvalidConfigError(f"sample_prior needs a number n >= 0, got {n!r}")
        n = int(n)
        cs = self.hyperparameters
        out: list[Config] = [{} for _ in range(n)]
        if self._hp_names and not (cs.conditions or cs.forbidden_clauses):
            vecs = np.stack([p.sample(n, rng) for p in self._hp_priors], axis=1)
            out = [self._hp_values(Configuration(cs, vector=v)) for v in vecs]
        elif self._hp_names:
            out = [self._hp_prior_sample(rng, max_tries) for _ in range(n)]
        for cfg in out:
            for key, dom in self.architectures.items():
                cfg[key] = dom.sample_prior(rng)
        return out

    def prior_mode(self, rng: np.random.Generator) -> Config:
        """The configuration the expert prior rates most likely: the user's best guess.

        Hyperparameters take ConfigSpace's default configuration: the centre of a prior stated by
        a default and a ``prior_confidence``, and for ConfigSpace's own distributions their
        default value, which ConfigSpace sets to the normal's mean, the beta's mode or the
        heaviest categorical weight unless the user gives another (then the user's default is
        taken as their best guess); hyperparameters without a prior keep their default too.
        Architectures take their domain's :meth:`prior_mode
        <jahs_bo.spaces.base.ArchitectureDomain.prior_mode>` (ConfigSpace refuses forbidden
        clauses that exclude the default, so it is always valid). The GP searcher evaluates it
        first under ``use_prior``, as SMAC3 starts from the default configuration and NePS from
        the prior's default.
        """
        cfg: Config = {}
        if self._hp_names:
            cfg = self._hp_values(self.hyperparameters.get_default_configuration())
        for key, dom in self.architectures.items():
            cfg[key] = dom.prior_mode(rng)
        return cfg

    def _hp_prior_sample(self, rng: np.random.Generator, max_tries: int) -> Config:
        """One prior draw in a space with conditions or forbidden clauses."""
        cs = self.hyperparameters
        for _ in range(max_tries):
            vec = np.array([p.sample(1, rng)[0] for p in self._hp_priors])
            try:
                values = dict(Configuration(cs, vector=vec, allow_inactive_with_values=True))
                conf = deactivate_inactive_hyperparameters(values, cs)
                conf.check_valid_configuration()
            except Exception:  # forbidden combination (ConfigSpace's exception types vary)
                continue
            return self._hp_values(conf)
        raise InvalidSpaceError(
            f"sample_prior found no valid configuration in {max_tries} draws; the prior puts "
            "almost all its mass on forbidden combinations"
        )

    def log_prior(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Log prior density of each configuration, relative to uniform (shape ``(n,)``).

        Summed over active hyperparameters (in ConfigSpace's vector space) and architectures;
        ``0`` for a configuration of a space without priors. Inactive hyperparameters add 0.
        """
        return self.log_prior_vectors(
            self.hp_vectors(configs),
            {key: [c[key] for c in configs] for key in self.architectures},
        )

    def log_prior_vectors(
        self, hp_vectors: np.ndarray, architectures: Mapping[str, Sequence[str]]
    ) -> np.ndarray:
        """:meth:`log_prior` from ``n x len(hp_names)`` vectors (NaN inactive) and values."""
        n = len(hp_vectors) if self._hp_names else len(next(iter(architectures.values()), []))
        out = np.zeros(n)
        for j, prior in enumerate(self._hp_priors):
            if prior.informative:
                out += prior.log_pdf(hp_vectors[:, j])
        for key, dom in self.architectures.items():
            if dom.has_prior:
                out += np.array([dom.log_prior(v) for v in architectures[key]], dtype=float)
        return out

    # ------------------------------------------------------------------ validation
    def validate(self, config: Mapping[str, Any]) -> Config:
        """Check ``config`` and return its canonical form.

        Raises:
            InvalidConfigError: unknown or missing keys, values outside their domain, inactive
                hyperparameters given a value, forbidden combinations.
        """
        if not isinstance(config, Mapping):
            raise InvalidConfigError(
                f"a configuration is a mapping of names to values, got {type(config).__name__}"
            )
        unknown = set(config) - set(self.names)
        if unknown:
            hint = (
                " (fidelities go beside the config, not in it)"
                if unknown & set(self.fidelities)
                else ""
            )
            raise InvalidConfigError(
                f"unknown keys {sorted(unknown)} in configuration{hint}; the space has {self.names}"
            )
        missing = [k for k in self.architectures if k not in config]
        if missing:
            raise InvalidConfigError(f"configuration lacks the architecture(s) {missing}")
        out: Config = {}
        if self._hp_names:
            try:
                conf = self._hp_config(config)
                conf.check_valid_configuration()
            except InvalidConfigError:
                raise
            except Exception as e:  # ConfigSpace raises several ValueError/KeyError subclasses
                raise InvalidConfigError(
                    f"hyperparameters { {k: config.get(k) for k in self._hp_names if k in config} } "
                    f"are not valid in the space: {e}"
                ) from None
            out.update(self._hp_values(conf))
        for key, dom in self.architectures.items():
            out[key] = dom.validate(config[key])
        return out

    def validate_fidelity(self, fidelity: Mapping[str, Any] | None) -> FidelityValues:
        """Check a fidelity assignment; missing fidelities default to their full value."""
        if fidelity is not None and not isinstance(fidelity, Mapping):
            raise InvalidConfigError(
                f"fidelity {fidelity!r:.80} must be a mapping of fidelity names to values, e.g. "
                f"{self.max_fidelity()}"
            )
        fidelity = dict(fidelity or {})
        unknown = set(fidelity) - set(self.fidelities)
        if unknown:
            raise InvalidConfigError(
                f"unknown fidelities {sorted(unknown)}; the space has {list(self.fidelities)}"
            )
        return {
            n: f.validate(fidelity[n]) if n in fidelity else f.upper
            for n, f in self.fidelities.items()
        }

    def config_key(self, config: Mapping[str, Any]) -> str:
        """A stable string key of a configuration for de-duplication: the same network, the same
        key.

        Architectures enter through their domain's :meth:`~jahs_bo.spaces.base.ArchitectureDomain.
        same_network_key`, so isomorphic NB201 cells share a key and no searcher proposes both.
        Use :meth:`value_key` to tell the strings themselves apart.
        """
        arch = self.architectures
        return json.dumps(
            {
                k: arch[k].same_network_key(v) if k in arch and isinstance(v, str) else v
                for k, v in sorted(config.items())
            },
            sort_keys=True,
        )

    def value_key(self, config: Mapping[str, Any]) -> str:
        """A stable string key of the configuration's exact values (for checkpoint folders)."""
        return json.dumps({k: config[k] for k in sorted(config)}, sort_keys=True)

    def _isomorphic_keys(self) -> bool:
        """Whether some architecture domain maps several strings to one network key."""
        base = ArchitectureDomain.same_network_key
        return any(type(d).same_network_key is not base for d in self.architectures.values())

    def trial_key(self, trial: Trial) -> str:
        """:meth:`config_key` of a trial's configuration, computed once per trial object.

        Without isomorphism-aware architecture domains this is the trial's own cached
        ``Trial.config_key`` (the same string); otherwise the network key is stored on the trial.
        """
        if not self._isomorphic_keys():
            return trial.config_key
        key = trial.__dict__.get("_network_key")
        if key is None:
            key = self.config_key(trial.config)
            object.__setattr__(trial, "_network_key", key)
        return key

    def trial_keys(self, trials: Iterable[Trial]) -> Iterable[str]:
        """:meth:`trial_key` of every trial.

        It runs over every trial in every ask, so it is a C-level map: over the trials' own keys,
        or over the network keys stored on them (those not stored yet are computed first).
        """
        if not self._isomorphic_keys():
            return map(_CONFIG_KEY, trials)
        trials = trials if isinstance(trials, Sequence) else list(trials)
        keys = list(map(getattr, trials, repeat("_network_key"), repeat(None)))
        i = -1
        with contextlib.suppress(ValueError):  # list.index: no None left
            while True:  # only the trials without a stored key: new or re-read ones
                i = keys.index(None, i + 1)
                keys[i] = self.trial_key(trials[i])
        return keys

    # ------------------------------------------------------------------ local moves
    def _hp_neighbours(
        self, config: Mapping[str, Any], rng: np.random.Generator, k: int
    ) -> list[Config]:
        if not self._hp_names:
            return []
        conf = self._hp_config(config)
        out: list[Config] = []
        for _ in range(max(1, -(-k // (4 * len(self._hp_names))))):
            rs = np.random.RandomState(_seed_from(rng))
            for nb in get_one_exchange_neighbourhood(conf, seed=rs, num_neighbors=4):
                cfg = {n: v for n, v in config.items() if n not in self._hp_names}
                cfg.update(self._hp_values(nb))
                out.append(cfg)
                if len(out) >= k:
                    return out
        return out

    def mutate(self, config: Mapping[str, Any], rng: np.random.Generator) -> Config:
        """Change one part of ``config``: one hyperparameter or one architecture.

        The part is drawn uniformly over the hyperparameters and architectures; a hyperparameter
        moves to a ConfigSpace one-exchange neighbour, an architecture to a domain mutation.
        """
        parts = self._hp_names + list(self.architectures)
        pick = parts[int(rng.integers(len(parts)))]
        if pick in self.architectures:
            cfg = dict(config)
            cfg[pick] = self.architectures[pick].mutate(config[pick], rng)
            return cfg
        nbs = self._hp_neighbours(config, rng, 1)
        return nbs[0] if nbs else dict(config)

    def neighbours(
        self, config: Mapping[str, Any], rng: np.random.Generator, k: int = 20
    ) -> list[Config]:
        """Up to ``k`` distinct neighbours (one part changed each), in random order."""
        out: dict[str, Config] = {}
        for key, dom in self.architectures.items():
            listed = dom.neighbours(config[key])
            if listed is None:
                listed = [dom.mutate(config[key], rng) for _ in range(k)]
            for v in listed:
                cfg = dict(config)
                cfg[key] = v
                out.setdefault(self.config_key(cfg), cfg)
        for cfg in self._hp_neighbours(config, rng, 4 * k):
            out.setdefault(self.config_key(cfg), cfg)
        out.pop(self.config_key(config), None)
        cands = list(out.values())
        order = rng.permutation(len(cands))
        return [cands[i] for i in order[:k]]

    def crossover(
        self, a: Mapping[str, Any], b: Mapping[str, Any], rng: np.random.Generator
    ) -> Config:
        """Uniform crossover of hyperparameters, domain crossover of architectures.

        Hyperparameters are taken from one parent or the other as a block per parent when the
        space has conditions, so the child stays valid.
        """
        child: Config = {}
        if self._hp_names:
            if self.hyperparameters.conditions or self.hyperparameters.forbidden_clauses:
                src = a if rng.random() < 0.5 else b
                child.update({k: src[k] for k in self._hp_names if k in src})
            else:
                child.update({k: (a if rng.random() < 0.5 else b)[k] for k in self._hp_names})
        for key, dom in self.architectures.items():
            child[key] = dom.crossover(a[key], b[key], rng)
        return child

    # ------------------------------------------------------------------ numeric views
    def hp_vector(self, config: Mapping[str, Any]) -> np.ndarray:
        """ConfigSpace's unit-cube vector of the hyperparameters (NaN where inactive).

        Returns:
            Array of shape ``(len(hp_names),)``. Categoricals are their choice index.
        """
        if not self._hp_names:
            return np.zeros(0)
        return np.asarray(self._hp_config(config).get_array(), dtype=float)

    def hp_vectors(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """:meth:`hp_vector` of many configurations, shape ``n x len(hp_names)``."""
        if not configs:
            return np.zeros((0, len(self._hp_names)))
        return np.stack([self.hp_vector(c) for c in configs])

    def fidelity_vector(self, fidelity: Mapping[str, float]) -> np.ndarray:
        """Fidelity values normalised to ``[0, 1]`` (1 = full), shape ``(len(fidelities),)``."""
        return np.array([f.normalize(fidelity[n]) for n, f in self.fidelities.items()], dtype=float)

    # ------------------------------------------------------------------ serialization
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (see :data:`FORMAT_VERSION`)."""
        out = {
            "format": "jahs_bo.SearchSpace",
            "version": FORMAT_VERSION,
            "name": self.name,
            "hyperparameters": self.hyperparameters.to_serialized_dict(),
            "architectures": {k: d.to_dict() for k, d in self.architectures.items()},
            "fidelities": [f.to_dict() for f in self.fidelities.values()],
        }
        if self.prior_confidence:  # absent when empty: older files stay byte-identical
            out["prior_confidence"] = dict(self.prior_confidence)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        if not isinstance(data, Mapping) or data.get("format") != "jahs_bo.SearchSpace":
            raise InvalidSpaceError(
                "not a jahs-bo search space description (expected a JSON object with "
                '"format": "jahs_bo.SearchSpace", as written by SearchSpace.to_json())'
            )
        version = data.get("version")
        if version != FORMAT_VERSION:
            raise InvalidSpaceError(
                f"search space format version {version!r} is not supported by this jahs-bo "
                f"(reads version {FORMAT_VERSION}); upgrade jahs-bo"
            )
        try:
            hps = ConfigurationSpace.from_serialized_dict(dict(data["hyperparameters"]))
        except Exception as e:
            raise InvalidSpaceError(
                f"malformed hyperparameters in the space description: {e}"
            ) from None
        archs, fids = data.get("architectures", {}), data.get("fidelities", [])
        if not isinstance(archs, Mapping) or not isinstance(fids, list):
            raise InvalidSpaceError(
                f'search space description: "architectures" must be an object and "fidelities" '
                f"a list, got {type(archs).__name__} and {type(fids).__name__}"
            )
        return cls(
            hps,
            {k: domain_from_dict(d) for k, d in archs.items()},
            [Fidelity.from_dict(f) for f in fids],
            name=data.get("name", "space"),
            prior_confidence=data.get("prior_confidence"),
        )

    def to_json(self, path: str | None = None, indent: int | None = 2) -> str:
        """Serialize to versioned JSON; also write it to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent)
        if path is not None:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str) -> SearchSpace:
        """Inverse of :meth:`to_json`; accepts the JSON text or a path to a file holding it."""
        if not isinstance(text_or_path, (str, os.PathLike)):
            raise InvalidSpaceError(
                f"SearchSpace.from_json takes JSON text or a file path, got "
                f"{type(text_or_path).__name__} {text_or_path!r}"
            )
        text_or_path = os.fspath(text_or_path)
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            try:
                with open(text_or_path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as e:
                raise InvalidSpaceError(
                    f"cannot read search space file {text_or_path!r}: {e}"
                ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidSpaceError(f"search space JSON is malformed: {e}") from None
        except RecursionError:
            raise InvalidSpaceError("search space JSON is nested too deeply") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (
            f"SearchSpace(name={self.name!r}, hyperparameters={self._hp_names}, "
            f"architectures={ {k: d.kind for k, d in self.architectures.items()} }, "
            f"fidelities={list(self.fidelities)})"
        )

    # ------------------------------------------------------------------ ConfigSpace bridge
    def to_configspace(self) -> ConfigurationSpace:
        """Export as one ConfigSpace space (for peers that have no graph type).

        Fixed cells (domains with ``to_ops``/``from_ops``, such as ``NB201Cell``) become one
        categorical per edge, named ``Op1..Op6`` for a single architecture (as JAHS-Bench-201
        does) or ``<arch>:Op1..`` for several; fidelities become ordinal (discrete) or numeric
        hyperparameters. Each exported hyperparameter carries ``meta["jahs_bo"]`` so that
        :meth:`from_configspace` rebuilds this exact space.

        Raises:
            InvalidSpaceError: an architecture domain has no fixed categorical form (grammars).
        """
        from ConfigSpace.hyperparameters import (
            UniformFloatHyperparameter,
            UniformIntegerHyperparameter,
        )

        cs = ConfigurationSpace(name=self.name)
        cs.add_configuration_space(
            prefix="", configuration_space=self.hyperparameters, delimiter=""
        )
        single = len(self.architectures) == 1
        for key, dom in self.architectures.items():
            if not (hasattr(dom, "to_ops") and hasattr(dom, "from_ops")):
                raise InvalidSpaceError(
                    f"architecture {key!r} ({dom.kind}) has no fixed categorical form; only "
                    "fixed cells such as NB201Cell can be exported to ConfigSpace"
                )
            n_edges = len(dom.to_ops(dom.sample(np.random.default_rng(0))))
            for i in range(n_edges):
                name = f"Op{i + 1}" if single else f"{key}:Op{i + 1}"
                meta = {_META_KEY: {"architecture": key, "edge": i, "domain": dom.to_dict()}}
                cs.add(CategoricalHyperparameter(name, list(dom.ops), meta=meta))
        for position, f in enumerate(self.fidelities.values()):
            meta = {_META_KEY: {"fidelity": f.to_dict(), "position": position}}
            if f.values is not None:
                hp = OrdinalHyperparameter(f.name, list(f.values), default_value=f.upper, meta=meta)
            elif f.integer:
                hp = UniformIntegerHyperparameter(
                    f.name,
                    int(f.lower),
                    int(f.upper),
                    log=f.log,
                    default_value=int(f.upper),
                    meta=meta,
                )
            else:
                hp = UniformFloatHyperparameter(
                    f.name, f.lower, f.upper, log=f.log, default_value=f.upper, meta=meta
                )
            cs.add(hp)
        return cs

    @classmethod
    def from_configspace(cls, cs: ConfigurationSpace, name: str | None = None) -> SearchSpace:
        """Import a ConfigSpace space, recognising cells and fidelities by their ``meta``.

        Hyperparameters without jahs-bo ``meta`` stay hyperparameters, so any plain ConfigSpace
        space imports as a hyperparameter-only space.
        """
        plain = ConfigurationSpace(name=name or cs.name or "space")
        arch_doms: dict[str, ArchitectureDomain] = {}
        fids: list[tuple[int, Fidelity]] = []
        tagged = set()
        for hp in cs.values():
            meta = (hp.meta or {}).get(_META_KEY) if isinstance(hp.meta, Mapping) else None
            if not meta:
                continue
            tagged.add(hp.name)
            if "fidelity" in meta:
                fids.append((meta.get("position", 0), Fidelity.from_dict(meta["fidelity"])))
            else:
                arch_doms.setdefault(meta["architecture"], domain_from_dict(meta["domain"]))
        for hp in cs.values():
            if hp.name not in tagged:
                plain.add(hp)
        conds = [c for c in cs.conditions if not ({p.name for p in _cond_hps(c)} & tagged)]
        if conds:
            plain.add(conds)
        forb = list(cs.forbidden_clauses)
        if forb:
            plain.add(forb)
        fids.sort(key=lambda pf: pf[0])
        return cls(
            plain if len(plain) else None,
            arch_doms,
            [f for _, f in fids],
            name=name or cs.name or "space",
        )

    def config_to_configspace(
        self, config: Mapping[str, Any], fidelity: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A configuration (and optionally fidelity) as values of :meth:`to_configspace`."""
        out = {k: config[k] for k in self._hp_names if k in config}
        single = len(self.architectures) == 1
        for key, dom in self.architectures.items():
            for i, op in enumerate(dom.to_ops(config[key])):
                out[f"Op{i + 1}" if single else f"{key}:Op{i + 1}"] = op
        out.update(dict(fidelity or {}))
        return out

    def config_from_configspace(self, values: Mapping[str, Any]) -> tuple[Config, FidelityValues]:
        """Inverse of :meth:`config_to_configspace`: ``(config, fidelity)``."""
        config: Config = {k: _plain(values[k]) for k in self._hp_names if k in values}
        single = len(self.architectures) == 1
        for key, dom in self.architectures.items():
            n_edges = sum(
                1 for k in values if (k.startswith("Op") if single else k.startswith(f"{key}:Op"))
            )
            ops = [values[f"Op{i + 1}" if single else f"{key}:Op{i + 1}"] for i in range(n_edges)]
            config[key] = dom.from_ops(ops)
        fidelity = {n: _plain(values[n]) for n in self.fidelities if n in values}
        return self.validate(config), self.validate_fidelity(fidelity)


def _cond_hps(cond: Any) -> list[Any]:
    """Hyperparameters a ConfigSpace condition mentions (child and parents)."""
    hps = []
    for attr in ("child", "parent"):
        if hasattr(cond, attr):
            hps.append(getattr(cond, attr))
    for sub in getattr(cond, "components", []) or []:
        hps.extend(_cond_hps(sub))
    return hps
