"""NAS-Bench-101 cells (operations on nodes) as ``torch.nn.Module`` (Ying et al., 2019).

The network skeleton is the one NAS-Bench-101 trained: a stem (3x3 convolution with 128 channels,
batch norm, ReLU), three stacks of three cells, a 2x2 max pool with stride 2 before the second and
the third stack (the first cell after a pool doubles the channels), global average pooling and a
dense classifier.

Inside a cell with ``C_in`` input and ``C_out`` output channels (the paper's Sec. 2.1 and the
dataset's model builder, rewritten from the description):

* Channels. The ``k`` interior vertices that feed the output vertex split ``C_out`` between them
  (``C_out // k`` each, the first ``C_out % k`` of them one more) and the output concatenates
  them. Every other interior vertex takes the largest channel count among its interior
  successors, going backwards through the topological order.
* Inputs of a vertex. An edge from the cell input goes through a *projection* (1x1 conv-BN-ReLU,
  ``C_in`` to the vertex's channels); an edge from another interior vertex passes its first
  channels (*truncation*, no parameters); the inputs are summed, then the vertex applies its
  operation: ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` (channels unchanged) or ``maxpool3x3``
  (stride 1, no parameters).
* Output. The concatenation of the vertices that feed the output, plus a projection of the cell
  input when the input is connected to the output directly; a cell whose only edge is
  ``input -> output`` is that projection alone.

Cells are given as :class:`~jahs_bo.spaces.NB101Cell` values (``"<rows>|<labels>"`` strings, a
``{"matrix", "ops"}`` mapping or a ``(matrix, ops)`` pair); they are validated and pruned by the
domain first (vertices off every input-to-output path are dropped, as NAS-Bench-101 does), so the
parameter counts are those of the dataset's ``trainable_parameters``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from jahs_bo.exceptions import InputError, InvalidConfigError

__all__ = [
    "NB101_STEM_CHANNELS",
    "ConvBNReLU",
    "NB101CellModule",
    "NB101Network",
    "build_nb101",
    "nb101_vertex_channels",
]

#: Width of the NAS-Bench-101 stem (and of the first stack).
NB101_STEM_CHANNELS = 128


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias, "same" padding), batch norm, ReLU: NAS-Bench-101's ``conv-bn-relu``.

    Input ``batch x c_in x H x W``, output ``batch x c_out x H x W``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )


def _operation(label: str, channels: int) -> nn.Module:
    if label == "conv3x3-bn-relu":
        return ConvBNReLU(channels, channels, 3)
    if label == "conv1x1-bn-relu":
        return ConvBNReLU(channels, channels, 1)
    if label == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise InvalidConfigError(
        f"unknown NAS-Bench-101 operation {label!r}; expected conv3x3-bn-relu, conv1x1-bn-relu "
        "or maxpool3x3"
    )


def nb101_vertex_channels(matrix: list[list[int]], c_in: int, c_out: int) -> list[int]:
    """Channels of every vertex of a (pruned) cell, input and output included.

    Args:
        matrix: ``n x n`` strictly upper-triangular 0/1 adjacency (``matrix[i][j]``: edge
            ``i -> j``), vertex ``0`` the input and ``n - 1`` the output.
        c_in: Channels of the cell input.
        c_out: Channels of the cell output.

    Returns:
        ``n`` channel counts (see the module docstring for the rule).
    """
    n = len(matrix)
    channels = [0] * n
    channels[0], channels[-1] = c_in, c_out
    feeders = [v for v in range(1, n - 1) if matrix[v][n - 1]]
    if feeders:
        base, extra = divmod(c_out, len(feeders))
        for i, v in enumerate(feeders):
            channels[v] = base + (1 if i < extra else 0)
    for v in range(n - 2, 0, -1):
        if not matrix[v][n - 1]:
            channels[v] = max(channels[w] for w in range(v + 1, n - 1) if matrix[v][w])
    return channels


class NB101CellModule(nn.Module):
    """One NAS-Bench-101 cell (see the module docstring).

    Args:
        matrix: Pruned ``n x n`` adjacency, vertex ``0`` input, ``n - 1`` output.
        labels: ``n`` labels, ``"input"``, operations, ``"output"``.
        c_in: Input channels.
        c_out: Output channels.

    Input ``batch x c_in x H x W``, output ``batch x c_out x H x W``.
    """

    def __init__(self, matrix: list[list[int]], labels: list[str], c_in: int, c_out: int) -> None:
        super().__init__()
        n = len(matrix)
        self.matrix = [list(map(int, row)) for row in matrix]
        self.channels = nb101_vertex_channels(self.matrix, c_in, c_out)
        self.ops = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        for v in range(1, n - 1):
            self.ops[str(v)] = _operation(labels[v], self.channels[v])
            if self.matrix[0][v]:
                self.projections[str(v)] = ConvBNReLU(c_in, self.channels[v], 1)
        self.feeders = [v for v in range(1, n - 1) if self.matrix[v][n - 1]]
        self.output_projection = (
            ConvBNReLU(c_in, c_out, 1) if self.matrix[0][n - 1] or not self.feeders else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = len(self.matrix)
        values: dict[int, torch.Tensor] = {}
        for v in range(1, n - 1):
            width = self.channels[v]
            total: torch.Tensor | None = None
            for u in range(1, v):
                if self.matrix[u][v]:
                    part = values[u][:, :width]
                    total = part if total is None else total + part
            if self.matrix[0][v]:
                part = self.projections[str(v)](x)
                total = part if total is None else total + part
            assert total is not None  # pruned cells give every vertex an input
            values[v] = self.ops[str(v)](total)
        if not self.feeders:
            assert self.output_projection is not None
            return self.output_projection(x)
        out = torch.cat([values[v] for v in self.feeders], dim=1)
        if self.output_projection is not None:
            out = out + self.output_projection(x)
        return out


class NB101Network(nn.Module):
    """The NAS-Bench-101 network around one cell.

    Args:
        matrix: Pruned adjacency of the cell.
        labels: Vertex labels of the cell.
        stem_channels: Width of the stem and the first stack (NAS-Bench-101: 128).
        num_stacks: Stacks of cells (NAS-Bench-101: 3); a 2x2 max pool with stride 2 and a
            doubling of the channels separate them.
        cells_per_stack: Cells per stack (NAS-Bench-101: 3).
        num_classes: Classifier outputs.
        in_channels: Image channels.

    Input ``batch x in_channels x H x W``, output ``batch x num_classes`` logits.
    """

    def __init__(
        self,
        matrix: list[list[int]],
        labels: list[str],
        stem_channels: int = NB101_STEM_CHANNELS,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        num_classes: int = 10,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        for name, value in (
            ("stem_channels", stem_channels),
            ("num_stacks", num_stacks),
            ("cells_per_stack", cells_per_stack),
            ("num_classes", num_classes),
            ("in_channels", in_channels),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a positive int, got {value!r}")
        self.stem = ConvBNReLU(in_channels, stem_channels, 3)
        layers: list[nn.Module] = []
        c = stem_channels
        for stack in range(num_stacks):
            c_out = c
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
                c_out = 2 * c
            for _ in range(cells_per_stack):
                layers.append(NB101CellModule(matrix, labels, c, c_out))
                c = c_out
        self.cells = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.cells(self.stem(x))).flatten(1))


def build_nb101(
    cell: Any,
    *,
    domain: Any = None,
    stem_channels: int = NB101_STEM_CHANNELS,
    num_stacks: int = 3,
    cells_per_stack: int = 3,
    num_classes: int = 10,
    in_channels: int = 3,
) -> NB101Network:
    """Build the NAS-Bench-101 network of a cell.

    Args:
        cell: An :class:`~jahs_bo.spaces.NB101Cell` value: a ``"<rows>|<labels>"`` string (as
            stored in configurations), a ``{"matrix": ..., "ops": ...}`` mapping or a
            ``(matrix, ops)`` pair.
        domain: The :class:`~jahs_bo.spaces.NB101Cell` domain that validates and prunes the cell
            (default: NAS-Bench-101's, at most 7 vertices and 9 edges).
        stem_channels: Width of the stem (NAS-Bench-101: 128).
        num_stacks: Stacks (NAS-Bench-101: 3).
        cells_per_stack: Cells per stack (NAS-Bench-101: 3).
        num_classes: Classifier outputs.
        in_channels: Image channels.

    Raises:
        InvalidConfigError: The cell is not a valid cell of ``domain``.

    Example:
        >>> net = build_nb101("011.001.000|input,conv3x3-bn-relu,output")
        >>> net(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    if domain is None:
        from jahs_bo.spaces import NB101Cell

        domain = NB101Cell()
    matrix, labels = domain.to_spec(cell)
    return NB101Network(
        matrix,
        labels,
        stem_channels=stem_channels,
        num_stacks=num_stacks,
        cells_per_stack=cells_per_stack,
        num_classes=num_classes,
        in_channels=in_channels,
    )
