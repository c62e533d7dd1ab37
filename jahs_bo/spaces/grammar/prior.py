"""Expert priors over a grammar's productions: which alternative of a nonterminal to prefer.

A user states weights per nonterminal, keyed by the alternative as the grammar writes it (quotes
around terminals optional), for example for the hierarchical NB201 grammar::

    {"CONV": {"conv3x3o": 4, "conv1x1o": 1, "dconv3x3o": 1},
     "OPS": {'"Linear1" CONVBLOCK': 3, "id": 1, "avg_pool": 1}}   # "zero" left out: weight 0

Weights are normalised per nonterminal; alternatives left out of a stated nonterminal weigh 0 (as
``NB201Cell(op_prior=...)`` treats ops); nonterminals not stated keep the grammar's own
(uniform over listed alternatives) choice. An alternative listed twice in the grammar (sampled
twice as often without a prior) gets the stated weight in total.

:meth:`ProductionPrior.log_prior` is the log probability ratio of a derivation under the prior
and under uniform sampling, summed over its expansions of stated nonterminals (a shared
nonterminal counts once); like the cell domains' ``log_prior`` it is ``0`` where the prior
agrees with uniform sampling. The ratio uses each nonterminal's full list of alternatives; where
depth or size limits rule some out while sampling, the sampler renormalises over the rest, so the
figure is exact for grammars whose derivations never meet the limits (the shipped ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jahs_bo.exceptions import InvalidSpaceError
from jahs_bo.spaces.grammar.derivation import Derivation
from jahs_bo.spaces.grammar.lexer import Alternative
from jahs_bo.spaces.grammar.text import Grammar

_TINY = 1e-300
_MEMO_MAX = 50_000

AltKey = tuple[str, ...]


def _names(alt: Alternative) -> AltKey:
    return tuple(s.name for s in alt)


def _parse_key(text: Any) -> AltKey:
    """``'"Linear1" CONVBLOCK'`` -> ``("Linear1", "CONVBLOCK")`` (quotes optional; ``()`` for
    anything that is not such a text)."""
    if not isinstance(text, str):
        return ()
    return tuple(tok.strip('"') for tok in text.split())


class ProductionPrior:
    """Validated, normalised production weights of one grammar.

    Args:
        grammar: The grammar the weights refer to.
        weights: Nonterminal -> {alternative text: weight >= 0}.

    Raises:
        InvalidSpaceError: Not a mapping of mappings, an unknown nonterminal or alternative
            (the message lists the known ones), a negative or non-finite weight, or a
            nonterminal whose weights are all zero.
    """

    def __init__(self, grammar: Grammar, weights: Mapping[str, Mapping[str, float]]) -> None:
        if not isinstance(weights, Mapping) or not weights:
            raise InvalidSpaceError(
                "production_prior must map nonterminals to {alternative: weight}, e.g. "
                '{"CONV": {"conv3x3o": 4, "conv1x1o": 1}}; got ' + f"{weights!r:.80}"
            )
        self.grammar = grammar
        #: nonterminal -> distinct alternative -> probability under the prior
        self.probs: dict[str, dict[AltKey, float]] = {}
        #: nonterminal -> distinct alternative -> how often the grammar lists it
        self._mult: dict[str, dict[AltKey, int]] = {}
        self._weights: dict[str, dict[AltKey, float]] = {}  # as stated, for to_dict
        self._n_listed: dict[str, int] = {}  # alternatives as listed, repeats included
        for name, alts in weights.items():
            if name not in grammar.nonterminals:
                raise InvalidSpaceError(
                    f"production_prior names {name!r}, not a nonterminal of the grammar; "
                    f"known: {list(grammar.nonterminals)[:20]}"
                )
            listed = [_names(a) for a in grammar.alternatives(name)]
            mult = {k: listed.count(k) for k in dict.fromkeys(listed)}
            texts = [" ".join(str(s) for s in a) for a in grammar.alternatives(name, unique=True)]
            if not isinstance(alts, Mapping):
                raise InvalidSpaceError(
                    f"production_prior[{name!r}] must map alternatives to weights, e.g. "
                    f"{{{texts[0]!r}: 1.0}}; got {alts!r:.80}"
                )
            probs = dict.fromkeys(mult, 0.0)
            for text, w in alts.items():
                key = _parse_key(text)
                if key not in mult:
                    raise InvalidSpaceError(
                        f"production_prior[{name!r}] names {text!r}, not an alternative of "
                        f"{name}; its alternatives are {texts}"
                    )
                if isinstance(w, bool) or not isinstance(w, (int, float, np.number)):
                    raise InvalidSpaceError(
                        f"production_prior[{name!r}][{text!r}] must be a number, got {w!r}"
                    )
                if not math.isfinite(float(w)) or float(w) < 0:
                    raise InvalidSpaceError(
                        f"production_prior[{name!r}][{text!r}] = {w!r} must be a finite weight >= 0"
                    )
                probs[key] += float(w)
            total = sum(probs.values())
            if total <= 0:
                raise InvalidSpaceError(
                    f"production_prior[{name!r}] gives every alternative weight 0; give one "
                    "a weight > 0"
                )
            self.probs[name] = {k: v / total for k, v in probs.items()}
            self._weights[name] = probs
            self._mult[name] = mult
            self._n_listed[name] = len(listed)
        self._memo: dict[Derivation, float] = {}

    def choose(
        self, name: str, options: Sequence[tuple[Any, ...]], rng: np.random.Generator
    ) -> int:
        """Index of the option to expand ``name`` with (rows ``(alternative, ...)``).

        Options of a stated nonterminal are drawn with their prior probability (an alternative
        listed twice shares its weight between its two rows), renormalised over ``options``;
        uniformly where the prior gives them all weight 0 or ``name`` is not stated.
        """
        probs = self.probs.get(name)
        if probs is None:
            return int(rng.integers(len(options)))
        mult = self._mult[name]
        w = np.array([probs[k] / mult[k] for k in (_names(row[0]) for row in options)])
        total = w.sum()
        if total <= 0:
            return int(rng.integers(len(options)))
        i = int(np.searchsorted(np.cumsum(w), rng.random() * total, side="right"))
        return min(i, len(options) - 1)

    def log_prior(self, tree: Derivation) -> float:
        """Log of (prior probability / uniform probability) of the expansions in ``tree``."""
        if not self.grammar.shared:
            if len(self._memo) > _MEMO_MAX:
                self._memo.clear()
            return self._log_subtree(tree)
        total, seen, stack = 0.0, set(), [tree]
        while stack:
            node = stack.pop()
            if not node.children:
                continue
            if self.grammar.is_shared(node.symbol):
                if node.symbol in seen:
                    continue
                seen.add(node.symbol)
            total += self._own(node)
            stack.extend(node.children)
        return total

    def _log_subtree(self, node: Derivation) -> float:
        """Memoised sum over a subtree (grammars without shared nonterminals)."""
        if not node.children:
            return 0.0
        got = self._memo.get(node)
        if got is None:
            got = self._own(node) + sum(self._log_subtree(c) for c in node.children)
            self._memo[node] = got
        return got

    def _own(self, node: Derivation) -> float:
        probs = self.probs.get(node.symbol)
        if probs is None:
            return 0.0
        key = tuple(c.symbol for c in node.children)
        uniform = self._mult[node.symbol].get(key, 0) / self._n_listed[node.symbol]
        if uniform <= 0:
            return 0.0  # not an expansion of this grammar: validate() rejects such trees
        return math.log(max(probs.get(key, 0.0) / uniform, _TINY))

    def to_dict(self) -> dict[str, dict[str, float]]:
        """The JSON form: the stated weights (zeros left out) keyed as the grammar writes
        alternatives; reading it back gives the same probabilities bit for bit."""
        out: dict[str, dict[str, float]] = {}
        for name, probs in self._weights.items():
            texts = {
                _names(a): " ".join(str(s) for s in a)
                for a in self.grammar.alternatives(name, unique=True)
            }
            out[name] = {texts[k]: p for k, p in probs.items() if p > 0}
        return out


__all__ = ["ProductionPrior"]
