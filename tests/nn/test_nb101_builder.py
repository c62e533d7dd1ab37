"""NAS-Bench-101 cells as modules: parameter counts of the dataset, channel rule, shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jahs_bo.exceptions import InputError, InvalidConfigError
from jahs_bo.nn import build_nb101, nb101_vertex_channels
from jahs_bo.nn.nb201 import count_parameters
from jahs_bo.spaces import NB101Cell

CONV3 = "conv3x3-bn-relu"
CONV1 = "conv1x1-bn-relu"
POOL = "maxpool3x3"


def _params(net: torch.nn.Module) -> int:
    return round(count_parameters(net) * 1e6)


def test_dataset_example_cell_has_the_published_parameter_count() -> None:
    # The cell the NAS-Bench-101 API documents as its first example record ("fixed_metrics"),
    # with trainable_parameters = 8,555,530 in the dataset.
    matrix = [
        [0, 1, 0, 0, 1, 1, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 1],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    ops = ["input", CONV3, POOL, CONV3, CONV3, CONV1, "output"]
    assert _params(build_nb101((matrix, ops))) == 8_555_530
    # The same cell as a mapping and as its canonical string.
    value = NB101Cell().validate({"matrix": matrix, "ops": ops})
    assert _params(build_nb101(value)) == 8_555_530


def test_largest_cell_matches_the_dataset_maximum() -> None:
    # The largest trainable_parameters in NAS-Bench-101 is 49,979,274. An exhaustive search over
    # every pruned cell (2-7 vertices, <= 9 edges, conv3x3 everywhere, which maximises the count
    # of each topology) with this builder's channel rule finds the same maximum, for this cell:
    # the input feeds vertices 1-4, the chain 1 -> 2 -> 3 -> 4 -> 5 -> output, so every vertex
    # has C_out channels.
    matrix = [
        [0, 1, 1, 1, 1, 0, 0],
        [0, 0, 1, 0, 0, 0, 0],
        [0, 0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    assert _params(build_nb101((matrix, ["input", *[CONV3] * 5, "output"]))) == 49_979_274


def test_resnet_like_cell_hand_count() -> None:
    # input -> conv3x3 -> conv3x3 -> output plus input -> output (a residual block).
    # Per cell (C_in -> C_out): projection C_in*C_out + 2C_out, two 3x3 convs 9C_out^2 + 2C_out,
    # output projection C_in*C_out + 2C_out. Stem 3*9*128 + 256 = 3,712; stack 1: 3 x 328,704;
    # stack 2: 1,247,232 + 2 x 1,312,768; stack 3: 4,984,832 + 2 x 5,246,976; dense 5,130.
    value = "0101.0010.0001.0000|input,conv3x3-bn-relu,conv3x3-bn-relu,output"
    assert _params(build_nb101(value)) == 20_346_506
    # The smallest possible cell, input -> output: only the output projections (1x1 convs).
    assert _params(build_nb101("01.00|input,output")) == 882_570


def test_vertex_channels_split_the_output_and_propagate_backwards() -> None:
    # Three vertices feed the output: 128 = 43 + 43 + 42; vertex 1 feeds vertex 2 only.
    matrix = [
        [0, 1, 0, 1, 1, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
    ]
    assert nb101_vertex_channels(matrix, 64, 128) == [64, 43, 43, 43, 42, 128]
    inception = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5]
    assert nb101_vertex_channels(inception, 128, 256) == [128, 86, 85, 85, 256]


def test_truncation_and_forward_shapes() -> None:
    # Vertex 1 (43 channels) feeds vertex 4 (42 channels): its first 42 channels are used.
    matrix = [
        [0, 1, 1, 1, 0, 0],
        [0, 0, 0, 0, 1, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
    ]
    ops = ["input", CONV3, POOL, CONV1, CONV3, "output"]
    net = build_nb101((matrix, ops), stem_channels=8).eval()
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    out = net(x)
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_sampled_cells_build_and_run() -> None:
    domain = NB101Cell()
    rng = np.random.default_rng(0)
    for _ in range(5):
        value = domain.sample(rng)
        net = build_nb101(value, stem_channels=4, num_classes=3, in_channels=1).eval()
        assert net(torch.randn(1, 1, 8, 8)).shape == (1, 3)
        assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) >= 1


def test_bad_cells_and_settings_raise() -> None:
    with pytest.raises(InvalidConfigError):
        build_nb101("01.00|input,conv5x5")
    with pytest.raises(InvalidConfigError):
        build_nb101("011.001.000|input,conv5x5,output")
    with pytest.raises(InputError, match="stem_channels"):
        build_nb101("01.00|input,output", stem_channels=0)
