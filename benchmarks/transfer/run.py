"""Transfer benchmark harness: leave-one-task-out meta-training, then searches on the held-out task.

    python -m benchmarks.transfer.run --bench nb201 --methods transfer,portfolio \\
        --seeds 0-19 --budget 30 --out benchmarks/results/transfer/nb201

For each held-out task (``--heldout``, default: the benchmark's, see
:mod:`benchmarks.transfer.sources`) the harness meta-trains one model on the other tasks
(``<out>/meta/<task>/``, kept and reused; its training seconds in ``train.json``) and runs the
methods on the held-out problem through the same loop as ``benchmarks.run`` (``create_study``
+ ``ask()/tell()``), writing one curve CSV per run under ``<out>/runs/`` (the schema of
``benchmarks/README.md``):

- ``transfer``: ``searcher="transfer"`` with the held-out task's meta-model and its defaults
  (5 zero-shot suggestions, then the fine-tuned deep-kernel GP with the negative-transfer
  guard); the guard's choices go to ``seed_<k>.guard.json`` beside the CSV.
- ``transfer-noguard``: the same with ``guard=False``.
- ``transfer-nodata``: ``transfer`` with a meta-model trained without the sources' dataset samples
  (``<out>/meta-nodata/<task>/``) and no samples of the held-out task: what the dataset encoder's
  samples add (benchmarks whose tasks have samples: ``digits``).
- ``portfolio``: the GP searcher warm-started with the greedy portfolio of the sources' best
  configurations (``create_study(warm_start=sources, warm_start_size=10)``).
- ``gp``, ``re``, ``random``: the searchers without transfer (or taken from committed curves,
  see ``report``).

``python -m benchmarks.transfer.run report ...`` writes the tables (:mod:`.report`).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.problems import get_problem  # noqa: E402
from benchmarks.run import parse_seeds, run_jahs, run_path  # noqa: E402
from benchmarks.transfer.sources import (  # noqa: E402
    BENCHMARKS,
    PORTFOLIO_SIZE,
    Benchmark,
    benchmark,
)

METHODS = ("transfer", "transfer-noguard", "transfer-nodata", "portfolio", "gp", "re", "random")


def meta_path(out: Path, task: str, samples: bool = True) -> Path:
    """Where the meta-model trained without ``task`` is kept (``meta-nodata/``: no samples)."""
    return out / ("meta" if samples else "meta-nodata") / task


def ensure_meta(
    bench: Benchmark, task: str, out: Path, steps: int, seed: int, samples: bool = True
) -> Path:
    """Meta-train on every task but ``task`` unless a checkpoint is already there."""
    from jahs_bo import metalearn

    path = meta_path(out, task, samples)
    if (path / "train.json").exists():
        return path
    sources = bench.sources(task, samples=samples)
    start = time.perf_counter()
    meta = metalearn.meta_train(bench.space(), sources, seed=seed, steps=steps, progress=False)
    seconds = time.perf_counter() - start
    meta.save(str(path))
    info = {"heldout": task, "sources": [s.name for s in sources], "steps": steps, "seed": seed}
    info["seconds"] = round(seconds, 1)
    (path / "train.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"meta-trained without {task} on {len(sources)} tasks: {seconds:.1f} s", flush=True)
    return path


def study_kwargs(method: str, bench: Benchmark, task: str, meta: Path) -> dict[str, Any]:
    """``create_study`` keyword arguments of ``method`` on held-out ``task``."""
    if method in ("transfer", "transfer-noguard", "transfer-nodata"):
        options: dict[str, Any] = {"meta": str(meta)}
        if method == "transfer-noguard":
            options["guard"] = False
        samples = bench.dataset(task)
        if samples is not None and method != "transfer-nodata":
            options["dataset"] = samples
        return {"searcher": "transfer", "searcher_options": options}
    if method == "portfolio":
        return {
            "searcher": "gp",
            "warm_start": bench.sources(task),
            "warm_start_size": PORTFOLIO_SIZE,
        }
    if method in ("gp", "re", "random"):
        return {"searcher": method}
    raise ValueError(f"unknown method {method!r}; use some of {METHODS}")


def run_one(
    bench: Benchmark, task: str, method: str, seed: int, budget: int, out: Path, meta: Path
) -> float:
    """One search; writes its curve (and the guard's choices); returns its seconds."""
    problem = get_problem(bench.problem(task))
    path = run_path(out / "runs", problem.name, method, seed)
    choices: list[Any] = []

    def keep_choices(study: Any) -> None:
        guard = getattr(study.searcher, "guard", None)
        if guard is not None:
            choices.extend(guard.choices)

    start = time.perf_counter()
    recorder = run_jahs(
        problem,
        method,
        seed,
        budget=budget,
        study_kwargs=study_kwargs(method, bench, task, meta),
        on_finish=keep_choices,
    )
    recorder.write_csv(path)
    if choices:
        path.with_suffix(".guard.json").write_text(json.dumps(choices) + "\n")
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        from benchmarks.transfer.report import main as report_main

        return report_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.transfer.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--bench", required=True, choices=list(BENCHMARKS))
    parser.add_argument("--heldout", default="default", help="tasks, comma-separated")
    parser.add_argument("--methods", default="transfer,portfolio", help=f"some of {METHODS}")
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--budget", type=int, default=30, help="evaluations per run")
    parser.add_argument("--meta-steps", type=int, default=1500)
    parser.add_argument("--meta-seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--overwrite", action="store_true", help="redo runs whose CSV exists")
    args = parser.parse_args(argv)

    bench = benchmark(args.bench)
    heldout = bench.heldout if args.heldout == "default" else tuple(args.heldout.split(","))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for m in methods:
        if m not in METHODS:
            parser.error(f"unknown method {m!r}; use some of {', '.join(METHODS)}")
    if "transfer-nodata" in methods and bench.dataset(bench.tasks[0]) is None:
        parser.error(
            f"transfer-nodata needs a benchmark with dataset samples; {bench.name} has none"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "commands.log").open("a") as log:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        log.write(f"{stamp} python -m benchmarks.transfer.run {shlex.join(argv)}\n")
    seeds = parse_seeds(args.seeds)
    for task in heldout:
        for method in methods:
            samples = method != "transfer-nodata"
            meta = meta_path(out, task, samples)
            if method.startswith("transfer"):
                ensure_meta(bench, task, out, args.meta_steps, args.meta_seed, samples)
            for seed in seeds:
                problem = bench.problem(task)
                if run_path(out / "runs", problem, method, seed).exists() and not args.overwrite:
                    continue
                seconds = run_one(bench, task, method, seed, args.budget, out, meta)
                print(f"{problem} {method} seed {seed}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
