"""NB201 cell strings (with the JAHS-Bench-201 N/W/activation settings) as ``torch.nn.Module``.

The macro skeleton is NAS-Bench-201's (Dong & Yang, 2020): a 3x3 stem convolution with ``C``
channels and batch norm, three stages of ``N`` cells separated by residual reduction blocks
(stride 2, channels doubled), a final BN-activation, global average pooling and a linear
classifier. JAHS-Bench-201 (Bansal et al., 2022) varies ``N`` (cells per stage), ``W`` (the
stem width ``C``), the activation and the input resolution; the network is fully convolutional,
so the resolution is simply the size of the input images.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from jahs_bo.exceptions import InvalidConfigError
from jahs_bo.nn.ops import NB201_OPS, ReductionBlock, make_activation

#: An edge of an NB201 cell: ``(operation, from_node, to_node)``, nodes ``0..3``.
Edge = tuple[str, int, int]

_EDGE_RE = re.compile(r"^([a-z0-9_]+)~(\d+)$")


def parse_nb201_cell(arch: str) -> list[Edge]:
    """Parse an NB201 cell string such as ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``.

    The ``k``-th ``+``-separated group lists the edges into node ``k`` (``op~j`` is the operation
    on edge ``j -> k``).

    Returns:
        The six edges ``(op, j, k)`` in string order.

    Raises:
        InvalidConfigError: The string is not an NB201 cell; the message names the bad part.
    """
    if not isinstance(arch, str):
        raise InvalidConfigError(f"NB201 cell must be a string, got {arch!r}")
    groups = arch.strip().split("+")
    if len(groups) != 3:
        raise InvalidConfigError(
            f"NB201 cell {arch!r} has {len(groups)} '+'-separated node groups; expected 3, "
            "like '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|'"
        )
    edges: list[Edge] = []
    for k, group in enumerate(groups, start=1):
        parts = [p for p in group.strip().strip("|").split("|")]
        if len(parts) != k:
            raise InvalidConfigError(
                f"node {k} of NB201 cell {arch!r} has {len(parts)} incoming edges; expected {k}"
            )
        for j, part in enumerate(parts):
            m = _EDGE_RE.match(part.strip())
            if m is None or int(m.group(2)) != j or m.group(1) not in NB201_OPS:
                raise InvalidConfigError(
                    f"bad edge {part!r} into node {k} of NB201 cell {arch!r}; expected "
                    f"'<op>~{j}' with <op> in {sorted(NB201_OPS)}"
                )
            edges.append((m.group(1), j, k))
    return edges


class NB201Cell(nn.Module):
    """A cell: node ``k`` is the sum of the operations on its incoming edges ``j -> k``.

    ``none`` edges are dropped (they add zeros); a node with no other edge is zero. The cell
    keeps the shape: input and output are ``batch x C x H x W``.

    Args:
        edges: The cell's edges (see :func:`parse_nb201_cell`); operations or modules.
        channels: ``C``.
        activation: Activation inside the convolutions.
    """

    def __init__(
        self,
        edges: Sequence[tuple[str | nn.Module, int, int]],
        channels: int,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        self.n_nodes = 1 + max((k for _, _, k in edges), default=0)
        self.ops = nn.ModuleList()
        self.links: list[tuple[int, int]] = []
        for op, j, k in edges:
            if not 0 <= j < k:
                raise InvalidConfigError(f"edge {j} -> {k} does not go forward in the cell")
            if isinstance(op, str):
                if op == "none":
                    continue
                op = NB201_OPS[op](channels, activation)
            self.ops.append(op)
            self.links.append((j, k))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes: list[torch.Tensor | None] = [x] + [None] * (self.n_nodes - 1)
        for k in range(1, self.n_nodes):
            total: torch.Tensor | None = None
            for op, (j, kk) in zip(self.ops, self.links, strict=True):
                if kk != k:
                    continue
                src = nodes[j]
                if src is None:  # a zero node feeds zeros
                    src = torch.zeros_like(x)
                out = op(src)
                total = out if total is None else total + out
            nodes[k] = total
        out = nodes[-1]
        return torch.zeros_like(x) if out is None else out


class NB201Network(nn.Module):
    """The NB201 macro skeleton around one cell type.

    Args:
        cell: A callable ``channels -> nn.Module`` building one cell of ``channels`` channels
            (shape-preserving), or an NB201 cell string.
        channels: Stem width ``C`` (JAHS-Bench-201's ``W``); stages use ``C, 2C, 4C``.
        cells_per_stage: ``N``.
        num_classes: Size of the classifier output.
        activation: ``ReLU``, ``Hardswish`` or ``Mish`` (cells, reduction blocks, final act).
        in_channels: Channels of the input images (3 for RGB, 1 for grey).

    Input ``batch x in_channels x H x W`` (any ``H, W >= 1``), output ``batch x num_classes``
    logits.
    """

    def __init__(
        self,
        cell: str | Any,
        channels: int = 16,
        cells_per_stage: int = 5,
        num_classes: int = 10,
        activation: str = "relu",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        for name, v in (("channels", channels), ("cells_per_stage", cells_per_stage)):
            if int(v) != v or v < 1:
                raise InvalidConfigError(f"{name} must be a positive integer, got {v!r}")
        if isinstance(cell, str):
            edges = parse_nb201_cell(cell)

            def cell(c: int, _e: list[Edge] = edges) -> nn.Module:
                return NB201Cell(_e, c, activation)

        make_activation(activation)  # validates the name early
        c = int(channels)
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, c, 3, padding=1, bias=False),
            nn.BatchNorm2d(c),
        ]
        for stage in range(3):
            if stage > 0:
                layers.append(ReductionBlock(c, 2 * c, activation))
                c *= 2
            layers.extend(cell(c) for _ in range(int(cells_per_stage)))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(c),
            make_activation(activation),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.features(x)))


def build_nb201(
    arch: str,
    *,
    channels: int = 16,
    cells_per_stage: int = 5,
    num_classes: int = 10,
    activation: str = "relu",
    in_channels: int = 3,
) -> NB201Network:
    """Build the NB201 network of cell string ``arch``.

    The defaults are NAS-Bench-201's CIFAR-10 network (``C=16``, ``N=5``, ReLU): its parameter
    count equals the benchmark table's ``c10_params_M`` (in millions, see
    :func:`count_parameters`).

    Example:
        >>> net = build_nb201("|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|")
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    return NB201Network(
        arch,
        channels=channels,
        cells_per_stage=cells_per_stage,
        num_classes=num_classes,
        activation=activation,
        in_channels=in_channels,
    )


#: JAHS-Bench-201's operation indices (NASLib order) and its edge order ``Op1..Op6``.
_JAHS_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_JAHS_EDGES = ((0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3))


def jahs_cell_string(config: Mapping[str, Any]) -> str:
    """The NB201 cell string of a JAHS-Bench-201 configuration.

    Accepts, in this order of precedence:

    * an architecture key holding a cell string (``"arch"``, ``"Arch"`` or ``"cell"``), as in
      :func:`jahs_bo.spaces.jahs_bench_201_space` configurations;
    * ``Op1..Op6`` operation *names*, as exported by ``SearchSpace.to_configspace`` (edges in
      NB201 string order ``1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2``);
    * ``Op1..Op6`` *integers* as in the JAHS-Bench-201 tables (NASLib's coding: 0 skip, 1 none,
      2 conv 3x3, 3 conv 1x1, 4 avg pool; edges ``0->1, 0->2, 0->3, 1->2, 1->3, 2->3``).
    """
    for key in ("arch", "Arch", "cell"):
        if key in config:
            parse_nb201_cell(config[key])
            return config[key]
    try:
        raw = [config[f"Op{i}"] for i in range(1, 7)]
        if all(isinstance(v, str) for v in raw):
            from jahs_bo.spaces.nb201 import NB201Cell as NB201CellDomain

            return NB201CellDomain().from_ops(raw)
        ops = {edge: _JAHS_OPS[int(v)] for edge, v in zip(_JAHS_EDGES, raw, strict=True)}
    except (KeyError, IndexError, ValueError, TypeError):
        raise InvalidConfigError(
            "configuration has no NB201 cell: give 'arch' (a cell string) or Op1..Op6 "
            f"(NB201 operation names or JAHS-Bench-201 codes 0..4); got {dict(config)!r}"
        ) from None
    groups = ["|".join(f"{ops[(j, k)]}~{j}" for j in range(k)) for k in (1, 2, 3)]
    return "+".join(f"|{g}|" for g in groups)


def build_jahs(
    config: Mapping[str, Any],
    fidelity: Mapping[str, Any] | None = None,
    *,
    num_classes: int = 10,
    in_channels: int = 3,
) -> NB201Network:
    """Build the network of a JAHS-Bench-201 configuration.

    Reads the cell (see :func:`jahs_cell_string`) and ``Activation`` (default ``ReLU``) from
    ``config``, and ``N`` (cells per stage, default 5) and ``W`` (stem width, default 16) from
    ``fidelity`` or else ``config`` (JAHS-Bench-201 treats them as fidelities). ``Resolution``
    is a property of the input: resize the images by it before calling the network.
    """
    merged = {**dict(config), **dict(fidelity or {})}
    return NB201Network(
        jahs_cell_string(config),
        channels=int(merged.get("W", 16)),
        cells_per_stage=int(merged.get("N", 5)),
        num_classes=num_classes,
        activation=str(merged.get("Activation", "relu")),
        in_channels=in_channels,
    )


def count_parameters(module: nn.Module) -> float:
    """Number of trainable parameters in millions (NB201's ``params_M`` convention)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad) / 1e6
