"""Building blocks of NB201-style networks: activations, ReLU-Conv-BN, pooling, reduction block.

Every block takes its channel counts explicitly and keeps the spatial size unless its stride is 2.
Convolutions have no bias and are followed by an affine ``BatchNorm2d`` (the NAS-Bench-201
convention, which the parameter counts of the benchmark table rely on).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from jahs_bo.exceptions import InputError

#: Activation names accepted by the builders (the JAHS-Bench-201 choices), case-insensitive.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "hardswish": nn.Hardswish,
    "mish": nn.Mish,
}


def make_activation(name: str) -> nn.Module:
    """Return a fresh activation module for ``name`` (``ReLU``, ``Hardswish`` or ``Mish``).

    Raises:
        InputError: ``name`` is not a known activation.
    """
    key = str(name).lower()
    if key not in ACTIVATIONS:
        raise InputError(
            f"unknown activation {name!r}; use one of {sorted(ACTIVATIONS)} (case-insensitive)"
        )
    return ACTIVATIONS[key]()


class ActConvBN(nn.Sequential):
    """Activation, convolution (no bias), batch norm: NB201's ``ReLUConvBN`` with any activation.

    Input ``batch x c_in x H x W``, output ``batch x c_out x H/stride x W/stride``.
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__(
            make_activation(activation),
            nn.Conv2d(c_in, c_out, kernel_size, stride, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class Zero(nn.Module):
    """The ``none`` operation: zeros of the input's shape (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def avg_pool_3x3() -> nn.Module:
    """NB201's ``avg_pool_3x3`` (stride 1, padding 1, padding not counted)."""
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


#: NB201 cell operations, ``(channels, activation) -> module`` keeping shape ``C x H x W``.
NB201_OPS: dict[str, Callable[[int, str], nn.Module]] = {
    "none": lambda c, act: Zero(),
    "skip_connect": lambda c, act: nn.Identity(),
    "nor_conv_1x1": lambda c, act: ActConvBN(c, c, 1, 1, act),
    "nor_conv_3x3": lambda c, act: ActConvBN(c, c, 3, 1, act),
    "avg_pool_3x3": lambda c, act: avg_pool_3x3(),
}


class ReductionBlock(nn.Module):
    """NB201's residual reduction block: two act-conv-BN 3x3 (the first with stride 2) plus a
    shortcut (2x2 average pool then a 1x1 convolution), summed.

    Input ``batch x c_in x H x W``, output ``batch x c_out x ceil(H/2) x ceil(W/2)``.
    """

    def __init__(self, c_in: int, c_out: int, activation: str = "relu") -> None:
        super().__init__()
        self.conv_a = ActConvBN(c_in, c_out, 3, 2, activation)
        self.conv_b = ActConvBN(c_out, c_out, 3, 1, activation)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)
