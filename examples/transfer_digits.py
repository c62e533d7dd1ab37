"""Transfer to a new dataset with samples of it: five digits tasks teach the sixth.

Meta-trains the deep-kernel GP of :mod:`jahs_bo.metalearn` on five tasks of the committed
digits-tasks table (``benchmarks/results/digits-tasks/table.csv.xz``: 1,458 NB201-cell + learning
rate configurations trained on variants of scikit-learn's digits), each with its 200 training images
for the dataset encoder. Then it searches the held-out task with ``searcher="transfer"``, passing that
task's 200 training images as ``dataset``, and with the plain GP for comparison. Every evaluation on the
held-out task really trains the proposed network (about 0.4 s on one core); the table's best
entry for that task is printed for reference.

    python examples/transfer_digits.py                       # about 70 s (one core)
    python examples/transfer_digits.py --task rotated --budget 15
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))  # the digits tasks and their table live beside the package
    from benchmarks.problems.digits_tasks.tasks import TASKS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="parity", choices=list(TASKS), help="the held-out task")
    p.add_argument("--budget", type=int, default=10, help="trained networks per searcher")
    p.add_argument("--steps", type=int, default=1500, help="meta-training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="checkpoint directory (default: a temp dir)")
    args = p.parse_args(argv)

    import torch

    import jahs_bo
    from benchmarks.problems.digits_nas.train import train
    from benchmarks.problems.digits_tasks.problem import task_table
    from benchmarks.problems.digits_tasks.space import PROTOCOL, TRAIN_SEED, space
    from benchmarks.problems.digits_tasks.tasks import load_task, task_samples
    from jahs_bo import metalearn

    torch.set_num_threads(1)
    sources = []
    for name in TASKS:
        if name != args.task:
            table = task_table(name)
            configs = [{"arch": arch, "lr": lr} for arch, lr in table]
            values = [m["val_acc"] for m in table.values()]
            sources.append(
                metalearn.TaskData(configs, values, dataset=task_samples(name), name=name)
            )
    meta = metalearn.meta_train(space(), sources, seed=args.seed, steps=args.steps)
    out = Path(args.out or tempfile.mkdtemp(prefix="digits-meta-")) / "digits-meta"
    meta.save(out)
    print(f"meta-model trained on {[s.name for s in sources]}, saved to {out}")

    data, classes = load_task(args.task)

    def objective(config: dict) -> float:
        """Validation accuracy (%) of the configuration, trained now on the held-out task."""
        protocol = dataclasses.replace(PROTOCOL, lr=float(config["lr"]))
        row = train("nb201", config["arch"], protocol, TRAIN_SEED, data=data, num_classes=classes)
        return row["val_acc"]

    options = {"meta": str(out), "dataset": task_samples(args.task)}
    for searcher, opts in [("transfer", options), ("gp", {})]:
        study = jahs_bo.create_study(
            space(), direction="maximize", searcher=searcher, searcher_options=opts,
            seed=args.seed,
        )  # fmt: skip
        for _ in range(args.budget):
            trial = study.ask()
            study.tell(trial, objective(trial.config))
        best = study.best_trial
        print(
            f"{searcher:>8}: best {args.task} validation accuracy after {args.budget} trained "
            f"networks {best.value:.1f} % ({best.config['arch']}, lr {best.config['lr']})"
        )
    best_table = max(m["val_acc"] for m in task_table(args.task).values())
    print(f"   table: best of all {len(task_table(args.task))} configurations {best_table:.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
