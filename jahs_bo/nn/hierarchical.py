"""Hierarchical-NB201 grammar derivations as ``torch.nn.Module`` (Schrodi et al., 2023).

A derivation is a tree of *blocks*. Each block has a name (the terminal that opens its
production, such as ``"Linear3"`` or ``"Cell"``) and child blocks (the derivations of the
nonterminals that follow it). The builder walks the tree and tracks the number of channels:

* ``LinearK`` / ``SequentialK``: the ``K`` children one after the other.
* ``ResidualK``: the first ``K`` children in sequence plus the last child as a parallel path
  from the same input; the two outputs are summed (so ``ResidualK`` has ``K + 1`` children and
  both paths must reach the same channels and resolution).
* ``Cell``: an NB201 cell whose 6 children are the operations on the edges ``1<-0, 2<-0, 2<-1,
  3<-0, 3<-1, 3<-2`` (node ``k`` sums its incoming edges).
* ``resBlock`` / ``down``: NB201's residual reduction block (stride 2, channels doubled).
* operations: ``id``, ``zero``, ``avg_pool`` (3x3), ``conv1x1``/``conv3x3`` (NB201's
  ReLU-conv-BN, as in the flat NB201 grammar); convolution blocks of the hierarchical grammar are
  sequences of an activation (``relu``, ``hardswish``, ``mish``), a bare convolution
  (``conv1x1o``, ``conv3x3o``, ``dconv3x3o`` a depthwise 3x3 convolution) and a normalisation
  (``batch``, ``instance``, ``layer``).

The whole network is ``stem (3x3 conv to C channels + BN) -> derivation -> BN-ReLU -> global
average pool -> linear``, like NB201's skeleton with the derivation in place of the stages.

Derivations arrive either as :class:`Block` trees, as derivation objects of
:mod:`jahs_bo.spaces.grammar` (see :func:`to_block`), or as strings in the functional notation
``Linear2(Cell(id, zero, ...), resBlock)`` (:func:`parse_blocks`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jahs_bo.exceptions import GrammarError, InvalidConfigError
from jahs_bo.nn.nb201 import NB201Cell
from jahs_bo.nn.ops import ActConvBN, ReductionBlock, Zero, avg_pool_3x3, make_activation

_NB201_EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
_LINEAR = re.compile(r"^(?:Linear|Sequential)(\d+)$")
_RESIDUAL = re.compile(r"^Residual(\d+)$")


@dataclass(frozen=True)
class Block:
    """A node of a derivation: a building block name and its child blocks."""

    name: str
    children: tuple[Block, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        if not self.children:
            return self.name
        return f"{self.name}({', '.join(str(c) for c in self.children)})"


# ------------------------------------------------------------------------------------------
# Reading derivations
# ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_\-.]*)|(\S))")


def parse_blocks(text: str) -> Block:
    """Parse the functional notation ``Name(child, child, ...)`` into a :class:`Block` tree.

    Raises:
        GrammarError: The text is not well formed; the message gives the position.
    """
    tokens: list[tuple[str, int]] = []
    for m in _TOKEN.finditer(text):
        if m.group(1):
            tokens.append((m.group(1), m.start(1)))
        elif m.group(2):
            tokens.append((m.group(2), m.start(2)))
    pos = 0

    def expect_name() -> Block:
        nonlocal pos
        if pos >= len(tokens) or not re.match(r"[A-Za-z_]", tokens[pos][0]):
            where = tokens[pos][1] if pos < len(tokens) else len(text)
            raise GrammarError(f"expected a block name at position {where} of {text!r}")
        name = tokens[pos][0]
        pos += 1
        children: list[Block] = []
        if pos < len(tokens) and tokens[pos][0] == "(":
            pos += 1
            while True:
                children.append(expect_name())
                if pos < len(tokens) and tokens[pos][0] == ",":
                    pos += 1
                    continue
                if pos < len(tokens) and tokens[pos][0] == ")":
                    pos += 1
                    break
                where = tokens[pos][1] if pos < len(tokens) else len(text)
                raise GrammarError(f"expected ',' or ')' at position {where} of {text!r}")
        return Block(name, tuple(children))

    tree = expect_name()
    if pos != len(tokens):
        raise GrammarError(f"unexpected text at position {tokens[pos][1]} of {text!r}")
    return tree


def to_block(derivation: Any) -> Block:
    """Convert a derivation into a :class:`Block` tree.

    Accepts a :class:`Block`, a functional-notation string (:func:`parse_blocks`), or a
    :class:`jahs_bo.spaces.grammar.Derivation` (``symbol`` and ``children``, terminals as leaf
    children). For a derivation, nodes with one child are transparent (``OPS -> "id"`` is the
    ``id`` block), a node whose first child is a terminal is that building block applied to the
    remaining children, and a node without such a head is its children in sequence.
    For a grammar derivation *string*, parse it first with the domain
    (``GrammarDomain.parse``) or pass it to :func:`build_hierarchical` with ``grammar=``.
    """
    if isinstance(derivation, Block):
        return derivation
    if isinstance(derivation, str):
        return parse_blocks(derivation)
    children = getattr(derivation, "children", None)
    symbol = getattr(derivation, "symbol", None)
    if children is None or symbol is None:
        raise InvalidConfigError(
            f"cannot read a derivation from {type(derivation).__name__} {derivation!r}; pass a "
            "Derivation, a Block or a 'Name(child, ...)' string"
        )
    node = derivation
    while len(node.children) == 1:  # transparent single-child nodes
        node = node.children[0]
    if not node.children:
        return Block(str(node.symbol))
    first = node.children[0]
    if not first.children:  # a terminal head: the building block
        return Block(str(first.symbol), tuple(to_block(c) for c in node.children[1:]))
    kids = tuple(to_block(c) for c in node.children)
    return Block(f"Linear{len(kids)}", kids)


# ------------------------------------------------------------------------------------------
# Building modules
# ------------------------------------------------------------------------------------------


class Residual(nn.Module):
    """``main(x) + skip(x)``; input ``batch x C x H x W``."""

    def __init__(self, main: nn.Module, skip: nn.Module) -> None:
        super().__init__()
        self.main = main
        self.skip = skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + self.skip(x)


def _norm(kind: str) -> Callable[[int], nn.Module]:
    return {
        "batch": nn.BatchNorm2d,
        "instance": lambda c: nn.InstanceNorm2d(c, affine=True),
        "layer": lambda c: nn.GroupNorm(1, c),  # layer norm over C x H x W
    }[kind]


#: Bare convolutions (used inside conv blocks with an activation and a normalisation).
_CONVS: dict[str, Callable[[int], nn.Module]] = {
    "conv1x1o": lambda c: nn.Conv2d(c, c, 1, bias=False),
    "conv3x3o": lambda c: nn.Conv2d(c, c, 3, padding=1, bias=False),
    "dconv3x3o": lambda c: nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False),
}
_ALIASES = {
    "dconv3x3": "dconv3x3o",
    "nor_conv_3x3": "conv3x3",
    "nor_conv_1x1": "conv1x1",
    "identity": "id",
    "skip": "id",
    "skip_connect": "id",
    "none": "zero",
    "avg_pool_3x3": "avg_pool",
    "avgpool": "avg_pool",
    "down": "resBlock",
    "resblock": "resBlock",
    "reduction": "resBlock",
    "bn": "batch",
    "in": "instance",
    "ln": "layer",
}


class _Builder:
    """Turns a :class:`Block` tree into modules, tracking channels (resolution halves at each
    ``resBlock``)."""

    def __init__(self, activation_default: str = "relu") -> None:
        self.activation_default = activation_default

    def build(self, block: Block, c: int) -> tuple[nn.Module, int]:
        name = _ALIASES.get(block.name, _ALIASES.get(block.name.lower(), block.name))
        kids = block.children
        if m := _LINEAR.match(name):
            self._arity(block, int(m.group(1)))
            return self._sequence(kids, c)
        if m := _RESIDUAL.match(name):
            self._arity(block, int(m.group(1)) + 1)
            main, c_main = self._sequence(kids[:-1], c)
            skip, c_skip = self.build(kids[-1], c)
            if c_main != c_skip:
                raise InvalidConfigError(
                    f"the two paths of {_short(block)} end with {c_main} and {c_skip} channels; "
                    "both must change the resolution the same number of times"
                )
            return Residual(main, skip), c_main
        if name == "Cell":
            self._arity(block, 6)
            ops = []
            for child, (j, k) in zip(kids, _NB201_EDGES, strict=True):
                op, c_op = self.build(child, c)
                if c_op != c:
                    raise InvalidConfigError(
                        f"cell edge {j}->{k} ({_short(child)}) changes the channels {c} -> {c_op}; "
                        "cell operations must keep the shape"
                    )
                ops.append((op, j, k))
            return NB201Cell(ops, c), c
        if name == "resBlock":
            self._arity(block, 0)
            return ReductionBlock(c, 2 * c, self.activation_default), 2 * c
        leaf = self._leaf(name, c)
        if leaf is not None:
            self._arity(block, 0)
            return leaf, c
        raise InvalidConfigError(
            f"unknown building block {block.name!r} in {_short(block)}; known: LinearK, "
            "SequentialK, ResidualK, Cell, resBlock, id, zero, avg_pool, relu, hardswish, mish, "
            "conv1x1o, conv3x3o, dconv3x3o (bare), conv1x1, conv3x3 (ReLU-conv-BN), batch, "
            "instance, layer"
        )

    def _leaf(self, name: str, c: int) -> nn.Module | None:
        if name == "id":
            return nn.Identity()
        if name == "zero":
            return Zero()
        if name == "avg_pool":
            return avg_pool_3x3()
        if name.lower() in ("relu", "hardswish", "mish"):
            return make_activation(name)
        if name in _CONVS:
            return _CONVS[name](c)
        if name in ("conv1x1", "conv3x3"):  # NB201's full ReLU-conv-BN operations
            return ActConvBN(c, c, int(name[-1]), 1, self.activation_default)
        if name in ("batch", "instance", "layer"):
            return _norm(name)(c)
        return None

    def _sequence(self, kids: Sequence[Block], c: int) -> tuple[nn.Module, int]:
        mods = []
        for kid in kids:
            mod, c = self.build(kid, c)
            mods.append(mod)
        return (mods[0] if len(mods) == 1 else nn.Sequential(*mods)), c

    @staticmethod
    def _arity(block: Block, n: int) -> None:
        if len(block.children) != n:
            raise InvalidConfigError(
                f"block {block.name!r} needs {n} children, got {len(block.children)} in "
                f"{_short(block)}"
            )


def _short(block: Block, limit: int = 120) -> str:
    text = str(block)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class HierarchicalNetwork(nn.Module):
    """Stem, the derived body, BN-activation, global average pooling and a linear classifier.

    Args:
        derivation: The derivation (see :func:`to_block` for accepted forms).
        channels: Stem width ``C``.
        num_classes: Classifier outputs.
        in_channels: Image channels.
        activation: Activation of the reduction blocks and the head.

    Input ``batch x in_channels x H x W``, output ``batch x num_classes`` logits.
    """

    def __init__(
        self,
        derivation: Any,
        channels: int = 16,
        num_classes: int = 10,
        in_channels: int = 3,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        block = to_block(derivation)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)
        )
        self.body, c = _Builder(activation).build(block, int(channels))
        self.head = nn.Sequential(
            nn.BatchNorm2d(c), make_activation(activation), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.body(self.stem(x))))


def build_hierarchical(
    derivation: Any,
    *,
    grammar: Any = None,
    channels: int = 16,
    num_classes: int = 10,
    in_channels: int = 3,
    activation: str = "relu",
) -> HierarchicalNetwork:
    """Build the network of a grammar derivation (see :class:`HierarchicalNetwork`).

    Args:
        derivation: A :class:`~jahs_bo.spaces.grammar.Derivation`, a derivation string of
            ``grammar`` (as stored in configurations), a :class:`Block` or a functional-notation
            string.
        grammar: A ``Grammar`` or ``GrammarDomain`` to parse a derivation string with.
        channels: Stem width ``C``.
        num_classes: Classifier outputs.
        in_channels: Image channels.
        activation: Activation of the reduction blocks, NB201 convolutions and the head.

    Example:
        >>> from jahs_bo.spaces import hierarchical_nb201_space
        >>> space = hierarchical_nb201_space()
        >>> arch = space.sample(np.random.default_rng(0))["arch"]
        >>> net = build_hierarchical(arch, grammar=space.architectures["arch"])
    """
    if isinstance(derivation, str) and grammar is not None:
        if hasattr(grammar, "parse"):
            derivation = grammar.parse(derivation)
        else:
            from jahs_bo.spaces.grammar import parse_derivation

            derivation = parse_derivation(grammar, derivation)
    return HierarchicalNetwork(
        derivation,
        channels=channels,
        num_classes=num_classes,
        in_channels=in_channels,
        activation=activation,
    )
