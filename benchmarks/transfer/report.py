"""Tables of a transfer benchmark: regret per held-out task and the issue's targets.

    python -m benchmarks.transfer.run report --bench nb201 --out benchmarks/results/transfer/nb201 \\
        --baseline benchmarks/results/nb201/curves.csv.xz

Reads the curves under ``<out>/runs`` and ``<out>/curves.csv.xz``, plus the ``gp``, ``re`` and
``random`` curves of ``--baseline`` files (committed tables of the same problems, run by
``benchmarks.run`` with the same loop) for the held-out tasks; writes ``results.md``,
``curves.csv.xz`` (every curve used, baselines cut at ``--max-eval``) and ``summary.json`` (the
meta-training seconds and the guard's choices, aggregated from the git-ignored ``meta/`` and
``runs/`` folders, so that the report can be regenerated from committed files alone).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.problems import get_problem
from benchmarks.report import (
    CURVES_FILE,
    checkpoint_values,
    load_curves,
    machine,
    mean_se,
    regret_table,
    versions,
    write_curves,
)
from benchmarks.transfer.sources import BENCHMARKS, PORTFOLIO_NOTE, benchmark

CHECKPOINTS = (5, 10, 25, 30, 50)
BASELINES = ("gp", "re", "random")


def _summary(out: Path, old: dict[str, Any]) -> dict[str, Any]:
    """Meta-training seconds and guard choices from ``out/meta`` and ``out/runs`` (else ``old``)."""
    meta = dict(old.get("meta", {}))
    for info in sorted(out.glob("meta/*/train.json")):
        data = json.loads(info.read_text())
        meta[data["heldout"]] = {k: data[k] for k in ("seconds", "steps", "seed", "sources")}
    guard = dict(old.get("guard", {}))
    found: dict[str, dict[str, int]] = {}
    for path in sorted(out.glob("runs/*/*/seed_*.guard.json")):
        problem, method = path.parts[-3].replace("__", "/"), path.parts[-2]
        per = found.setdefault(f"{problem} {method}", {"fits": 0, "plain": 0, "runs": 0})
        choices = json.loads(path.read_text())
        per["runs"] += 1
        per["fits"] += sum(1 for c in choices if not math.isnan(c[2]))
        per["plain"] += sum(1 for c in choices if c[1] == "plain")
    guard.update(found)
    return {"meta": meta, "guard": guard}


def _at(df: pd.DataFrame, method: str, point: int) -> tuple[float, float, int]:
    values = checkpoint_values(df[df["optimizer"] == method], "regret", "eval", [point])
    return mean_se(values.get(method, {}).get(point, []))


def target_lines(frames: dict[str, pd.DataFrame]) -> list[str]:
    """The issue's targets, one row per held-out task and one for the mean over tasks."""
    lines = [
        "| held out | transfer @10 | gp @50 | met | transfer @10 / @25 | portfolio @10 / @25 "
        "| transfer @30 | gp @30 | no negative transfer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    means: dict[str, list[float]] = {"t10": [], "t25": [], "p10": [], "p25": []}
    met_first = met_third = 0
    for task, df in frames.items():
        t10, t25, t30 = (_at(df, "transfer", k) for k in (10, 25, 30))
        p10, p25 = _at(df, "portfolio", 10), _at(df, "portfolio", 25)
        g50, g30 = _at(df, "gp", 50), _at(df, "gp", 30)
        first = t10[0] <= g50[0]
        diff_se = math.sqrt(np.nan_to_num(t30[1]) ** 2 + np.nan_to_num(g30[1]) ** 2)
        third = t30[0] <= g30[0] + diff_se
        met_first += first
        met_third += third
        for key, value in (("t10", t10), ("t25", t25), ("p10", p10), ("p25", p25)):
            means[key].append(value[0])
        lines.append(
            f"| {task} | {t10[0]:.3f} ± {t10[1]:.3f} | {g50[0]:.3f} ± {g50[1]:.3f} "
            f"| {'yes' if first else 'NO'} | {t10[0]:.3f} / {t25[0]:.3f} "
            f"| {p10[0]:.3f} / {p25[0]:.3f} | {t30[0]:.3f} ± {t30[1]:.3f} "
            f"| {g30[0]:.3f} ± {g30[1]:.3f} | {'yes' if third else 'NO'} |"
        )
    m = {k: float(np.mean(v)) for k, v in means.items()}
    beats = m["t10"] < m["p10"] and m["t25"] < m["p25"]
    lines.append(
        f"| **mean over {len(frames)} tasks** | {m['t10']:.3f} | | {met_first}/{len(frames)} "
        f"| {m['t10']:.3f} / {m['t25']:.3f} | {m['p10']:.3f} / {m['p25']:.3f} "
        f"| | | {met_third}/{len(frames)} |"
    )
    lines.append("")
    lines.append(
        f"Transfer below the portfolio at 10 and at 25 evaluations on the mean over held-out "
        f"tasks: **{'yes' if beats else 'NO'}** ({m['t10']:.3f} vs {m['p10']:.3f} at 10, "
        f"{m['t25']:.3f} vs {m['p25']:.3f} at 25)."
    )
    return lines


def write(
    bench_name: str,
    out: Path,
    baselines: Sequence[Path],
    max_eval: int,
    notes: str | None,
    command: str,
) -> Path:
    """Write ``results.md``, ``curves.csv.xz`` and ``summary.json`` into ``out``."""
    bench = benchmark(bench_name)
    problems = [bench.problem(t) for t in bench.heldout]
    inputs: list[Path] = [p for p in (out / "runs", out / CURVES_FILE) if p.exists()]
    df = load_curves(inputs)
    if baselines:
        base = load_curves(list(baselines))
        base = base[base["optimizer"].isin(BASELINES) & base["problem"].isin(problems)]
        base = base[base["eval"] <= max_eval]
        have = set(zip(df["problem"], df["optimizer"], df["seed"], strict=True))
        keep = [
            k not in have
            for k in zip(base["problem"], base["optimizer"], base["seed"], strict=True)
        ]
        df = pd.concat([df, base[keep]], ignore_index=True)
    df = df[df["problem"].isin(problems)]
    write_curves(df, out / CURVES_FILE)
    summary_path = out / "summary.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary = _summary(out, old)
    summary_path.write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")

    frames = {p.split("/", 1)[1]: df[df["problem"] == p] for p in problems}
    # tasks the harness ran something on (baseline curves alone are no transfer result)
    frames = {t: f for t, f in frames.items() if (~f["optimizer"].isin(BASELINES)).any()}
    v = versions()
    lines = [
        f"# Transfer across datasets: {bench_name}, leave one task out",
        "",
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        "",
        "Reproduce:",
        "",
        "```",
        command.strip(),
        "```",
        "",
    ]
    if notes:
        lines += [notes.strip(), ""]
    lines += [
        "How to read: each cell is the mean ± standard error over seeds of the regret (table "
        "optimum minus the incumbent's validation accuracy, percentage points) after the given "
        "number of full-fidelity evaluations. " + PORTFOLIO_NOTE,
        "",
        "## Targets",
        "",
        *target_lines(frames),
        "",
        "## Meta-training and the negative-transfer guard",
        "",
        "| held out | meta-training s | sources | transfer: fits where the guard chose the "
        "plain GP | median ask (s): transfer / portfolio (plain GP) / ratio |",
        "|---|---|---|---|---|",
    ]
    for task, frame in frames.items():
        meta = summary["meta"].get(task, {})
        g = summary["guard"].get(f"{bench.problem(task)} transfer", {})
        med = "-"
        asks = frame.loc[frame["optimizer"] == "transfer", "ask_seconds"].to_numpy(float)
        base = frame.loc[frame["optimizer"] == "portfolio", "ask_seconds"].to_numpy(float)
        if len(asks) and len(base):
            ratio = np.median(asks) / np.median(base)
            med = f"{np.median(asks):.2f} / {np.median(base):.2f} / {ratio:.1f}x"
        share = f"{g['plain']} / {g['fits']}" if g else "-"
        lines.append(
            f"| {task} | {meta.get('seconds', '-')} | {len(meta.get('sources', []))} "
            f"| {share} | {med} |"
        )
    lines += ["", "## Regret per held-out task", ""]
    for task, frame in frames.items():
        table, _, _ = regret_table(frame, get_problem(bench.problem(task)), CHECKPOINTS)
        lines += [f"### {task}", "", table, ""]
    path = out / "results.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer.run report")
    parser.add_argument("--bench", required=True, choices=list(BENCHMARKS))
    parser.add_argument("--out", required=True)
    parser.add_argument("--baseline", action="append", default=[], help="curve files or folders")
    parser.add_argument("--max-eval", type=int, default=50, help="baseline curves cut here")
    parser.add_argument("--notes", help="a Markdown file put above the tables")
    parser.add_argument("--command-file", help="the commands that produced the runs")
    args = parser.parse_args(argv)
    out = Path(args.out)
    command = Path(args.command_file).read_text() if args.command_file else ""
    notes = Path(args.notes).read_text() if args.notes else None
    path = write(args.bench, out, [Path(b) for b in args.baseline], args.max_eval, notes, command)
    print(f"wrote {path}")
    return 0
