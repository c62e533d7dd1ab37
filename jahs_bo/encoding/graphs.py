"""Graph views of architectures: networkx DAGs to torch-geometric ``Data``."""

from __future__ import annotations

import networkx as nx
import torch

from jahs_bo.exceptions import InvalidConfigError


def graph_to_pyg(graph: nx.DiGraph, vocabulary: list[str]):
    """Convert a labelled DAG to ``torch_geometric.data.Data``.

    Args:
        graph: Nodes ``0..n-1`` with a ``"label"`` attribute.
        vocabulary: Ordered list of every possible label.

    Returns:
        ``Data(x=n x len(vocabulary) one-hot float, edge_index=2 x m long, labels=list[str])``.
    """
    from torch_geometric.data import Data

    index = {label: i for i, label in enumerate(vocabulary)}
    n = graph.number_of_nodes()
    x = torch.zeros(n, len(vocabulary))
    for node, data in graph.nodes(data=True):
        label = data["label"]
        if label not in index:
            raise InvalidConfigError(
                f"node label {label!r} is not in the vocabulary {vocabulary}; "
                "pass the domain's labels()"
            )
        x[node, index[label]] = 1.0
    edges = list(graph.edges())
    if edges:
        edge_index = torch.tensor(edges, dtype=torch.long).t().contiguous()
    else:
        edge_index = torch.zeros(2, 0, dtype=torch.long)
    return Data(x=x, edge_index=edge_index, num_nodes=n)
