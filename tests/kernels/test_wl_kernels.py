"""WL features and kernels: golden counts, an independent check against networkx, conformance."""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx
import numpy as np
import pytest
import torch

from jahs_bo.encoding.store import ArchitectureStore
from jahs_bo.encoding.wl import wl_features, wl_node_labels
from jahs_bo.exceptions import InputError
from jahs_bo.kernels import HierarchicalWLKernel, LevelProductWLKernel, WLKernel
from jahs_bo.kernels.wl import GramCache
from jahs_bo.spaces.nb201 import NB201Cell


def _dag(labels: list[str], edges: list[tuple[int, int]]) -> nx.DiGraph:
    g = nx.DiGraph()
    for i, lab in enumerate(labels):
        g.add_node(i, label=lab)
    g.add_edges_from(edges)
    return g


# Hand-drawn cells. A: input -> conv -> output and input -> skip -> output.
# B: two parallel conv branches.
CELL_A = _dag(["input", "conv3x3", "skip", "output"], [(0, 1), (0, 2), (1, 3), (2, 3)])
CELL_B = _dag(["input", "conv3x3", "conv3x3", "output"], [(0, 1), (0, 2), (1, 3), (2, 3)])
GRAPHS = {"A": [CELL_A], "B": [CELL_B]}


def _per_iteration(counts: Counter[str]) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for name, c in counts.items():
        out.setdefault(int(name.split(":")[0]), []).append(c)
    return [sorted(out[t]) for t in sorted(out)]


def test_golden_wl_counts_on_hand_drawn_cells():
    a, b = wl_features(CELL_A, 2), wl_features(CELL_B, 2)
    # Iteration 0 is the raw label histogram.
    assert {k: v for k, v in a.items() if k.startswith("0:")} == {
        "0:input": 1,
        "0:conv3x3": 1,
        "0:skip": 1,
        "0:output": 1,
    }
    assert {k: v for k, v in b.items() if k.startswith("0:")} == {
        "0:input": 1,
        "0:conv3x3": 2,
        "0:output": 1,
    }
    # A: every node distinct at every depth; B: the two conv branches stay equivalent.
    assert _per_iteration(a) == [[1, 1, 1, 1]] * 3
    assert _per_iteration(b) == [[1, 1, 2]] * 3
    # Shared features: input (3 depths, 1*1), conv (3 depths, 1*2); outputs differ after t=0.
    dot = sum(a[k] * b[k] for k in a)
    assert dot == 3 * 1 + 3 * 2 + 1
    store = ArchitectureStore(GRAPHS.__getitem__, iterations=2)
    idx = store.add(["A", "B"])
    k = store.gram(idx, idx)
    np.testing.assert_allclose(k, [[1.0, 10 / math.sqrt(12 * 18)], [10 / math.sqrt(216), 1.0]])


def test_direction_changes_features():
    # A chain input -> conv -> output: "in" and "out" refinements differ at the ends.
    chain = _dag(["input", "conv", "output"], [(0, 1), (1, 2)])
    inn = wl_node_labels(chain, 1, "in")[1]
    out = wl_node_labels(chain, 1, "out")[1]
    assert inn != out
    assert len(wl_features(chain, 0)) == 3


def _networkx_histogram(graph: nx.DiGraph, h: int) -> Counter:
    hashes = nx.weisfeiler_lehman_subgraph_hashes(
        graph, node_attr="label", iterations=h, include_initial_labels=True
    )
    return Counter((t, hsh) for seq in hashes.values() for t, hsh in enumerate(seq))


def _normalised_gram(hists: list[Counter]) -> np.ndarray:
    n = len(hists)
    k = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            k[i, j] = sum(hists[i][f] * hists[j][f] for f in hists[i])
    d = np.sqrt(np.diag(k))
    return k / np.outer(d, d)


@pytest.mark.filterwarnings("ignore:The hashes produced:UserWarning")
@pytest.mark.parametrize("h", [1, 2, 3])
def test_wl_matches_networkx_subgraph_hashes(h):
    """Our "both"-direction features partition labels exactly like networkx's directed WL."""
    cell = NB201Cell()
    rng = np.random.default_rng(0)
    values = list(dict.fromkeys(cell.sample(rng) for _ in range(40)))
    graphs = [cell.to_graph(v) for v in values]
    ours = [wl_features(g, h, "both") for g in graphs]
    theirs = [_networkx_histogram(g, h) for g in graphs]
    for a, b in zip(ours, theirs, strict=True):
        assert sorted(a.values()) == sorted(b.values())
    store = ArchitectureStore(lambda v: [cell.to_graph(v)], iterations=h, direction="both")
    idx = store.add(values)
    np.testing.assert_allclose(store.gram(idx, idx), _normalised_gram(theirs), atol=1e-12)
    # Whole-graph hashes agree exactly where our histograms do.
    same_ours = {i: frozenset(ours[i].items()) for i in range(len(values))}
    nx_hash = [nx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=h) for g in graphs]
    for i in range(len(values)):
        for j in range(i):
            assert (same_ours[i] == same_ours[j]) == (nx_hash[i] == nx_hash[j])


@pytest.fixture(scope="module")
def nb201_store():
    cell = NB201Cell()
    store = ArchitectureStore.from_domain(cell, iterations=2)
    rng = np.random.default_rng(1)
    idx = store.add([cell.sample(rng) for _ in range(60)])
    return store, torch.tensor(idx, dtype=torch.double).unsqueeze(-1)


def test_wl_kernel_symmetric_psd_unit_diagonal(nb201_store):
    store, x = nb201_store
    k = WLKernel(store)(x).to_dense()
    assert k.dtype == torch.double
    torch.testing.assert_close(k, k.T)
    assert torch.linalg.eigvalsh(k).min() > -1e-9
    torch.testing.assert_close(torch.diagonal(k), torch.ones(len(x), dtype=torch.double))
    assert ((k >= 0) & (k <= 1 + 1e-12)).all()


def test_wl_kernel_batch_shapes_and_diag(nb201_store):
    store, x = nb201_store
    kern = WLKernel(store)
    full = kern(x).to_dense()
    x1, x2 = x[:15].view(3, 5, 1), x[15:27].view(3, 4, 1)
    out = kern(x1, x2).to_dense()
    assert out.shape == (3, 5, 4)
    torch.testing.assert_close(out[1], full[5:10, 19:23])
    # Broadcasting batch dimensions, as botorch does for b x q x d candidates.
    out = kern(x[:10].view(2, 1, 5, 1), x[20:24]).to_dense()
    assert out.shape == (2, 1, 5, 4)
    torch.testing.assert_close(out[1, 0], full[5:10, 20:24])
    d = kern(x[:10], x[10:20], diag=True)
    torch.testing.assert_close(d, torch.diagonal(full[:10, 10:20]))
    assert kern(x1, x1, diag=True).shape == (3, 5)


def test_wl_kernel_reads_its_active_column(nb201_store):
    store, x = nb201_store
    wide = torch.cat([torch.rand(len(x), 2, dtype=torch.double), x], dim=-1)
    k1 = WLKernel(store, active_dims=[2])(wide).to_dense()
    torch.testing.assert_close(k1, WLKernel(store)(x).to_dense())
    with pytest.raises(InputError, match="active_dims"):
        WLKernel(store)(wide).to_dense()


def test_store_caches_features_and_blocks():
    calls = Counter()

    def graphs(v):
        calls[v] += 1
        return GRAPHS[v]

    store = ArchitectureStore(graphs, iterations=2)
    i1 = store.add(["A", "B", "A"])
    i2 = store.add(["B", "A"])
    assert i1.tolist() == [0, 1, 0] and i2.tolist() == [1, 0]
    assert calls == {"A": 1, "B": 1} and len(store) == 2 and "A" in store
    g1 = store.gram(np.array([0, 1]), np.array([1]))
    cache = GramCache()
    assert cache.gram(store, np.array([0, 1]), np.array([1]), 0) is cache.gram(
        store, np.array([0, 1]), np.array([1]), 0
    )
    np.testing.assert_array_equal(cache.gram(store, np.array([0, 1]), np.array([1]), 0), g1)
    with pytest.raises(InputError, match="not in the store"):
        store.gram(np.array([5]), np.array([0]))
    assert store.features().shape[0] == 2
    dense = store.features().toarray()
    assert sorted(dense[0][dense[0] > 0]) == [1.0] * 12


def test_hierarchical_wl_weights_and_empty_levels():
    levels = {"A": [CELL_A, CELL_B], "B": [CELL_B], "C": [CELL_B, CELL_A]}
    store = ArchitectureStore(levels.__getitem__, iterations=1, n_levels=2)
    x = torch.tensor(store.add(["A", "B", "C"]), dtype=torch.double).unsqueeze(-1)
    kern = HierarchicalWLKernel(store)
    k = kern(x).to_dense()
    w = kern.level_weights.detach()
    torch.testing.assert_close(w, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(torch.diagonal(k), torch.ones(3, dtype=torch.double))
    k0 = WLKernel(store, level=0)(x).to_dense()
    k1 = WLKernel(store, level=1)(x).to_dense()
    torch.testing.assert_close(k, 0.5 * k0 + 0.5 * k1)
    # "B" lacks level 1: similar to nobody there.
    assert k1[1, 0] == 0 and k1[1, 2] == 0
    assert torch.linalg.eigvalsh(k).min() > -1e-9
    # Weights are differentiable hyperparameters.
    k.sum().backward()
    assert kern.raw_level_weights.grad is not None
    assert kern(x, diag=True).shape == (3,)
    with pytest.raises(InputError, match="n_levels"):
        ArchitectureStore(lambda v: [CELL_A] * 3, n_levels=2).add(["x"])


def test_level_product_wl_is_the_product_of_the_level_kernels():
    levels = {"A": [CELL_A, CELL_B], "B": [CELL_B], "C": [CELL_B, CELL_A], "D": [CELL_A, CELL_B]}
    store = ArchitectureStore(levels.__getitem__, iterations=1, n_levels=2)
    x = torch.tensor(store.add(list(levels)), dtype=torch.double).unsqueeze(-1)
    kern = LevelProductWLKernel(store)
    k = kern(x).to_dense()
    k0 = WLKernel(store, level=0)(x).to_dense()
    k1 = WLKernel(store, level=1)(x).to_dense()
    torch.testing.assert_close(k, k0 * k1)
    torch.testing.assert_close(torch.diagonal(k), torch.tensor([1.0, 1.0, 1.0, 1.0]).double())
    # Similar at one level only is not similar: "A" and "C" swap their levels.
    assert k0[0, 2] < 1 and k1[0, 2] < 1 and k[0, 2] == pytest.approx(k0[0, 2] * k1[0, 2])
    assert k[1, 0] == 0  # "B" lacks level 1
    assert k[0, 3] == pytest.approx(1.0)  # equal graphs at every level
    assert torch.linalg.eigvalsh(k).min() > -1e-9  # Schur product of PSD kernels
    torch.testing.assert_close(kern(x, diag=True), torch.diagonal(k))
    assert not list(kern.parameters())  # nothing to fit: the scale is a ScaleKernel's


def _letters(v: str) -> list[nx.DiGraph]:
    """A path graph labelled by the characters of ``v`` (equal strings, equal graphs)."""
    g = nx.DiGraph()
    for i, ch in enumerate(v):
        g.add_node(i, label=ch)
        if i:
            g.add_edge(i - 1, i)
    return [g]


def test_store_is_bounded_and_keeps_referenced_entries():
    store = ArchitectureStore(_letters, iterations=1, max_size=50)
    values = [f"{a}{b}{c}" for a in "abcde" for b in "abcde" for c in "abcd"]  # 100
    idx = store.add(values)
    assert len(store) == 100 and store.evict() == 60 and len(store) == 40
    store = ArchitectureStore(_letters, iterations=1, max_size=50)
    idx = store.add(values)
    keep = idx[:5]  # the oldest entries, still referenced
    before = store.gram(keep, keep)
    store.add(values[90:])  # recently used: evicted last
    assert store.evict(keep) == 60
    assert len(store) == 40
    assert all(values[i] in store for i in range(5)) and all(v in store for v in values[90:])
    assert store.index(values[50]) is None
    np.testing.assert_array_equal(store.gram(keep, keep), before)  # kept indices unchanged
    with pytest.raises(InputError, match="not in the store"):
        store.gram(idx[50:51], keep)
    # Freed slots are reused; the store never holds more than it was given since.
    again = store.add(values[40:60])
    assert again.max() < 100 and len(store) == 60 and store.n_slots == 100
    for i, v in zip(again.tolist(), values[40:60], strict=True):
        assert store.value(i) == v
    k = store.gram(again, again)
    np.testing.assert_allclose(np.diag(k), np.ones(20))
    fresh = ArchitectureStore(_letters, iterations=1)
    j = fresh.add(values[40:60] + values[:5])
    mixed = np.concatenate([again, keep])
    np.testing.assert_allclose(store.gram(mixed, mixed), fresh.gram(j, j), atol=1e-12)
    # Representatives stay consistent: WL-equal architectures share one, also after it left.
    twin = ArchitectureStore(lambda v: _letters(v.rstrip("'")), iterations=1, max_size=2)
    i = twin.add(["ab", "ab'", "ab''", "ba"])
    assert twin.representatives(i).tolist() == [0, 0, 0, 3]
    assert twin.evict(i[1:3]) == 2  # "ab" (the representative) and "ba" leave
    assert twin.representatives(i[1:3]).tolist() == [1, 1]
    j = twin.add(["ab", "ba"])  # back in freed slots, "ab" joins its class
    assert sorted(j.tolist()) == [0, 3] and twin.representatives(j).tolist()[0] == 1


def test_refilling_freed_slots_is_exact_and_keeps_the_matrix_bounded(monkeypatch):
    """Many evict-and-refill rounds (what a long grammar search does): every write appends one
    row, rows no slot points at are dropped once they outnumber the slots, and the Gram blocks
    always equal those of a fresh store."""
    from jahs_bo.encoding import store as store_module

    compactions = []
    original = store_module._Level._compact
    monkeypatch.setattr(
        store_module._Level, "_compact", lambda lev: (compactions.append(1), original(lev))
    )
    rng = np.random.default_rng(0)
    letters = "abcdefgh"
    pool = ["".join(rng.choice(list(letters), size=4)) for _ in range(3000)]
    store = ArchitectureStore(_letters, iterations=1, max_size=200)
    keep_values = pool[:20]
    for r in range(30):
        batch = pool[20 + 90 * r : 20 + 90 * (r + 1)]
        store.add(keep_values + batch)
        store.evict(store.add(keep_values))
        lev = store._levels[0]
        assert lev.csr.shape[0] <= 2 * lev.n_rows + 1024 + 200  # dead rows are compacted
    assert 1 <= len(compactions) <= 5  # about 2,700 refills: a few gathers, not one per write
    values = keep_values + pool[20 + 90 * 29 : 20 + 90 * 30]
    idx = store.add(values)
    fresh = ArchitectureStore(_letters, iterations=1)
    j = fresh.add(values)
    np.testing.assert_allclose(store.gram(idx, idx), fresh.gram(j, j), atol=1e-12)
    np.testing.assert_allclose(store.pairwise(idx, idx[::-1]), fresh.pairwise(j, j[::-1]))

    def counts(st, rows):  # raw WL counts by feature name (column order is first appearance)
        m, names = st.features().toarray(), st.feature_names()
        return [{names[c]: m[r, c] for c in np.flatnonzero(m[r])} for r in rows]

    assert counts(store, idx) == counts(fresh, j)


def test_searcher_store_stays_bounded_on_the_grammar_space():
    from jahs_bo.searchers.gp import GPSearcher
    from jahs_bo.spaces import hierarchical_nb201_space
    from jahs_bo.types import Trial, TrialState

    space = hierarchical_nb201_space()
    s = GPSearcher(
        space,
        ["minimize"],
        n_init=3,
        n_random=16,
        n_parents=2,
        n_neighbours=4,
        local_rounds=1,
        fit_maxiter=10,
        arch_store_size=60,
    )
    store = s.encoder.stores["arch"]
    evicted: list[int] = []
    evict = store.evict
    store.evict = lambda keep=(): evicted.append(evict(keep)) or evicted[-1]  # type: ignore[method-assign]
    trials: list[Trial] = []
    sizes = []
    for i in range(9):
        cfg = s.suggest(trials, [], np.random.default_rng((0, i)))
        sizes.append(len(store))
        value = cfg["arch"].count("zero") + 0.01 * len(cfg["arch"]) / 100
        trials.append(Trial(i, i, cfg, {}, TrialState.COMPLETE, (value,)))
    per_ask = max(b - a for a, b in zip(sizes[3:], sizes[4:], strict=False))
    assert max(sizes) <= 60 + per_ask  # evicted to <= 48 at each ask, then one ask's additions
    assert sum(evicted) > 60  # more architectures met than the bound
    assert store.n_slots <= 60 + per_ask  # freed indices are reused
    for t in trials:  # every trial's architecture survived the evictions
        assert t.config["arch"] in store


def test_kernel_forward_only_reads_the_store(nb201_store):
    store, x = nb201_store
    levels = [(lev.csr, lev.n_rows, len(lev.vocab)) for lev in store._levels]
    n, slots = len(store), store.n_slots
    WLKernel(store)(x[:20], x[10:40]).to_dense()
    WLKernel(store)(x, diag=True)
    assert (len(store), store.n_slots) == (n, slots)
    for lev, (csr, rows, vocab) in zip(store._levels, levels, strict=True):
        assert lev.csr is csr and lev.n_rows == rows and len(lev.vocab) == vocab
