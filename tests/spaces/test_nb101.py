"""NB101 cell domain: canonical forms, pruning, limits, sampling and mutation."""

from __future__ import annotations

import contextlib
import itertools
import json

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jahs_bo.exceptions import InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces.base import domain_from_dict
from jahs_bo.spaces.nb101 import NB101Cell


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


C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def _permute(matrix: list[list[int]], labels: list[str], perm: list[int]):
    """Relabel node ``perm[k]`` as ``k``."""
    return [[matrix[a][b] for b in perm] for a in perm], [labels[a] for a in perm]


def _is_upper(matrix: list[list[int]]) -> bool:
    return not np.tril(np.array(matrix)).any()


def test_nb101_isomorphic_cells_have_one_string():
    domain = NB101Cell()
    # Two parallel branches, listed in either order.
    a = domain.validate("0110.0001.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output")
    b = domain.validate("0110.0001.0001.0000|input,maxpool3x3,conv3x3-bn-relu,output")
    assert a == b
    c = domain.validate(
        {
            "matrix": [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0] * 4],
            "ops": ["input", MP, C3, "output"],
        }
    )
    assert c == a
    # Every topological relabelling of sampled cells gives the same string.
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(40):
        value = domain.sample(rng)
        matrix, labels = domain.to_spec(value)
        n = len(labels)
        for middle in itertools.permutations(range(1, n - 1)):
            pm, pl = _permute(matrix, labels, [0, *middle, n - 1])
            if _is_upper(pm):
                assert domain.from_spec(pm, pl) == value
                checked += 1
    assert checked > 40


def test_nb101_non_isomorphic_cells_differ():
    domain = NB101Cell()
    chain = domain.validate("011.001.000|input,conv3x3-bn-relu,output")
    other_op = domain.validate("011.001.000|input,conv1x1-bn-relu,output")
    no_skip = domain.validate("010.001.000|input,conv3x3-bn-relu,output")
    assert len({chain, other_op, no_skip}) == 3


def test_nb101_pruning_removes_dangling_nodes():
    domain = NB101Cell()
    core = domain.validate("0100.0010.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output")
    # Node 2 has no input (cannot be reached), node 4 does not reach the output.
    dangling = [
        [0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [0, 0, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
    ]
    value = domain.from_spec(dangling, ["input", C3, C1, MP, C1, "output"])
    assert value == core
    assert value == "0100.0010.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output"
    # Pruning happens before the limits: 8 raw nodes are fine if at most 7 survive.
    big = np.zeros((8, 8), dtype=int)
    big[0, 1] = big[1, 7] = big[0, 2] = 1  # node 2 and 3..6 dangle
    assert domain.from_spec(big.tolist(), ["input"] + [C3] * 6 + ["output"]) == domain.validate(
        "010.001.000|input,conv3x3-bn-relu,output"
    )


def test_nb101_limits_and_invalid_cells():
    domain = NB101Cell()
    chain8 = np.eye(8, k=1, dtype=int).tolist()
    with pytest.raises(InvalidConfigError, match="8 nodes after pruning, more than max_nodes=7"):
        domain.from_spec(chain8, ["input"] + [C3] * 6 + ["output"])
    dense = np.triu(np.ones((6, 6), dtype=int), k=1).tolist()  # 15 edges
    with pytest.raises(InvalidConfigError, match="15 edges after pruning, more than max_edges=9"):
        domain.from_spec(dense, ["input"] + [C3] * 4 + ["output"])
    assert NB101Cell(max_edges=15).from_spec(dense, ["input"] + [C3] * 4 + ["output"])
    cases = [
        ("010.000.000|input,conv3x3-bn-relu,output", "no path from input to output"),
        ("010.001.100|input,conv3x3-bn-relu,output", "cycle"),
        ("00.10|input,output", "below the diagonal"),
        ("01.01|input,output", "self-loop"),
        ("011.001.000|input,conv5x5,output", "unknown op 'conv5x5'"),
        ("011.001.000|conv3x3-bn-relu,input,output", "first label must be 'input'"),
        ("011.001.000|input,output", "expected 3 node labels"),
        ("011.01.000|input,conv3x3-bn-relu,output", "not rectangular"),
        ("012.001.000|input,conv3x3-bn-relu,output", "'0'/'1'"),
        ("011.001.000", "expected '<rows>|<labels>'"),
        (42, "must be a string"),
        ({"matrix": [[0, 1], [0, 0]]}, "exactly the keys"),
        ({"matrix": [[0, 2], [0, 0]], "ops": ["input", "output"]}, "0 or 1"),
        ({"matrix": [[0, 1], [0]], "ops": ["input", "output"]}, "not rectangular"),
    ]
    for bad, needle in cases:
        with pytest.raises(InvalidConfigError) as err:
            domain.validate(bad)
        assert needle in str(err.value), (bad, str(err.value))


def test_nb101_constructor_checks():
    with pytest.raises(InvalidSpaceError, match="max_nodes"):
        NB101Cell(max_nodes=1)
    with pytest.raises(InvalidSpaceError, match="max_edges"):
        NB101Cell(max_edges=0)
    with pytest.raises(InvalidSpaceError, match="reserved"):
        NB101Cell(ops=("conv", "output"))
    with pytest.raises(InvalidSpaceError, match="may not contain"):
        NB101Cell(ops=("a,b",))


def _enumerate_specs(max_nodes: int, ops: tuple[str, ...]):
    for n in range(2, max_nodes + 1):
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        for bits in itertools.product((0, 1), repeat=len(pairs)):
            matrix = [[0] * n for _ in range(n)]
            for (i, j), bit in zip(pairs, bits, strict=True):
                matrix[i][j] = bit
            for middle in itertools.product(ops, repeat=n - 2):
                yield matrix, ["input", *middle, "output"]


def _pruned_graph(matrix, labels) -> nx.DiGraph | None:
    """Independent pruning: keep nodes on an input -> output path (networkx only)."""
    n = len(labels)
    g = nx.DiGraph()
    g.add_nodes_from((i, {"label": labels[i]}) for i in range(n))
    g.add_edges_from((i, j) for i in range(n) for j in range(n) if matrix[i][j])
    if not nx.has_path(g, 0, n - 1):
        return None
    keep = (nx.descendants(g, 0) | {0}) & (nx.ancestors(g, n - 1) | {n - 1})
    return g.subgraph(keep).copy()


def test_nb101_golden_count_four_nodes_one_op():
    # Hand count: 1 (in->out) + 2 (one node, with/without in->out) + 2 (two parallel nodes)
    # + 8 (a chain in->a->b->out with any of in->b, a->out, in->out) = 13.
    domain = NB101Cell(ops=("op",), max_nodes=4, max_edges=6)
    found = set()
    for matrix, labels in _enumerate_specs(4, ("op",)):
        with contextlib.suppress(InvalidConfigError):
            found.add(domain.from_spec(matrix, labels))
    assert len(found) == 13


def test_nb101_canonical_classes_equal_networkx_isomorphism_classes():
    ops = ("a", "b")
    domain = NB101Cell(ops=ops, max_nodes=5, max_edges=10)
    by_string: dict[str, nx.DiGraph] = {}
    same = nx.algorithms.isomorphism.categorical_node_match("label", None)
    n_valid = 0
    for matrix, labels in _enumerate_specs(5, ops):
        graph = _pruned_graph(matrix, labels)
        try:
            value = domain.from_spec(matrix, labels)
        except InvalidConfigError:
            assert graph is None
            continue
        n_valid += 1
        if value in by_string:  # same string => isomorphic
            assert nx.is_isomorphic(by_string[value], graph, node_match=same)
        else:
            by_string[value] = graph
            assert domain.validate(value) == value
    # Independent class count with networkx isomorphism tests, bucketed by an invariant.
    buckets: dict[tuple, list[nx.DiGraph]] = {}
    for graph in by_string.values():
        key = tuple(
            sorted(
                (d["label"], graph.in_degree(v), graph.out_degree(v))
                for v, d in graph.nodes(data=True)
            )
        )
        bucket = buckets.setdefault(key, [])
        if not any(nx.is_isomorphic(r, graph, node_match=same) for r in bucket):
            bucket.append(graph)
    reps = [g for bucket in buckets.values() for g in bucket]
    assert n_valid > 1000
    assert len(by_string) == len(reps)


def test_nb101_sampling_is_reproducible_and_valid():
    domain = NB101Cell()
    a = [domain.sample(np.random.default_rng(5)) for _ in range(2)]
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    s1 = [domain.sample(rng1) for _ in range(20)]
    s2 = [domain.sample(rng2) for _ in range(20)]
    assert s1 == s2 and a[0] == a[1] == s1[0]
    rng3 = np.random.default_rng(6)
    assert s1 != [domain.sample(rng3) for _ in range(20)]
    assert len(set(s1)) > 10


def test_nb101_mutate_and_neighbours():
    domain = NB101Cell()
    rng = np.random.default_rng(0)
    for _ in range(30):
        value = domain.sample(rng)
        neighbours = domain.neighbours(value)
        assert value not in neighbours and len(set(neighbours)) == len(neighbours) > 0
        assert all(domain.validate(nb) == nb for nb in neighbours)
        child = domain.mutate(value, rng)
        assert child != value and child in neighbours
    # The trivial cell can only grow.
    grown = domain.mutate("01.00|input,output", rng)
    assert len(domain.to_spec(grown)[1]) == 3
    # A domain with a single architecture cannot mutate.
    tiny = NB101Cell(ops=("op",), max_nodes=2)
    with pytest.raises(InvalidConfigError, match="no valid neighbour"):
        tiny.mutate("01.00|input,output", rng)


def test_nb101_graph_pyg_and_json():
    domain = NB101Cell()
    value = domain.validate("0110.0001.0001.0000|input,conv3x3-bn-relu,maxpool3x3,output")
    g = domain.to_graph(value)
    _check_dag_convention(g)
    assert g.number_of_edges() == 4
    assert sorted(_labels(g)) == sorted(["input", C3, MP, "output"])
    data = domain.to_pyg(value)
    assert tuple(data.x.shape) == (4, 5) and tuple(data.edge_index.shape) == (2, 4)
    assert domain.labels() == ["input", C3, C1, MP, "output"]
    other = NB101Cell(ops=("a", "b"), max_nodes=5, max_edges=6)
    for d in (domain, other):
        again = domain_from_dict(json.loads(json.dumps(d.to_dict())))
        assert again == d and isinstance(again, NB101Cell)
    assert domain != other


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), max_nodes=st.integers(2, 7), max_edges=st.integers(1, 9))
def test_nb101_property_validate_is_canonical_and_idempotent(seed, max_nodes, max_edges):
    domain = NB101Cell(max_nodes=max_nodes, max_edges=max_edges)
    rng = np.random.default_rng(seed)
    value = domain.sample(rng)
    assert domain.validate(value) == value
    assert domain.validate(domain.validate(value)) == value
    matrix, labels = domain.to_spec(value)
    assert len(labels) <= max_nodes and sum(map(sum, matrix)) <= max_edges
    g = domain.to_graph(value)
    _check_dag_convention(g)
    # A random topological relabelling maps back to the same string.
    order = list(nx.lexicographical_topological_sort(g, key=lambda v: rng.random()))
    pm, pl = _permute(matrix, labels, order)
    assert domain.validate((pm, pl)) == value
