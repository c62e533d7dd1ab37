"""The model_factory seam: another surrogate is injected without subclassing GPSearcher."""

from __future__ import annotations

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

import jahs_bo
from jahs_bo.models import JointEncoder, ModelFactory, WarmStart
from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.spaces import jahs_bench_201_space

FAST = {"n_random": 32, "n_neighbours": 6, "local_rounds": 1, "fit_maxiter": 20}


class HyperparameterMatern:
    """A plain SingleTaskGP with a Matern kernel on the hyperparameter columns only."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[int, ...], tuple[int, ...], int]] = []

    def __call__(
        self,
        train_X: torch.Tensor,
        train_Y: torch.Tensor,
        encoder: JointEncoder,
        warm_start: WarmStart,
    ) -> SingleTaskGP:
        self.calls.append((tuple(train_X.shape), tuple(train_Y.shape), warm_start.maxiter))
        dims = encoder.hp_dims
        kernel = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=len(dims), active_dims=dims))
        model = SingleTaskGP(
            train_X, train_Y, covar_module=kernel, outcome_transform=Standardize(m=1)
        )
        if warm_start.state is not None:
            model.load_state_dict(warm_start.state, strict=False)
        if warm_start.maxiter > 0:
            mll = ExactMarginalLogLikelihood(model.likelihood, model)
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": warm_start.maxiter}})
        warm_start.state = {
            k: v.detach().clone()
            for k, v in model.state_dict().items()
            if not k.startswith("outcome_transform")
        }
        return model.eval()


def _objective(cfg: dict) -> float:
    lr = np.log10(cfg["LearningRate"])
    return float((lr + 1) ** 2 + 0.3 * cfg["arch"].count("none"))


def test_injected_factory_runs_ask_tell_through_create_study():
    space = jahs_bench_201_space()
    factory = HyperparameterMatern()
    _: ModelFactory = factory  # satisfies the protocol (checked by mypy)
    searcher = GPSearcher(space, ["minimize"], n_init=3, model_factory=factory, **FAST)
    study = jahs_bo.create_study(space, searcher=searcher, seed=0)
    for _ in range(6):
        trial = study.ask()
        study.tell(trial, _objective(trial.config))
    assert len(factory.calls) == 3  # one fit per model-based ask
    d = searcher.encoder.dim
    for n, (x_shape, y_shape, maxiter) in enumerate(factory.calls, start=3):
        assert x_shape == (n, d) and y_shape == (n, 1) and maxiter > 0
    assert isinstance(searcher.model, SingleTaskGP)
    assert isinstance(searcher.model.covar_module.base_kernel, MaternKernel)
    assert searcher.state is not None  # the factory's warm-start state is kept
    configs = [t.config for t in study.trials]
    assert len({space.config_key(c) for c in configs}) == 6
    for c in configs:
        assert space.validate(c) == c
