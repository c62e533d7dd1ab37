"""Benchmark harness: run optimizers on problems and write one curve CSV per run.

    python -m benchmarks.run --problem nb201/cifar10 --optimizer re --seeds 0-19 --budget 100 \\
        --out benchmarks/results/nb201/runs [--jobs 1] [--quick]

jahs-bo searchers run through the public ``jahs_bo.create_study`` + ``ask()/tell()``; peer libraries
run as subprocesses in their own virtual environments (``benchmarks/peers/registry.json``). The CSV
schema and the peer contract are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import os

# One thread per run: seeds run side by side and the machine is shared. Set before numpy/torch load.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import fnmatch  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from benchmarks.problems import CurveRecorder, Problem, get_problem, list_problems  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PEER_REGISTRY = ROOT / "benchmarks" / "peers" / "registry.json"
#: Problem families ``benchmarks.priors.make_priors.problem_prior_space`` builds priors for.
PRIOR_FAMILIES: tuple[str, ...] = ("nb201/", "lcbench/")

#: jahs-bo optimizers that are more than a searcher name: name -> ``create_study`` kwargs. They use a
#: fidelity scheduler, so the harness runs them on multi-fidelity problems only.
JAHS_OPTIMIZERS: dict[str, dict[str, Any]] = {
    "hyperband": {"searcher": "random", "scheduler": "hyperband"},
    "sh": {"searcher": "random", "scheduler": "sh"},
    "asha": {"searcher": "random", "scheduler": "asha"},
    "bohb": {"searcher": "gp", "scheduler": "bohb"},  # listed once the GP searcher is registered
    "gp-ehvi": {"searcher": "gp", "searcher_options": {"mo_acquisition": "ehvi"}},
    # wl_iterations=2 was the GP searcher's default until it was measured against 1 on NB201.
    "gp-wl2": {"searcher": "gp", "searcher_options": {"wl_iterations": 2}},
    "gp-parego-wl2": {
        "searcher": "gp",
        "searcher_options": {"mo_acquisition": "parego", "wl_iterations": 2},
    },
    "gp-ehvi-wl2": {
        "searcher": "gp",
        "searcher_options": {"mo_acquisition": "ehvi", "wl_iterations": 2},
    },
    # The GP searcher fitted on at most 50 observations (best 25 + 25 drawn from the rest): the
    # cap of issue 13 binding from half the budget on, as max_observations=1000 does at n=2,000.
    "gp-cap50": {"searcher": "gp", "searcher_options": {"max_observations": 50}},
    # The GP searcher ignoring running trials (no kriging believer; they are only not proposed
    # again), to measure what believing them buys with asynchronous workers.
    "gp-ignore": {"searcher": "gp", "searcher_options": {"pending_strategy": "ignore"}},
    # The GP searcher modelling the values standardized instead of as Gaussian-copula ranks.
    "gp-ynone": {"searcher": "gp", "searcher_options": {"y_transform": "none"}},
    # Small budgets and stalls (issue 17): fewer random initial points, and Thompson sampling
    # once this many trials in a row missed the incumbent.
    "gp-init5": {"searcher": "gp", "searcher_options": {"n_init": 5}},
    "gp-stall10": {"searcher": "gp", "searcher_options": {"stall_patience": 10}},
    "gp-init5-stall10": {"searcher": "gp", "searcher_options": {"n_init": 5, "stall_patience": 10}},
    # Log-EI also while trials run (the GP searcher's behaviour with asynchronous workers until
    # pending_acquisition="auto" made it Thompson sampling there).
    "gp-pending-logei": {"searcher": "gp", "searcher_options": {"pending_acquisition": "logei"}},
    # Thompson sampling instead of log-EI (with asynchronous workers: one posterior sample per
    # suggestion, as in Kandasamy et al. 2018, running trials believed as with log-EI).
    "gp-ts": {"searcher": "gp", "searcher_options": {"acquisition": "ts"}},
    # While trials run: Thompson sampling and log-EI in turn (a portfolio over the workers).
    "gp-ts-logei": {"searcher": "gp", "searcher_options": {"pending_acquisition": "ts-logei"}},
    # With asynchronous workers (Thompson sampling while trials run) the stall switches to log-EI
    # instead (gp-stall10 too): the stall of some 8-worker runs, benchmarks/results/parallel.
    "gp-stall20": {"searcher": "gp", "searcher_options": {"stall_patience": 20}},
    # A random candidate pool 8x the default (2,048): is the acquisition's optimizer the limit?
    "gp-pool2k": {"searcher": "gp", "searcher_options": {"n_random": 2048}},
    # The NB201 50-evaluation screen (benchmarks/results/gp-nb201-screen): more local search,
    # more parents, no WL refinement (op counts), UCB, 7 initial points.
    "gp-rounds4": {"searcher": "gp", "searcher_options": {"local_rounds": 4}},
    "gp-parents20": {"searcher": "gp", "searcher_options": {"n_parents": 20}},
    "gp-wl0": {"searcher": "gp", "searcher_options": {"wl_iterations": 0}},
    "gp-ucb": {"searcher": "gp", "searcher_options": {"acquisition": "ucb"}},
    "gp-init7": {"searcher": "gp", "searcher_options": {"n_init": 7}},
    # Grammar spaces: 16 random derivations per ask (the default since 2026-12-02) or 64 (before).
    "gp-rand16": {"searcher": "gp", "searcher_options": {"n_random": 16}},
    "gp-rand64": {"searcher": "gp", "searcher_options": {"n_random": 64}},
    # Grammar spaces: the product of the per-level WL kernels instead of softmax-weighted levels.
    "gp-levelprod": {"searcher": "gp", "searcher_options": {"arch_kernel": "wl-product"}},
    # BOHB without batch proposals (new configurations between model updates not believed).
    "bohb-nobatch": {
        "searcher": "gp",
        "scheduler": "bohb",
        "scheduler_options": {"batch_proposals": False},
    },
    # BOHB whose GP takes every trial with the fidelity as a kernel input.
    "bohb-fid": {
        "searcher": "gp",
        "scheduler": "bohb",
        "searcher_options": {"models_fidelity": True},
    },
    # BOHB whose GP models the values standardized (what "auto" does in numeric spaces).
    "bohb-ynone": {
        "searcher": "gp",
        "scheduler": "bohb",
        "searcher_options": {"y_transform": "none"},
    },
    # BOHB whose GP models Gaussian-copula ranks (what "auto" does in spaces without numbers).
    "bohb-copula": {
        "searcher": "gp",
        "scheduler": "bohb",
        "searcher_options": {"y_transform": "copula"},
    },
    # BOHB whose GP models Yeo-Johnson-transformed values instead of copula ranks.
    "bohb-power": {
        "searcher": "gp",
        "scheduler": "bohb",
        "searcher_options": {"y_transform": "power"},
    },
    # BOHB with half of its new configurations drawn at random (the default is a third).
    "bohb-r50": {
        "searcher": "gp",
        "scheduler": "bohb",
        "scheduler_options": {"random_fraction": 0.5},
    },
    "bohb-wl2": {"searcher": "gp", "scheduler": "bohb", "searcher_options": {"wl_iterations": 2}},
    "bohb-eta9-wl2": {
        "searcher": "gp",
        "scheduler": "bohb",
        "scheduler_options": {"eta": 9},
        "searcher_options": {"wl_iterations": 2},
    },
    # Expert priors (benchmarks/priors/make_priors.py): "prior" names the kind of prior the
    # problem's space is built with; the searcher samples from it (GP: piBO) with use_prior=True.
    **{
        f"{searcher}-prior-{label}": {
            "searcher": searcher,
            "searcher_options": {"use_prior": True},
            "prior": kind,
        }
        for searcher in ("random", "re", "gp")
        for label, kind in (
            ("good", "good"),
            ("bad", "misleading"),
            ("good-edge", "good-edge"),
            ("bad-edge", "misleading-edge"),
        )
    },
    # The whole initial design (after the prior's mode) drawn from the prior (default: half).
    **{
        f"gp-prior-{label}-init-prior": {
            "searcher": "gp",
            "searcher_options": {"use_prior": True, "prior_init_fraction": 1.0},
            "prior": kind,
        }
        for label, kind in (("good", "good"), ("bad", "misleading"))
    },
    # piBO as published: the GP searcher's prior handling before the floor, the mode first and
    # the uniform half of the initial design.
    **{
        f"gp-pibo-{label}": {
            "searcher": "gp",
            "searcher_options": {
                "use_prior": True,
                "prior_floor": 0.0,
                "prior_mode_first": False,
                "prior_init_fraction": 1.0,
            },
            "prior": kind,
        }
        for label, kind in (("good", "good"), ("bad", "misleading"))
    },
}


@dataclass(frozen=True)
class Task:
    """One run: a problem, an optimizer, a seed and a budget."""

    problem: str
    optimizer: str
    seed: int
    path: str
    budget: int | None = None  # evaluations
    cost_budget: float | None = None  # cumulative cost (multi-fidelity)
    study_kwargs: dict[str, Any] = field(default_factory=dict)
    peer: dict[str, Any] | None = None


# ---------------------------------------------------------------------- optimizers
#: jahs-bo modules that register further searchers when imported (torch-heavy, so not imported by
#: ``jahs_bo.searchers`` itself).
OPTIONAL_SEARCHER_MODULES: tuple[str, ...] = (
    "jahs_bo.searchers.gp",
    "jahs_bo.searchers.bananas",
)


def jahs_searchers() -> list[str]:
    """Searcher names jahs-bo registers (``random``, ``re``, ``ls``, ``gp`` where installed, ...)."""
    import contextlib
    import importlib

    from jahs_bo.searchers import available_searchers

    for module in OPTIONAL_SEARCHER_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    return available_searchers()


def peer_registry(path: Path = PEER_REGISTRY) -> dict[str, dict[str, Any]]:
    """The peer optimizers: ``benchmarks/peers/registry.json`` if it exists, else derived from
    ``benchmarks.peers.common.OPTIMIZERS`` (name -> peer) by the layout convention
    ``benchmarks/peers/envs/<peer>/bin/python -m benchmarks.peers.run_<peer> --optimizer <name>``.
    Empty when neither exists.
    """
    if path.exists():
        return json.loads(path.read_text())
    try:
        from benchmarks.peers.common import OPTIMIZERS
    except ImportError:
        return {}
    return {
        name: {
            "python": f"benchmarks/peers/envs/{peer}/bin/python",
            "module": f"benchmarks.peers.run_{peer}",
            "args": ["--optimizer", name],
        }
        for name, peer in OPTIMIZERS.items()
    }


def available_optimizers() -> dict[str, str]:
    """Every optimizer name the harness accepts, mapped to ``"jahs-bo"`` or ``"peer"``."""
    searchers = jahs_searchers()
    composite = [n for n, kw in JAHS_OPTIMIZERS.items() if kw.get("searcher", "re") in searchers]
    out = {name: "jahs-bo" for name in [*searchers, *composite]}
    out.update({name: "peer" for name in peer_registry()})
    return out


def resolve_optimizer(name: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(create_study kwargs, None)`` for jahs-bo optimizers, ``({}, peer entry)`` for peers.

    Raises:
        KeyError: Unknown optimizer; the message lists the known ones.
    """
    if name in JAHS_OPTIMIZERS:
        kwargs = dict(JAHS_OPTIMIZERS[name])
        if kwargs.get("searcher", "re") not in jahs_searchers():
            raise KeyError(
                f"optimizer {name!r} needs the jahs-bo searcher {kwargs['searcher']!r}, which is "
                f"not registered (available: {jahs_searchers()})"
            )
        return kwargs, None
    if name in jahs_searchers():
        return {"searcher": name}, None
    peers = peer_registry()
    if name in peers:
        return {}, peers[name]
    raise KeyError(f"unknown optimizer {name!r}; choose one of {sorted(available_optimizers())}")


# ---------------------------------------------------------------------- one run
def run_jahs(
    problem: Problem,
    optimizer: str,
    seed: int,
    *,
    budget: int | None = None,
    cost_budget: float | None = None,
    study_kwargs: dict[str, Any] | None = None,
    on_finish: Callable[[Any], None] | None = None,
) -> CurveRecorder:
    """Optimize ``problem`` with a jahs-bo study through ``ask()/tell()``.

    The space is ``problem.space()``, or its expert-prior version when ``study_kwargs`` name a
    ``"prior"`` kind (``benchmarks.priors.make_priors.problem_prior_space``). Stops after
    ``budget`` evaluations or once the cumulative cost reaches ``cost_budget``; then calls
    ``on_finish(study)`` if given (to read what the searcher kept).

    Returns:
        The recorder holding the curve.
    """
    from jahs_bo import create_study

    jahs_searchers()  # registers the optional searchers in this (possibly fresh) process
    if (budget is None) == (cost_budget is None):
        raise ValueError("give exactly one of budget (evaluations) and cost_budget")
    kwargs = dict(study_kwargs or {"searcher": optimizer})
    prior = kwargs.pop("prior", None)
    if prior is None:
        space = problem.space()
    else:
        from benchmarks.priors.make_priors import problem_prior_space

        space = problem_prior_space(problem.name, prior)
    study = create_study(space, directions=list(problem.directions), seed=seed, **kwargs)
    recorder = CurveRecorder(problem, optimizer, seed)
    while not _done(recorder, budget, cost_budget):
        start = time.perf_counter()
        trial = study.ask()
        ask_seconds = time.perf_counter() - start
        fidelity = dict(trial.fidelity) or None
        metrics = problem.evaluate(trial.config, fidelity)
        values = problem.objective_values(metrics)
        start = time.perf_counter()
        study.tell(trial, list(values) if problem.multi_objective else values[0])
        ask_seconds += time.perf_counter() - start  # overhead = ask + tell, as for the peers
        recorder.add(trial.config, fidelity, metrics, ask_seconds)
    if on_finish is not None:
        on_finish(study)
    return recorder


def _done(recorder: CurveRecorder, budget: int | None, cost_budget: float | None) -> bool:
    if budget is not None:
        return len(recorder.rows) >= budget
    return recorder.cum_cost >= cost_budget  # type: ignore[operator]


def run_peer(task: Task) -> None:
    """Run one seed of a peer in its own interpreter (see the contract in the README)."""
    assert task.peer is not None
    python = ROOT / task.peer["python"]
    if not python.exists():
        raise FileNotFoundError(
            f"peer {task.optimizer!r}: {python} is missing; set up its environment with "
            "`bash benchmarks/peers/setup.sh`"
        )
    cmd = [str(python), "-m", task.peer["module"], *task.peer.get("args", [])]
    cmd += ["--problem", task.problem, "--seed", str(task.seed), "--out", task.path]
    if task.cost_budget is not None:
        cmd += ["--cost-budget", repr(task.cost_budget)]
    else:
        cmd += ["--budget", str(task.budget)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0 or not Path(task.path).exists():
        raise RuntimeError(
            f"peer {task.optimizer!r} failed (exit {proc.returncode}): {shlex.join(cmd)}\n"
            f"{proc.stderr[-4000:]}"
        )


def run_task(task: Task) -> tuple[Task, float, str | None]:
    """Run one task and write its CSV; returns (task, seconds, error message or None)."""
    start = time.perf_counter()
    try:
        if task.peer is not None:
            run_peer(task)
        else:
            recorder = run_jahs(
                get_problem(task.problem),
                task.optimizer,
                task.seed,
                budget=task.budget,
                cost_budget=task.cost_budget,
                study_kwargs=task.study_kwargs,
            )
            recorder.write_csv(task.path)
    except Exception as exc:  # one failed run must not stop a table; it is reported
        detail = traceback.format_exc(limit=-3)
        return task, time.perf_counter() - start, f"{type(exc).__name__}: {exc}\n{detail}"
    return task, time.perf_counter() - start, None


# ---------------------------------------------------------------------- planning
def parse_seeds(text: str) -> list[int]:
    """``"0-19"`` -> 0..19; ``"0,3,5"`` -> [0, 3, 5]; ranges and lists combine (``"0-2,7"``)."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            seeds += list(range(int(lo), int(hi) + 1)) if sep else [int(lo)]
        except ValueError:
            raise ValueError(f"bad seed list {text!r}; use e.g. 0-19 or 0,3,5") from None
    return seeds


def expand(patterns: str, names: Sequence[str]) -> list[str]:
    """Comma-separated names or glob patterns -> names (patterns expanded against ``names``)."""
    out: list[str] = []
    for pat in (p.strip() for p in patterns.split(",")):
        if any(ch in pat for ch in "*?["):
            out += [n for n in names if fnmatch.fnmatchcase(n, pat)]
        elif pat:
            out.append(pat)
    return list(dict.fromkeys(out))


def slug(problem: str) -> str:
    """Folder name of a problem spec (``/`` -> ``__``, ``:`` -> ``@``)."""
    return problem.replace("/", "__").replace(":", "@")


def run_path(out: Path, problem: str, optimizer: str, seed: int) -> Path:
    """Where the CSV of one run goes."""
    return out / slug(problem) / optimizer / f"seed_{seed}.csv"


def plan(
    problems: Sequence[str],
    optimizers: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    out: Path,
    *,
    budget_kind: str = "auto",
    overwrite: bool = False,
) -> list[Task]:
    """The runs to do (existing CSVs are skipped unless ``overwrite``)."""
    tasks = []
    for spec in problems:
        problem = get_problem(spec)
        by_cost = budget_kind == "cost" or (budget_kind == "auto" and problem.fidelity is not None)
        for optimizer in optimizers:
            kwargs, peer = resolve_optimizer(optimizer)
            if peer is not None and not any(
                fnmatch.fnmatchcase(problem.name.split(":")[0], pat)
                for pat in peer.get("problems", ["*"])
            ):
                print(f"skip {optimizer} on {problem.name}: not in the peer's problem list")
                continue
            families = ("nb201/",) if kwargs.get("prior", "").endswith("-edge") else PRIOR_FAMILIES
            if "prior" in kwargs and not problem.name.startswith(families):
                print(f"skip {optimizer} on {problem.name}: no prior is built for it")
                continue
            if "scheduler" in kwargs and problem.fidelity is None:
                print(f"skip {optimizer} on {problem.name}: it needs a multi-fidelity problem")
                continue
            for seed in seeds:
                path = run_path(out, problem.name, optimizer, seed)
                if path.exists() and not overwrite:
                    continue
                tasks.append(
                    Task(
                        problem=problem.name,
                        optimizer=optimizer,
                        seed=seed,
                        path=str(path),
                        budget=None if by_cost else budget,
                        cost_budget=budget * problem.cost() if by_cost else None,
                        study_kwargs=kwargs,
                        peer=peer,
                    )
                )
    return tasks


def execute(tasks: Sequence[Task], jobs: int = 1) -> list[tuple[Task, float, str | None]]:
    """Run ``tasks`` (``jobs`` processes); prints one line per finished run."""
    results = []
    if jobs <= 1:
        iterator = map(run_task, tasks)
        pool = None
    else:
        pool = multiprocessing.get_context("spawn").Pool(jobs)
        iterator = pool.imap_unordered(run_task, tasks)
    try:
        for i, (task, seconds, error) in enumerate(iterator, start=1):
            status = "ok" if error is None else f"FAILED {error.splitlines()[0]}"
            print(
                f"[{i}/{len(tasks)}] {task.problem} {task.optimizer} seed {task.seed}: "
                f"{seconds:.1f} s {status}",
                flush=True,
            )
            results.append((task, seconds, error))
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--problem", help="names or globs, comma-separated (e.g. 'nb201/*')")
    parser.add_argument("--optimizer", help="names, comma-separated (e.g. 'random,re,ls')")
    parser.add_argument("--seeds", default="0-19", help="e.g. 0-19 or 0,3,5")
    parser.add_argument("--budget", type=int, default=100, help="evaluations (or equivalents)")
    parser.add_argument(
        "--budget-kind",
        choices=["auto", "evals", "cost"],
        default="auto",
        help="auto: cost budget (budget x full-fidelity cost) for multi-fidelity problems",
    )
    parser.add_argument("--out", default="benchmarks/results/runs", help="output folder")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 seeds x 10 evaluations (alone: NB201, NB201-MF and LCBench with "
        "random, gp and bohb)",
    )
    parser.add_argument("--overwrite", action="store_true", help="redo runs whose CSV exists")
    parser.add_argument("--list", action="store_true", help="list problems and optimizers")
    args = parser.parse_args(argv)

    if args.list:
        print("problems:", " ".join(list_problems()))
        for name, kind in sorted(available_optimizers().items()):
            print(f"optimizer {name} ({kind})")
        return 0
    if args.quick:  # a smoke run of every kind of problem with the engine's own optimizers
        args.problem = args.problem or "nb201/cifar10,nb201-mf/cifar10,lcbench/7593"
        args.optimizer = args.optimizer or "random,gp,bohb"
    if not args.problem or not args.optimizer:
        parser.error("--problem and --optimizer are required (or --list, or --quick)")
    seeds = parse_seeds(args.seeds)
    budget = args.budget
    if args.quick:
        seeds, budget = seeds[:2], 10
    problems = expand(args.problem, list_problems())
    optimizers = expand(args.optimizer, sorted(available_optimizers()))
    out = Path(args.out)
    tasks = plan(
        problems, optimizers, seeds, budget, out,
        budget_kind=args.budget_kind, overwrite=args.overwrite,
    )  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with (out / "commands.log").open("a") as log:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        args_text = shlex.join(sys.argv[1:] if argv is None else list(argv))
        log.write(f"{stamp} python -m benchmarks.run {args_text}\n")
    print(f"{len(tasks)} run(s) to do -> {out}", flush=True)
    results = execute(tasks, args.jobs)
    failed = [r for r in results if r[2] is not None]
    for task, _, error in failed:
        print(f"FAILED {task.problem} {task.optimizer} seed {task.seed}:\n{error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
