"""Model builders: turn a searched architecture string into a ``torch.nn.Module``.

NB201 cells (:func:`build_nb201`, :func:`build_jahs`), NB101 cells (:func:`build_nb101`) and
grammar derivations (:func:`build_hierarchical`).
"""

from __future__ import annotations

from jahs_bo.nn.hierarchical import (
    Block,
    HierarchicalNetwork,
    build_hierarchical,
    parse_blocks,
    to_block,
)
from jahs_bo.nn.nb101 import NB101Network, build_nb101, nb101_vertex_channels
from jahs_bo.nn.nb201 import (
    NB201Cell,
    NB201Network,
    build_jahs,
    build_nb201,
    count_parameters,
    jahs_cell_string,
    parse_nb201_cell,
)
from jahs_bo.nn.ops import ActConvBN, ReductionBlock, make_activation

__all__ = [
    "Block",
    "HierarchicalNetwork",
    "build_hierarchical",
    "parse_blocks",
    "to_block",
    "ActConvBN",
    "NB101Network",
    "NB201Cell",
    "NB201Network",
    "ReductionBlock",
    "build_jahs",
    "build_nb101",
    "build_nb201",
    "count_parameters",
    "jahs_cell_string",
    "make_activation",
    "nb101_vertex_channels",
    "parse_nb201_cell",
]
