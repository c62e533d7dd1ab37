"""Compute the LCBench reference optima: ``python -m benchmarks.problems.make_lcbench_reference``.

For every task, draws ``--samples`` configurations uniformly from the seven hyperparameters
(log-uniform where the range is log-scaled; integers rounded) with ``numpy.random.default_rng(seed)``
(the same draws for every task), predicts ``val_accuracy`` at epoch 52 with the surrogate and stores the
best value and its configuration in ``benchmarks/problems/lcbench_reference.json``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.problems.lcbench import (
    LCBENCH_PARAMS,
    OUTPUTS,
    REFERENCE_FILE,
    lcbench_tasks,
    predict_array,
)


def reference(samples: int, seed: int, chunk: int = 50_000) -> dict:
    """The reference optimum per task (see the module docstring)."""
    rng = np.random.default_rng(seed)
    columns = [p.sample(rng, samples).astype(float) for p in LCBENCH_PARAMS]
    x = np.column_stack([np.full(samples, 52.0), *columns]).astype(np.float32)
    acc = OUTPUTS.index("val_accuracy")
    tasks = {}
    for task in lcbench_tasks():
        y = np.concatenate(
            [predict_array(task, x[i : i + chunk])[:, acc] for i in range(0, samples, chunk)]
        )
        best = int(np.argmax(y))
        config = {}
        for j, p in enumerate(LCBENCH_PARAMS, start=1):
            v = columns[j - 1][best]
            config[p.name] = int(v) if p.kind == "int" else float(v)
        tasks[task] = {"val_accuracy": round(float(y[best]), 4), "config": config}
    return {
        "description": (
            "best surrogate val_accuracy (%) at epoch 52 over uniform random configurations "
            "(log-uniform for log-scaled ranges); produced by "
            "`python -m benchmarks.problems.make_lcbench_reference "
            f"--samples {samples} --seed {seed}`"
        ),
        "n_samples": samples,
        "seed": seed,
        "epoch": 52,
        "tasks": tasks,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REFERENCE_FILE))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    data = reference(args.samples, args.seed)
    with open(args.out, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {args.out} ({len(data['tasks'])} tasks) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
