"""The digits tasks: fixed, seeded variants of scikit-learn's bundled 8x8 digits (no download).

Every task starts from the 1,797 grey images (pixels scaled to ``[0, 1]``), changes the images, the
labels or the classes, and splits what it keeps, stratified, into train / validation / test. The
changes are drawn once from ``numpy.random.default_rng(TaskSpec.seed)``:

- ``clean``: the digits as they are.
- ``rotated``: each image rotated by an angle uniform in [-45, 45] degrees, plus pixel noise 0.1.
- ``lowres``: each image averaged over 2x2 blocks (4x4) and blown back up to 8x8.
- ``label-noise``: 40 % of the training labels replaced by a uniform random class (validation
  and test labels are clean).
- ``classes-5-9``: only the digits 5 to 9 (five classes, 896 images), with pixel noise 0.25.
- ``parity``: two classes, even and odd digits, on the 4x4 images of ``lowres``.

Each task trains on 200 images (a small training set keeps the networks apart in a few epochs)
and validates and tests on 500 (250 for the five-class task).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from benchmarks.problems.digits_nas.protocol import _stratified_split


@dataclass(frozen=True)
class TaskSpec:
    """One digits task.

    Attributes:
        name: Task name.
        change: ``"none"``, ``"rotate"``, ``"lowres"``, ``"label-noise"``, ``"subset"`` or
            ``"parity"``.
        sizes: Train, validation and test images.
        seed: Seed of the split and of the change.
    """

    name: str
    change: str
    sizes: tuple[int, int, int] = (200, 500, 500)
    seed: int = 0


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec("clean", "none", seed=1),
        TaskSpec("rotated", "rotate", seed=2),
        TaskSpec("lowres", "lowres", seed=3),
        TaskSpec("label-noise", "label-noise", seed=4),
        TaskSpec("classes-5-9", "subset", sizes=(200, 250, 250), seed=5),
        TaskSpec("parity", "parity", seed=6),
    )
}


def _rotate(x: np.ndarray, rng: np.random.Generator, degrees: float) -> np.ndarray:
    """Rotate ``n x 8 x 8`` images by angles uniform in ``[-degrees, degrees]`` (bilinear)."""
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(x[:, None].astype(np.float32))
    angles = np.deg2rad(rng.uniform(-degrees, degrees, size=len(x)))
    theta = np.zeros((len(x), 2, 3), dtype=np.float32)
    theta[:, 0, 0], theta[:, 0, 1] = np.cos(angles), -np.sin(angles)
    theta[:, 1, 0], theta[:, 1, 1] = np.sin(angles), np.cos(angles)
    grid = F.affine_grid(torch.from_numpy(theta), list(t.shape), align_corners=False)
    out = F.grid_sample(t, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out[:, 0].numpy()


def _images_labels(spec: TaskSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
    """The task's ``n x 8 x 8`` images, labels and class count (before the split)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    if spec.change == "rotate":
        x = _rotate(x, rng, 45.0) + rng.normal(0.0, 0.1, size=x.shape).astype(np.float32)
    elif spec.change in ("lowres", "parity"):
        blocks = x.reshape(len(x), 4, 2, 4, 2).mean(axis=(2, 4))
        x = np.repeat(np.repeat(blocks, 2, axis=1), 2, axis=2)
        if spec.change == "parity":
            return x, y % 2, 2
    elif spec.change == "subset":
        keep = y >= 5
        x, y = x[keep], y[keep] - 5
        x = x + rng.normal(0.0, 0.25, size=x.shape).astype(np.float32)
        return x, y, 5
    elif spec.change not in ("none", "label-noise"):
        raise ValueError(f"unknown task change {spec.change!r}")
    return x, y, 10


@lru_cache(maxsize=8)
def load_task(name: str) -> tuple[dict[str, tuple[Any, Any]], int]:
    """The task's data and class count.

    Returns:
        ``({"train"|"val"|"test": (images n x 1 x 8 x 8 float32 tensor, int64 labels)}, classes)``.
    """
    import torch

    if name not in TASKS:
        raise ValueError(f"unknown digits task {name!r}; use one of {sorted(TASKS)}")
    spec = TASKS[name]
    rng = np.random.default_rng(spec.seed)
    x, y, classes = _images_labels(spec, rng)
    parts = _stratified_split(y, spec.sizes, rng)
    data: dict[str, tuple[Any, Any]] = {}
    for part, idx in zip(("train", "val", "test"), parts, strict=True):
        labels = y[idx].copy()
        if spec.change == "label-noise" and part == "train":
            flip = rng.random(len(labels)) < 0.4
            labels[flip] = rng.integers(classes, size=int(flip.sum()))
        images = torch.from_numpy(np.ascontiguousarray(x[idx][:, None], dtype=np.float32))
        data[part] = (images, torch.from_numpy(labels))
    return data, classes


def task_samples(name: str, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` training images of the task (all 200 by default), flattened, with labels.

    Returns:
        ``(X, y)``: ``X`` of shape ``min(n, 200) x 64`` (float32), ``y`` of shape ``n`` (int64): what a
        user would pass to the transfer searcher as samples of the dataset.
    """
    data, _ = load_task(name)
    x, y = data["train"]
    return x[:n].reshape(min(n, len(x)), -1).numpy(), y[:n].numpy()
