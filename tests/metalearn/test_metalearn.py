"""Meta-learned deep-kernel GP: checkpoints, invariances, learning, the searcher seam."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from botorch.models import SingleTaskGP

from jahs_bo.exceptions import InputError
from jahs_bo.metalearn import MetaConfig, MetaModel, TaskData, fine_tune, load
from jahs_bo.metalearn.encoders import DatasetEncoder

from .conftest import SMALL, make_space


def test_save_load_gives_identical_predictions(trained, heldout, space, tmp_path):
    trained.save(tmp_path / "meta")
    loaded = load(tmp_path / "meta", space=space)
    configs = heldout.configs[:30]
    for task in (None, TaskData(heldout.configs[30:45], heldout.values[30:45])):
        a = trained.predict(configs, heldout.fidelities[:30], task=task)
        b = loaded.predict(configs, heldout.fidelities[:30], task=task)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert loaded.sources == trained.sources
    assert loaded.config == trained.config


def test_checkpoint_is_a_state_dict_loaded_with_weights_only(trained, tmp_path):
    trained.save(tmp_path / "meta")
    state = torch.load(tmp_path / "meta" / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    meta = (tmp_path / "meta" / "meta.json").read_text()
    for key in ("space_fingerprint", "jahs_bo_version", '"version": 1', "task0", "gnn_hidden"):
        assert key in meta


def test_checkpoint_for_another_space_is_refused(trained, tmp_path):
    trained.save(tmp_path / "meta")
    with pytest.raises(InputError, match=r"another search space: hyperparameter 'lr' differs"):
        load(tmp_path / "meta", space=make_space(lr_upper=0.5))
    other = make_space()
    other.architectures.pop("arch")
    with pytest.raises(InputError, match="architecture 'arch' is missing"):
        load(tmp_path / "meta", space=other)
    renamed = make_space()
    renamed.name = "renamed"  # cosmetic: accepted
    load(tmp_path / "meta", space=renamed)


def test_dataset_encoder_is_permutation_invariant():
    gen = torch.Generator().manual_seed(0)
    enc = DatasetEncoder(config_dim=8, dim=16, proj_dim=8, heads=2, blocks=2, out_dim=4).double()
    enc.eval()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 7)), rng.integers(0, 5, size=40)
    z, s = torch.randn(12, 8, generator=gen, dtype=torch.double), torch.randn(12, generator=gen)
    with torch.no_grad():
        base = enc((x, y), z, s)
        p, q = rng.permutation(40), torch.from_numpy(rng.permutation(12))
        torch.testing.assert_close(enc((x[p], y[p]), z[q], s[q]), base)
        # class names do not matter, only which samples share a class
        torch.testing.assert_close(enc((x, (y + 3) * 7), z, s), base)
        # any set size and class count; each source alone; nothing at all
        assert enc((x[:1], y[:1])).shape == (4,)
        assert enc((rng.normal(size=(9, 3)), np.arange(9))).shape == (4,)
        assert enc(None, z, s).shape == (4,)
        assert enc().shape == (4,)
        assert not torch.allclose(enc((x, y)), enc((x, rng.permutation(y))))


def test_meta_training_lowers_heldout_nll(trained, heldout, space):
    untrained = MetaModel(space, trained.config, seed=0)
    for n_context in (0, 10):
        meta_nll = trained.nll(heldout, n_context=n_context, seed=1)
        assert meta_nll < untrained.nll(heldout, n_context=n_context, seed=1) - 0.1
    assert trained.info["steps"] == 120


def test_zero_shot_ranking_and_initial_design(trained, heldout):
    from scipy.stats import spearmanr

    mean, var = trained.predict(heldout.configs, heldout.fidelities)
    assert spearmanr(mean, heldout.values).statistic > 0.5
    assert (var > 0).all()
    top = trained.initial_design(heldout.configs, 5)
    assert len(set(top)) == 5 and top[0] == int(np.argmax(mean))


def test_fine_tune_returns_an_adapted_copy(trained, heldout):
    before = {k: v.clone() for k, v in trained.net.state_dict().items()}
    tuned = fine_tune(
        trained,
        heldout.configs[:20],
        heldout.values[:20],
        steps=5,
        fidelities=heldout.fidelities[:20],
    )
    assert 0 <= tuned.info["fine_tune"]["steps"] <= 5
    for k, v in trained.net.state_dict().items():
        torch.testing.assert_close(v, before[k])  # the meta-model is untouched
    with pytest.raises(InputError, match="needs values"):
        fine_tune(trained, heldout.configs[:3])
    with pytest.raises(InputError, match="tune must be one of"):
        fine_tune(trained, heldout.configs[:5], heldout.values[:5], tune="everything")
    gp_only = fine_tune(trained, heldout.configs[:20], heldout.values[:20], steps=3, tune="gp")
    after = gp_only.net.state_dict()
    for k, v in before.items():
        if "features." in k:
            torch.testing.assert_close(after[k], v)  # the encoders stay as meta-trained


def test_model_factory_fits_the_searchers_layout(trained, heldout, space):
    from jahs_bo.models import JointEncoder

    encoder = JointEncoder(space)
    X = encoder.encode(heldout.configs[:25], heldout.fidelities[:25])
    Y = torch.from_numpy(heldout.values[:25]).unsqueeze(-1)
    factory = trained.model_factory(fine_tune_steps=3)
    model = factory(X, Y, encoder, None)
    assert isinstance(model, SingleTaskGP)
    test_X = encoder.encode(heldout.configs[25:40], heldout.fidelities[25:40])
    post = model.posterior(test_X.unsqueeze(1))  # b x q x d, as acquisition functions ask
    assert post.mean.shape == (15, 1, 1)
    from jahs_bo.models import kriging_believer

    believed = kriging_believer(model, test_X[:2])  # pending trials, as the searcher does
    assert believed.posterior(test_X[:2]).variance.max() < 1e-3 * post.variance.max()
    again = factory(X, Y, encoder, model.state_dict())  # warm start from the last model
    assert isinstance(again, SingleTaskGP)
    with pytest.raises(InputError, match="another search space"):
        factory(X, Y, JointEncoder(make_space(lr_upper=0.5)), None)


def test_same_seed_same_weights(space):
    cfg = MetaConfig(**SMALL)
    a, b, c = (MetaModel(space, cfg, seed=s).net.state_dict() for s in (0, 0, 1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_task_data_from_dataframe_and_study(space, sources):
    frame = pd.DataFrame(sources[0].configs)
    frame["acc"] = sources[0].values
    frame["epochs"] = [f["epochs"] for f in sources[0].fidelities]
    task = TaskData.from_dataframe(frame, "acc", fidelity_columns=["epochs"], name="t")
    assert task.configs[0] == sources[0].configs[0] and task.fidelities == sources[0].fidelities
    np.testing.assert_allclose(task.scores(), sources[0].scores())
    low = TaskData(task.configs, -task.values, direction="minimize")
    np.testing.assert_allclose(low.scores(), task.scores())

    import jahs_bo

    study = jahs_bo.create_study(space, direction="minimize", searcher="random", seed=0)
    for config, value in zip(sources[0].configs[:5], sources[0].values[:5], strict=True):
        trial = study.ask(config)
        study.tell(trial, float(value))
    from_study = TaskData.from_study(study)
    assert len(from_study) == 5 and from_study.direction.value == "minimize"
    with pytest.raises(InputError, match="3 configurations but 2 values"):
        TaskData(task.configs[:3], [1.0, 2.0])
    with pytest.raises(InputError, match="non-finite"):
        TaskData(task.configs[:2], [1.0, float("nan")])


def test_import_jahs_bo_does_not_import_torch_geometric():
    code = (
        "import sys, jahs_bo, jahs_bo.metalearn; "
        "from jahs_bo.metalearn import TaskData; "
        "assert 'torch_geometric' not in sys.modules, 'torch_geometric imported'; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dataset_samples_flow_through_training_prediction_and_factory(space, sources, heldout):
    from dataclasses import replace

    from jahs_bo.metalearn import meta_train
    from jahs_bo.models import JointEncoder

    rng = np.random.default_rng(0)
    with_data = [
        replace(
            s, dataset=(rng.normal(size=(30 + 10 * k, 4 + k)), rng.integers(0, 2 + k, 30 + 10 * k))
        )
        for k, s in enumerate(sources[:2])
    ]
    meta = meta_train(
        space, with_data, steps=4, batch_size=16, config=MetaConfig(**SMALL), progress=False
    )
    assert meta.sources[0]["dataset"] is True
    sample = (rng.normal(size=(25, 6)), rng.normal(size=25))  # a regression dataset
    a, _ = meta.predict(heldout.configs[:10], heldout.fidelities[:10], dataset=sample)
    b, _ = meta.predict(heldout.configs[:10], heldout.fidelities[:10])
    assert not np.allclose(a, b)  # the task embedding read the samples
    encoder = JointEncoder(space)
    X = encoder.encode(heldout.configs[:12], heldout.fidelities[:12])
    Y = torch.from_numpy(heldout.values[:12]).unsqueeze(-1)
    model = meta.model_factory(dataset=sample, fine_tune_steps=2)(X, Y, encoder, None)
    assert model.posterior(X).mean.shape == (12, 1)


def test_unique_rows_matches_torch_unique():
    from jahs_bo.metalearn.net import unique_rows

    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.integers(0, 4, size=(500, 3)).astype(float))
    uniq, inv = unique_rows(X)
    torch.testing.assert_close(uniq[inv], X)
    assert uniq.shape[0] == torch.unique(X, dim=0).shape[0]
    # rows built to share the projected key still come out distinct (exact fallback)
    gen = torch.Generator().manual_seed(12345)
    w = torch.rand(2, generator=gen, dtype=torch.float64) + 0.5
    a = torch.tensor([[0.0, 0.0], [w[1].item(), -w[0].item()]], dtype=torch.float64)
    uniq, inv = unique_rows(a)
    assert uniq.shape[0] == 2 and torch.equal(uniq[inv], a)


def test_meta_training_is_reproducible(space, sources):
    from jahs_bo.metalearn import meta_train

    def run(seed: int) -> dict[str, torch.Tensor]:
        meta = meta_train(
            space,
            sources[:2],
            seed=seed,
            steps=5,
            batch_size=16,
            config=MetaConfig(**SMALL),
            progress=False,
        )
        return meta.net.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
