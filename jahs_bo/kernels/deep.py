"""Deep graph kernel: a GIN encoder feeding a stationary base kernel.

``k(a, b) = k_base(g(a), g(b))`` where ``g`` embeds an architecture's graph with
graph-isomorphism-network layers and sum pooling (Xu et al., 2019). The encoder's weights are
kernel hyperparameters, trained on the study's own data through the GP marginal likelihood.
(The meta-learned model of :mod:`jahs_bo.metalearn` embeds architectures with the same
encoder, ``bidirectional=True``, pretrained on earlier tasks.)
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from gpytorch.kernels import Kernel, MaternKernel
from torch import Tensor, nn

from jahs_bo.encoding.store import ArchitectureStore
from jahs_bo.kernels.wl import _index_column


class GINEncoder(nn.Module):
    """Graph -> vector: ``layers`` GINConv layers, sum pooling, a linear head.

    The shared architecture encoder of :class:`DeepGraphKernel` and of the meta-learned model in
    :mod:`jahs_bo.metalearn`.

    Args:
        in_channels: Width of the one-hot node features (the domain's label vocabulary).
        hidden: Hidden width.
        out_channels: Embedding width.
        layers: Number of message-passing layers.
        bidirectional: Also pass messages against the edges (each node is refined by its
            predecessors and its successors, like the WL features with ``direction="both"``);
            a second GINConv per layer does it.
    """

    def __init__(
        self,
        in_channels: int,
        hidden: int = 32,
        out_channels: int = 8,
        layers: int = 2,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GINConv

        def conv(width: int) -> nn.Module:
            mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
            return GINConv(mlp, train_eps=True)

        self.bidirectional = bidirectional
        self.convs = nn.ModuleList()
        self.back_convs = nn.ModuleList()
        width = in_channels
        for _ in range(layers):
            self.convs.append(conv(width))
            if bidirectional:
                self.back_convs.append(conv(width))
            width = hidden
        self.head = nn.Linear(hidden, out_channels)

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Embed a batch of graphs.

        Args:
            x: ``total_nodes x in_channels`` node features.
            edge_index: ``2 x total_edges``.
            batch: ``total_nodes`` graph id of each node.
            num_graphs: Number of graphs in the batch.

        Returns:
            ``num_graphs x out_channels``.
        """
        from torch_geometric.nn import global_add_pool

        h = x
        back = edge_index.flip(0) if self.bidirectional else None
        for k, conv in enumerate(self.convs):
            out = conv(h, edge_index)
            if back is not None:
                out = out + self.back_convs[k](h, back)
            h = torch.relu(out)
        return self.head(global_add_pool(h, batch, size=num_graphs))


class DeepGraphKernel(Kernel):
    """A base kernel over GNN embeddings of the architectures an index column points to.

    Args:
        store: Where the indices point (its ``value(i)`` gives the architecture string).
        to_pyg: Architecture string -> ``torch_geometric.data.Data`` (e.g. ``domain.to_pyg``).
        encoder: Maps a graph batch to embeddings (default :class:`GINEncoder`; needs
            ``in_channels``).
        base_kernel: Kernel over embeddings (default Matern-5/2 with ARD).
        in_channels: Node feature width, used when ``encoder`` is ``None``.
        out_channels: Embedding width, used when ``encoder``/``base_kernel`` are ``None``.
        **kwargs: Passed to ``gpytorch.kernels.Kernel`` (``active_dims=[column]``).
    """

    has_lengthscale = False

    def __init__(
        self,
        store: ArchitectureStore,
        to_pyg: Callable[[str], object],
        encoder: nn.Module | None = None,
        base_kernel: Kernel | None = None,
        in_channels: int | None = None,
        out_channels: int = 8,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if encoder is None:
            if in_channels is None:
                raise ValueError("DeepGraphKernel needs in_channels when no encoder is given")
            encoder = GINEncoder(in_channels, out_channels=out_channels)
        self.store = store
        self.to_pyg = to_pyg
        self.encoder = encoder.double()
        self.base_kernel = base_kernel or MaternKernel(nu=2.5, ard_num_dims=out_channels)
        self._graphs: dict[str, object] = {}
        self._batch: tuple[bytes, object] | None = None

    def embed(self, indices: Tensor) -> Tensor:
        """``m`` store indices -> ``m x out_channels`` embeddings."""
        from torch_geometric.data import Batch

        key = indices.numpy().tobytes()
        if self._batch is not None and self._batch[0] == key:
            batch = self._batch[1]
            return self.encoder(batch.x.double(), batch.edge_index, batch.batch, batch.num_graphs)
        data = []
        for i in indices.tolist():
            value = self.store.value(i)
            g = self._graphs.get(value)
            if g is None:
                g = self.to_pyg(value)
                self._graphs[value] = g
            data.append(g)
        batch = Batch.from_data_list(data)
        self._batch = (key, batch)  # fitting re-embeds the same training graphs every step
        return self.encoder(batch.x.double(), batch.edge_index, batch.batch, num_graphs=len(data))

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params) -> Tensor:
        i1, i2 = _index_column(x1), _index_column(x2)
        u, inv = torch.unique(torch.cat([i1.reshape(-1), i2.reshape(-1)]), return_inverse=True)
        z = self.embed(u).to(x1)
        z1 = z[inv[: i1.numel()]].view(*i1.shape, -1)
        z2 = z[inv[i1.numel() :]].view(*i2.shape, -1)
        return self.base_kernel.forward(z1, z2, diag=diag, **params)
