"""NB201 cell domain: golden facts from the benchmark table, string/graph/JSON round trips."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces.base import ArchitectureDomain, domain_from_dict
from jahs_bo.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Cell

NB201_CSV = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "nb201.csv.gz"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
OPTIMUM = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
TRANSNAS_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")
#: The benchmark table's integer op coding, one column per edge in ``NB201_EDGES`` order.
EDGE_COLUMNS = [f"op_e{k}_{j}" for k, j in NB201_EDGES]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(NB201_CSV, usecols=["index", "arch_str", *EDGE_COLUMNS])


def _labels(graph: nx.DiGraph) -> list[str]:
    return [graph.nodes[i]["label"] for i in range(graph.number_of_nodes())]


def _check_dag_convention(graph: nx.DiGraph) -> None:
    n = graph.number_of_nodes()
    assert sorted(graph.nodes) == list(range(n))
    assert nx.is_directed_acyclic_graph(graph)
    assert all(u < v for u, v in graph.edges)  # numbering is topological
    assert graph.nodes[0]["label"] == "input"
    assert graph.nodes[n - 1]["label"] == "output"
    assert graph.in_degree(0) == 0 and graph.out_degree(n - 1) == 0


def test_nb201_every_table_string_prints_back_identically(table):
    domain = NB201Cell()
    assert table["arch_str"].nunique() == len(table) == 15_625
    assert domain.size() == 15_625
    assert all(domain.validate(s) == s for s in table["arch_str"])


def test_nb201_index_tuples_match_benchmark_coding(table):
    domain = NB201Cell()
    ours = np.array([domain.to_index_tuple(s) for s in table["arch_str"]])
    np.testing.assert_array_equal(ours, table[EDGE_COLUMNS].to_numpy())
    for row in table.head(50).to_dict("records"):
        assert domain.from_index_tuple([row[c] for c in EDGE_COLUMNS]) == row["arch_str"]


def test_nb201_enumeration_equals_the_table(table):
    domain = NB201Cell()
    every = {domain.from_index_tuple(t) for t in itertools.product(range(5), repeat=6)}
    assert every == set(table["arch_str"])


def test_nb201_ops_round_trip_and_edge_order():
    domain = NB201Cell()
    assert domain.to_ops(OPTIMUM) == (
        "nor_conv_3x3",  # 1<-0
        "nor_conv_3x3",  # 2<-0
        "nor_conv_3x3",  # 2<-1
        "skip_connect",  # 3<-0
        "nor_conv_3x3",  # 3<-1
        "nor_conv_3x3",  # 3<-2
    )
    assert domain.to_index_tuple(OPTIMUM) == (3, 3, 3, 1, 3, 3)
    assert domain.from_ops(domain.to_ops(OPTIMUM)) == OPTIMUM
    assert domain.from_index_tuple((3, 3, 3, 1, 3, 3)) == OPTIMUM


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "'+'-separated groups"),
        ("|nor_conv_3x3~1|+|none~0|none~1|+|none~0|none~1|none~2|", "must be '<op>~0'"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "must hold 2 op(s)"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not enclosed"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        (" |none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "not enclosed"),
        (12, "must be a string"),
    ],
)
def test_nb201_validate_rejects_malformed_strings(bad, needle):
    with pytest.raises(InvalidConfigError) as err:
        NB201Cell().validate(bad)
    assert needle in str(err.value)
    assert repr(bad) in str(err.value) or str(bad) in str(err.value)


def test_nb201_unknown_op_message_lists_allowed_ops():
    with pytest.raises(InvalidConfigError, match="allowed ops") as err:
        NB201Cell().from_ops(["conv"] * 6)
    assert "nor_conv_3x3" in str(err.value)
    with pytest.raises(InvalidConfigError, match="out of range"):
        NB201Cell().from_index_tuple((0, 0, 0, 0, 0, 5))
    with pytest.raises(InvalidConfigError, match="6 edge ops"):
        NB201Cell().from_ops(["none"] * 5)


def test_nb201_neighbours_are_all_single_edge_changes():
    domain = NB201Cell()
    neighbours = domain.neighbours(OPTIMUM)
    assert len(neighbours) == 24 == len(set(neighbours))
    base = np.array(domain.to_index_tuple(OPTIMUM))
    for nb in neighbours:
        assert domain.validate(nb) == nb
        assert (np.array(domain.to_index_tuple(nb)) != base).sum() == 1


def test_nb201_mutate_changes_exactly_one_edge_and_is_reproducible():
    domain = NB201Cell()
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = domain.sample(rng)
        b = domain.mutate(a, rng)
        assert b != a and b in domain.neighbours(a)
    seq1 = [domain.sample(np.random.default_rng(7)) for _ in range(3)]
    seq2 = [domain.sample(np.random.default_rng(7)) for _ in range(3)]
    assert seq1 == seq2
    r1, r2 = np.random.default_rng(1), np.random.default_rng(2)
    assert [domain.sample(r1) for _ in range(5)] != [domain.sample(r2) for _ in range(5)]


def test_nb201_crossover_takes_each_edge_from_a_parent():
    domain = NB201Cell()
    rng = np.random.default_rng(3)
    a, b = ALL_CONV, "|none~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|none~1|nor_conv_1x1~2|"
    children = {domain.crossover(a, b, rng) for _ in range(200)}
    ia, ib = domain.to_index_tuple(a), domain.to_index_tuple(b)
    for child in children:
        assert all(
            c in (x, y) for c, x, y in zip(domain.to_index_tuple(child), ia, ib, strict=True)
        )
    assert len(children) > 30  # 2**6 = 64 possible children


def test_nb201_json_round_trip():
    for domain in (NB201Cell(), NB201Cell(TRANSNAS_OPS)):
        data = json.loads(json.dumps(domain.to_dict()))
        again = domain_from_dict(data)
        assert again == domain and hash(again) == hash(domain)
        assert isinstance(again, NB201Cell) and again.ops == domain.ops
    assert NB201Cell() != NB201Cell(TRANSNAS_OPS)


def test_nb201_graph_of_full_cell():
    g = NB201Cell().to_graph(ALL_CONV)
    _check_dag_convention(g)
    assert _labels(g) == ["input", "nor_conv_3x3", "sum", "nor_conv_3x3", "nor_conv_3x3", "sum"] + [
        "nor_conv_3x3"
    ] * 3 + ["output"]
    assert sorted(g.edges) == sorted(
        [(0, 1), (1, 2), (0, 3), (3, 5), (2, 4), (4, 5)]
        + [(0, 6), (6, 9), (2, 7), (7, 9), (5, 8), (8, 9)]
    )


def test_nb201_graph_drops_none_edges_and_dead_nodes():
    domain = NB201Cell()
    # Node 1 is cut off (none on 1<-0), node 2 feeds nothing (none on 3<-2): only 0 -> conv -> 3.
    dead = "|none~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_3x3~1|none~2|"
    g = domain.to_graph(dead)
    assert _labels(g) == ["input", "nor_conv_1x1", "output"]
    assert sorted(g.edges) == [(0, 1), (1, 2)]
    all_none = domain.from_ops(["none"] * 6)
    g = domain.to_graph(all_none)
    assert _labels(g) == ["input", "output"] and g.number_of_edges() == 0
    g = domain.to_graph(dead, prune=False)
    assert g.number_of_nodes() == 10 and g.number_of_edges() == 12
    assert _labels(g)[1] == "none"


def test_nb201_graph_invariants_and_pyg_shapes(table):
    domain = NB201Cell()
    vocab = domain.labels()
    assert vocab == ["input", *NB201_OPS, "sum", "output"]
    for s in table["arch_str"].sample(300, random_state=0):
        g = domain.to_graph(s)
        _check_dag_convention(g)
        assert "none" not in _labels(g)
        # Every node lies on an input -> output path.
        n = g.number_of_nodes()
        if n > 2:
            assert all(nx.has_path(g, 0, v) and nx.has_path(g, v, n - 1) for v in g)
        data = domain.to_pyg(s)
        assert tuple(data.x.shape) == (n, len(vocab))
        assert tuple(data.edge_index.shape) == (2, g.number_of_edges())
        assert data.x.sum(dim=1).eq(1).all()
    assert ArchitectureDomain.to_pyg(domain, OPTIMUM).x.shape == (10, 8)


def test_nb201_four_op_variant():
    domain = NB201Cell(TRANSNAS_OPS)
    assert domain.size() == 4**6 == 4096
    assert domain.labels() == ["input", *TRANSNAS_OPS, "sum", "output"]
    assert domain.validate(OPTIMUM) == OPTIMUM
    with pytest.raises(InvalidConfigError, match="unknown op 'avg_pool_3x3'"):
        domain.validate("|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    rng = np.random.default_rng(0)
    samples = {domain.sample(rng) for _ in range(300)}
    assert all(max(domain.to_index_tuple(s)) <= 3 for s in samples)
    assert len(domain.neighbours(OPTIMUM)) == 18
    assert domain.to_pyg(OPTIMUM).x.shape == (10, 7)


@pytest.mark.parametrize(
    ("ops", "needle"),
    [
        (("none",), "at least two ops"),
        (("none", "none"), "unique"),
        (("none", "sum"), "reserved"),
        (("none", "a|b"), "may not contain"),
        (("none", ""), "non-empty"),
        ("none", "list of strings"),
    ],
)
def test_nb201_rejects_bad_op_sets(ops, needle):
    with pytest.raises(InvalidSpaceError, match=needle):
        NB201Cell(ops)


@settings(max_examples=40, deadline=None)
@given(indices=st.lists(st.integers(0, 4), min_size=6, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_nb201_property_round_trips(indices, seed):
    domain = NB201Cell()
    value = domain.from_index_tuple(indices)
    assert domain.validate(value) == value
    assert domain.to_index_tuple(value) == tuple(indices)
    assert domain.validate(domain.sample(np.random.default_rng(seed))) == domain.sample(
        np.random.default_rng(seed)
    )
    _check_dag_convention(domain.to_graph(value))
