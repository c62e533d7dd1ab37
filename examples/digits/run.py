"""Search NB201-cell CNNs jointly with learning rate, weight decay and activation on the digits.

The whole job on a laptop CPU: two worker processes train small NB201 networks on
scikit-learn's bundled 8x8 handwritten digits (no download), ASHA spends 1, 3, 9 or 27 epochs on
each candidate and promotes the best ones (a promotion resumes from its parent's checkpoint).
The default configuration is evaluated first at the full 27 epochs as the baseline. The study
lives in a SQLite file: kill the run (Ctrl-C) and start the same command again to resume.

    python examples/digits/run.py                      # about 3-6 minutes on 2 cores
    python examples/digits/run.py --n-trials 120 --workers 4 --storage /tmp/digits.db

Outputs: live progress, a summary table (default vs. best configuration, top trials) and PNG
plots (incumbent over trials and over cost, epochs used per rung) beside the study file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-trials", type=int, default=80, help="total trials (promotions count)")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    p.add_argument("--storage", default="digits_study/study.db", help="SQLite file of the study")
    p.add_argument("--study-name", default="digits", help="study name inside the file")
    p.add_argument("--seed", type=int, default=0, help="seed of a new study")
    p.add_argument("--max-epochs", type=int, default=27, help="the full fidelity")
    p.add_argument(
        "--scheduler",
        default="asha",
        choices=["asha", "hyperband", "sh", "none"],
        help="multi-fidelity scheduler; 'none' trains every trial for --max-epochs",
    )
    p.add_argument(
        "--searcher", default="gp", help="searcher proposing configurations (default: gp)"
    )
    p.add_argument("--timeout-per-trial", type=float, default=600.0, help="seconds")
    p.add_argument("--plots", default=None, help="plot directory (default: beside --storage)")
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p.parse_args(argv)


def summary(study, default_config: dict, elapsed: float) -> tuple[float, float]:
    """Print the summary table; returns (default validation accuracy, best validation accuracy)."""
    from rich.console import Console
    from rich.table import Table

    from jahs_bo.types import TrialState

    console = Console()
    if not console.is_terminal:  # logs and pipes: wide enough for the table
        console = Console(width=120)
    space = study.space
    full = space.max_fidelity()
    key = space.config_key(space.validate(default_config))
    trials = study.trials
    default = next(
        (
            t
            for t in trials
            if t.state is TrialState.COMPLETE
            and t.fidelity == full
            and space.config_key(t.config) == key
        ),
        None,
    )
    by_id = {t.trial_id: t for t in trials}
    best = study.best_trial if any(t.state is TrialState.COMPLETE for t in trials) else None
    # epochs actually trained: a promotion resumes, so it pays only for its new epochs
    epochs = sum(
        t.fidelity["epochs"] - (by_id[t.parent_id].fidelity["epochs"] if t.parent_id else 0)
        for t in trials
        if t.state.is_finished
    )
    states = {s: sum(t.state is s for t in trials) for s in TrialState}

    table = Table(title=f"digits: {len(trials)} trials ({elapsed / 60:.1f} min this run)")
    for col in ("", "trial", "val acc", "test acc", "epochs", "activation", "lr", "wd"):
        table.add_column(col, no_wrap=True)
    cells: list[str] = []

    def row(name: str, t) -> None:
        if t is None:
            table.add_row(name, "-", "not run yet", "", "", "", "", "")
            return
        table.add_row(
            name,
            str(t.number),
            f"{t.values[0]:.4f}",
            f"{t.user_attrs.get('test_accuracy', float('nan')):.4f}",
            f"{t.fidelity['epochs']:g}",
            t.config["activation"],
            f"{t.config['learning_rate']:.3g}",
            f"{t.config['weight_decay']:.1e}",
        )
        cells.append(f"{name:>8}: {t.config['arch']}")

    row("default", default)
    row("best", best)
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.fidelity == full]
    for i, t in enumerate(sorted(complete, key=lambda t: -t.values[0])[:5]):
        row(f"top {i + 1}", t)
    console.print(table)
    console.print("NB201 cells:\n" + "\n".join(cells), markup=False, soft_wrap=True)
    console.print(
        f"trials: {states[TrialState.COMPLETE]} complete, {states[TrialState.PRUNED]} pruned, "
        f"{states[TrialState.FAILED]} failed; epochs trained: {epochs:g} "
        f"(= {epochs / full['epochs']:.1f} full-fidelity runs)",
        markup=False,
        soft_wrap=True,
    )
    d = default.values[0] if default is not None else float("nan")
    b = best.values[0] if best is not None else float("nan")
    where = f" (trial {best.number})" if best is not None else ""
    if study.incumbent.note:
        where += f" {study.incumbent.note}"
    console.print(
        f"validation accuracy: default {d:.4f} -> best {b:.4f}{where}", markup=False, soft_wrap=True
    )
    return d, b


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(HERE))
    from train import DEFAULT_CONFIG, digits_space

    import jahs_bo
    from jahs_bo.plotting import plot_study

    space = digits_space(max_epochs=args.max_epochs)
    storage = Path(args.storage).expanduser().resolve()
    start = time.monotonic()
    interrupted = False
    try:
        study = jahs_bo.tune(
            f"{HERE / 'train.py'}:train",
            space,
            n_trials=args.n_trials,
            n_workers=args.workers,
            storage=storage,
            create_dirs=True,
            study_name=args.study_name,
            directions=["maximize"],
            searcher=args.searcher,
            scheduler=None if args.scheduler == "none" else args.scheduler,
            seed=args.seed,
            timeout_per_trial=args.timeout_per_trial,
            threads_per_worker=1,
            progress=not args.no_progress,
            enqueue=[DEFAULT_CONFIG],  # the baseline, at the full fidelity, first
        )
    except KeyboardInterrupt:
        interrupted = True
        study = jahs_bo.load_study(args.study_name, storage)
    elapsed = time.monotonic() - start
    summary(study, DEFAULT_CONFIG, elapsed)
    plots = Path(args.plots) if args.plots else storage.parent / f"{storage.stem}_plots"
    for path in plot_study(study, plots):
        print(f"plot: {path}")
    print(
        f"study: {storage} (name {args.study_name!r}); inspect with `jahs-bo status --storage {storage}`"
    )
    if interrupted:
        print("interrupted: run the same command again to resume (interrupted trials re-run)")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
