"""Model builders: turn a searched architecture string into a ``torch.nn.Module``."""

from __future__ import annotations

from jahs_bo.nn.hierarchical import (
    Block,
    HierarchicalNetwork,
    build_hierarchical,
    parse_blocks,
    to_block,
)
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
    "NB201Cell",
    "NB201Network",
    "ReductionBlock",
    "build_jahs",
    "build_nb201",
    "count_parameters",
    "jahs_cell_string",
    "make_activation",
    "parse_nb201_cell",
]
