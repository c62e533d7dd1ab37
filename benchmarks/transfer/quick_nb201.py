"""Quick transfer measurement on NAS-Bench-201: meta-train on two datasets, rank the third.

For each held-out dataset, meta-trains :func:`jahs_bo.metalearn.meta_train` on the other two
(all 15,625 cells each, 200-epoch validation accuracy) and prints, on the held-out dataset:

- Spearman rank correlation between the zero-shot predicted scores and the true accuracies
  (all 15,625 cells), for the meta-trained model and for the untrained one (same seed);
- the regret (table optimum minus the best true accuracy, percentage points) of the model's
  zero-shot top 10 cells (an initial design of 10 evaluations);
- the same two figures for the by-hand baseline: the cells ranked by their mean rank on the
  source datasets (the warm-start portfolio of the issue);
- Spearman after conditioning on 20 random held-out evaluations (no fine-tuning, and after
  ``fine_tune`` with early stopping), and the held-out predictive NLL given those 20;
- meta-training wall time.

Not a test. Usage (2 cores; about a minute per held-out dataset)::

    OMP_NUM_THREADS=1 python -m benchmarks.transfer.quick_nb201 --heldout all --steps 1500
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import rankdata, spearmanr

from benchmarks.problems.nb201 import load_table
from jahs_bo import metalearn
from jahs_bo.spaces import nb201_space

#: Dataset name -> 200-epoch validation accuracy column of the shipped table.
COLUMNS = {
    "cifar10": "c10v_valid_acc_200",
    "cifar100": "c100_valid_acc_200",
    "imagenet16": "in16_valid_acc_200",
}


def run(heldout: str, steps: int, seed: int, n_shots: int, out: str | None) -> dict[str, float]:
    """Meta-train without ``heldout`` and measure transfer to it (see the module docstring)."""
    table = load_table()
    space = nb201_space()
    configs = [{"arch": a} for a in table["arch_str"]]
    sources = [
        metalearn.TaskData(configs, table[col].to_numpy(), name=name)
        for name, col in COLUMNS.items()
        if name != heldout
    ]
    truth = table[COLUMNS[heldout]].to_numpy()
    optimum = float(truth.max())

    start = time.perf_counter()
    meta = metalearn.meta_train(space, sources, seed=seed, steps=steps)
    train_s = time.perf_counter() - start
    if out:
        meta.save(out)

    untrained = metalearn.MetaModel(space, meta.config, seed=seed)
    mean, _ = meta.predict(configs)
    mean0, _ = untrained.predict(configs)
    top = np.argsort(-mean, kind="stable")[:10]
    source_rank = np.mean([rankdata(t.values) for t in sources], axis=0)
    top_src = np.argsort(-source_rank, kind="stable")[:10]

    rng = np.random.default_rng(seed)
    shots = rng.choice(len(configs), n_shots, replace=False)
    target = metalearn.TaskData([configs[i] for i in shots], truth[shots], name=heldout)
    cond, _ = meta.predict(configs, task=target)
    tuned = metalearn.fine_tune(meta, target, steps=50)
    cond_ft, _ = tuned.predict(configs, task=target)
    full = metalearn.TaskData(configs, truth, name=heldout)  # nll() draws its own context
    return {
        "heldout": heldout,
        "train_s": train_s,
        "steps": meta.info["steps"],
        "rho_zero": spearmanr(mean, truth).statistic,
        "rho_untrained": spearmanr(mean0, truth).statistic,
        "rho_source_rank": spearmanr(source_rank, truth).statistic,
        "regret_top10": optimum - float(truth[top].max()),
        "regret_top10_source_rank": optimum - float(truth[top_src].max()),
        "rho_cond": spearmanr(cond, truth).statistic,
        "rho_finetuned": spearmanr(cond_ft, truth).statistic,
        "ft_steps": tuned.info["fine_tune"]["steps"],
        "nll_meta": meta.nll(full, n_context=n_shots, seed=seed),
        "nll_untrained": untrained.nll(full, n_context=n_shots, seed=seed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--heldout", default="all", choices=[*COLUMNS, "all"])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shots", type=int, default=20)
    parser.add_argument("--out", default=None, help="save the (last) meta-model here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = list(COLUMNS) if args.heldout == "all" else [args.heldout]
    rows = [run(h, args.steps, args.seed, args.shots, args.out) for h in names]
    print(f"\nNB201 leave-one-dataset-out, seed {args.seed}, {args.steps} steps, batch 128")
    print(
        "| held out | meta-train s | Spearman zero-shot | untrained | source-rank baseline | "
        f"regret top-10 (model / baseline) | Spearman {args.shots}-shot | fine-tuned | "
        f"NLL {args.shots}-shot (meta / untrained) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['heldout']} | {r['train_s']:.0f} | {r['rho_zero']:.3f} | "
            f"{r['rho_untrained']:.3f} | {r['rho_source_rank']:.3f} | "
            f"{r['regret_top10']:.3f} / {r['regret_top10_source_rank']:.3f} | "
            f"{r['rho_cond']:.3f} | {r['rho_finetuned']:.3f} ({r['ft_steps']} steps) | "
            f"{r['nll_meta']:.3f} / {r['nll_untrained']:.3f} |"
        )


if __name__ == "__main__":
    main()
