"""The interface every architecture domain implements, and the registry used for JSON.

An architecture *value* is always a canonical string (an NB201 cell string, a grammar derivation
string, ...), so configurations stay plain JSON. Domains know how to sample, validate, mutate and
cross over their values, and how to view a value as a labelled DAG for the graph kernels.

Graph convention (shared by all domains and by :mod:`jahs_bo.kernels`): a ``networkx.DiGraph`` whose
nodes are consecutive integers ``0..n-1`` in topological order, each with a string attribute
``"label"``; node ``0`` is the input (label ``"input"``) and node ``n-1`` the output (label
``"output"``). Operations that live on edges (NB201) become nodes of their own between the two
nodes they connect, as in the WL-kernel NAS literature (Ru et al., 2021).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from typing import Any, ClassVar

import networkx as nx
import numpy as np

from jahs_bo.encoding.wl import Direction, wl_features
from jahs_bo.exceptions import InvalidSpaceError

_DOMAIN_TYPES: dict[str, type[ArchitectureDomain]] = {}


def register_domain(cls: type[ArchitectureDomain]) -> type[ArchitectureDomain]:
    """Class decorator: make a domain type loadable from JSON under ``cls.kind``."""
    if not getattr(cls, "kind", None):
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute `kind`")
    _DOMAIN_TYPES[cls.kind] = cls
    return cls


def domain_from_dict(data: dict[str, Any]) -> ArchitectureDomain:
    """Rebuild a domain from :meth:`ArchitectureDomain.to_dict` output."""
    if not isinstance(data, dict):
        raise InvalidSpaceError(
            f"an architecture domain description must be an object with a 'kind', got {data!r:.80}"
        )
    kind = data.get("kind")
    if not isinstance(kind, str):
        kind = repr(kind)
    if kind not in _DOMAIN_TYPES:
        raise InvalidSpaceError(
            f"unknown architecture domain kind {kind!r}; known kinds: {sorted(_DOMAIN_TYPES)}"
        )
    return _DOMAIN_TYPES[kind].from_dict(data)


class ArchitectureDomain(ABC):
    """A set of architectures whose values are canonical strings.

    Subclasses set ``kind`` (the JSON tag) and are decorated with :func:`register_domain`.
    Every stochastic method takes a ``numpy.random.Generator``; none touches global RNGs.
    """

    kind: ClassVar[str] = ""

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> str:
        """Draw one architecture (canonical string)."""

    @abstractmethod
    def validate(self, value: Any) -> str:
        """Return the canonical string of ``value``.

        Raises:
            InvalidConfigError: ``value`` is not an architecture of this domain; the message
                names the value and what was expected.
        """

    @abstractmethod
    def mutate(self, value: str, rng: np.random.Generator) -> str:
        """Return a random neighbour of ``value`` (a small change, never ``value`` itself)."""

    #: Whether the domain states a prior over its values (e.g. ``NB201Cell(op_prior=...)``).
    has_prior: bool = False

    def sample_prior(self, rng: np.random.Generator) -> str:
        """Draw one architecture from the domain's prior (default: :meth:`sample`)."""
        return self.sample(rng)

    def log_prior(self, value: str) -> float:
        """Log prior of ``value`` relative to :meth:`sample`'s distribution (default ``0``)."""
        return 0.0

    def prior_mode(self, rng: np.random.Generator, draws: int = 64) -> str:
        """The most probable value under the prior (default: the best of ``draws`` prior draws).

        Domains whose prior factorises (e.g. ops drawn per edge) return the exact mode; a
        domain without a prior returns a random value (all are equally likely).
        """
        if not self.has_prior:
            return self.sample(rng)
        values = [self.sample_prior(rng) for _ in range(draws)]
        return max(values, key=self.log_prior)

    def same_network_key(self, value: str) -> str:
        """A key shared by exactly the values that denote the same network (isomorphic cells).

        Searchers de-duplicate on it (through :meth:`SearchSpace.config_key
        <jahs_bo.spaces.SearchSpace.config_key>`). The default is ``value`` itself: right for
        domains whose strings are canonical forms already (NB101, grammar derivations).
        """
        return value

    def neighbours(self, value: str) -> list[str] | None:
        """All neighbours at distance one, or ``None`` where there are too many to list."""
        return None

    def crossover(self, a: str, b: str, rng: np.random.Generator) -> str:
        """Combine two parents; the default returns a mutation of ``a``."""
        return self.mutate(a, rng)

    @abstractmethod
    def to_graph(self, value: str) -> nx.DiGraph:
        """The labelled DAG of ``value`` (see the module docstring for the convention)."""

    def to_graphs(self, value: str) -> list[nx.DiGraph]:
        """Graphs per level, from the whole architecture down to its smallest parts.

        Flat domains have one level; grammar domains return one graph per derivation level
        (used by the hierarchical WL kernel).
        """
        return [self.to_graph(value)]

    def wl_features(
        self, value: str, iterations: int, direction: Direction = "in"
    ) -> list[Counter[str]]:
        """The WL histograms (:func:`jahs_bo.encoding.wl.wl_features`) of :meth:`to_graphs`.

        Domains may compute them without building the graphs (grammar domains do).
        """
        return [wl_features(g, iterations, direction) for g in self.to_graphs(value)]

    def to_pyg(self, value: str, vocabulary: list[str] | None = None):
        """The graph of ``value`` as a ``torch_geometric.data.Data``.

        ``x`` is a one-hot ``n x len(vocabulary)`` float tensor of node labels, ``edge_index``
        a ``2 x m`` long tensor. ``vocabulary`` defaults to :meth:`labels`.
        """
        from jahs_bo.encoding.graphs import graph_to_pyg

        return graph_to_pyg(self.to_graph(value), vocabulary or self.labels())

    @abstractmethod
    def labels(self) -> list[str]:
        """Every node label that :meth:`to_graph` can produce (a fixed, ordered vocabulary)."""

    def size(self) -> int | None:
        """Number of distinct architectures, if finite and known."""
        return None

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description, including ``"kind"``."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchitectureDomain:
        """Inverse of :meth:`to_dict`."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_dict() == other.to_dict()  # type: ignore[union-attr]

    def __hash__(self) -> int:
        return hash(repr(sorted(self.to_dict().items(), key=lambda kv: kv[0])))
