"""Tables of the simulated asynchronous-worker runs (``benchmarks/parallel_sim.py``).

    python -m benchmarks.parallel_report benchmarks/results/parallel \\
        --out benchmarks/results/parallel [--notes notes.md] [--command-file commands.txt]

writes ``quality.md`` (regret at 25/50/100 evaluations per worker count, simulated wall time to
the regret one worker reaches after 100 evaluations, the issue's targets met or not, ask seconds
with the trials pending) and ``curves.csv.xz`` (every curve, as the other tables keep them). The
optimizer column of a simulated run is ``<optimizer>-w<W>``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.report import (
    CURVES_FILE,
    _is_read,
    _step_at,
    checkpoint_values,
    load_curves,
    machine,
    mean_se,
    versions,
    write_curves,
)

CHECKPOINTS: tuple[int, ...] = (25, 50, 100)
#: Speed-ups are measured to the regret 1 worker has after these many evaluations.
TARGETS: tuple[int, ...] = (50, 100)
#: "About 8x less wall time": met when the speed-up is at least this share of the worker count.
SPEEDUP_SHARE = 0.75
_NAME = re.compile(r"^(?P<base>.+)-w(?P<workers>\d+)$")


def split_name(optimizer: str) -> tuple[str, int]:
    """``"gp-w8"`` -> ``("gp", 8)``; a name without ``-w<W>`` is one worker."""
    m = _NAME.match(optimizer)
    return (m["base"], int(m["workers"])) if m else (optimizer, 1)


def mean_curve_in_time(runs: Sequence[pd.DataFrame]) -> tuple[np.ndarray, np.ndarray]:
    """Mean regret over ``runs`` as a step function of simulated time.

    Evaluated at every finishing time of any run, from the time every run has a result on; a
    run keeps its last regret after its last evaluation.
    """
    grid = np.unique(np.concatenate([r["sim_time"].to_numpy(float) for r in runs]))
    grid = grid[grid >= max(float(r["sim_time"].min()) for r in runs)]
    ys = []
    for r in runs:
        t, y = r["sim_time"].to_numpy(float), r["regret"].to_numpy(float)
        ys.append(y[np.searchsorted(t, grid, side="right") - 1])
    return grid, np.mean(ys, axis=0)


def time_to(runs: Sequence[pd.DataFrame], target: float) -> float:
    """First simulated time at which the mean regret of ``runs`` is <= ``target`` (NaN: never)."""
    grid, mean = mean_curve_in_time(runs)
    hit = np.flatnonzero(mean <= target + 1e-12)
    return float(grid[hit[0]]) if len(hit) else math.nan


def speed_up(
    runs: Sequence[pd.DataFrame], one: Sequence[pd.DataFrame] | None, checkpoint: int
) -> tuple[float, float, float]:
    """``(target, time, speed-up)``: the target is the mean regret of the 1-worker runs ``one``
    after ``checkpoint`` evaluations; ``time`` is when the mean regret of ``runs`` first reaches
    it, ``speed-up`` the 1-worker runs' time to it divided by that (NaN where unknown)."""
    if one is None:
        return math.nan, math.nan, math.nan
    at = float(checkpoint)
    target = mean_se(
        [_step_at(r["eval"].to_numpy(float), r["regret"].to_numpy(float), at) for r in one]
    )[0]
    t_w, t_1 = time_to(runs, target), time_to(one, target)
    return target, t_w, (t_1 / t_w if t_w > 0 else math.nan)


def reference(base: str, by_opt: dict[str, list[pd.DataFrame]]) -> str:
    """The optimizer whose 1-worker runs ``base`` is compared with: ``base`` itself if it has
    them, else the part before its first ``-`` (``gp-ignore`` -> ``gp``)."""
    if f"{base}-w1" in by_opt:
        return base
    return base.split("-")[0]


def _reach_cell(time: float, speed: float) -> str:
    return "never" if math.isnan(time) else f"{time:,.0f} ({speed:.1f}x)"


def _runs(df: pd.DataFrame) -> list[pd.DataFrame]:
    return [r.sort_values("eval") for _, r in df.groupby("seed", sort=True)]


def _cell(values: Sequence[float], n_all: int, digits: int = 3) -> str:
    mean, se, n = mean_se(values)
    if n == 0:
        return "-"
    text = f"{mean:.{digits}f}" + ("" if math.isnan(se) else f" ± {se:.{digits}f}")
    return text if n == n_all else f"{text} (n={n})"


def problem_section(df: pd.DataFrame, name: str) -> tuple[str, list[str]]:
    """Markdown tables of one problem and the lines of its target checks."""
    stats = checkpoint_values(df, "regret", "eval", [float(c) for c in CHECKPOINTS])
    by_opt = {o: _runs(g) for o, g in df.groupby("optimizer", sort=True)}
    order = sorted(by_opt, key=lambda o: (split_name(o)[0], split_name(o)[1]))
    head = [
        "optimizer",
        "workers",
        "seeds",
        *[f"regret @ {c}" for c in CHECKPOINTS],
        "sim. time to 100 evals (median)",
        *[f"sim. time to 1-worker regret @ {c} (speed-up)" for c in TARGETS],
        "ask+tell ms median / p90",
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    checks: list[str] = []
    for opt in order:
        base, w = split_name(opt)
        runs = by_opt[opt]
        ref = reference(base, by_opt)
        one = by_opt.get(f"{ref}-w1")
        reach = [speed_up(runs, one, c) for c in TARGETS]
        target, t_w, speed = reach[-1]
        t_end = float(np.median([r["sim_time"].max() for r in runs]))
        ask = pd.to_numeric(
            pd.concat([r["ask_seconds"] for r in runs]), errors="coerce"
        ).dropna().to_numpy() * 1e3  # fmt: skip
        med, p90 = np.percentile(ask, [50, 90]) if len(ask) else (math.nan, math.nan)
        cells = [_cell(stats[opt][float(c)], len(runs)) for c in CHECKPOINTS]
        lines.append(
            f"| {base} | {w} | {len(runs)} | " + " | ".join(cells)
            + f" | {t_end:,.0f} | " + " | ".join(_reach_cell(t, x) for _, t, x in reach)
            + f" | {med:.0f} / {p90:.0f} |"
        )  # fmt: skip
        if w > 1 and one is not None:
            m1, se1, _ = mean_se(stats[f"{ref}-w1"][float(CHECKPOINTS[-1])])
            mw, sew, _ = mean_se(stats[opt][float(CHECKPOINTS[-1])])
            ok_q = mw <= m1 + (0.0 if math.isnan(se1) else se1)
            ok_t = not math.isnan(speed) and speed >= SPEEDUP_SHARE * w
            diff_se = math.sqrt(np.nansum([se1**2, sew**2]))
            half = reach[0][2]
            checks.append(
                f"- {name}, {base}, {w} workers: regret @ 100 {mw:.3f} vs {m1:.3f} ± {se1:.3f} "
                f"with 1 worker ({ref}): {'met' if ok_q else 'NOT met'} (within one s.e.; difference "
                f"{mw - m1:+.3f} ± {diff_se:.3f}); wall-time speed-up to regret {target:.3f}: "
                + ("never reached" if math.isnan(speed) else f"{speed:.1f}x")
                + f" ({'met' if ok_t else 'NOT met'}, >= {SPEEDUP_SHARE * w:g}x); to the "
                f"1-worker regret @ {TARGETS[0]}: "
                + ("never reached" if math.isnan(half) else f"{half:.1f}x")
            )
    return "\n".join(lines), checks


def pending_ask_table(df: pd.DataFrame) -> str:
    """Median / p90 ask+tell ms per optimizer over the asks made with >= 31 trials running."""
    lines = [
        "| problem | optimizer | asks with >= 31 pending | median ms | p90 ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    sub = df[pd.to_numeric(df["pending"], errors="coerce") >= 31]
    for (problem, opt), g in sub.groupby(["problem", "optimizer"], sort=True):
        t = pd.to_numeric(g["ask_seconds"], errors="coerce").dropna().to_numpy() * 1e3
        med, p90, top = np.percentile(t, [50, 90, 100])
        lines.append(f"| {problem} | {opt} | {len(t)} | {med:.0f} | {p90:.0f} | {top:.0f} |")
    return "\n".join(lines)


def write_quality(
    inputs: Sequence[str | Path],
    out: Path,
    command: str | None = None,
    notes: str | None = None,
    report_command: str | None = None,
) -> Path:
    """Write ``quality.md`` and :data:`CURVES_FILE` into ``out``; returns the markdown's path."""
    curves = out / CURVES_FILE
    if curves.exists() and not _is_read(curves, inputs):
        raise FileExistsError(f"{curves} exists and is not among the inputs; add {out} to them")
    df = load_curves(inputs)
    df = df[df["optimizer"].map(lambda o: _NAME.match(str(o)) is not None)]
    out.mkdir(parents=True, exist_ok=True)
    write_curves(df, curves)
    if command is None:
        logs = [log for p in map(Path, inputs) if p.is_dir() for log in p.rglob("commands.log")]
        command = "".join(log.read_text() for log in logs) or None
    sections, checks = [], []
    for name in sorted(df["problem"].unique()):
        table, lines = problem_section(df[df["problem"] == name], name)
        sections += [f"### {name}", "", table, ""]
        checks += lines
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    vers = ", ".join(f"{k} {v}" for k, v in versions().items())
    report = report_command or (
        f"python -m benchmarks.parallel_report {' '.join(map(str, inputs))} --out {out}"
    )
    text = [
        "# Search quality with asynchronous workers (simulated)",
        "",
        f"- Date: {stamp}",
        f"- Machine: {machine()}",
        f"- Versions: {vers}",
        "",
        *(["Reproduce:", "", "```", command.strip(), "```", ""] if command else []),
        f"Report: `{report}`",
        "",
        *([notes.strip(), ""] if notes else []),
        "## Regret and simulated wall time",
        "",
        "Regret: mean ± standard error over seeds after 25/50/100 completed evaluations. "
        "Simulated time is in epochs of training (the problem's cost units; the optimizer's "
        "own seconds are not added). *Sim. time to 1-worker regret @ k*: the first simulated "
        "time at which the mean regret over seeds (a step function of time) is at or below "
        "the mean regret the same optimizer has with 1 worker after k evaluations (*never*: "
        "not within the 100 evaluations); in brackets the speed-up, 1 worker's time to that "
        "regret divided by this one's.",
        "",
        *sections,
        "## Targets",
        "",
        f"Regret: met when the mean regret after 100 evaluations is at most the 1-worker mean "
        f"plus its standard error. Wall time: met when the speed-up is at least "
        f"{SPEEDUP_SHARE:g} x the worker count.",
        "",
        *checks,
        "",
        "## Ask with 31 trials pending",
        "",
        pending_ask_table(df),
        "",
    ]
    path = out / "quality.md"
    path.write_text("\n".join(text))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.parallel_report", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("inputs", nargs="+", help="folders or curve files")
    parser.add_argument("--out", required=True, help="results folder")
    parser.add_argument("--notes", help="markdown file put above the tables")
    parser.add_argument("--command-file", help="file quoting the commands that made the runs")
    args = parser.parse_args(argv)
    notes = Path(args.notes).read_text() if args.notes else None
    command = Path(args.command_file).read_text() if args.command_file else None
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    write_quality(
        args.inputs, Path(args.out), command, notes,
        report_command=f"python -m benchmarks.parallel_report {argv_text}",
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
