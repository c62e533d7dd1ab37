"""Fuzz: space descriptions (SearchSpace.from_json), fidelities and grammar texts."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import strategies as st

from jahs_bo.spaces import (
    Fidelity,
    SearchSpace,
    hierarchical_nb201_space,
    jahs_bench_201_space,
    lcbench_space,
    nb201_space,
)
from jahs_bo.spaces.grammar import Grammar, GrammarDomain

SPACES = [nb201_space(), jahs_bench_201_space(), lcbench_space(), hierarchical_nb201_space()]
SPACE_DICTS = [json.loads(s.to_json()) for s in SPACES]


def _use(space: SearchSpace) -> None:
    """What a loaded space must survive: sampling, validation and its own JSON round trip."""
    rng = np.random.default_rng(0)
    config = space.validate(space.sample(rng))
    space.config_key(config)
    space.validate_fidelity(None)
    again = SearchSpace.from_json(space.to_json())
    assert again == space, "a space that loads must survive its own JSON round trip"


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(obj)]


def test_random_json_is_a_space_or_an_error(fuzz, json_values) -> None:
    text = st.one_of(json_values.map(json.dumps), st.text(max_size=200))
    fuzz(
        text.filter(lambda t: t.lstrip().startswith("{")), lambda t: _use(SearchSpace.from_json(t))
    )
    fuzz(json_values, lambda d: _use(SearchSpace.from_dict(d)))


def test_damaged_space_descriptions(fuzz, json_values) -> None:
    @st.composite
    def damaged(draw: st.DrawFn) -> Any:
        base = draw(st.sampled_from(SPACE_DICTS))
        path = draw(st.sampled_from(_paths(base)))
        return _replace(base, path, draw(json_values))

    fuzz(damaged(), lambda d: _use(SearchSpace.from_json(json.dumps(d))))


def test_fidelity_arguments(fuzz, anything) -> None:
    numbers = st.one_of(
        st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), anything
    )
    args = st.fixed_dictionaries(
        {"lower": numbers, "upper": numbers},
        optional={
            "log": st.booleans(),
            "integer": st.booleans(),
            "values": st.lists(numbers, max_size=5) | anything,
        },
    )

    def check(kw: dict[str, Any]) -> None:
        fid = Fidelity("e", **kw)
        space = SearchSpace(None, {"arch": nb201_space().architectures["arch"]}, [fid])
        _use(space)
        fid.validate(fid.upper)
        assert 0.0 <= fid.normalize(fid.lower) <= 1.0 or fid.upper == fid.lower

    fuzz(args, check)


GRAMMAR_TOKENS = st.sampled_from(
    ["A", "B", "C", "S", "->", "|", '"x"', '"y"', '"Cell"', "start:", "shared:", "require:",
     "connected", "\n", "\n", " ", "#", '"', "(", ")", "A2", "->"]
)  # fmt: skip


def test_grammar_texts(fuzz) -> None:
    texts = st.one_of(
        st.lists(GRAMMAR_TOKENS, max_size=40).map(" ".join),
        st.text(max_size=120),
    )

    def check(text: str) -> None:
        grammar = Grammar.from_text(text)
        grammar.count()
        domain = GrammarDomain(grammar, max_depth=8, max_nodes=200)
        value = domain.sample(np.random.default_rng(0))
        assert domain.validate(value) == value

    fuzz(texts, check)
