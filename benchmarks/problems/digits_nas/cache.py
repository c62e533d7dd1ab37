"""A JSON-lines cache of trained results keyed by (space, architecture, protocol key, seed).

Each line is one training run: ``{"space", "arch", "protocol", "seed", "val_acc", "test_acc",
"seconds", "params"}``. Lines are appended and flushed as runs finish, so a generator killed
midway keeps what it trained and a rerun skips it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.problems.digits_nas.protocol import Protocol

Key = tuple[str, str, str, int]
METRICS: tuple[str, ...] = ("val_acc", "test_acc", "seconds", "params")


def _number(v: Any) -> float:
    """JSON ``null`` (a diverged run) back to ``nan``."""
    return math.nan if v is None else float(v)


class TrainCache:
    """Results of trained networks in one JSON-lines file.

    Args:
        path: The ``.jsonl`` file (created with its folder on the first :meth:`put`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows: dict[Key, dict[str, Any]] = {}
        if self.path.exists():
            with self.path.open() as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        for m in METRICS:
                            row[m] = _number(row.get(m))
                        self._rows[self._key_of(row)] = row

    @staticmethod
    def _key_of(row: dict[str, Any]) -> Key:
        return (str(row["space"]), str(row["arch"]), str(row["protocol"]), int(row["seed"]))

    @staticmethod
    def key(space: str, arch: str, protocol: Protocol | str, seed: int) -> Key:
        """The cache key; ``protocol`` may be a :class:`Protocol` or its ``key()``."""
        pkey = protocol.key() if isinstance(protocol, Protocol) else str(protocol)
        return (space, arch, pkey, int(seed))

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self._rows.values()))

    def get(
        self, space: str, arch: str, protocol: Protocol | str, seed: int
    ) -> dict[str, Any] | None:
        """The stored row, or ``None`` if this run is not cached."""
        return self._rows.get(self.key(space, arch, protocol, seed))

    def put(
        self,
        space: str,
        arch: str,
        protocol: Protocol | str,
        seed: int,
        metrics: dict[str, float],
    ) -> dict[str, Any]:
        """Store one run (appended to the file at once) and return its row."""
        space_, arch_, pkey, seed_ = self.key(space, arch, protocol, seed)
        row: dict[str, Any] = {"space": space_, "arch": arch_, "protocol": pkey, "seed": seed_}
        row.update({m: float(metrics[m]) for m in METRICS})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plain = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(plain, sort_keys=True) + "\n")
            f.flush()
        self._rows[(space_, arch_, pkey, seed_)] = row
        return row

    def train_cached(self, space: str, arch: str, protocol: Protocol, seed: int) -> dict[str, Any]:
        """The cached row, training (and storing) it first if missing."""
        row = self.get(space, arch, protocol, seed)
        if row is None:
            from benchmarks.problems.digits_nas.train import train

            row = self.put(space, arch, protocol, seed, train(space, arch, protocol, seed))
        return row
