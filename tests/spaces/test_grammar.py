"""Grammar architecture domain: text format, exact counts, derivation strings, operators, graphs."""

from __future__ import annotations

import itertools
import json
import math
import re

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jahs_bo.exceptions import GrammarError, InvalidConfigError, InvalidSpaceError
from jahs_bo.spaces.base import domain_from_dict
from jahs_bo.spaces.grammar import (
    NB201_OP_NAMES,
    Derivation,
    DerivationSampler,
    Grammar,
    GrammarDomain,
    InvalidDerivationError,
    derivation_to_nb201_cell,
    hierarchical_nb201_grammar,
    nb201_cell_to_derivation,
    nb201_grammar,
    parse_derivation,
    shared_subtrees,
)

NB201_CELL = re.compile(
    r"\|(\w+)~0\|\+\|(\w+)~0\|(\w+)~1\|\+\|(\w+)~0\|(\w+)~1\|(\w+)~2\|",
)
OFFICIAL_OPS = set(NB201_OP_NAMES.values())


@pytest.fixture(scope="module")
def hier() -> GrammarDomain:
    return GrammarDomain(hierarchical_nb201_grammar())


@pytest.fixture(scope="module")
def nb201() -> GrammarDomain:
    return GrammarDomain(nb201_grammar())


# ---------------------------------------------------------------------- golden counts
def test_hierarchical_nb201_golden_counts():
    g = hierarchical_nb201_grammar()
    assert g.count("OPS") == 3 + 2 * 27 == 57
    assert g.count("CONVBLOCK") == 27
    assert g.count("CELL") == 57**6
    assert isinstance(g.count(), int)
    assert g.log10_count() == pytest.approx(446.1, abs=0.05)
    # Counting the repeated conv-block alternative once: OPS = 30.
    assert g.count("OPS", unique=True) == 30
    assert g.log10_count(unique=True) == pytest.approx(375.8, abs=0.05)


def test_conv_block_listed_once_gives_375_8():
    text = hierarchical_nb201_grammar().to_text()
    once = text.replace('| "Linear1" CONVBLOCK | "Linear1" CONVBLOCK', '| "Linear1" CONVBLOCK')
    assert once != text
    g = Grammar.from_text(once)
    assert g.count("OPS") == 30
    assert g.log10_count() == pytest.approx(375.8, abs=0.05)
    assert g.count() == hierarchical_nb201_grammar().count(unique=True)


def test_nb201_as_grammar_has_exactly_15625_architectures(nb201):
    g = nb201_grammar()
    assert g.shared == ("CELL",)
    assert g.count() == 15_625 == 5**6
    assert g.count("CELL") == 15_625
    assert nb201.size() == 15_625
    # Without sharing each of the 15 cell positions (5 per stage) would be free.
    unshared = Grammar.from_text(g.to_text().replace("shared: CELL\n", ""))
    assert unshared.count() == 15_625**15


def _enumerate(grammar: Grammar, symbol: str) -> list[Derivation]:
    """Every derivation tree of ``symbol`` (distinct alternatives), by brute force."""
    out = []
    for alt in grammar.alternatives(symbol, unique=True):
        options = [[Derivation(s.name)] if s.terminal else _enumerate(grammar, s.name) for s in alt]
        out.extend(Derivation(symbol, kids) for kids in itertools.product(*options))
    return out


def _consistent(grammar: Grammar, tree: Derivation) -> bool:
    try:
        shared_subtrees(grammar, tree)
    except InvalidDerivationError:
        return False
    return True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('shared: X\nS -> "a" X X | "b" Y\nY -> "c" X | "d"\nX -> "p" | "q" | "r"\n', 7),
        ('shared: B C\nS -> "s" B C | "t" B\nB -> "b" C C | "e"\nC -> "x" | "y"\n', 7),
        ('shared: C\nS -> "s" B B\nB -> "b" C | "e" C C | "f"\nC -> "x" | "y" | "z"\n', 25),
        ('S -> "a" X X | "b" X\nX -> "p" | "q" | "q"\n', 6),
    ],
)
def test_counts_with_sharing_match_brute_force(text, expected):
    g = Grammar.from_text(text)
    trees = [t for t in _enumerate(g, g.start) if _consistent(g, t)]
    assert len(trees) == len({t.to_string() for t in trees}) == expected
    assert g.count(unique=True) == expected


def test_recursive_grammar_is_infinite():
    g = Grammar.from_text('E -> "Linear2" E E | "x" | "y"\n')
    assert not g.is_finite
    assert g.count() is None
    assert math.isinf(g.log10_count())
    with pytest.raises(InvalidSpaceError, match="max_depth"):
        GrammarDomain(g)
    assert GrammarDomain(g, max_depth=4).size() == 1446  # depth-limited count


# ---------------------------------------------------------------------- text format
def test_text_format_directives_comments_and_continuations():
    g = Grammar.from_text(
        """
        # a comment line
        shared: B      # trailing comment
        start: S
        A -> "leaf"
        S -> "Linear2" A B
           | "Residual1" B A   # continuation
        B -> "x" | "y"
        """
    )
    assert g.start == "S"
    assert g.shared == ("B",)
    assert g.nonterminals == ("A", "S", "B")
    assert g.terminals == ("leaf", "Linear2", "Residual1", "x", "y")
    assert len(g.alternatives("S")) == 2
    assert g.count() == 4
    assert Grammar.from_text(g.to_text()) == g
    assert Grammar.from_text('S -> "a"\n').start == "S"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# only a comment\n", "no productions"),
        ('S -> "a" B\n', r"line 1: undefined nonterminal B"),
        ('S -> "a" | | "b"\n', r"line 1: empty alternative"),
        ('S -> "a" |\n', r"line 1: empty alternative at the end"),
        ('S "a"\n', r"line 1: expected a production"),
        ('S -> "a\n', r"line 1, column 6: unterminated terminal"),
        ('S -> "a" $\n', r"unexpected character '\$'"),
        ('S -> "a"\nS -> "b"\n', r"line 2: nonterminal S is defined twice"),
        ('S -> "a" A\nA -> "b" A\n', r"unproductive"),
        ('S -> "a"\nB -> "b"\n', r"line 2: nonterminal B is unreachable"),
        ('S -> A | "x"\nA -> S\n', r"cycle of single-nonterminal alternatives S -> A -> S"),
        ('start: X\nS -> "a"\n', r"line 1: start symbol X has no production"),
        ('shared: X\nS -> "a"\n', r"shared nonterminal X has no production"),
        ('shared: S\nS -> "a" | "b" S\n', r"shared nonterminal S derives itself"),
        ('| "a"\n', r"continuation line"),
        ('S -> "a b"\n', r"invalid terminal"),
        ('S -> "a" -> "b"\n', r"second '->'"),
        ('start: A B\nA -> "a"\n', r"exactly one nonterminal"),
    ],
)
def test_malformed_grammar_raises_grammar_error(text, message):
    with pytest.raises(GrammarError, match=message):
        Grammar.from_text(text)


def test_grammar_error_is_a_value_error():
    with pytest.raises(ValueError):
        Grammar.from_text("S -> \n")


def test_topology_arity_is_checked_by_the_domain():
    with pytest.raises(GrammarError, match="Linear3 takes 3 children, got 2"):
        GrammarDomain('S -> "Linear3" A A\nA -> "x"\n')
    with pytest.raises(GrammarError, match="Cell takes 6 children"):
        GrammarDomain('S -> "Cell" A A\nA -> "x"\n')


# ---------------------------------------------------------------------- strings
def test_derivation_tree_api(nb201):
    tree = nb201.parse(nb201.sample(np.random.default_rng(0)))
    assert tree.symbol == "D2" and not tree.is_terminal
    assert tree.head == "Linear3"
    assert [c.symbol for c in tree.arguments] == ["D1", "D1", "D0"]
    leaf = tree.children[0]
    assert leaf.is_terminal and leaf.children == () and leaf.head is None
    cell = next(node for _, node in tree.walk() if node.symbol == "CELL")
    assert cell.head == "Cell" and len(cell.arguments) == 6
    assert all(op.symbol == "OPS" and op.children[0].is_terminal for op in cell.arguments)
    assert nb201.format(tree) == str(tree) == tree.to_string()
    assert hash(tree) == hash(nb201.parse(tree.to_string()))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_parse_print_round_trip_hierarchical(hier, seed):
    value = hier.sample(np.random.default_rng(seed))
    tree = parse_derivation(hier.grammar, value)
    assert tree.to_string() == value
    assert hier.validate(value) == value
    assert parse_derivation(hier.grammar, value) == tree


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_parse_print_round_trip_nb201(nb201, seed):
    value = nb201.sample(np.random.default_rng(seed))
    assert nb201.validate(value) == value
    assert nb201.format(nb201.parse(value)) == value


def test_validate_canonicalises_whitespace(nb201):
    value = nb201.sample(np.random.default_rng(3))
    messy = "  " + value.replace("(", "( ").replace(" ", "\n  ") + " "
    assert messy != value
    assert nb201.validate(messy) == value
    assert nb201.validate(nb201.parse(value)) == value


def test_validate_rejects_bad_strings_with_position(nb201):
    value = nb201.validate(
        nb201_cell_to_derivation("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    )
    pos = value.index("zero")
    cases = [
        ("", "empty derivation"),
        ("(", r"unbalanced '\('"),
        (")" + value, r"unbalanced '\)' at position 0"),
        ("()", r"empty list"),
        (value + " id", "unexpected text after the end"),
        ("id", "not derivable from D2"),
        (value.replace("zero", "max_pool", 1), rf"at position {pos}, 'max_pool' is not a OPS"),
        (value.replace("resBlock", "resBlock resBlock", 1), r"is not a DOWN"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidConfigError, match=message):
            nb201.validate(bad)
    with pytest.raises(InvalidConfigError, match="derivation string"):
        nb201.validate(42)


def test_validate_rejects_inconsistent_shared_cells(nb201):
    value = nb201_cell_to_derivation("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    one_changed = value.replace("(Cell zero", "(Cell id", 1)
    with pytest.raises(InvalidDerivationError, match="shared nonterminal CELL has different"):
        nb201.validate(one_changed)
    # A derivation error is both a grammar error and a config error.
    with pytest.raises(GrammarError):
        nb201.validate(one_changed)


def test_repeated_alternative_parses_as_its_first_listing(hier):
    g = hier.grammar
    tree = parse_derivation(g, "(Linear1 (Linear3 relu conv3x3o batch))", "OPS")
    assert tree.head == "Linear1"
    assert tree.to_string() == "(Linear1 (Linear3 relu conv3x3o batch))"


# ---------------------------------------------------------------------- sampling
def test_sampling_is_reproducible(hier, nb201):
    for domain in (hier, nb201):
        rng1, rng2 = np.random.default_rng(7), np.random.default_rng(7)
        first = [domain.sample(rng1) for _ in range(5)]
        assert first == [domain.sample(rng2) for _ in range(5)]
        other = np.random.default_rng(8)
        assert [domain.sample(other) for _ in range(5)] != first
        assert len(set(first)) == 5


def test_sampling_respects_depth_and_node_limits():
    text = 'E -> "Linear2" E E | "Residual1" E E | "x" | "y"\n'
    domain = GrammarDomain(text, max_depth=6, max_nodes=40)
    rng = np.random.default_rng(0)
    trees = [domain.parse(domain.sample(rng)) for _ in range(200)]
    assert max(t.depth for t in trees) <= 6
    assert max(t.n_nodes for t in trees) <= 40
    assert max(t.n_nodes for t in trees) > 20  # limits do not collapse the distribution
    deep = "(Linear2 " * 6 + "x" + " y)" * 6
    with pytest.raises(InvalidConfigError, match="outside the domain's limits"):
        domain.validate(deep)
    with pytest.raises(InvalidSpaceError, match="max_nodes=1 is too small"):
        GrammarDomain(text, max_depth=6, max_nodes=1)


def test_node_limit_on_hierarchical_grammar(hier):
    small = GrammarDomain(hier.grammar, max_nodes=1200)
    rng = np.random.default_rng(1)
    for _ in range(10):
        value = small.sample(rng)
        assert small.parse(value).n_nodes <= 1200
        mutant = small.mutate(value, rng)
        assert small.parse(mutant).n_nodes <= 1200


# ---------------------------------------------------------------------- mutation, crossover
def test_mutation_returns_a_different_valid_derivation(hier, nb201):
    rng = np.random.default_rng(0)
    for domain in (hier, nb201):
        for _ in range(15):
            value = domain.sample(rng)
            mutant = domain.mutate(value, rng)
            assert mutant != value
            assert domain.validate(mutant) == mutant


def test_nb201_mutation_changes_the_shared_cell_everywhere(nb201):
    rng = np.random.default_rng(5)
    for _ in range(20):
        value = nb201.sample(rng)
        mutant = nb201.mutate(value, rng)
        assert derivation_to_nb201_cell(mutant) != derivation_to_nb201_cell(value)


def test_crossover_is_valid_and_mixes_parents(hier, nb201):
    rng = np.random.default_rng(2)
    for domain in (hier, nb201):
        for _ in range(10):
            a, b = domain.sample(rng), domain.sample(rng)
            child = domain.crossover(a, b, rng)
            assert domain.validate(child) == child
            assert child != a
    # In NB201-as-grammar the child's cell takes operations of the parents' cells.
    a = nb201_cell_to_derivation("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    b = nb201_cell_to_derivation(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    for seed in range(10):
        child = nb201.crossover(a, b, np.random.default_rng(seed))
        ops = set(NB201_CELL.fullmatch(derivation_to_nb201_cell(child)).groups())
        assert ops <= {"none", "nor_conv_3x3"} and "nor_conv_3x3" in ops


def test_single_architecture_cannot_mutate():
    domain = GrammarDomain('S -> "Linear2" A A\nA -> "x"\n')
    assert domain.size() == 1
    with pytest.raises(GrammarError, match="nothing to mutate"):
        domain.mutate(domain.sample(np.random.default_rng(0)), np.random.default_rng(0))
    root_only = GrammarDomain('S -> "x" | "y"\n')
    assert root_only.mutate("x", np.random.default_rng(0)) == "y"


def test_operators_on_recursive_grammar_stay_within_limits():
    sampler = DerivationSampler(
        Grammar.from_text('E -> "Linear2" E E | "x" | "y"\n'), max_depth=5, max_nodes=25
    )
    rng = np.random.default_rng(3)
    for _ in range(30):
        a, b = sampler.sample(rng), sampler.sample(rng)
        for tree in (sampler.mutate(a, rng), sampler.crossover(a, b, rng)):
            assert sampler.within_limits(tree)


# ---------------------------------------------------------------------- NB201 as a grammar
def test_nb201_samples_map_to_valid_nb201_cells(nb201):
    rng = np.random.default_rng(0)
    cells = set()
    for _ in range(300):
        value = nb201.sample(rng)
        cell = derivation_to_nb201_cell(value)
        match = NB201_CELL.fullmatch(cell)
        assert match is not None and set(match.groups()) <= OFFICIAL_OPS
        assert nb201_cell_to_derivation(cell) == value
        cells.add(cell)
    assert len(cells) > 280  # 300 draws from 15,625 cells rarely collide


def test_nb201_cells_and_derivations_are_in_bijection(nb201):
    grammar = nb201.grammar
    cells = _enumerate(grammar, "CELL")  # every CELL derivation, straight from the grammar
    assert len(cells) == grammar.count() == 15_625
    official = {derivation_to_nb201_cell(cell) for cell in cells}
    assert len(official) == 15_625
    assert all(set(NB201_CELL.fullmatch(c).groups()) <= OFFICIAL_OPS for c in official)
    # Whole architectures: the cell substituted everywhere, and back (spot checks).
    for cell in sorted(official)[::400]:
        value = nb201_cell_to_derivation(cell)
        assert nb201.validate(value) == value
        assert derivation_to_nb201_cell(value) == cell
        assert value.count("(Cell ") == 15


def test_nb201_cell_validates_in_the_cell_domain(nb201):
    cells = pytest.importorskip("jahs_bo.spaces.nb201")
    cell_domain = cells.NB201Cell()
    rng = np.random.default_rng(4)
    for _ in range(20):
        cell = derivation_to_nb201_cell(nb201.sample(rng))
        assert cell_domain.validate(cell) == cell


def test_nb201_cell_mapping_rejects_non_nb201(hier):
    with pytest.raises(InvalidConfigError, match="not an NB201 cell string"):
        nb201_cell_to_derivation("|conv~0|")
    value = hier.sample(np.random.default_rng(0))
    with pytest.raises(InvalidConfigError):
        derivation_to_nb201_cell(hier.parse(value))


# ---------------------------------------------------------------------- JSON
def test_json_round_trip(hier, nb201):
    limited = GrammarDomain('E -> "Linear2" E E | "x"\n', max_depth=5, max_nodes=30)
    for domain in (hier, nb201, limited):
        data = json.loads(json.dumps(domain.to_dict()))
        assert data["kind"] == "grammar"
        again = domain_from_dict(data)
        assert isinstance(again, GrammarDomain)
        assert again == domain and hash(again) == hash(domain)
        assert again.grammar == domain.grammar
        value = domain.sample(np.random.default_rng(0))
        assert again.validate(value) == value
    assert hier != nb201
    with pytest.raises(InvalidSpaceError, match="unknown keys"):
        GrammarDomain.from_dict({**nb201.to_dict(), "extra": 1})


# ---------------------------------------------------------------------- graphs
def _check_convention(graph: nx.DiGraph, labels: list[str]) -> None:
    n = graph.number_of_nodes()
    assert sorted(graph.nodes) == list(range(n))
    assert nx.is_directed_acyclic_graph(graph)
    assert all(u < v for u, v in graph.edges)  # numbering is topological
    assert graph.nodes[0]["label"] == "input" and graph.nodes[n - 1]["label"] == "output"
    assert {d["label"] for _, d in graph.nodes(data=True)} <= set(labels)
    if n > 2:  # otherwise zero operations disconnected the output from the input
        assert [v for v in graph if graph.in_degree(v) == 0] == [0]
        assert [v for v in graph if graph.out_degree(v) == 0] == [n - 1]


def test_small_graph_golden():
    domain = GrammarDomain('S -> "Residual2" A A A\nA -> "conv" | "id" | "avg" | "zero"\n')
    graph = domain.to_graph("(Residual2 conv id avg)")
    labels = [graph.nodes[i]["label"] for i in range(graph.number_of_nodes())]
    assert labels == ["input", "conv", "sum", "id", "avg", "output"]
    assert sorted(graph.edges) == [(0, 1), (0, 4), (1, 2), (2, 3), (3, 5), (4, 5)]
    # A zero skip path disappears, a zero on the main path leaves only the skip path.
    assert domain.to_graph("(Residual2 conv id zero)").number_of_nodes() == 5
    no_main = domain.to_graph("(Residual2 zero id avg)")
    assert [d["label"] for _, d in no_main.nodes(data=True)] == ["input", "avg", "output"]
    assert "zero" not in domain.labels()


def test_cell_graph_matches_nb201_cell_domain():
    cells = pytest.importorskip("jahs_bo.spaces.nb201")
    ops = " | ".join(f'"{op}"' for op in NB201_OP_NAMES)
    domain = GrammarDomain(f'CELL -> "Cell" OPS OPS OPS OPS OPS OPS\nOPS -> {ops}\n')
    cell_domain = cells.NB201Cell()
    rng = np.random.default_rng(0)
    for _ in range(30):
        value = domain.sample(rng)
        ours = domain.to_graph(value)
        nx.set_node_attributes(
            ours,
            {n: NB201_OP_NAMES.get(d["label"], d["label"]) for n, d in ours.nodes(data=True)},
            "label",
        )
        theirs = cell_domain.to_graph(derivation_to_nb201_cell(value, domain.grammar))
        assert nx.is_isomorphic(ours, theirs, node_match=lambda a, b: a["label"] == b["label"])


def test_graphs_follow_the_convention_and_are_deterministic(hier, nb201):
    rng = np.random.default_rng(0)
    for domain in (hier, nb201):
        for _ in range(3):
            value = domain.sample(rng)
            graphs = domain.to_graphs(value)
            assert len(graphs) == domain.n_levels
            whole = domain.to_graph(value)
            assert nx.utils.graphs_equal(graphs[0], whole)
            for graph in graphs:
                _check_convention(graph, domain.labels())
            again = domain.to_graphs(value)
            for g1, g2 in zip(graphs, again):
                assert nx.utils.graphs_equal(g1, g2)
            unpruned = GrammarDomain(domain.grammar, prune=False).to_graphs(value)
            sizes = [g.number_of_nodes() for g in unpruned]
            assert sizes[1] < sizes[2] < sizes[0]  # folded levels are coarser


def test_levels_of_nb201_grammar(nb201):
    value = nb201_cell_to_derivation(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    )
    graphs = nb201.to_graphs(value)
    assert nb201.n_levels == 4
    top = [d["label"] for _, d in graphs[1].nodes(data=True)]
    assert top == ["input", "Linear3", "sum", "Linear3", "sum", "Linear3", "output"]
    whole = [d["label"] for _, d in graphs[0].nodes(data=True)]
    assert whole.count("conv3x3") == 6 * 15 and whole.count("resBlock") == 2
    assert "Cell" in {d["label"] for _, d in graphs[3].nodes(data=True)}


def test_labels_are_fixed_vocabulary(hier):
    labels = hier.labels()
    assert labels[:3] == ["input", "output", "sum"]
    assert len(labels) == len(set(labels))
    assert {"Cell", "resBlock", "conv3x3o", "relu", "batch"} <= set(labels)
    assert "zero" not in labels
    assert "zero" in GrammarDomain(hier.grammar, prune=False).labels()


def test_unpruned_graphs_keep_zero_operations(hier):
    unpruned = GrammarDomain(hier.grammar, prune=False)
    rng = np.random.default_rng(0)
    for _ in range(5):
        value = hier.sample(rng)
        whole = unpruned.to_graph(value)
        _check_convention(whole, unpruned.labels())
        labels = [d["label"] for _, d in whole.nodes(data=True)]
        assert labels.count("zero") == value.count("zero")
        assert whole.number_of_nodes() >= hier.to_graph(value).number_of_nodes()


# ---------------------------------------------------------------------- recursion, max_depth only
def test_recursive_grammar_with_only_max_depth_always_samples_and_mutates():
    # Regression: with max_nodes=None an alternative that cannot finish within the remaining
    # depth had an infinite minimum size, and `inf <= inf` admitted it ("no alternative of S
    # fits in depth 0" in ~3 % of samples and 2-5 % of mutations).
    domain = GrammarDomain('S -> "Linear2" S S | "Residual1" S S | "x" | "y"\n', max_depth=5)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        value = domain.sample(rng)
        assert domain.parse(value).depth <= 5
        mutant = domain.mutate(value, rng)
        assert mutant != value
        assert domain.parse(mutant).depth <= 5


def test_random_searcher_on_a_depth_bounded_recursive_grammar_asks_without_failing():
    from jahs_bo.spaces import SearchSpace
    from jahs_bo.study import create_study

    domain = GrammarDomain('S -> "Linear2" S S | "x" | "y"\n', max_depth=6)
    study = create_study(SearchSpace(None, {"arch": domain}), searcher="random", seed=0)
    for _ in range(60):
        trial = study.ask()
        assert domain.parse(trial.config["arch"]).depth <= 6
        study.tell(trial, 0.0)


# ---------------------------------------------------------------------- validity rules
def _connected(graph: nx.DiGraph) -> bool:
    return nx.has_path(graph, 0, graph.number_of_nodes() - 1)


@pytest.fixture(scope="module")
def hier_space_domain() -> GrammarDomain:
    from jahs_bo.spaces import hierarchical_nb201_space

    return hierarchical_nb201_space().architectures["arch"]


def test_hierarchical_nb201_declares_connectivity(hier_space_domain):
    assert hierarchical_nb201_grammar().requirements == ("connected",)
    assert hier_space_domain.requirements == ("connected",)
    # The golden count is the size of the unrestricted grammar (filtering happens at sampling).
    assert hier_space_domain.grammar.log10_count() == pytest.approx(446.1, abs=0.05)


def test_hierarchical_nb201_samples_and_mutations_are_connected(hier_space_domain):
    domain = hier_space_domain
    rng = np.random.default_rng(0)
    values = [domain.sample(rng) for _ in range(500)]
    assert all(_connected(domain.to_graph(v)) for v in values)
    assert all(domain.is_valid(v) for v in values)
    mutants = [domain.mutate(v, rng) for v in values]
    assert all(_connected(domain.to_graph(m)) for m in mutants)
    children = [domain.crossover(a, b, rng) for a, b in zip(values[:50], values[50:100])]
    assert all(_connected(domain.to_graph(c)) for c in children)


def test_unrestricted_hierarchical_grammar_proposes_disconnected_architectures():
    # Without the rule about a quarter of the derivations ignore their input.
    text = hierarchical_nb201_grammar().to_text().replace("require: connected\n", "")
    free = GrammarDomain(text)
    assert free.requirements == ()
    rng = np.random.default_rng(0)
    disconnected = sum(not _connected(free.to_graph(free.sample(rng))) for _ in range(200))
    assert 20 < disconnected < 100


def test_validity_rule_matches_the_graph_and_validate_still_accepts():
    text = 'require: connected\nS -> "Linear2" A A | "Residual1" A A\nA -> "conv" | "zero"\n'
    domain = GrammarDomain(text)
    assert domain.size() == 8  # the unrestricted count
    rng = np.random.default_rng(0)
    seen = {domain.sample(rng) for _ in range(300)}
    expected = {
        "(Linear2 conv conv)",
        "(Residual1 conv conv)",
        "(Residual1 conv zero)",
        "(Residual1 zero conv)",
    }
    assert seen == expected
    for value in seen:
        for _ in range(5):
            assert domain.mutate(value, rng) in expected
    assert not domain.is_valid("(Linear2 conv zero)")
    # Validation accepts every derivation (stored trials stay readable); only proposals filter.
    assert domain.validate("(Linear2 conv zero)") == "(Linear2 conv zero)"


def test_grammar_without_valid_architectures_raises_clearly():
    domain = GrammarDomain('require: connected\nS -> "Linear2" A A\nA -> "zero" | "none"\n')
    with pytest.raises(GrammarError, match="connected.*100"):
        domain.sample(np.random.default_rng(0))
    with pytest.raises(GrammarError, match="unknown requirement 'acyclic'"):
        GrammarDomain('require: acyclic\nS -> "x"\n')
    with pytest.raises(GrammarError, match="'require:' expects"):
        Grammar.from_text('require: 1x\nS -> "x"\n')


# ---------------------------------------------------------------------- counting, size limits
def _doubling(levels: int, leaf: str = '"x" | "y"') -> str:
    """``A0 -> "L2" A1 A1 | "x"``, ..., ``A<levels> -> "x" | "y"``: each level squares the count."""
    lines = [f'A{i} -> "L2" A{i + 1} A{i + 1} | "x"' for i in range(levels)]
    return "\n".join([*lines, f"A{levels} -> {leaf}"]) + "\n"


def _timed(fn, limit_s: float):
    """``fn()``, asserting it returns within ``limit_s`` seconds (generous: 2 shared cores)."""
    import time

    start = time.perf_counter()
    out = fn()
    assert time.perf_counter() - start < limit_s
    return out


def test_doubling_grammar_counts_exactly_and_fast():
    g = Grammar.from_text(_doubling(12))
    expected = 2
    for _ in range(12):
        expected = 1 + expected**2
    assert _timed(g.count, 5.0) == expected
    assert GrammarDomain(g).size() == expected
    assert g.log10_count() == pytest.approx(math.log10(expected))


def test_sixty_level_doubling_grammar_answers_within_seconds():
    # About 10^(10^17) derivations: no exact int fits in memory, so count() names the limit,
    # size() says "unknown" (None) and log10_count() gives the magnitude.
    g = _timed(lambda: Grammar.from_text(_doubling(60)), 5.0)
    with pytest.raises(GrammarError, match=r"exact-count limit .*2\^65536.*log10_count"):
        _timed(g.count, 5.0)
    domain = _timed(lambda: GrammarDomain(g), 5.0)
    assert _timed(domain.size, 5.0) is None
    assert 1e17 < _timed(g.log10_count, 5.0) < 1e18
    value = domain.sample(np.random.default_rng(0))
    assert domain.validate(value) == value


def test_counts_within_max_depth_are_exact():
    chain = GrammarDomain('S -> "a" S | "b" S | "x"\n', max_depth=60)
    assert _timed(chain.size, 5.0) == 2**60 - 1
    text = 'E -> "Linear2" E E | "x" | "y"\n'
    assert GrammarDomain(text, max_depth=4).size() == 1446  # c1 = 2, c(d) = 2 + c(d-1)^2
    g = Grammar.from_text(text)
    assert g.count(max_depth=3) == 38 == len(_enumerate_depth(g, "E", 3))
    assert g.count(max_depth=0) == 0
    # Node limits are not counted: size() is unknown when max_nodes binds.
    assert GrammarDomain(text, max_depth=4, max_nodes=9).size() is None
    assert GrammarDomain(text, max_depth=2, max_nodes=9).size() == 6


def _enumerate_depth(grammar: Grammar, symbol: str, depth: int) -> list[Derivation]:
    if depth < 1:
        return []
    out = []
    for alt in grammar.alternatives(symbol, unique=True):
        options = [
            [Derivation(s.name)] if s.terminal else _enumerate_depth(grammar, s.name, depth - 1)
            for s in alt
        ]
        out.extend(Derivation(symbol, kids) for kids in itertools.product(*options))
    return out


def test_three_thousand_rule_chains_parse_fast_without_recursion_errors():
    n = 3000
    chain = "".join(f'A{i} -> "a" A{i + 1} | "b" A{i + 1}\n' for i in range(n)) + f'A{n} -> "x"\n'
    g = _timed(lambda: Grammar.from_text(chain), 5.0)
    assert g.is_finite and g.count() == 2**n
    assert g.min_height() == g.max_height() == n + 1
    units = "".join(f'A{i} -> A{i + 1} | "a{i}"\n' for i in range(n)) + f'A{n} -> "x"\n'
    assert _timed(lambda: Grammar.from_text(units), 5.0).count() == n + 1
    cycle = units.replace(f'A{n} -> "x"', f'A{n} -> A0 | "x"')
    with pytest.raises(GrammarError, match="cycle of single-nonterminal alternatives A0 -> A1"):
        Grammar.from_text(cycle)
    # Derivations 3,001 levels deep are beyond the depth limit: a clear error, not a crash.
    with pytest.raises(InvalidSpaceError, match="limit 200"):
        _timed(lambda: GrammarDomain(g), 5.0)
    with pytest.raises(InvalidSpaceError, match="max_depth=200 is too small"):
        GrammarDomain(g, max_depth=200)


def test_crafted_grammar_texts_hit_clear_limits_before_work():
    from jahs_bo.spaces.grammar.text import MAX_NONTERMINALS, MAX_TEXT_CHARS

    with pytest.raises(GrammarError, match=f"{MAX_TEXT_CHARS:,} characters"):
        _timed(lambda: Grammar.from_text("#" * (MAX_TEXT_CHARS + 1)), 1.0)
    many = "".join(f'A{i} -> "a" A{i + 1}\n' for i in range(MAX_NONTERMINALS + 5)) + "\n"
    with pytest.raises(GrammarError, match=f"more than {MAX_NONTERMINALS:,} nonterminals"):
        _timed(lambda: Grammar.from_text(many), 5.0)
    # Near the symbol limit, recursive, max_depth at its limit: tables are vectorised per level.
    n = 7000
    wide = "".join(
        f'A{i} -> "L2" A{(i + 1) % n} A{(i + 3) % n} | "L3" A{(i + 5) % n} A{(i + 7) % n} '
        f'A{(i + 1) % n} | "p" A{(i + 1) % n} A{(i + 2) % n} A{(i + 4) % n} A{(i + 9) % n} | "y"\n'
        for i in range(n)
    )
    domain = _timed(lambda: GrammarDomain(wide, max_depth=200), 5.0)
    assert _timed(domain.size, 5.0) is None  # about 10^119 derivations: beyond exact counting
    assert _timed(domain.log10_size, 5.0) > 100
    # The smallest derivation has 2^61 nodes: rejected before any tree is built.
    huge = Grammar.from_text(_doubling(60, leaf='"x"').replace(' | "x"\n', "\n"))
    with pytest.raises(InvalidSpaceError, match="node limit"):
        _timed(lambda: GrammarDomain(huge), 5.0)


def test_deeply_nested_derivation_strings_are_rejected_cleanly():
    domain = GrammarDomain('E -> "Linear2" E E | "x" | "y"\n', max_depth=10)
    deep = "(Linear2 " * 5000 + "x" + " y)" * 5000
    with pytest.raises(InvalidConfigError, match="nested"):
        _timed(lambda: domain.validate(deep), 5.0)
    units = "".join(f'A{i} -> A{i + 1} | "a{i}"\n' for i in range(3000)) + 'A3000 -> "x"\n'
    with pytest.raises(InvalidConfigError):
        parse_derivation(Grammar.from_text(units), "x")


def test_a_pickled_derivation_is_rebuilt_with_this_process_hash(tmp_path):
    """Hashes of strings are salted per process: an unpickled tree must hash as a fresh one."""
    import os
    import pickle
    import subprocess
    import sys

    from jahs_bo.spaces import hierarchical_nb201_space

    dom = hierarchical_nb201_space().architectures["arch"]
    text = dom.sample(np.random.default_rng(0))
    out = tmp_path / "tree.pkl"
    code = (
        "import pickle, sys\n"
        "from jahs_bo.spaces import hierarchical_nb201_space\n"
        "dom = hierarchical_nb201_space().architectures['arch']\n"
        "tree = dom.parse(sys.argv[2]); tree.to_string()\n"
        "open(sys.argv[1], 'wb').write(pickle.dumps(tree))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    subprocess.run([sys.executable, "-c", code, str(out), text], check=True, env=env)
    loaded = pickle.loads(out.read_bytes())
    fresh = dom.parse(text)
    assert loaded == fresh and hash(loaded) == hash(fresh) and len({loaded, fresh}) == 1
    assert loaded.to_string() == text
