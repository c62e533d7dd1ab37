"""Ready-made search spaces of the JAHS/NAS literature."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ConfigSpace as CS

from jahs_bo.spaces.fidelity import Fidelity
from jahs_bo.spaces.grammar import GrammarDomain, hierarchical_nb201_grammar
from jahs_bo.spaces.nb201 import NB201Cell
from jahs_bo.spaces.space import SearchSpace


def nb201_space(epochs: Sequence[int] | None = None) -> SearchSpace:
    """The NAS-Bench-201 cell space (15,625 cells) under the key ``"arch"``.

    Args:
        epochs: Discrete epoch fidelities (e.g. ``(12, 200)`` for the benchmark's two training
            schedules); ``None`` for a single-fidelity space.
    """
    fids = [Fidelity("epochs", values=list(epochs))] if epochs else []
    return SearchSpace(None, {"arch": NB201Cell()}, fids, name="nb201")


def jahs_bench_201_space() -> SearchSpace:
    """The JAHS-Bench-201 joint space (Bansal et al., 2022).

    An NB201 cell (``"arch"``) with activation {ReLU, Hardswish, Mish}, learning rate log
    [1e-3, 1], weight decay log [1e-5, 1e-2] and TrivialAugment {on, off}; fidelities ``N``
    (cells per stage) {1, 3, 5}, ``W`` (channels) {4, 8, 16}, ``Resolution`` {0.25, 0.5, 1.0}
    and ``epoch`` 1-200. Names follow JAHS-Bench-201 (``to_configspace`` gives ``Op1..Op6``).
    """
    hps = CS.ConfigurationSpace(name="jahs_bench_201")
    hps.add(
        [
            CS.Categorical("Activation", ["ReLU", "Hardswish", "Mish"], default="ReLU"),
            CS.Float("LearningRate", (1e-3, 1.0), log=True, default=0.1),
            CS.Float("WeightDecay", (1e-5, 1e-2), log=True, default=5e-4),
            CS.Categorical("TrivialAugment", [True, False], default=False),
        ]
    )
    fids = [
        Fidelity("N", values=[1, 3, 5]),
        Fidelity("W", values=[4, 8, 16]),
        Fidelity("Resolution", values=[0.25, 0.5, 1.0]),
        Fidelity("epoch", 1, 200, integer=True),
    ]
    return SearchSpace(hps, {"arch": NB201Cell()}, fids, name="jahs_bench_201")


def lcbench_space() -> SearchSpace:
    """The LCBench MLP space (Zimmer et al., 2021): 7 hyperparameters + epoch fidelity 1-52.

    ``num_layers`` and ``max_units`` set the MLP's architecture (funnel-shaped MLP).
    """
    hps = CS.ConfigurationSpace(name="lcbench")
    hps.add(
        [
            CS.Integer("batch_size", (16, 512), log=True, default=64),
            CS.Float("learning_rate", (1e-4, 1e-1), log=True, default=1e-3),
            CS.Float("momentum", (0.1, 0.99), default=0.9),
            CS.Float("weight_decay", (1e-5, 1e-1), default=1e-3),
            CS.Integer("num_layers", (1, 5), default=3),
            CS.Integer("max_units", (64, 1024), log=True, default=256),
            CS.Float("max_dropout", (0.0, 1.0), default=0.2),
        ]
    )
    return SearchSpace(hps, None, [Fidelity("epoch", 1, 52, integer=True)], name="lcbench")


def hierarchical_nb201_space(
    max_depth: int | None = None,
    max_nodes: int | None = None,
    production_prior: Mapping[str, Mapping[str, float]] | None = None,
) -> SearchSpace:
    """The hierarchical NB201 grammar space (Schrodi et al., NeurIPS 2023), ~10^446 derivations.

    The architecture (key ``"arch"``) is a derivation string of the grammar shipped in
    ``jahs_bo/spaces/grammars/hierarchical_nb201.cfg``. ``production_prior`` states an expert
    prior over its productions (see :class:`~jahs_bo.spaces.grammar.GrammarDomain`), e.g.
    ``{"CONV": {"conv3x3o": 4, "conv1x1o": 1, "dconv3x3o": 1}}``.
    """
    domain = GrammarDomain(
        hierarchical_nb201_grammar(),
        max_depth=max_depth,
        max_nodes=max_nodes,
        production_prior=production_prior,
    )
    return SearchSpace(None, {"arch": domain}, name="hierarchical_nb201")
