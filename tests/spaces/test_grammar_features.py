"""Grammar domains: WL histograms from subtree summaries, and the caches that keep them cheap."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from jahs_bo.encoding.store import ArchitectureStore
from jahs_bo.encoding.wl import wl_features
from jahs_bo.exceptions import InputError
from jahs_bo.spaces.grammar.derivation import parse_derivation, prints_uniquely
from jahs_bo.spaces.grammar.domain import (
    PARSE_CACHE_SIZE,
    GrammarDomain,
    hierarchical_nb201_grammar,
    nb201_grammar,
)
from jahs_bo.spaces.grammar.features import WLComposer
from jahs_bo.spaces.grammar.graphs import derivation_connected, derivation_graphs
from jahs_bo.spaces.grammar.text import Grammar

#: Grammar with residual and folded blocks, a headless block and zero operations everywhere.
SMALL = """
start: S
S -> "Linear2" B B | "Residual2" B B B | A A
A -> "Cell" O O O O O O | "zero"
B -> "Linear2" O O | O
O -> "id" | "zero" | "conv" | "Linear1" CB
CB -> "Linear2" "relu" "conv"
"""


def _unfiltered(domain: GrammarDomain, rng: np.random.Generator):
    """A derivation drawn without the validity rules (disconnected ones included)."""
    s = domain._sampler
    return s._expand(domain.grammar.start, rng, s.depth_cap, s.node_cap, {}, fresh=True)


@pytest.mark.parametrize("text", ["hierarchical", "nb201", SMALL])
@pytest.mark.parametrize("prune", [True, False])
def test_histograms_equal_those_of_the_graphs(text: str, prune: bool) -> None:
    grammar = {"hierarchical": hierarchical_nb201_grammar(), "nb201": nb201_grammar()}.get(text)
    domain = GrammarDomain(grammar or Grammar.from_text(text), prune=prune)
    rng = np.random.default_rng(3)
    trees = [_unfiltered(domain, rng) for _ in range(12)]
    trees += [domain._sampler.mutate(t, rng) for t in trees[:6]]
    if text != "nb201":  # disconnected architectures (pruned to input -> output) included
        assert any(not derivation_connected(t) for t in trees)
    for iterations in (0, 1):
        for direction in ("in", "out", "both"):
            composer = WLComposer(iterations, direction, prune)
            for tree in trees:
                graphs = derivation_graphs(tree, domain.n_levels, prune)
                expected = [wl_features(g, iterations, direction) for g in graphs]
                assert composer.histograms(tree, domain.n_levels) == expected


def test_cache_bound_and_same_features_without_cache() -> None:
    domain = GrammarDomain(hierarchical_nb201_grammar())
    rng = np.random.default_rng(0)
    trees = [domain._sampler.sample(rng) for _ in range(6)]
    tiny = WLComposer(1, "both", max_entries=50)
    fresh = [WLComposer(1, "both", max_entries=10**6).histograms(t, 6) for t in trees]
    for _ in range(2):  # the second pass meets an evicted, partly refilled cache
        assert [tiny.histograms(t, 6) for t in trees] == fresh
        assert len(tiny) <= 50 and len(tiny._names) <= 50  # summaries, memoised node features


def test_composer_rejects_deeper_iterations() -> None:
    with pytest.raises(InputError, match="0 or 1"):
        WLComposer(2, "in")
    with pytest.raises(InputError, match="direction"):
        WLComposer(1, "sideways")  # type: ignore[arg-type]


def test_domain_features_fall_back_to_graphs_for_two_iterations() -> None:
    domain = GrammarDomain(hierarchical_nb201_grammar())
    value = domain.sample(np.random.default_rng(1))
    expected = [wl_features(g, 2, "both") for g in domain.to_graphs(value)]
    assert domain.wl_features(value, 2, "both") == expected


def test_store_features_match_graph_store() -> None:
    domain = GrammarDomain(hierarchical_nb201_grammar())
    rng = np.random.default_rng(2)
    values = [domain.sample(rng) for _ in range(8)]
    fast = ArchitectureStore.from_domain(domain, iterations=1, direction="both")
    slow = ArchitectureStore(domain.to_graphs, 1, "both", n_levels=fast.n_levels)
    i, j = fast.add(values), slow.add(values)
    for level in range(fast.n_levels):
        np.testing.assert_allclose(fast.gram(i, i, level), slow.gram(j, j, level), atol=1e-12)
    np.testing.assert_array_equal(fast.representatives(i), slow.representatives(j))


def test_produced_trees_are_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    domain = GrammarDomain(hierarchical_nb201_grammar())
    rng = np.random.default_rng(4)
    values = [domain.sample(rng) for _ in range(3)]
    values += [domain.mutate(values[0], rng), domain.crossover(values[1], values[2], rng)]
    calls = []
    monkeypatch.setattr(
        "jahs_bo.spaces.grammar.domain.parse_derivation", lambda *a: calls.append(a)
    )
    trees = [domain.parse(v) for v in values]
    assert calls == []
    assert [t.to_string() for t in trees] == values
    monkeypatch.undo()
    assert trees == [GrammarDomain(hierarchical_nb201_grammar()).parse(v) for v in values]


def test_parse_cache_is_bounded() -> None:
    domain = GrammarDomain(nb201_grammar())
    rng = np.random.default_rng(5)
    for _ in range(PARSE_CACHE_SIZE + 10):
        domain.sample(rng)
    assert len(domain._cache) <= PARSE_CACHE_SIZE


def test_ambiguous_grammar_does_not_keep_produced_trees() -> None:
    text = 'start: S\nS -> "L" A B | "L" B A\nA -> "x" | "y"\nB -> "x" | "z"\n'
    grammar = Grammar.from_text(text)
    assert not prints_uniquely(grammar)
    domain = GrammarDomain(grammar)
    rng = np.random.default_rng(6)
    for _ in range(20):
        value = domain.sample(rng)
        assert domain.parse(value).to_string() == value
    assert all(tree == parse_derivation(grammar, v) for v, tree in domain._cache.items())


@pytest.mark.parametrize(
    ("text", "unique"),
    [
        ('start: S\nS -> A | B\nA -> "x"\nB -> "x"\n', False),
        ('start: S\nS -> "L" A | "L" B\nA -> "x"\nB -> "y"\n', True),
        ('start: S\nS -> "L" A | "L" B\nA -> "x" | C\nB -> "y"\nC -> "y"\n', False),
        ('start: S\nS -> "L" A A | "L" A "y"\nA -> "x"\n', True),
    ],
)
def test_prints_uniquely(text: str, unique: bool) -> None:
    assert prints_uniquely(Grammar.from_text(text)) is unique


def test_shipped_grammars_print_uniquely() -> None:
    assert prints_uniquely(hierarchical_nb201_grammar())
    assert prints_uniquely(nb201_grammar())


def test_pickled_domain_leaves_its_caches_behind() -> None:
    domain = GrammarDomain(hierarchical_nb201_grammar())
    rng = np.random.default_rng(7)
    values = [domain.sample(rng) for _ in range(5)]
    features = [domain.wl_features(v, 1, "both") for v in values]
    domain.mutate(values[0], rng)
    copy = pickle.loads(pickle.dumps(domain))
    assert len(copy._cache) == 0 and copy._composers == {} and len(copy._sampler._site_memo) == 0
    assert [copy.wl_features(v, 1, "both") for v in values] == features


def test_large_grammars_are_not_examined() -> None:
    n = 200  # 200 alternatives: beyond the test's size limit, answered False at once
    text = (
        "".join(f'A{i} -> "L" A{i + 1} | "x{i}"\n' for i in range(n // 2)) + f'A{n // 2} -> "x"\n'
    )
    assert not prints_uniquely(Grammar.from_text(text))


@pytest.mark.parametrize("text", ["hierarchical", SMALL])
def test_counted_sites_are_the_listed_sites(text: str) -> None:
    grammar = hierarchical_nb201_grammar() if text == "hierarchical" else None
    domain = GrammarDomain(grammar or Grammar.from_text(text))
    sampler = domain._sampler
    rng = np.random.default_rng(5)
    trees = [_unfiltered(domain, rng) for _ in range(8)]
    trees += [sampler.mutate(t, rng) for t in trees]
    for tree in trees:
        listed = sampler._find_sites(tree)
        n, site = sampler._site_picker(tree)
        assert n == len(listed) and [site(k) for k in range(n)] == listed


def test_site_counts_left_on_a_tree_belong_to_their_sampler() -> None:
    """Two grammars that disagree on which symbols vary count the same tree's sites apart."""
    one = GrammarDomain(Grammar.from_text(SMALL))._sampler
    fixed = """
start: S
S -> "Linear2" B B | "Residual2" B B B | A A
A -> "Cell" O O O O O O | "zero"
B -> "Linear2" O O
O -> "id"
"""
    other = GrammarDomain(Grammar.from_text(fixed))._sampler
    assert one._varies["B"] and not other._varies["B"]
    tree = parse_derivation(one.grammar, "(Linear2 (Linear2 id id) (Linear2 id id))")
    for sampler in (one, other, one, other):
        n, site = sampler._site_picker(tree)
        assert [site(k) for k in range(n)] == sampler._find_sites(tree)
    assert one._site_picker(tree)[0] == 6  # the two B nodes and the four O nodes
    assert other._site_picker(tree)[0] == 1  # only the whole derivation can change
    # Tokens count up per process: an unpickled sampler takes a new one, never its source's
    # (which another process may have given to a sampler of another grammar).
    clone = pickle.loads(pickle.dumps(one))
    assert clone._token not in (one._token, other._token)
    assert clone._site_picker(tree)[0] == 6
