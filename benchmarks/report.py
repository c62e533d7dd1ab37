"""Turn benchmark curves into tables and plots.

    python -m benchmarks.report benchmarks/results/nb201 --out benchmarks/results/nb201 \\
        --command-file benchmarks/results/nb201/commands.txt --title "..."

Reads per-run CSVs and compressed curve files, writes ``results.md`` (regret tables, incumbent test
accuracy, ask overhead, provenance), ``curves.csv.xz`` (every curve that went into the tables, the one
data file a results folder commits) and one PNG per problem (git-ignored; rerun this command to
draw them). What every number means is written into ``results.md`` itself.
"""

from __future__ import annotations

import argparse
import contextlib
import lzma
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.problems import Problem, get_problem
from benchmarks.problems.curves import BASE_COLUMNS, TAIL_COLUMNS

CHECKPOINTS: tuple[int, ...] = (25, 50, 100, 150)
#: The file in a results folder that holds every curve of its tables (xz-compressed CSV).
CURVES_FILE = "curves.csv.xz"
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------- loading
def load_curves(paths: Sequence[str | Path]) -> pd.DataFrame:
    """All curves under ``paths`` in one frame.

    Folders are searched recursively for ``*.csv`` (one run each), ``*.csv.gz`` (several runs,
    e.g. a peer's aggregated ``curves_<optimizer>.csv.gz``) and ``*.csv.xz`` (a results folder's
    :data:`CURVES_FILE`). A (problem, optimizer, seed, eval) row found in several files is kept
    once, from the freshest kind of file: a per-run ``*.csv`` first, then ``*.csv.gz``, then
    ``*.csv.xz`` (the committed curves are what the newer files are folded into).
    """
    files: list[Path] = []
    for pattern in ("*.csv", "*.csv.gz", "*.csv.xz"):
        for p in map(Path, paths):
            if p.is_dir():
                files += sorted(p.rglob(pattern))
            elif pattern == "*.csv":
                files.append(p)  # a file named explicitly: read once, before any folder's
    if not files:
        raise FileNotFoundError(f"no curve CSVs under {[str(p) for p in paths]}")
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    return df.drop_duplicates(["problem", "optimizer", "seed", "eval"], ignore_index=True)


def _step_at(x: np.ndarray, y: np.ndarray, at: float) -> float:
    """Value of the step curve ``y(x)`` at ``at`` (last point with ``x <= at``; NaN before/after)."""
    if len(x) == 0 or at < x[0] or at > x[-1]:
        return math.nan
    return float(y[np.searchsorted(x, at, side="right") - 1])


def hv_regret_curves(df: pd.DataFrame, problem: Problem) -> pd.DataFrame:
    """Add column ``regret`` = hypervolume regret after each evaluation (multi-objective)."""
    from benchmarks.problems.nb201_mo import hypervolume

    front = problem.pareto_front()
    hv_true = hypervolume(front, front)
    cols = ["value"] + [f"value_{i}" for i in range(1, len(problem.objectives))]
    out = []
    for _, run in df.groupby(["optimizer", "seed"], sort=False):
        run = run.sort_values("eval").copy()
        Y = run[cols].to_numpy(float)
        run["regret"] = [hv_true - hypervolume(Y[: i + 1], front) for i in range(len(Y))]
        out.append(run)
    return pd.concat(out, ignore_index=True)


def curve_columns(df: pd.DataFrame) -> list[str]:
    """The columns of ``df`` in the per-run CSV order (``value_1``.. after ``value``, unknown last)."""
    extra = sorted(
        (c for c in df.columns if c.startswith("value_")), key=lambda c: int(c.split("_")[1])
    )
    known = [c for c in (*BASE_COLUMNS, *extra, *TAIL_COLUMNS) if c in df.columns]
    return known + sorted(set(df.columns) - set(known))


def write_curves(df: pd.DataFrame, path: Path) -> Path:
    """Write every curve of ``df`` to one xz-compressed CSV (:data:`CURVES_FILE`) at ``path``.

    Rows are sorted by (problem, optimizer, seed, eval) and columns put in the per-run CSV order;
    floats are written exactly (shortest round-trip form), so :func:`load_curves` reads back the
    same frame. An existing file with the same CSV text is left untouched (compressing a large
    table at xz's strongest preset takes minutes), and a new one is byte-identical whenever its
    text is (xz stores no time stamp), so unchanged curves never show up as a change in git.
    """
    key = ["problem", "optimizer", "seed", "eval"]
    table = df[curve_columns(df)].sort_values(key, kind="stable")
    data = table.to_csv(index=False, lineterminator="\n").encode()
    if path.exists():
        with contextlib.suppress(lzma.LZMAError, OSError):
            if lzma.decompress(path.read_bytes()) == data:
                return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(lzma.compress(data, preset=9))
    return path


def _is_read(path: Path, inputs: Sequence[str | Path]) -> bool:
    """Whether :func:`load_curves` of ``inputs`` reads the file ``path``."""
    target = path.resolve()
    for p in map(Path, inputs):
        p = p.resolve()
        if target == p or (p.is_dir() and p in target.parents):
            return True
    return False


# ---------------------------------------------------------------------- statistics
def mean_se(values: Sequence[float]) -> tuple[float, float, int]:
    """Mean, standard error (``std(ddof=1) / sqrt(n)``) and count of the finite values."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return math.nan, math.nan, 0
    se = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else math.nan
    return float(v.mean()), se, len(v)


def checkpoint_values(
    df: pd.DataFrame, column: str, x: str, points: Sequence[float]
) -> dict[str, dict[float, list[float]]]:
    """Per optimizer, per checkpoint: the ``column`` value of every seed at ``x == point``."""
    out: dict[str, dict[float, list[float]]] = {}
    for (optimizer, _seed), run in df.groupby(["optimizer", "seed"], sort=True):
        run = run.sort_values("eval")
        xs, ys = run[x].to_numpy(float), run[column].to_numpy(float)
        per = out.setdefault(optimizer, {p: [] for p in points})
        for p in points:
            per[p].append(_step_at(xs, ys, p))
    return out


def _fmt(mean: float, se: float, n: int, n_all: int, digits: int = 3) -> str:
    if n == 0:
        return "-"
    text = f"{mean:.{digits}f}" + ("" if math.isnan(se) else f" ± {se:.{digits}f}")
    return text if n == n_all else f"{text} (n={n})"


def regret_table(
    df: pd.DataFrame, problem: Problem, checkpoints: Sequence[int] = CHECKPOINTS
) -> tuple[str, list[float], str]:
    """Markdown table of mean ± se regret at the checkpoints; returns (table, x points, x name).

    Checkpoints beyond every run's end are left out.
    """
    if problem.fidelity is not None:
        full = problem.cost()
        points = [c * full for c in checkpoints]
        x, label = "cum_cost", f"cost (= k full-fidelity evaluations of cost {full:g})"
        heads = [f"k={c}" for c in checkpoints]
    else:
        points = [float(c) for c in checkpoints]
        x, label = "eval", "evaluations"
        heads = [f"{c}" for c in checkpoints]
    max_x = df.groupby(["optimizer", "seed"])[x].max().max()
    keep = [i for i, p in enumerate(points) if p <= max_x * (1 + 1e-9)]
    points, heads = [points[i] for i in keep], [heads[i] for i in keep]
    stats = checkpoint_values(df, "regret", x, points)
    tests = (
        checkpoint_values(df, "incumbent_test", x, points[-1:])
        if not problem.multi_objective and problem.test_metric and points
        else {}
    )
    n_seeds = df.groupby("optimizer")["seed"].nunique()
    rows = []
    for optimizer, per in stats.items():
        cells = [_fmt(*mean_se(per[p]), n_seeds[optimizer]) for p in points]
        last = mean_se(per[points[-1]])[0] if points else math.nan
        test = ""
        if tests:
            test = _fmt(*mean_se(tests[optimizer][points[-1]]), n_seeds[optimizer], digits=2)
        rows.append((last, optimizer, cells, test))
    rows.sort(key=lambda r: (math.inf if math.isnan(r[0]) else r[0], r[1]))
    head = ["optimizer", "seeds", *heads] + (["incumbent test @ last"] if tests else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, optimizer, cells, test in rows:
        extra = [test] if tests else []
        lines.append("| " + " | ".join([optimizer, str(n_seeds[optimizer]), *cells, *extra]) + " |")
    return "\n".join(lines), points, label


def reach_table(df: pd.DataFrame, problem: Problem, thresholds: Sequence[float]) -> str:
    """Markdown table: per optimizer, the first evaluation count (or cumulative cost) at which the
    mean regret over seeds is at or below each threshold ("-" if never within the runs).

    The mean is taken on the union of the runs' own x values, up to the shortest run, so every
    seed contributes to every point.
    """
    x = "cum_cost" if problem.fidelity is not None else "eval"
    unit = "cumulative cost" if x == "cum_cost" else "evaluations"
    heads = [f"{unit} to mean regret <= {t:g}" for t in thresholds]
    lines = ["| optimizer | seeds | " + " | ".join(heads) + " |", "|" + "---|" * (2 + len(heads))]
    rows = []
    for optimizer, g in df.groupby("optimizer", sort=True):
        runs = [r.sort_values("eval") for _, r in g.groupby("seed")]
        end = min(float(r[x].max()) for r in runs)
        grid = np.unique(np.concatenate([r[x].to_numpy(float) for r in runs]))
        grid = grid[grid <= end]
        mean = np.array(
            [
                np.mean(
                    [_step_at(r[x].to_numpy(float), r["regret"].to_numpy(float), p) for r in runs]
                )
                for p in grid
            ]
        )
        cells = []
        for t in thresholds:
            hit = np.flatnonzero(np.nan_to_num(mean, nan=np.inf) <= t)
            cells.append(f"{grid[hit[0]]:g}" if len(hit) else f"- (> {end:g})")
        rows.append(f"| {optimizer} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines + rows)


def overhead_table(df: pd.DataFrame) -> str:
    """Markdown table: median and p90 of ``ask_seconds`` (ms) per problem and optimizer."""
    lines = [
        "| problem | optimizer | asks | median ask (ms) | p90 ask (ms) |",
        "|---|---|---|---|---|",
    ]
    for (problem, optimizer), g in df.groupby(["problem", "optimizer"], sort=True):
        t = pd.to_numeric(g["ask_seconds"], errors="coerce").dropna().to_numpy() * 1e3
        if len(t) == 0:
            lines.append(f"| {problem} | {optimizer} | 0 | - | - |")
            continue
        med, p90 = np.percentile(t, [50, 90])
        lines.append(f"| {problem} | {optimizer} | {len(t)} | {med:.2f} | {p90:.2f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- plots
def plot_problem(df: pd.DataFrame, problem: Problem, path: Path) -> None:
    """Mean regret ± standard error vs evaluations (or cost) per optimizer, symlog y-axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = "cum_cost" if problem.fidelity is not None else "eval"
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for optimizer, g in sorted(df.groupby("optimizer"), key=lambda kv: kv[0]):
        runs = [r.sort_values("eval") for _, r in g.groupby("seed")]
        if x == "eval":
            grid = np.arange(1, int(max(r["eval"].max() for r in runs)) + 1, dtype=float)
        else:
            hi = min(r["cum_cost"].max() for r in runs)
            lo = max(r["cum_cost"].min() for r in runs)
            grid = np.geomspace(lo, hi, 200) if hi > lo else np.array([lo])
        Y = np.array(
            [
                [_step_at(r[x].to_numpy(float), r["regret"].to_numpy(float), p) for p in grid]
                for r in runs
            ]
        )
        mean = np.nanmean(Y, 0)
        se = (
            np.nanstd(Y, 0, ddof=1) / np.sqrt(np.sum(np.isfinite(Y), 0)) if len(Y) > 1 else 0 * mean
        )
        ax.plot(grid, mean, label=optimizer)
        ax.fill_between(grid, mean - se, mean + se, alpha=0.2)
    ax.set_yscale("symlog", linthresh=1e-2)
    if x == "cum_cost":
        ax.set_xscale("log")
    ax.set_xlabel("cumulative cost (epochs)" if x == "cum_cost" else "evaluations")
    ax.set_ylabel("hypervolume regret" if problem.multi_objective else "regret")
    ax.set_title(problem.name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------- provenance
def versions() -> dict[str, str]:
    """Versions of the interpreter, jahs-bo and the libraries that matter, plus the git commit."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in (
        "jahs-bo",
        "numpy",
        "pandas",
        "torch",
        "botorch",
        "gpytorch",
        "ConfigSpace",
        "onnxruntime",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    with contextlib.suppress(OSError):
        out["git commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    return out


def peer_versions() -> dict[str, str]:
    """``freeze.txt`` lines of the peers' environments (``benchmarks/peers/envs/<peer>``)."""
    out = {}
    envs = ROOT / "benchmarks" / "peers" / "envs"
    key = {"optuna": "optuna", "smac": "smac", "dehb": "dehb", "neps": "neural-pipeline-search"}
    for env in sorted(envs.glob("*/freeze.txt")) if envs.exists() else []:
        name = key.get(env.parent.name, env.parent.name).lower()
        for line in env.read_text().splitlines():
            if line.lower().startswith(name + "=="):
                out[env.parent.name] = line
    return out


def machine() -> str:
    """CPU model, cores and memory of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} logical cores{mem}, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------------- report
EXPLAIN = """\
How to read the tables: each cell is the mean ± standard error over seeds of the regret of the
incumbent after the given number of evaluations (single-fidelity) or once the cumulative cost reached
k full-fidelity evaluations (multi-fidelity). The incumbent is the best observed configuration among
those evaluated at the highest fidelity evaluated so far; its regret is the table optimum minus its
full-fidelity validation accuracy (percentage points; LCBench: against the best of a 100k random
sample, so it can be negative). For multi-objective problems the cell is the hypervolume regret
(true front minus observed, objectives normalised by the front's ideal/nadir, reference 1.1).
`incumbent test @ last` is the test accuracy (%) of the incumbent at the last column. `(n=...)` marks
cells where fewer seeds reached that point. Ask overhead is the optimizer's own wall time per
evaluation (ask + tell, or the time between objective calls for libraries that call the objective
themselves; the evaluation itself excluded), in milliseconds, on the machine named above."""


def write_report(
    inputs: Sequence[str | Path],
    out: Path,
    command: str | None = None,
    title: str | None = None,
    checkpoints: Sequence[int] = CHECKPOINTS,
    notes: str | None = None,
    report_command: str | None = None,
    reach: Sequence[float] = (),
    plots: bool = True,
    replace_curves: bool = False,
) -> Path:
    """Write ``results.md``, :data:`CURVES_FILE` and (if ``plots``) the PNGs into ``out``.

    Args:
        inputs: Folders (searched recursively) and curve files, as for :func:`load_curves`.
        out: The results folder.
        command: The commands that produced the runs; ``None`` quotes every ``commands.log``
            found under the input folders.
        title: Title of ``results.md``.
        checkpoints: Evaluation counts (or full-fidelity equivalents) of the table columns.
        notes: Markdown put above the tables.
        report_command: The command line quoted as the way to regenerate the report.
        reach: Regret thresholds for the "budget until the mean regret reaches" tables.
        plots: Draw one PNG per problem.
        replace_curves: Allow replacing an ``out/curves.csv.xz`` that ``inputs`` do not read.

    Returns:
        The path of ``results.md``.

    Raises:
        FileExistsError: ``out`` holds a curves file that ``inputs`` do not include (its curves
            would be lost) and ``replace_curves`` is false.
    """
    curves = out / CURVES_FILE
    if curves.exists() and not replace_curves and not _is_read(curves, inputs):
        raise FileExistsError(
            f"{curves} exists and is not among the inputs, so its curves would be replaced by "
            f"those of {[str(p) for p in inputs]} alone; add {out} to the inputs (runs under "
            f"{out}/runs are read from there too) or pass --replace-curves"
        )
    df = load_curves(inputs)
    out.mkdir(parents=True, exist_ok=True)
    write_curves(df, curves)
    if command is None:  # the harness appends every invocation to <runs>/commands.log
        logs = [log for p in map(Path, inputs) if p.is_dir() for log in p.rglob("commands.log")]
        command = "".join(log.read_text() for log in logs) or None
    sections = []
    for name in sorted(df["problem"].unique()):
        problem = get_problem(name)
        g = df[df["problem"] == name]
        if problem.multi_objective:
            g = hv_regret_curves(g, problem)
        table, _, label = regret_table(g, problem, checkpoints)
        png = out / f"{name.replace('/', '__').replace(':', '@')}.png"
        if plots:
            plot_problem(g, problem, png)
        what = "hypervolume regret" if problem.multi_objective else "regret"
        sections.append(
            f"### {name}\n\n{what} at {label}; optimum: {problem.description}\n\n{table}\n\n"
            f"![{name}]({png.name})\n"
        )
        if reach:
            sections.append(f"Budget until the mean {what} first reaches a threshold:\n\n")
            sections.append(reach_table(g, problem, reach) + "\n")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    used = set(df["optimizer"])
    peers = {env: v for env, v in peer_versions().items() if any(o.startswith(env) for o in used)}
    lines = [
        f"# {title or 'Benchmark results'}",
        "",
        f"- Date: {stamp}",
        f"- Machine: {machine()}",
        f"- Versions: {vers}",
    ]
    if peers:
        lines.append("- Peer versions: " + ", ".join(f"{k}: {v}" for k, v in peers.items()))
    if command:
        lines += ["", "Reproduce:", "", "```", command.strip(), "```"]
    lines += [
        "",
        "Report: `"
        + (
            report_command
            or f"python -m benchmarks.report {' '.join(map(str, inputs))} --out {out}"
        )
        + "`",
        "",
        EXPLAIN,
        "",
        *([notes.strip(), ""] if notes else []),
        "## Regret",
        "",
        *sections,
        "## Ask overhead",
        "",
        overhead_table(df),
        "",
    ]
    path = out / "results.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("inputs", nargs="+", help="folders (searched recursively) or CSV files")
    parser.add_argument(
        "--out", required=True, help=f"folder for results.md, {CURVES_FILE} and the PNGs"
    )
    parser.add_argument("--command", help="the command that produced the runs (recorded)")
    parser.add_argument("--command-file", help="read the command(s) from this file")
    parser.add_argument("--title", help="title of results.md")
    parser.add_argument("--notes", help="markdown file whose text goes above the tables")
    parser.add_argument("--no-plots", action="store_true", help="write no PNGs")
    parser.add_argument(
        "--replace-curves",
        action="store_true",
        help=f"replace OUT/{CURVES_FILE} even when the inputs do not include it",
    )
    parser.add_argument(
        "--checkpoints",
        default=",".join(map(str, CHECKPOINTS)),
        help="evaluation counts (or full-fidelity equivalents) of the table columns",
    )
    parser.add_argument(
        "--reach",
        default="",
        help="regret thresholds (comma-separated): add the budget at which each optimizer's mean "
        "regret first reaches them",
    )
    args = parser.parse_args(argv)
    command = args.command
    if args.command_file:
        command = Path(args.command_file).read_text()
    checkpoints = [int(c) for c in args.checkpoints.split(",") if c]
    notes = Path(args.notes).read_text() if args.notes else None
    argv_text = shlex.join(sys.argv[1:] if argv is None else list(argv))
    path = write_report(
        args.inputs,
        Path(args.out),
        command,
        args.title,
        checkpoints,
        notes,
        report_command=f"python -m benchmarks.report {argv_text}",
        reach=[float(t) for t in args.reach.split(",") if t],
        plots=not args.no_plots,
        replace_curves=args.replace_curves,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
