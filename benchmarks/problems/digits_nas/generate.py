"""Train random architectures into the cache, and export the committed table.

    python -m benchmarks.problems.digits_nas.generate train --space grammar --protocol b16 \\
        --n-archs 150 --seeds 0 [--arch-seed 0] [--cache PATH]
    python -m benchmarks.problems.digits_nas.generate table --protocol b16 [--out FILE.csv.xz]
    python -m benchmarks.problems.digits_nas.generate summary [--first 16]
    python -m benchmarks.problems.digits_nas.generate import [--table FILE.csv.xz]

``import`` fills the (git-ignored) cache from the committed table, so a fresh clone looks up every
run the table holds instead of training it again.

Architectures are ``space.sample(numpy.random.default_rng(arch_seed))`` in order, so the first
``k`` of a longer run are the ``k`` of a shorter one and reruns only train what is missing. Runs go
one at a time in this process, single-threaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.problems.digits_nas.cache import TrainCache
from benchmarks.problems.digits_nas.protocol import PROTOCOLS

RESULTS = Path(__file__).resolve().parents[2] / "results" / "digits-nas"
#: Git-ignored (``benchmarks/results/**/runs/``).
DEFAULT_CACHE = RESULTS / "runs" / "cache.jsonl"
DEFAULT_TABLE = RESULTS / "table.csv.xz"
COLUMNS = ("space", "protocol", "seed", "val_acc", "test_acc", "seconds", "params", "arch")


def sample_archs(space_name: str, n: int, arch_seed: int = 0) -> list[str]:
    """The first ``n`` architectures of the seeded sampler of ``space_name``."""
    from benchmarks.problems.digits_nas.train import space

    rng = np.random.default_rng(arch_seed)
    sp = space(space_name)
    return [str(sp.sample(rng)["arch"]) for _ in range(n)]


def _parse_seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def cmd_train(args: argparse.Namespace) -> None:
    """Train the missing (architecture, seed) runs, printing one line each."""
    import torch

    torch.set_num_threads(1)
    protocol = PROTOCOLS[args.protocol]
    cache = TrainCache(args.cache)
    archs = sample_archs(args.space, args.n_archs, args.arch_seed)[args.start :]
    seeds = _parse_seeds(args.seeds)
    t0 = time.perf_counter()
    for i, arch in enumerate(archs, start=args.start):
        for seed in seeds:
            if cache.get(args.space, arch, protocol, seed) is not None:
                continue
            row = cache.train_cached(args.space, arch, protocol, seed)
            print(
                f"{args.space} {args.protocol} arch {i} seed {seed}: val {row['val_acc']:.2f} "
                f"test {row['test_acc']:.2f} {row['seconds']:.1f}s "
                f"(total {time.perf_counter() - t0:.0f}s)",
                flush=True,
            )


def cmd_table(args: argparse.Namespace) -> None:
    """Write every cached run of the named protocols as one xz-compressed CSV, sorted."""
    import pandas as pd

    keys = {PROTOCOLS[name].key(): name for name in args.protocol.split(",")}
    rows = [dict(r) for r in TrainCache(args.cache) if r["protocol"] in keys]
    for r in rows:
        r["protocol"] = keys[r["protocol"]]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame = frame.sort_values(["space", "protocol", "arch", "seed"], kind="stable")
    frame["seconds"] = frame["seconds"].round(2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False, compression={"method": "xz", "preset": 9})
    print(f"wrote {len(frame)} runs to {args.out}")


def cmd_import(args: argparse.Namespace) -> None:
    """Put every run of the committed table that the cache lacks into the cache."""
    import pandas as pd

    cache = TrainCache(args.cache)
    frame = pd.read_csv(args.table)
    added = 0
    for row in frame.to_dict("records"):
        protocol = PROTOCOLS[str(row["protocol"])]
        if cache.get(row["space"], row["arch"], protocol, int(row["seed"])) is None:
            cache.put(row["space"], row["arch"], protocol, int(row["seed"]), row)
            added += 1
    print(f"{added} of {len(frame)} table runs added to {args.cache}")


def summarize(rows: list[dict], archs: list[str] | None = None) -> dict[str, float]:
    """Spread and seed noise of the validation accuracy of one (space, protocol).

    Returns:
        ``n_archs``, ``runs``; ``spread`` (max - min of the seed-0 accuracies), ``p90_p10``
        (their 90th minus 10th percentile) and ``sd_archs`` (their standard deviation);
        ``seed_sd`` (pooled within-architecture standard deviation over the architectures with
        several seeds, ``nan`` if none), ``n_multi`` (those architectures); ``reliability``
        (share of the seed-0 variance that is between architectures,
        ``1 - seed_sd^2 / sd_archs^2``); ``seconds`` (mean per run); ``diverged`` (runs).
    """
    by_arch: dict[str, dict[int, float]] = {}
    for r in rows:
        if archs is None or r["arch"] in archs:
            by_arch.setdefault(r["arch"], {})[int(r["seed"])] = float(r["val_acc"])
    first = np.array([v[min(v)] for v in by_arch.values()])
    ok = first[np.isfinite(first)]
    multi = [np.array(list(v.values())) for v in by_arch.values() if len(v) > 1]
    multi = [m for m in multi if np.isfinite(m).all()]
    pooled = float(np.sqrt(np.mean([m.var(ddof=1) for m in multi]))) if multi else float("nan")
    sd = float(ok.std(ddof=1)) if len(ok) > 1 else float("nan")
    secs = [float(r["seconds"]) for r in rows if archs is None or r["arch"] in archs]
    return {
        "n_archs": float(len(by_arch)),
        "runs": float(len(secs)),
        "spread": float(ok.max() - ok.min()) if len(ok) else float("nan"),
        "p90_p10": float(np.percentile(ok, 90) - np.percentile(ok, 10))
        if len(ok)
        else float("nan"),
        "sd_archs": sd,
        "seed_sd": pooled,
        "n_multi": float(len(multi)),
        "reliability": 1.0 - pooled**2 / sd**2 if multi and sd > 0 else float("nan"),
        "mean_val": float(ok.mean()) if len(ok) else float("nan"),
        "seconds": float(np.mean(secs)) if secs else float("nan"),
        "diverged": float(len(first) - len(ok)),
    }


def cmd_summary(args: argparse.Namespace) -> None:
    """Print the spread / seed-noise summary of every (space, protocol) in the cache."""
    cache = TrainCache(args.cache)
    names = {p.key(): name for name, p in PROTOCOLS.items()}
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in cache:
        if r["protocol"] in names:
            groups.setdefault((r["space"], names[r["protocol"]]), []).append(r)
    keys = (
        "n_archs",
        "runs",
        "mean_val",
        "spread",
        "p90_p10",
        "sd_archs",
        "seed_sd",
        "n_multi",
        "reliability",
        "seconds",
        "diverged",
    )
    print("| space | protocol | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for (space_name, proto), rows in sorted(groups.items()):
        archs = None
        if args.first:
            archs = set(sample_archs(space_name, args.first, args.arch_seed))
        s = summarize(rows, archs)
        print(f"| {space_name} | {proto} | " + " | ".join(f"{s[k]:.2f}" for k in keys) + " |")


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_train = sub.add_parser("train", help="train random architectures into the cache")
    p_train.add_argument("--space", choices=("grammar", "nb201"), required=True)
    p_train.add_argument("--protocol", choices=sorted(PROTOCOLS), default="b16")
    p_train.add_argument("--n-archs", type=int, required=True)
    p_train.add_argument("--start", type=int, default=0, help="skip the first START archs")
    p_train.add_argument("--arch-seed", type=int, default=0)
    p_train.add_argument("--seeds", default="0", help="training seeds: 0-2 or 0,3")
    p_train.add_argument("--cache", default=str(DEFAULT_CACHE))
    p_table = sub.add_parser("table", help="export the cached runs as a .csv.xz")
    p_table.add_argument("--protocol", default="b16", help="comma-separated protocol names")
    p_table.add_argument("--cache", default=str(DEFAULT_CACHE))
    p_table.add_argument("--out", default=str(DEFAULT_TABLE))
    p_sum = sub.add_parser("summary", help="spread and seed noise per (space, protocol)")
    p_sum.add_argument("--cache", default=str(DEFAULT_CACHE))
    p_sum.add_argument("--first", type=int, default=0, help="only the first N sampled archs")
    p_sum.add_argument("--arch-seed", type=int, default=0)
    p_imp = sub.add_parser("import", help="fill the cache from the committed table")
    p_imp.add_argument("--cache", default=str(DEFAULT_CACHE))
    p_imp.add_argument("--table", default=str(DEFAULT_TABLE))
    args = parser.parse_args(argv)
    commands = {
        "train": cmd_train,
        "table": cmd_table,
        "summary": cmd_summary,
        "import": cmd_import,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main(sys.argv[1:])
