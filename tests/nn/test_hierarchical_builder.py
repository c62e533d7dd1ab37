"""Hierarchical-NB201 derivations as modules: shapes, channel bookkeeping, errors."""

from __future__ import annotations

import pytest
import torch

from jahs_bo.exceptions import GrammarError, InvalidConfigError
from jahs_bo.nn.hierarchical import Block, build_hierarchical, parse_blocks, to_block
from jahs_bo.nn.nb201 import NB201Cell
from jahs_bo.nn.ops import ReductionBlock

CB = "Linear3(relu, conv3x3o, batch)"
CELL = (
    f"Cell(id, {CB}, zero, avg_pool, Linear2({CB}, Linear3(mish, dconv3x3o, layer)), "
    "Linear1(Linear3(hardswish, conv1x1o, instance)))"
)
C = f"Linear2({CELL}, {CELL})"
D = f"Residual2({CELL}, resBlock, resBlock)"
D1 = f"Linear3({C}, {C}, {D})"
D0 = f"Residual3({C}, {C}, {CELL}, {CELL})"
D2 = f"Linear3({D1}, {D1}, {D0})"


def test_parse_print_round_trip() -> None:
    tree = parse_blocks(D2)
    assert str(tree) == D2
    assert to_block(str(tree)) == tree
    assert parse_blocks(" Linear1( id ) ") == Block("Linear1", (Block("id"),))


def test_full_network_shapes_and_channels() -> None:
    net = build_hierarchical(D2, channels=4, num_classes=5).eval()
    out = net(torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    # two reductions on the main path (one per D1): 4 -> 8 -> 16 channels
    assert net.classifier.in_features == 16
    n_cells = sum(isinstance(m, NB201Cell) for m in net.modules())
    assert n_cells == 2 * (4 + 1) + (4 + 2)  # D1: 2 C of 2 cells + 1 in D; D0: 2 C + 2 cells
    assert sum(isinstance(m, ReductionBlock) for m in net.modules()) == 4  # 2 per D


def test_residual_sums_main_and_skip_paths() -> None:
    net = build_hierarchical("Residual2(id, id, id)", channels=4).eval()
    x = torch.randn(1, 4, 6, 6, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(net.body(x), 2 * x)


def test_works_on_8x8_grey_images() -> None:
    net = build_hierarchical(f"Linear2({D}, {D})", channels=4, in_channels=1).eval()
    assert net(torch.zeros(3, 1, 8, 8)).shape == (3, 10)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("Linear2(id)", "needs 2 children"),
        ("Residual1(resBlock, id)", "channels"),
        ("Cell(id, id, id, id, id, resBlock)", "cell edge 2->3"),
        ("Linear1(conv5x5)", "conv5x5"),
    ],
)
def test_bad_derivations_name_the_block(text: str, fragment: str) -> None:
    with pytest.raises(InvalidConfigError, match=fragment):
        build_hierarchical(text)


def test_malformed_text() -> None:
    with pytest.raises(GrammarError, match="position"):
        parse_blocks("Linear2(id, ")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sampled_hierarchical_nb201_derivations_build_and_run(seed: int) -> None:
    import numpy as np

    from jahs_bo.spaces import hierarchical_nb201_space

    space = hierarchical_nb201_space()
    arch = space.sample(np.random.default_rng(seed))["arch"]
    net = build_hierarchical(arch, grammar=space.architectures["arch"], channels=4).eval()
    out = net(torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed)))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    # every D2 alternative holds exactly two D1 stages: two reductions on the main path
    assert net.classifier.in_features == 4 * 4
    assert sum(isinstance(m, NB201Cell) for m in net.modules()) >= 6


def test_nb201_grammar_derivation_matches_the_nb201_table() -> None:
    """The flat NB201 grammar (shared cell, N=5 per stage) builds NB201's network exactly."""
    from jahs_bo.nn import build_nb201, count_parameters
    from jahs_bo.spaces.grammar import nb201_cell_to_derivation, nb201_grammar

    grammar = nb201_grammar()
    # c10_params_M of these cells in benchmarks/data/nb201.csv.gz
    table = {
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|": 0.802426,
        "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|": 0.129306,
    }
    for cell, params in table.items():
        net = build_hierarchical(nb201_cell_to_derivation(cell, grammar), grammar=grammar)
        assert round(count_parameters(net), 6) == params
        assert count_parameters(net) == count_parameters(build_nb201(cell))


def _input_gradient(net: torch.nn.Module, seed: int) -> torch.Tensor:
    """``d sum(net(x)) / dx`` for a random ``2 x 3 x 8 x 8`` batch (zeros if ``x`` is unused)."""
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    net(x).sum().backward()
    return torch.zeros_like(x) if x.grad is None else x.grad


def test_hierarchical_nb201_proposals_depend_on_their_input() -> None:
    """The space proposes only connected architectures: the output's gradient w.r.t. the input
    is non-zero; a derivation the rule rejects builds a network that ignores its input."""
    import numpy as np

    from jahs_bo.spaces import hierarchical_nb201_space
    from jahs_bo.spaces.grammar import (
        GrammarDomain,
        derivation_connected,
        hierarchical_nb201_grammar,
    )

    space = hierarchical_nb201_space()
    domain = space.architectures["arch"]
    rng = np.random.default_rng(0)
    for seed in range(3):
        arch = domain.mutate(domain.sample(rng), rng)
        net = build_hierarchical(arch, grammar=domain, channels=4).eval()
        assert _input_gradient(net, seed).abs().sum() > 0
    free = GrammarDomain(hierarchical_nb201_grammar().to_text().replace("require: connected", ""))
    assert free.requirements == ()
    samples = (free.sample(rng) for _ in range(100))
    arch = next(a for a in samples if not derivation_connected(free.parse(a)))
    assert not domain.is_valid(arch)
    net = build_hierarchical(arch, grammar=free, channels=4).eval()
    assert _input_gradient(net, 0).abs().sum() == 0
