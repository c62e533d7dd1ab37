"""NB201 / JAHS-Bench-201 model builders: parameter counts against the benchmark table, shapes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from jahs_bo.exceptions import InputError, InvalidConfigError
from jahs_bo.nn import (
    NB201Cell,
    build_jahs,
    build_nb201,
    count_parameters,
    jahs_cell_string,
    parse_nb201_cell,
)

TABLE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "nb201.csv.gz"


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return pd.read_csv(TABLE, usecols=["index", "arch_str", "c10_params_M"])


def _varied_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The all-none cell, the all-3x3 cell, the known optimum (6111) and a few random cells."""
    rng_rows = table.sample(5, random_state=0)
    idx = table["arch_str"]
    special = table[
        (idx == "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
        | (
            idx
            == "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
        )
        | (table["index"] == 6111)
    ]
    assert len(special) == 3
    return pd.concat([special, rng_rows])


def test_parameter_counts_match_nb201_table(table: pd.DataFrame) -> None:
    for arch, params in zip(
        *_varied_rows(table)[["arch_str", "c10_params_M"]].T.values, strict=True
    ):
        net = build_nb201(arch, channels=16, cells_per_stage=5, num_classes=10)
        assert round(count_parameters(net), 6) == pytest.approx(params, abs=1e-9), arch


def test_golden_extremes() -> None:
    # skeleton only (stem, two reduction blocks, head): 73,306 parameters
    assert (
        count_parameters(build_nb201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")) == 0.073306
    )
    all3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert count_parameters(build_nb201(all3)) == pytest.approx(1.531546, abs=1e-12)


@pytest.mark.parametrize(
    ("activation", "n", "w", "res"),
    [("ReLU", 1, 4, 8), ("Hardswish", 3, 8, 16), ("Mish", 1, 16, 32)],
)
def test_jahs_forward_shapes(activation: str, n: int, w: int, res: int) -> None:
    cfg = {
        "Op1": 2,
        "Op2": 1,
        "Op3": 3,
        "Op4": 0,
        "Op5": 4,
        "Op6": 2,
        "N": n,
        "W": w,
        "Activation": activation,
    }
    net = build_jahs(cfg, num_classes=7).eval()
    x = torch.randn(3, 3, res, res, generator=torch.Generator().manual_seed(0))
    out = net(x)
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()
    # cells per stage and stem width reach the network
    assert sum(isinstance(m, NB201Cell) for m in net.modules()) == 3 * n
    assert net.features[0].out_channels == w
    assert net.classifier.in_features == 4 * w


def test_activation_changes_function_not_parameters() -> None:
    arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    counts = {
        a: count_parameters(build_nb201(arch, activation=a)) for a in ("relu", "hardswish", "mish")
    }
    assert len(set(counts.values())) == 1
    mods = {type(m).__name__ for m in build_nb201(arch, activation="Mish").modules()}
    assert "Mish" in mods and "ReLU" not in mods


def test_grey_input_and_odd_sizes() -> None:
    net = build_nb201(
        "|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|avg_pool_3x3~2|",
        channels=4,
        cells_per_stage=1,
        in_channels=1,
    ).eval()
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert net(torch.zeros(1, 1, 7, 9)).shape == (1, 10)


def test_all_none_cell_outputs_zeros_and_disconnected_nodes() -> None:
    x = torch.randn(2, 4, 5, 5, generator=torch.Generator().manual_seed(1))
    zero = NB201Cell(parse_nb201_cell("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"), 4)
    assert torch.equal(zero(x), torch.zeros_like(x))
    # node 1 is zero, node 3 = skip(node 0) + pool(node 1) = x
    cell = NB201Cell(
        parse_nb201_cell("|none~0|+|none~0|none~1|+|skip_connect~0|avg_pool_3x3~1|none~2|"), 4
    )
    torch.testing.assert_close(cell(x), x)


def test_jahs_op_convention() -> None:
    # JAHS-Bench-201 / NASLib: 0 skip, 1 none, 2 conv3x3, 3 conv1x1, 4 pool; Op1..Op6 = 01 02 03 12 13 23
    s = jahs_cell_string({"Op1": 0, "Op2": 1, "Op3": 2, "Op4": 3, "Op5": 4, "Op6": 0})
    assert (
        s
        == "|skip_connect~0|+|none~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|skip_connect~2|"
    )
    assert jahs_cell_string({"arch": s}) == s


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("|nor_conv_3x3~0|+|none~0|", "3"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "conv~0"),
        ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "none~1"),
    ],
)
def test_bad_cell_strings_name_the_problem(bad: str, fragment: str) -> None:
    with pytest.raises(InvalidConfigError, match=fragment.replace("|", r"\|")):
        build_nb201(bad)


def test_bad_settings() -> None:
    arch = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
    with pytest.raises(InputError, match="swish"):
        build_nb201(arch, activation="swish")
    with pytest.raises(InvalidConfigError, match="cells_per_stage"):
        build_nb201(arch, cells_per_stage=0)
    with pytest.raises(InvalidConfigError, match="Op1"):
        jahs_cell_string({"N": 1})


def test_builds_from_jahs_bench_201_space_configs() -> None:
    import numpy as np

    from jahs_bo.spaces import jahs_bench_201_space

    space = jahs_bench_201_space()
    cfg = space.sample(np.random.default_rng(0))
    net = build_jahs(cfg, {"N": 1, "W": 4, "Resolution": 0.25, "epoch": 1}).eval()
    assert net(torch.zeros(2, 3, 8, 8)).shape == (2, 10)
    # the ConfigSpace export (Op1..Op6 names in NB201 edge order) gives back the same cell
    cs_values = space.config_to_configspace(cfg)
    assert jahs_cell_string(cs_values) == cfg["arch"]
