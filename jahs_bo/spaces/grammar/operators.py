"""Random operators on derivation trees: sampling, mutation and crossover under size limits.

Sampling expands nonterminals top-down, choosing uniformly among the alternatives *as listed*
(a repeated alternative is proportionally more likely) that can still finish within the limits:
``max_depth`` bounds :attr:`Derivation.depth` and ``max_nodes`` bounds
:attr:`Derivation.n_nodes` (by default the grammar's largest height, which must not exceed
:data:`MAX_DEPTH`, and :data:`MAX_NODES`: a crafted grammar cannot make the operators build
arbitrarily deep or large trees). A table of the fewest nodes each nonterminal needs at each remaining
depth makes every choice feasible, so sampling never backtracks, except that reusing a shared
nonterminal's derivation can overrun a limit; such samples are redrawn (up to
``max_tries`` times).

Shared nonterminals are sampled at their first occurrence and reused verbatim at every other.
Mutation picks a random *site* (a nonterminal node, counting each shared derivation once) that
can change and redraws its subtree; when the site lies inside a shared derivation, the new
derivation replaces every occurrence. Crossover replaces a random site of the first parent by a
subtree of the second parent rooted at the same nonterminal; shared nonterminals inside the
donated subtree take the first parent's derivation where it has one.

Validity rules (``requirements``, e.g. the hierarchical NB201 grammar's ``connected``) are
predicates on whole derivations. Every operator proposes only derivations that satisfy all of
them: a draw that violates one is rejected and redrawn, at most ``max_tries`` times, after which
a :class:`~jahs_bo.exceptions.GrammarError` names the rules (the grammar may admit no valid
architecture). Parents that violate a rule are accepted as input.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from jahs_bo.exceptions import GrammarError, InvalidSpaceError
from jahs_bo.spaces.grammar.derivation import MAX_DEPTH, Derivation, shared_subtrees
from jahs_bo.spaces.grammar.text import Alternative, Grammar

if TYPE_CHECKING:
    from jahs_bo.spaces.grammar.prior import ProductionPrior

__all__ = ["MAX_DEPTH", "MAX_NODES", "DerivationSampler"]

_INF = float("inf")
_TOKENS = itertools.count()
#: Most nodes of a derivation the operators build when ``max_nodes`` is not given.
MAX_NODES = 100_000
_Option = tuple[Alternative, float, float, "Derivation | None"]


class DerivationSampler:
    """Samples, mutates and crosses derivations of one grammar within depth and size limits.

    Args:
        grammar: The grammar.
        max_depth: Largest allowed :attr:`Derivation.depth`; required for recursive grammars.
        max_nodes: Largest allowed :attr:`Derivation.n_nodes`.
        max_tries: Redraws before giving up (reachable through shared nonterminals, validity
            rules, or when an operator keeps reproducing its input).
        requirements: Validity rules, ``name -> predicate`` on whole derivations; proposals
            satisfy all of them.

    Raises:
        InvalidSpaceError: The limits admit no derivation, or a recursive grammar has no
            ``max_depth``.
    """

    def __init__(
        self,
        grammar: Grammar,
        max_depth: int | None = None,
        max_nodes: int | None = None,
        max_tries: int = 100,
        requirements: Mapping[str, Callable[[Derivation], bool]] | None = None,
    ) -> None:
        self.grammar = grammar
        self.requirements: dict[str, Callable[[Derivation], bool]] = dict(requirements or {})
        if max_depth is None and not grammar.is_finite:
            raise InvalidSpaceError(
                f"the grammar is recursive ({sorted(grammar.recursive)} derive themselves), so "
                "it has infinitely many derivations; pass max_depth to bound them"
            )
        for name, limit in (("max_depth", max_depth), ("max_nodes", max_nodes)):
            if limit is not None and (not isinstance(limit, int) or limit < 1):
                raise InvalidSpaceError(f"{name} must be a positive int or None, got {limit!r}")
        if max_depth is not None and max_depth > MAX_DEPTH:
            raise InvalidSpaceError(
                f"max_depth={max_depth} is beyond the depth limit {MAX_DEPTH} (MAX_DEPTH); "
                f"pass max_depth <= {MAX_DEPTH}"
            )
        if max_nodes is not None and max_nodes > MAX_NODES:
            raise InvalidSpaceError(
                f"max_nodes={max_nodes} is beyond the node limit {MAX_NODES:,} (MAX_NODES); "
                f"pass max_nodes <= {MAX_NODES:,}"
            )
        self.max_depth = max_depth
        self.max_nodes = max_nodes
        self.max_tries = max_tries
        if max_depth is None:
            height = grammar.max_height()
            assert height is not None  # finite grammar
            if height > MAX_DEPTH:
                raise InvalidSpaceError(
                    f"derivations of this grammar reach depth {height}, beyond the depth limit "
                    f"{MAX_DEPTH} (MAX_DEPTH); pass max_depth <= {MAX_DEPTH} to bound them"
                )
            max_depth_cap = height
        else:
            max_depth_cap = max_depth
        #: Depth bound used by the operators (``max_depth`` or the grammar's largest height).
        self.depth_cap: int = max_depth_cap
        #: Node bound used by the operators (``max_nodes`` or :data:`MAX_NODES`).
        self.node_cap: int = max_nodes if max_nodes is not None else MAX_NODES
        if grammar.min_height() > self.depth_cap:
            raise InvalidSpaceError(
                f"max_depth={max_depth} is too small: the shortest derivation of "
                f"{grammar.start} has depth {grammar.min_height()}; raise max_depth"
            )
        self._flat = grammar.flat()
        self._index = self._flat.index
        self._min_nodes = self._min_nodes_table(self.depth_cap)
        need = float(self._min_nodes[self.depth_cap][self._index[grammar.start]])
        if need == _INF:
            raise InvalidSpaceError(
                f"max_depth={max_depth} is too small: the shortest derivation of "
                f"{grammar.start} is deeper; raise max_depth"
            )
        if need > self.node_cap:
            if max_nodes is None:
                raise InvalidSpaceError(
                    f"the smallest derivation of {grammar.start} within the depth limit has "
                    f"{need:.4g} nodes, beyond the node limit {MAX_NODES:,} (MAX_NODES); the "
                    "grammar's architectures are too large to build"
                )
            raise InvalidSpaceError(
                f"max_nodes={max_nodes} is too small: the smallest derivation of "
                f"{grammar.start} within the depth limit has {int(need)} nodes; raise max_nodes"
            )
        self._varies = self._varying_symbols()
        self._token = next(_TOKENS)  # tags the site counts this sampler leaves on trees
        # Memo of _options (a function of the nonterminal and the depth left), shared terminal
        # leaves (trees are immutable) and the mutable sites of the last trees mutated.
        self._feasible: dict[tuple[str, int], list[_Option]] = {}
        self._leaves: dict[str, Derivation] = {}
        self._site_memo: OrderedDict[Derivation, list[tuple[tuple[int, ...], int]]] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the trees remembered for mutation."""
        state = dict(self.__dict__)
        state["_site_memo"] = OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A fresh :attr:`_token`: tokens are unique within a process, not across processes."""
        self.__dict__.update(state)
        self._token = next(_TOKENS)

    # ------------------------------------------------------------------ tables
    def _min_nodes_table(self, depth: int) -> list[np.ndarray]:
        """``table[d][i]``: fewest nodes of a derivation of nonterminal ``i`` (index of
        :meth:`Grammar.flat`) with depth at most ``d``; ``inf`` where there is none.

        One vectorised step per depth level; rows stop changing once every nonterminal has its
        smallest derivation, and from then on the same row is reused.
        """
        flat = self._flat
        n = len(flat.index)
        table: list[np.ndarray] = [np.full(n, _INF)]
        for _ in range(depth):
            prev = table[-1]
            sizes = 1.0 + flat.n_terminals + flat.alternative_sums(prev)
            row = np.full(n, _INF)
            np.minimum.at(row, flat.owner, sizes)
            if np.array_equal(row, prev):
                table.extend([prev] * (depth + 1 - len(table)))
                break
            table.append(row)
        return table

    def max_possible_nodes(self) -> float:
        """Most nodes of a derivation of the start symbol within the depth bound (a float,
        possibly astronomically large)."""
        flat = self._flat
        row = np.full(len(flat.index), -_INF)
        for _ in range(self.depth_cap):
            sizes = 1.0 + flat.n_terminals + flat.alternative_sums(row)
            new = np.full_like(row, -_INF)
            np.maximum.at(new, flat.owner, sizes)
            if np.array_equal(new, row):
                break
            row = new
        return float(row[self._index[self.grammar.start]])

    def _options(self, name: str, depth: int) -> list[_Option]:
        """``(alternative, fewest nodes, fewest nodes of its symbols, its tree when it holds
        only terminals)`` of each alternative of ``name`` that can finish within ``depth``
        levels, in listed order. Trees are immutable, so terminal-only expansions (most of a
        derivation's nodes) are made once and shared."""
        key = (name, depth)
        if key not in self._feasible:
            below, index = self._min_nodes[depth - 1], self._index
            rows = []
            for alt in self.grammar.alternatives(name):
                inner = sum(1.0 if s.terminal else float(below[index[s.name]]) for s in alt)
                if inner + 1.0 < _INF:
                    leaves = all(s.terminal for s in alt)
                    tree = (
                        Derivation(name, tuple(self._leaf(s.name) for s in alt)) if leaves else None
                    )
                    rows.append((alt, inner + 1.0, inner, tree))
            self._feasible[key] = rows
        return self._feasible[key]

    def _leaf(self, name: str) -> Derivation:
        """The terminal leaf ``name`` (one shared object per terminal)."""
        leaf = self._leaves.get(name)
        if leaf is None:
            leaf = self._leaves[name] = Derivation(name)
        return leaf

    def _varying_symbols(self) -> dict[str, bool]:
        """Whether redrawing each nonterminal (keeping the derivations of the *other* shared
        nonterminals) can give a different subtree."""
        g = self.grammar
        # X varies if it has two distinct alternatives or its only alternative holds a varying
        # non-shared nonterminal: propagate backwards from the former (iterative, linear).
        users: dict[str, list[str]] = {n: [] for n in g.nonterminals}
        varies: dict[str, bool] = {}
        queue: list[str] = []
        for name in g.nonterminals:
            alts = g.alternatives(name, unique=True)
            varies[name] = len(alts) > 1
            if varies[name]:
                queue.append(name)
            else:
                for sym in alts[0]:
                    if not sym.terminal and not g.is_shared(sym.name):
                        users[sym.name].append(name)
        while queue:
            for user in users[queue.pop()]:
                if not varies[user]:
                    varies[user] = True
                    queue.append(user)
        return varies

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        rng: np.random.Generator,
        symbol: str | None = None,
        prior: ProductionPrior | None = None,
    ) -> Derivation:
        """Draw a derivation of ``symbol`` (default: the start symbol) within the limits;
        with ``prior``, alternatives are chosen by its production weights."""
        symbol = self.grammar.start if symbol is None else symbol
        whole = symbol == self.grammar.start
        rejected = 0
        for _ in range(self.max_tries):
            env: dict[str, Derivation] = {}
            tree = self._expand(
                symbol, rng, self.depth_cap, self.node_cap, env, fresh=True, prior=prior
            )
            if self.within_limits(tree):
                if not whole or self.is_valid(tree):
                    return tree
                rejected += 1
        if rejected:
            raise self._invalid_error(f"{rejected} of {self.max_tries} draws")
        raise GrammarError(
            f"could not sample a derivation within max_depth={self.max_depth}, "
            f"max_nodes={self.max_nodes} in {self.max_tries} tries (shared nonterminals "
            "multiply sizes); raise the limits"
        )

    def is_valid(self, tree: Derivation) -> bool:
        """Whether ``tree`` satisfies every validity rule."""
        return all(rule(tree) for rule in self.requirements.values())

    def _invalid_error(self, what: str) -> GrammarError:
        return GrammarError(
            f"{what} violated the validity rules {sorted(self.requirements)} (max_tries="
            f"{self.max_tries}); the grammar may admit no architecture satisfying them: "
            "change the grammar or drop the 'require:' line"
        )

    def within_limits(self, tree: Derivation) -> bool:
        """Whether ``tree`` respects the depth and node bounds (``max_depth`` and ``max_nodes``,
        or the grammar's largest height and :data:`MAX_NODES`)."""
        return tree.depth <= self.depth_cap and tree.n_nodes <= self.node_cap

    def _expand(
        self,
        name: str,
        rng: np.random.Generator,
        depth: int,
        budget: int | None,
        env: dict[str, Derivation],
        fresh: bool = False,
        prior: ProductionPrior | None = None,
    ) -> Derivation:
        """Expand ``name`` with at most ``depth`` levels and ``budget`` nodes.

        ``env`` holds the shared derivations chosen so far; ``fresh`` forces a new derivation of
        ``name`` even when it is shared and already in ``env``; ``prior`` weights the choice
        of alternative (uniform without it).
        """
        g = self.grammar
        if not fresh and name in env:
            return env[name]
        if depth < 1:
            raise GrammarError(f"no alternative of {name} fits in depth {depth}")
        # An alternative that cannot finish within the depth needs infinitely many nodes; it
        # must be excluded even when there is no node budget (``inf <= inf`` would admit it).
        feasible = self._options(name, depth)
        options = [row for row in feasible if budget is None or row[1] <= budget]
        if not options:  # only reachable after a shared reuse overran the budget
            options = feasible
        if not options:
            raise GrammarError(f"no alternative of {name} fits in depth {depth}")
        pick = (
            int(rng.integers(len(options))) if prior is None else prior.choose(name, options, rng)
        )
        alt, _, reserve, made = options[pick]
        if made is not None:
            if g.is_shared(name):
                env[name] = made
            return made
        # Nodes still to reserve for the symbols right of the one being expanded.
        below, index = self._min_nodes[depth - 1], self._index
        used = 1
        kids: list[Derivation] = []
        for sym in alt:
            if sym.terminal:
                kids.append(self._leaf(sym.name))
                used += 1
                reserve -= 1
                continue
            reserve -= float(below[index[sym.name]])
            sub_budget = None if budget is None else int(budget - used - reserve)
            child = self._expand(sym.name, rng, depth - 1, sub_budget, env, prior=prior)
            kids.append(child)
            used += child.n_nodes
        tree = Derivation(name, tuple(kids))
        if g.is_shared(name):
            env[name] = tree
        return tree

    # ------------------------------------------------------------------ sites
    def _sites(self, tree: Derivation) -> list[tuple[tuple[int, ...], int]]:
        """Mutable sites ``(path, depth)``: nonterminal nodes that can change, each shared
        derivation visited once (at its first occurrence); the root only when nothing else
        can change. Remembered for the last 64 trees (a parent is mutated many times)."""
        sites = self._site_memo.get(tree)
        if sites is None:
            sites = self._find_sites(tree)
            self._site_memo[tree] = sites
            if len(self._site_memo) > 64:
                self._site_memo.popitem(last=False)
        return sites

    def _find_sites(self, tree: Derivation) -> list[tuple[tuple[int, ...], int]]:
        g = self.grammar
        seen: set[str] = set()
        sites: list[tuple[tuple[int, ...], int]] = []
        stack: list[tuple[tuple[int, ...], Derivation]] = [((), tree)]
        while stack:
            path, node = stack.pop()
            if node.is_terminal:
                continue
            if g.is_shared(node.symbol) and path:
                if node.symbol in seen:
                    continue
                seen.add(node.symbol)
            if path and self._varies[node.symbol]:
                sites.append((path, len(path)))
            kids = node.children
            for i in range(len(kids) - 1, -1, -1):
                if kids[i].children:  # terminals hold no site
                    stack.append(((*path, i), kids[i]))
        if not sites and self._varies[tree.symbol]:
            sites.append(((), 0))  # only the whole derivation can change
        return sites

    def _site_picker(
        self, tree: Derivation
    ) -> tuple[int, Callable[[int], tuple[tuple[int, ...], int]]]:
        """The number of mutable sites of ``tree`` and a function from ``k`` to the ``k``-th
        (in the order of :meth:`_sites`).

        Without shared nonterminals the sites are counted per subtree and remembered, so a
        mutant (which shares all but one path with its parent) costs only that path, and the
        ``k``-th site is found by walking down; with them, :meth:`_sites` lists them.
        """
        if self.grammar.shared:
            sites = self._sites(tree)
            return len(sites), sites.__getitem__
        n = self._n_sites(tree)
        if n == 0:  # only the whole derivation can change, if anything
            return int(self._varies[tree.symbol]), lambda k: ((), 0)
        return n, lambda k: self._kth_site(tree, k)

    def _n_sites(self, node: Derivation) -> int:
        """Mutable sites strictly below ``node`` (a grammar without shared nonterminals).

        Remembered on the node itself as two integers, the count and this sampler's
        :attr:`_token` (a separate cache would keep trees alive, and a container on every node
        would slow Python's garbage collector), so the count lives exactly as long as the tree.
        """
        if getattr(node, "_sites_of", None) == self._token:  # (getattr keeps no __dict__)
            return node._n_sites  # type: ignore[attr-defined]
        varies = self._varies
        n = 0
        for child in node.children:
            if child.children:
                n += varies[child.symbol] + self._n_sites(child)
        object.__setattr__(node, "_n_sites", n)
        object.__setattr__(node, "_sites_of", self._token)
        return n

    def _kth_site(self, tree: Derivation, k: int) -> tuple[tuple[int, ...], int]:
        """The ``k``-th site of :meth:`_sites` (``0 <= k < _n_sites(tree)``), walking down."""
        varies = self._varies
        path: list[int] = []
        node = tree
        while True:
            for i, child in enumerate(node.children):
                if not child.children:
                    continue
                if varies[child.symbol]:
                    if k == 0:
                        path.append(i)
                        return tuple(path), len(path)
                    k -= 1
                below = self._n_sites(child)
                if k < below:
                    path.append(i)
                    node = child
                    break
                k -= below
            else:  # pragma: no cover - k is checked by the callers
                raise IndexError("site index out of range")

    def _propagate(self, tree: Derivation, path: tuple[int, ...]) -> Derivation:
        """Make shared derivations consistent after the subtree at ``path`` changed."""
        g = self.grammar
        if not g.shared:
            return tree
        # Innermost shared node on the path (including the site itself).
        for cut in range(len(path), 0, -1):
            node = tree.at(path[:cut])
            if g.is_shared(node.symbol):
                return tree.substitute(node.symbol, node)
        return tree

    # ------------------------------------------------------------------ mutation
    def mutate(self, tree: Derivation, rng: np.random.Generator) -> Derivation:
        """Redraw the subtree of a random site; the result differs from ``tree``.

        With validity rules, a draw that breaks one is redrawn; after half of ``max_tries``
        draws the whole derivation may be redrawn (a valid derivation can have only invalid
        single-site neighbours).

        Raises:
            GrammarError: No site can change (the space has one architecture) or every try
                reproduced ``tree``.
        """
        n_sites, site = self._site_picker(tree)
        if not n_sites:
            raise GrammarError(
                "nothing to mutate: no nonterminal of this derivation has an alternative "
                "(the space has a single architecture)"
            )
        env = shared_subtrees(self.grammar, tree)
        rejected = 0
        for attempt in range(self.max_tries):
            if rejected and attempt >= self.max_tries // 2 and self._varies[tree.symbol]:
                # Every small change seen so far broke a validity rule (a valid derivation can
                # have only invalid neighbours): redraw the whole derivation.
                path, depth = (), 0
            else:
                path, depth = site(int(rng.integers(n_sites)))
            old = tree.at(path)
            depth_left = self.depth_cap - depth
            budget = self.node_cap - (tree.n_nodes - old.n_nodes)
            local = {k: v for k, v in env.items() if k != old.symbol}
            new = self._expand(old.symbol, rng, depth_left, budget, local, fresh=True)
            if new == old:
                continue
            child = self._propagate(tree.replace(path, new), path)
            if child != tree and self.within_limits(child):
                if self.is_valid(child):
                    return child
                rejected += 1
        if rejected:
            raise self._invalid_error(f"{rejected} of {self.max_tries} mutations")
        raise GrammarError(f"no mutation found in {self.max_tries} tries")

    # ------------------------------------------------------------------ crossover
    def crossover(self, a: Derivation, b: Derivation, rng: np.random.Generator) -> Derivation:
        """Replace a random site of ``a`` by a subtree of ``b`` rooted at the same nonterminal.

        Falls back to :meth:`mutate` of ``a`` when no swap gives a new, valid derivation within
        limits.
        """
        g = self.grammar
        donors: dict[str, list[Derivation]] = {}
        for _, node in b.walk():
            if not node.is_terminal:
                donors.setdefault(node.symbol, []).append(node)
        sites = [s for s in self._sites(a) if a.at(s[0]).symbol in donors]
        env_a = shared_subtrees(g, a)
        for _ in range(min(self.max_tries, 4 * len(sites))):
            path, _ = sites[int(rng.integers(len(sites)))]
            old = a.at(path)
            pool = donors[old.symbol]
            new = pool[int(rng.integers(len(pool)))]
            if new == old:
                continue
            for name, sub in env_a.items():
                if name != old.symbol:
                    new = new.substitute(name, sub)
            child = self._propagate(a.replace(path, new), path)
            if child != a and self.within_limits(child) and self.is_valid(child):
                return child
        return self.mutate(a, rng)
