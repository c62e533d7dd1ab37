"""Weisfeiler-Lehman subtree features of labelled DAGs.

The WL subtree kernel (Shervashidze et al., 2011) compares graphs through histograms of node
labels refined ``h`` times: at iteration ``t`` a node's label becomes a compressed name of its
label at ``t - 1`` together with the sorted multiset of its neighbours' labels. The feature
vector of a graph counts every label of iterations ``0..h``.

Direction matters on DAGs. ``"in"`` aggregates predecessors (a node's label then describes the
sub-network that computes it, the choice of Ru et al. 2021 for cells), ``"out"`` successors and
``"both"`` predecessors and successors separately (the refinement networkx uses for directed
graphs; see :func:`networkx.weisfeiler_lehman_subgraph_hashes`).

Labels are compressed with a stable hash (BLAKE2b), so features of two graphs computed in
different processes or stores are comparable without a shared dictionary.
"""

from __future__ import annotations

from collections import Counter
from hashlib import blake2b
from typing import Literal

import networkx as nx

from jahs_bo.exceptions import InputError

Direction = Literal["in", "out", "both"]
_DIRECTIONS = ("in", "out", "both")


def compress_label(text: str) -> str:
    """The compressed name of a refined WL label (a stable 20-hex-digit BLAKE2b digest)."""
    return blake2b(text.encode("utf-8"), digest_size=10).hexdigest()


def wl_node_labels(
    graph: nx.DiGraph, iterations: int, direction: Direction = "in"
) -> list[dict[int, str]]:
    """Node labels of every WL iteration.

    Args:
        graph: A DAG whose nodes carry a string attribute ``"label"``.
        iterations: Number of refinement steps ``h >= 0``.
        direction: Which neighbours refine a label: ``"in"``, ``"out"`` or ``"both"``.

    Returns:
        ``h + 1`` dicts ``node -> label``; entry 0 holds the original labels.

    Raises:
        InputError: ``iterations`` is negative, ``direction`` unknown or a node lacks a label.
    """
    if iterations < 0:
        raise InputError(f"WL iterations must be >= 0, got {iterations}")
    if direction not in _DIRECTIONS:
        raise InputError(f"WL direction must be one of {_DIRECTIONS}, got {direction!r}")
    try:
        current = {u: str(d["label"]) for u, d in graph.nodes(data=True)}
    except KeyError:
        raise InputError(
            "every graph node needs a 'label' attribute (see jahs_bo.spaces.base)"
        ) from None
    out = [current]
    for _ in range(iterations):
        nxt = {}
        for u in graph.nodes:
            parts = [current[u]]
            if direction in ("in", "both"):
                parts.append("<" + ",".join(sorted(current[v] for v in graph.predecessors(u))))
            if direction in ("out", "both"):
                parts.append(">" + ",".join(sorted(current[v] for v in graph.successors(u))))
            nxt[u] = compress_label("|".join(parts))
        current = nxt
        out.append(current)
    return out


def wl_features(graph: nx.DiGraph, iterations: int, direction: Direction = "in") -> Counter[str]:
    """The WL subtree feature histogram of ``graph``.

    Args:
        graph: A labelled DAG (see :mod:`jahs_bo.spaces.base` for the convention).
        iterations: Number of refinement steps ``h``.
        direction: See :func:`wl_node_labels`.

    Returns:
        Counts of the features ``"<t>:<label>"`` for ``t = 0..h`` (the iteration is part of the
        feature name, so labels of different depths never collide).
    """
    counts: Counter[str] = Counter()
    for t, labels in enumerate(wl_node_labels(graph, iterations, direction)):
        counts.update(f"{t}:{lab}" for lab in labels.values())
    return counts
