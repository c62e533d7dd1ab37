"""Isomorphic NB201 cells are one configuration to every searcher: the space's config_key maps
them to one key, so random search, evolution and local search never evaluate both."""

from __future__ import annotations

import itertools
import warnings

import networkx as nx
import pytest

from jahs_bo.spaces import nb201_space
from jahs_bo.spaces.nb201 import NB201_OPS, NB201Cell
from jahs_bo.study import create_study


def _graph_hash(cell: NB201Cell, value: str) -> str:
    """An oracle independent of same_network_key: the WL hash of the pruned graph (on NB201's
    pruned graphs WL-equal means isomorphic; the GP searcher de-duplicates on these features)."""
    graph = cell.to_graph(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # networkx notes its digraph hashes changed in 3.5
        return nx.weisfeiler_lehman_graph_hash(
            graph, node_attr="label", iterations=graph.number_of_nodes()
        )


def test_two_paths_through_different_nodes_are_one_network() -> None:
    cell = NB201Cell()
    via_1 = cell.from_ops(["nor_conv_3x3", "none", "none", "none", "nor_conv_1x1", "none"])
    via_2 = cell.from_ops(["none", "nor_conv_3x3", "none", "none", "none", "nor_conv_1x1"])
    dead_end = cell.from_ops(
        ["nor_conv_3x3", "avg_pool_3x3", "none", "none", "nor_conv_1x1", "none"]
    )
    assert cell.same_network_key(via_1) == cell.same_network_key(via_2)
    assert cell.same_network_key(dead_end) == cell.same_network_key(via_1)  # 2<-0 is cut off
    space = nb201_space()
    assert space.config_key({"arch": via_1}) == space.config_key({"arch": via_2})
    assert space.value_key({"arch": via_1}) != space.value_key({"arch": via_2})
    assert cell.same_network_key("not a cell") == "not a cell"


def test_same_network_key_classes_are_the_isomorphism_classes() -> None:
    cell = NB201Cell()
    classes: dict[str, set[str]] = {}
    for ops in itertools.product(NB201_OPS, repeat=6):
        value = cell.from_ops(ops)
        classes.setdefault(cell.same_network_key(value), set()).add(_graph_hash(cell, value))
    assert len(classes) == 8765
    assert all(len(hashes) == 1 for hashes in classes.values())  # no two networks merged


@pytest.mark.parametrize("searcher", ["random", "re", "ls"])
def test_searchers_never_evaluate_two_isomorphic_cells(searcher: str) -> None:
    space = nb201_space()
    cell = space.architectures["arch"]
    study = create_study(space, direction="maximize", searcher=searcher, seed=3)
    hashes: set[str] = set()
    for _ in range(200):
        trial = study.ask()
        h = _graph_hash(cell, trial.config["arch"])
        assert h not in hashes, f"trial {trial.number} repeats an evaluated network"
        hashes.add(h)
        study.tell(trial, float(int(h[:6], 16) % 1000))
