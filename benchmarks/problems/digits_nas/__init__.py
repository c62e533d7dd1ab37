"""Digits NAS: real training of grammar and NB201 networks on scikit-learn's bundled digits.

``protocol``: the frozen :class:`Protocol` (split, image transformation, network width, epochs,
optimizer) and its data; ``train``: ``train(space, arch, protocol, seed)`` with the library
builders; ``cache``: the JSON-lines :class:`TrainCache`; ``generate``: the CLI that trains random
architectures into the cache and writes the committed table. torch and jahs_bo are imported
lazily, so importing this package stays cheap.
"""

from __future__ import annotations

from benchmarks.problems.digits_nas.cache import TrainCache
from benchmarks.problems.digits_nas.protocol import PROTOCOL_VERSION, Protocol, load_data

__all__ = ["PROTOCOL_VERSION", "Protocol", "TrainCache", "load_data"]
