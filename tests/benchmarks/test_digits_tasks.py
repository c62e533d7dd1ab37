"""The digits multi-task table: tasks, space, generator, look-up problems and transfer sources."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from benchmarks.problems import get_problem, list_problems
from benchmarks.problems.digits_tasks import generate
from benchmarks.problems.digits_tasks.problem import load_table
from benchmarks.problems.digits_tasks.space import LEARNING_RATES, OPS, PROTOCOL, all_configs, space
from benchmarks.problems.digits_tasks.tasks import TASKS, load_task, task_samples
from benchmarks.problems.nb201 import nb201_arch_str
from benchmarks.transfer.run import study_kwargs
from benchmarks.transfer.sources import N_DIGITS_SAMPLES, benchmark, source


def test_tasks_are_fixed_and_differ_as_documented():
    clean, classes = load_task("clean")
    assert classes == 10 and clean["train"][0].shape == (200, 1, 8, 8)
    assert np.bincount(clean["train"][1].numpy()).tolist() == [20] * 10
    noisy, _ = load_task("label-noise")
    sizes = [len(noisy[p][1]) for p in ("train", "val", "test")]
    assert sizes == [200, 500, 500]
    # only the training labels are corrupted (40 % redrawn, 9 in 10 of those change class);
    # the images are unchanged, so their true labels are found by matching them to the digits
    from sklearn.datasets import load_digits

    digits = load_digits()
    truth = {
        (img.astype(np.float32) / 16.0).tobytes(): int(t)
        for img, t in zip(digits.images, digits.target, strict=True)
    }

    def wrong(part: str) -> float:
        images, labels = noisy[part]
        true = [truth[x[0].numpy().tobytes()] for x in images]
        return float(np.mean(np.asarray(true) != labels.numpy()))

    assert wrong("val") == wrong("test") == 0.0
    assert 0.25 <= wrong("train") <= 0.5
    subset, k = load_task("classes-5-9")
    assert k == 5 and set(subset["train"][1].tolist()) == set(range(5))
    parity, k = load_task("parity")
    assert k == 2 and set(parity["val"][1].tolist()) == {0, 1}
    # the low-resolution tasks are constant on 2x2 blocks
    low = load_task("lowres")[0]["train"][0].numpy()[:, 0]
    assert np.allclose(low[:, ::2, ::2], low[:, 1::2, 1::2])
    x, y = task_samples("rotated", 64)
    assert x.shape == (64, 64) and y.shape == (64,)
    load_task.cache_clear()  # drawn again from the task's seed: the same images
    x2, _ = task_samples("rotated", 64)
    assert np.array_equal(x, x2)
    with pytest.raises(ValueError, match="unknown digits task"):
        load_task("mnist")


def test_every_configuration_is_in_the_space_and_canonical():
    configs = all_configs()
    assert len(configs) == len(set(configs)) == len(OPS) ** 6 * len(LEARNING_RATES)
    sp = space()
    for arch, lr in configs[:: len(configs) // 20]:
        assert sp.validate({"arch": arch, "lr": lr}) == {"arch": arch, "lr": lr}
    # the space's cell strings are the benchmark's Op1..Op6 strings
    rng = np.random.default_rng(0)
    cell = sp.sample(rng)["arch"]
    ops = sp.architectures["arch"].to_ops(cell)
    assert nb201_arch_str(ops) == cell


def test_generator_trains_a_shard_resumes_and_pack_refuses_a_partial_table(tmp_path):
    n = len(all_configs()) // 2  # shard 0/n trains configurations 0 and n
    assert generate.train_all(["parity"], (0, n), tmp_path) == 2
    assert generate.train_all(["parity"], (0, n), tmp_path) == 0  # resumed: nothing left
    rows = [line for line in (tmp_path / f"train-0of{n}.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and '"val_acc"' in rows[0]
    with pytest.raises(SystemExit, match="train first"):
        generate.pack(tmp_path, tmp_path / "table.csv.xz")


def test_table_is_complete_and_reproducible_on_every_task():
    from benchmarks.problems.digits_nas.train import train

    table = load_table()
    assert sorted(set(table["task"])) == sorted(TASKS)
    assert len(table) == len(TASKS) * len(all_configs())
    assert table["val_acc"].between(0, 100).all()
    for k, task in enumerate(TASKS):  # one entry per task: its data are drawn as the table's were
        row = table[table["task"] == task].iloc[7 + 100 * k]
        data, classes = load_task(task)
        protocol = dataclasses.replace(PROTOCOL, lr=float(row["lr"]))
        again = train("nb201", row["arch"], protocol, 0, data=data, num_classes=classes)
        # the same training (slack for another CPU's rounding over 28 SGD steps)
        assert again["val_acc"] == pytest.approx(row["val_acc"], abs=2.0), task


def test_problems_look_up_sampled_configurations():
    assert {f"digits-tasks/{t}" for t in TASKS} <= set(list_problems())
    problem = get_problem("digits-tasks/rotated")
    sp = problem.space()
    for config in sp.sample_many(5, np.random.default_rng(1)) + problem.sample(
        np.random.default_rng(2), 5
    ):
        value = problem(config)
        assert 0.0 <= value <= problem.optimum
    table = load_table()
    assert problem.optimum == table.loc[table["task"] == "rotated", "val_acc"].max()
    config = sp.sample(np.random.default_rng(3))
    assert problem({**config, "lr": np.float32(config["lr"])}) == problem(config)
    with pytest.raises(ValueError, match="not a configuration"):
        problem({"arch": nb201_arch_str(["none"] * 6), "lr": 0.05})


def test_transfer_sources_carry_dataset_samples(tmp_path):
    bench = benchmark("digits")
    assert bench.heldout == tuple(TASKS)
    sources = bench.sources("parity")
    assert [s.name for s in sources] == [t for t in TASKS if t != "parity"]
    assert all(
        s.dataset is not None and s.dataset[0].shape == (N_DIGITS_SAMPLES, 64) for s in sources
    )
    assert len(source("digits-tasks", "clean")) == len(all_configs())
    kw = study_kwargs("transfer", bench, "parity", tmp_path)
    x, y = kw["searcher_options"]["dataset"]
    assert x.shape == (N_DIGITS_SAMPLES, 64) and set(np.unique(y)) == {0, 1}
