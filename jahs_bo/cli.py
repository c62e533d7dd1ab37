"""The ``jahs-bo`` command line: run a training script's search, inspect, export and plot it.

::

    jahs-bo run path/to/train.py:train --space space.json --n-trials 50 --workers 2 \\
        --storage study.db [--study-name NAME] [--seed 0] [--direction maximize]
    jahs-bo run ... --storage postgresql://user:password@host:5432/db   # on every machine
    jahs-bo status --storage study.db [--study-name NAME]
    jahs-bo best   --storage study.db [--study-name NAME] [--json]
    jahs-bo export --storage study.db --format csv|json [--output trials.csv]
    jahs-bo plot   --storage study.db [--output-dir plots/]
    jahs-bo metatrain --space space.json --from a.db --from b.db --out DIR [--steps 1500]
    jahs-bo run ... --meta DIR        # searcher "transfer" with that meta-model
    jahs-bo run ... --warm-start a.db # the best of earlier studies' configurations first

``--space`` is a JSON file (``SearchSpace.to_json()`` output, or a ConfigSpace JSON file) or a
factory ``module:function`` / ``path/to/file.py:function`` returning a ``SearchSpace``.
Exit codes: 0 success, 2 bad input (the message names the path, function or field), 130 the
search was interrupted with Ctrl-C (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jahs_bo.exceptions import InputError, JahsBOError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CLIError(InputError):
    """A user error the CLI reports in one line with exit code 2."""


# ------------------------------------------------------------------------------------------
# Loading things the user names
# ------------------------------------------------------------------------------------------


def load_space(spec: str) -> Any:
    """A :class:`~jahs_bo.spaces.SearchSpace` from a JSON file or a ``module:factory`` spec.

    Raises:
        CLIError: The file is missing or malformed, or the factory cannot be loaded or does not
            return a ``SearchSpace``; the message names the file or function and the field.
    """
    from jahs_bo.spaces import SearchSpace

    path = Path(spec).expanduser()
    if spec.endswith(".json") or path.is_file():
        if not path.is_file():
            raise CLIError(f"space file {str(path)!r} does not exist")
        text = path.read_text()
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CLIError(
                f"space file {str(path)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}"
            ) from None
        if not isinstance(data, dict):
            raise CLIError(
                f"space file {str(path)!r} holds a JSON {type(data).__name__}; expected an object "
                "as written by SearchSpace.to_json() or ConfigSpace"
            )
        if "format" not in data and isinstance(data.get("hyperparameters"), list):
            return _configspace_json(path, text)  # a ConfigSpace file (no fidelities, no cells)
        try:
            return SearchSpace.from_json(text)
        except JahsBOError as exc:
            raise CLIError(f"space file {str(path)!r} is not a valid search space: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise CLIError(
                f"space file {str(path)!r} is not a valid search space: {type(exc).__name__}: {exc}"
            ) from None
    if ":" not in spec:
        raise CLIError(f"--space {spec!r} is neither an existing JSON file nor 'module:factory'")
    from jahs_bo.study.objective import load_objective

    factory = load_objective(spec)
    try:
        space = factory()
    except Exception as exc:
        raise CLIError(f"space factory {spec!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(space, SearchSpace):
        raise CLIError(
            f"space factory {spec!r} returned a {type(space).__name__}, not a jahs_bo SearchSpace"
        )
    return space


def _configspace_json(path: Path, text: str) -> Any:
    from ConfigSpace import ConfigurationSpace

    from jahs_bo.spaces import SearchSpace

    try:
        cs = ConfigurationSpace.from_json(path)
    except Exception as exc:
        raise CLIError(
            f"space file {str(path)!r} looks like ConfigSpace JSON but does not load: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    return SearchSpace.from_configspace(cs)


def _open(args: argparse.Namespace) -> Any:
    """Load the study named by ``--storage`` / ``--study-name`` (the only one if unnamed)."""
    from jahs_bo.storage import get_storage
    from jahs_bo.storage.postgres import redact
    from jahs_bo.study import load_study

    storage = get_storage(args.storage, must_exist=True)
    name = args.study_name
    if name is None:
        names = [s.name for s in storage.list_studies()]
        if not names:
            raise CLIError(
                f"{redact(str(args.storage))!r} holds no study yet; start one with "
                "'jahs-bo run' (or create_study), or check --storage"
            )
        if len(names) != 1:
            raise CLIError(
                f"{redact(str(args.storage))!r} holds {len(names)} studies {names}; choose one "
                "with --study-name"
            )
        name = names[0]
    return load_study(name, storage)


# ------------------------------------------------------------------------------------------
# Commands
# ------------------------------------------------------------------------------------------


def _directions(args: argparse.Namespace) -> tuple[list[str] | None, dict[str, str] | None]:
    if args.objectives:
        objectives = {}
        for item in args.objectives:
            name, _, direction = item.partition(":")
            if direction not in ("minimize", "maximize") or not name:
                raise CLIError(
                    f"--objectives item {item!r} must look like name:minimize or name:maximize"
                )
            objectives[name] = direction
        return None, objectives
    return list(args.direction or ["minimize"]), None


def cmd_run(args: argparse.Namespace) -> int:
    from jahs_bo.storage import get_storage
    from jahs_bo.study.objective import load_objective
    from jahs_bo.tuner import open_study

    space = load_space(args.space)
    load_objective(args.target)  # wrong path / missing function: exit 2 before anything starts
    executor = _executor(args)
    directions, objectives = _directions(args)
    storage = get_storage(args.storage, create_dirs=args.mkdir)
    name = args.study_name or args.target.rpartition(":")[2]
    searcher, searcher_options = args.searcher, None
    if args.meta is not None:
        if searcher not in (None, "transfer"):
            raise CLIError(f"--meta uses searcher 'transfer'; drop --searcher {searcher}")
        searcher, searcher_options = "transfer", {"meta": str(Path(args.meta).resolve())}
    warm_start = None
    if args.warm_start:
        warm_start = _source_tasks(args.warm_start, space, args.space)
        if not warm_start:
            raise CLIError(f"--warm-start found no studies in {args.warm_start}")
    study = open_study(
        space,
        storage=storage,
        study_name=name,
        directions=directions,
        objectives=objectives,
        searcher=searcher,
        searcher_options=searcher_options,
        scheduler=args.scheduler,
        seed=args.seed,
        constraints=args.constraint,
        warm_start=warm_start,
    )
    try:
        study.optimize(
            args.target,
            n_trials=args.n_trials,
            n_workers=args.workers,
            executor=executor,
            timeout_per_trial=args.timeout_per_trial,
            show_progress=False if args.no_progress else None,
        )
    except KeyboardInterrupt:
        _print_summary(study)
        print(
            "jahs-bo run: interrupted; run the same command again to resume (interrupted "
            "trials are re-run)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    _print_summary(study)
    return EXIT_OK


def _executor(args: argparse.Namespace) -> Any:
    """``None`` (this machine) or a ``RayExecutor`` from ``--executor/--ray-address/--resources``."""
    if args.executor == "local":
        if args.ray_address is not None or args.resources is not None:
            raise CLIError("--ray-address and --resources apply to Ray only; add --executor ray")
        return None
    resources: dict[str, float] = {}
    for item in (args.resources or "").split(","):
        if not item.strip():
            continue
        name, sep, amount = item.partition("=")
        try:
            resources[name.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise CLIError(
                f"cannot read --resources {args.resources!r}: give name=amount pairs separated "
                "by commas, e.g. cpu=4,gpu=1"
            ) from None
    from jahs_bo.study.ray_executor import RayExecutor

    return RayExecutor(
        address=args.ray_address,
        resources_per_trial=resources or None,
        max_concurrent=args.workers,
        timeout_per_trial=args.timeout_per_trial,
    )


def _source_tasks(specs: list[str], space: Any, space_arg: str) -> list[Any]:
    """One ``metalearn.TaskData`` per study in the storages ``specs`` (all of ``space``)."""
    from jahs_bo.metalearn import TaskData
    from jahs_bo.storage import get_storage
    from jahs_bo.study import load_study

    sources = []
    for spec in specs:
        storage = get_storage(spec, must_exist=True)
        for info in storage.list_studies():
            study = load_study(info.name, storage, searcher="random")
            if study.space != space:
                raise CLIError(
                    f"study {info.name!r} in {spec!r} has another search space than "
                    f"{space_arg!r}; use source studies of one space"
                )
            sources.append(TaskData.from_study(study, name=f"{Path(spec).stem}:{info.name}"))
    return sources


def cmd_metatrain(args: argparse.Namespace) -> int:
    """Meta-train on every study in the ``--from`` files (one source task per study)."""
    from jahs_bo.metalearn import meta_train

    space = load_space(args.space)
    sources = _source_tasks(args.sources, space, args.space)
    if len(sources) < 2:
        raise CLIError(
            f"meta-training needs at least 2 source studies, found {len(sources)} in "
            f"{args.sources}; pass more --from files"
        )
    meta = meta_train(
        space, sources, seed=args.seed, steps=args.steps, progress=not args.no_progress
    )
    meta.save(args.out)
    print(f"meta-model of {len(sources)} source studies written to {args.out}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from jahs_bo.progress import summarize
    from jahs_bo.storage.postgres import redact

    study = _open(args)
    s = summarize(study)
    table = Table(title=f"study {study.study_name}", show_header=False)
    table.add_row("storage", redact(str(args.storage)))
    table.add_row("directions", ", ".join(d.value for d in study.directions))
    table.add_row("searcher", study.searcher.name)
    table.add_row("trials", str(len(study.trials)))
    for state in ("complete", "pruned", "failed", "running"):
        table.add_row(f"  {state}", str(s[state]))
    if s["lost"]:
        table.add_row("  lost (re-run on resume)", str(s["lost"]))
    if s["best"] is not None:
        table.add_row("best (first objective)", s["best_text"])
    Console().print(table)
    return EXIT_OK


def _trial_record(t: Any, numbers: dict[int, int]) -> dict[str, Any]:
    """A trial as JSON; ``numbers`` maps trial ids to numbers (parents are named by number)."""
    return {
        "number": t.number,
        "state": t.state.value,
        "values": list(t.values) if t.values is not None else None,
        "config": t.config,
        "fidelity": t.fidelity,
        "parent_number": numbers.get(t.parent_id) if t.parent_id else None,
        "lost": t.system_attrs.get("lost") or None,
        "intermediate": [[r.step, r.value] for r in t.intermediate],
        "duration": t.duration,
        "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
        "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
        "error": t.error,
        "user_attrs": dict(t.user_attrs),
    }


def _best(study: Any) -> list[Any]:
    return list(study.best_trials) if len(study.directions) > 1 else [study.best_trial]


def cmd_best(args: argparse.Namespace) -> int:
    study = _open(args)
    best = _best(study)
    if args.json:
        numbers = {t.trial_id: t.number for t in study.trials}
        records = [_trial_record(t, numbers) for t in best]
        print(json.dumps(records, indent=2, default=_json_default))
    else:
        _print_summary(study)
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    study = _open(args)
    out = Path(args.output) if args.output else None
    if args.format == "csv":
        text = study.trials_dataframe().to_csv(index=False)
    else:
        trials = study.trials
        numbers = {t.trial_id: t.number for t in trials}
        doc = {
            "study": study.study_name,
            "directions": [d.value for d in study.directions],
            "objective_names": list(study.objective_names or []),
            "space": json.loads(study.space.to_json()),
            "trials": [_trial_record(t, numbers) for t in trials],
        }
        text = json.dumps(doc, indent=2, default=_json_default, allow_nan=True)
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {len(study.trials)} trials to {out}")
    return EXIT_OK


def cmd_plot(args: argparse.Namespace) -> int:
    from jahs_bo.plotting import plot_study
    from jahs_bo.storage import storage_path

    study = _open(args)
    db = storage_path(study.storage)
    default = db.parent / f"{db.stem}_plots" if db is not None else Path("plots")
    out_dir = Path(args.output_dir) if args.output_dir else default
    for path in plot_study(study, out_dir):
        print(path)
    return EXIT_OK


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def _print_summary(study: Any) -> None:
    """The incumbent (the study's one rule), with full configurations (never truncated)."""
    from rich.console import Console

    console = Console(soft_wrap=True)
    inc = study.incumbent
    best = [inc.best] if len(study.directions) == 1 and inc.best is not None else list(inc.front)
    if not best:
        console.print(f"study {study.study_name}: no complete trial yet", markup=False)
        return
    names = list(study.objective_names or []) or [
        f"objective {i} ({d.value})" for i, d in enumerate(study.directions)
    ]
    title = "best trial" if len(study.directions) == 1 else f"Pareto front ({len(best)} trials)"
    note = f" {inc.note}" if inc.note else ""
    if len(study.directions) == 1 and not inc.feasible:
        note += " (no trial satisfies the constraints yet: the least violating one)"
    console.print(f"{study.study_name}: {title}{note}", markup=False)
    for t in best:
        vals = ", ".join(
            f"{n} = {v:.6g}" if math.isfinite(v) else f"{n} = {v}" for n, v in zip(names, t.values)
        )
        console.print(f"  trial {t.number}: {vals}", markup=False)
        if t.fidelity:
            console.print(f"    fidelity: {json.dumps(t.fidelity)}", markup=False)
        for key, value in t.config.items():
            console.print(f"    {key}: {value}", markup=False)


# ------------------------------------------------------------------------------------------
# Argument parsing
# ------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jahs-bo",
        description="Joint architecture and hyperparameter search for training scripts.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def storage_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--storage",
            required=True,
            help="the study's storage: a SQLite file (path or sqlite:/// URL) or a "
            "postgresql://user:password@host:port/dbname URL",
        )
        p.add_argument(
            "--study-name", default=None, help="study in the file (default: the only one)"
        )

    run = sub.add_parser("run", help="run (or resume) a search over a training function")
    run.add_argument("target", help="the training function: path/to/train.py:train or module:train")
    run.add_argument("--space", required=True, help="space JSON file or module:factory")
    run.add_argument(
        "--n-trials",
        type=int,
        required=True,
        help="finished trials the study should hold (the same command resumes)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=None,
        help="trials in parallel: worker processes (default 1), or at most this many Ray tasks "
        "with --executor ray (default: as many as the cluster holds)",
    )
    run.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="where trials run: this machine, or Ray tasks on a cluster (pip install "
        "'jahs-bo[ray]'); this process keeps the study and asks the searcher",
    )
    run.add_argument(
        "--ray-address",
        default=None,
        help="with --executor ray: 'auto', HOST:PORT of a Ray head (default: RAY_ADDRESS, "
        "else a new local Ray instance)",
    )
    run.add_argument(
        "--resources",
        default=None,
        metavar="cpu=4,gpu=1",
        help="with --executor ray: Ray resources one trial holds (default cpu=1)",
    )
    run.add_argument(
        "--storage",
        required=True,
        help="the study's storage: a SQLite file, a path or sqlite:/// URL (created if "
        "missing), or a postgresql://user:password@host:port/dbname URL (workers on several "
        "machines may run the same command against it)",
    )
    run.add_argument(
        "--mkdir", action="store_true", help="create the storage's directory if it is missing"
    )
    run.add_argument("--study-name", default=None, help="default: the function's name")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument(
        "--searcher", default=None, help="gp, re, ls, random, ... (default: gp, as in Python)"
    )
    run.add_argument("--scheduler", default=None, help="asha, hyperband, bohb, sh, fifo")
    run.add_argument(
        "--direction",
        action="append",
        choices=["minimize", "maximize"],
        help="one per objective, in order (default: minimize)",
    )
    run.add_argument(
        "--objectives", nargs="+", help="named objectives, e.g. acc:maximize size:minimize"
    )
    run.add_argument(
        "--constraint",
        action="append",
        metavar="'METRIC <= BOUND'",
        help="outcome constraint, repeatable: an objective name or index, or a user attribute "
        "the function sets with ctx.set_user_attr (e.g. 'latency_ms <= 10')",
    )
    run.add_argument(
        "--meta",
        default=None,
        help="meta-model directory (jahs-bo metatrain --out): use searcher 'transfer'",
    )
    run.add_argument(
        "--warm-start",
        action="append",
        metavar="STORAGE",
        help="SQLite file or URL of earlier studies of the same space, repeatable: a new "
        "study first evaluates a greedy portfolio of their best configurations",
    )
    run.add_argument("--timeout-per-trial", type=float, default=None, help="seconds")
    run.add_argument("--no-progress", action="store_true", help="no live progress display")
    run.set_defaults(func=cmd_run)

    metatrain = sub.add_parser(
        "metatrain", help="meta-train a transfer model on finished studies of one space"
    )
    metatrain.add_argument("--space", required=True, help="space JSON file or module:factory")
    metatrain.add_argument(
        "--from",
        dest="sources",
        action="append",
        required=True,
        help="SQLite file of source studies, repeatable (each study is one source task)",
    )
    metatrain.add_argument("--out", required=True, help="checkpoint directory to write")
    metatrain.add_argument("--steps", type=int, default=1500, help="Adam steps")
    metatrain.add_argument("--seed", type=int, default=0)
    metatrain.add_argument("--no-progress", action="store_true", help="no progress bar")
    metatrain.set_defaults(func=cmd_metatrain)

    status = sub.add_parser("status", help="trial counts and the best value")
    storage_args(status)
    status.set_defaults(func=cmd_status)

    best = sub.add_parser("best", help="the best trial (Pareto front for several objectives)")
    storage_args(best)
    best.add_argument("--json", action="store_true", help="print JSON")
    best.set_defaults(func=cmd_best)

    export = sub.add_parser("export", help="every trial as CSV or JSON")
    storage_args(export)
    export.add_argument("--format", choices=["csv", "json"], default="csv")
    export.add_argument("--output", default=None, help="file (default: standard output)")
    export.set_defaults(func=cmd_export)

    plot = sub.add_parser("plot", help="PNG plots of the study")
    storage_args(plot)
    plot.add_argument(
        "--output-dir",
        default=None,
        help="default: <database>_plots/ beside a SQLite file, plots/ for PostgreSQL",
    )
    plot.set_defaults(func=cmd_plot)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``jahs-bo`` command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except InputError as exc:
        print(f"jahs-bo {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except JahsBOError as exc:
        print(f"jahs-bo {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("jahs-bo: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
