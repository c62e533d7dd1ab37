"""A bare BO loop through ``MetaModel.model_factory`` on a held-out NB201 dataset.

Loads a meta-model saved by ``quick_nb201.py --out DIR`` (trained without the held-out
dataset), evaluates its zero-shot top ``--init`` cells, then proposes one cell at a time by
UCB (mean + 2 std) over every unevaluated cell of the table, with the model the factory fits to
the observations so far, exactly as the GP searcher will call it (``train_X`` from a
``JointEncoder``, ``train_Y`` the accuracies, the previous model's state as ``state``).
Prints the incumbent's regret after each evaluation count of ``--report`` and the median
factory time. Not a test, and one seed of a deterministic loop: a smoke measurement of the
seam until the transfer searcher exists.

Usage::

    OMP_NUM_THREADS=1 python -m benchmarks.transfer.quick_nb201_bo --meta DIR --heldout imagenet16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from benchmarks.problems.nb201 import load_table
from benchmarks.transfer.quick_nb201 import COLUMNS
from jahs_bo import metalearn
from jahs_bo.models import JointEncoder
from jahs_bo.spaces import nb201_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--meta", required=True, help="checkpoint directory")
    parser.add_argument("--heldout", default="imagenet16", choices=list(COLUMNS))
    parser.add_argument("--init", type=int, default=10)
    parser.add_argument("--evals", type=int, default=30)
    parser.add_argument("--report", type=int, nargs="+", default=[10, 20, 30])
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = load_table()
    space = nb201_space()
    meta = metalearn.load(args.meta, space=space)
    trained_on = [s["name"] for s in meta.sources]
    if args.heldout in trained_on:
        raise SystemExit(f"the model was trained on {args.heldout}; pick another --heldout")
    configs = [{"arch": a} for a in table["arch_str"]]
    truth = table[COLUMNS[args.heldout]].to_numpy()
    encoder = JointEncoder(space, 1, "both")
    all_X = encoder.encode(configs)
    chosen = meta.initial_design(configs, args.init)
    factory = meta.model_factory()
    state, times = None, []
    while len(chosen) < args.evals:
        X, Y = all_X[chosen], torch.from_numpy(truth[chosen]).unsqueeze(-1)
        start = time.perf_counter()
        model = factory(X, Y, encoder, state)
        times.append(time.perf_counter() - start)
        state = model.state_dict()
        with torch.no_grad():
            ucb = []
            for part in all_X.split(4096):
                post = model.posterior(part)
                ucb.append(post.mean.squeeze(-1) + 2.0 * post.variance.squeeze(-1).sqrt())
        score = torch.cat(ucb)
        score[chosen] = -torch.inf
        chosen.append(int(torch.argmax(score)))
    best = np.maximum.accumulate(truth[chosen])
    print(f"\nheld out {args.heldout}, model trained on {trained_on}, {args.init} zero-shot + UCB")
    print("| evaluations | " + " | ".join(str(k) for k in args.report) + " |")
    print("|---|" + "---|" * len(args.report))
    regrets = [f"{truth.max() - best[k - 1]:.3f}" for k in args.report if k <= len(best)]
    print("| regret | " + " | ".join(regrets) + " |")
    print(f"median factory time {statistics.median(times):.2f} s (n = {args.init}..{args.evals})")


if __name__ == "__main__":
    main()
