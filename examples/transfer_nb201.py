"""Transfer to a new dataset: meta-train on two NAS-Bench-201 datasets, search the third.

Meta-trains the deep-kernel GP of :mod:`jahs_bo.metalearn` on the shipped NAS-Bench-201 table's
CIFAR-10 and CIFAR-100 results (a sample of cells each), saves it, then searches ImageNet16-120
with ``searcher="transfer"`` for a handful of evaluations and compares with the plain GP at the
same budget. Uses only the benchmark data shipped in ``benchmarks/data/`` (no download).

    python examples/transfer_nb201.py                  # about a minute or two on 2 cores
    python examples/transfer_nb201.py --budget 20 --steps 1500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--budget", type=int, default=10, help="evaluations on the new dataset")
    p.add_argument("--steps", type=int, default=600, help="meta-training steps")
    p.add_argument("--sources", type=int, default=3000, help="cells per source dataset")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="checkpoint directory (default: a temp dir)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # the benchmark data loader lives beside the package
    import numpy as np

    import jahs_bo
    from benchmarks.problems.nb201 import load_table
    from jahs_bo import metalearn
    from jahs_bo.spaces import nb201_space

    table = load_table()
    space = nb201_space()
    rng = np.random.default_rng(args.seed)
    sources = []
    for name, col in [("cifar10", "c10v_valid_acc_200"), ("cifar100", "c100_valid_acc_200")]:
        rows = rng.choice(len(table), args.sources, replace=False)
        configs = [{"arch": table["arch_str"].iloc[i]} for i in rows]
        sources.append(metalearn.TaskData(configs, table[col].to_numpy()[rows], name=name))
    meta = metalearn.meta_train(space, sources, seed=args.seed, steps=args.steps)
    out = Path(args.out or tempfile.mkdtemp(prefix="nb201-meta-")) / "nb201-meta"
    meta.save(out)
    print(f"meta-model saved to {out}")

    accuracy = dict(zip(table["arch_str"], table["in16_valid_acc_200"]))
    optimum = max(accuracy.values())
    for searcher, options in [("transfer", {"meta": str(out)}), ("gp", {})]:
        study = jahs_bo.create_study(
            space, direction="maximize", searcher=searcher, searcher_options=options,
            seed=args.seed,
        )  # fmt: skip
        for _ in range(args.budget):
            trial = study.ask()
            study.tell(trial, accuracy[trial.config["arch"]])
        best = study.best_trial
        print(
            f"{searcher:>8}: best ImageNet16-120 validation accuracy after {args.budget} "
            f"evaluations {best.value:.2f} (regret {optimum - best.value:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
