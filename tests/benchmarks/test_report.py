"""The report regenerates a results folder from its one compressed curves file."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from benchmarks import report, run
from benchmarks.problems import get_problem

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
#: Lines of results.md that describe the machine and time of the report run, not the results.
PROVENANCE = ("- Date:", "- Machine:", "- Versions:", "- Peer versions:", "Report:")


def _tables(text: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith(PROVENANCE)]


def _report_argv(results_md: Path, out: Path) -> list[str]:
    """The ``Report:`` command quoted in ``results_md``, writing to ``out`` without plots."""
    line = next(x for x in results_md.read_text().splitlines() if x.startswith("Report: `"))
    argv = shlex.split(line.removeprefix("Report: `").removesuffix("`"))
    assert argv[:3] == ["python", "-m", "benchmarks.report"], line
    argv = argv[3:]
    at = argv.index("--out")
    return [*argv[:at], "--out", str(out), *argv[at + 2 :], "--no-plots"]


@pytest.fixture
def table(tmp_path):
    """A results folder made from four small runs (two optimizers, two seeds)."""
    runs = tmp_path / "table" / "runs"
    for optimizer in ("random", "re"):
        for seed in (0, 1):
            recorder = run.run_jahs(get_problem("nb201/cifar10"), optimizer, seed, budget=6)
            recorder.write_csv(run.run_path(runs, "nb201/cifar10", optimizer, seed))
    return tmp_path / "table"


def test_report_regenerates_from_the_curves_file_alone(table, tmp_path):
    first = report.write_report([table], table, command="CMD", checkpoints=[3, 6])
    curves = (table / report.CURVES_FILE).read_bytes()
    assert (table / "nb201__cifar10.png").exists()
    # Without the per-run CSVs, the committed files give the same tables and the same curves file.
    again = tmp_path / "again"
    path = report.write_report(
        [table / report.CURVES_FILE], again, command="CMD", checkpoints=[3, 6], plots=False
    )
    assert _tables(path.read_text()) == _tables(first.read_text())
    assert (again / report.CURVES_FILE).read_bytes() == curves
    assert not list(again.glob("*.png"))


def test_report_keeps_the_committed_curves_unless_told(table, tmp_path):
    report.write_report([table], table, checkpoints=[3, 6], plots=False)
    with pytest.raises(FileExistsError, match="--replace-curves"):
        report.write_report([table / "runs" / "nb201__cifar10" / "re"], table, plots=False)
    report.write_report([table], table, checkpoints=[3, 6], plots=False)  # reads it: fine
    report.write_report([table / "runs"], table, plots=False, replace_curves=True)


def _committed_tables() -> list[str]:
    return sorted(p.parent.name for p in RESULTS.glob(f"*/{report.CURVES_FILE}"))


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=[] if name == "lcbench-mf-ablation" else pytest.mark.slow)
        for name in _committed_tables()
    ],
)
def test_committed_table_regenerates_from_its_curves(name, tmp_path):
    """Each published results.md follows from its curves.csv.xz by the command it quotes."""
    results_md = RESULTS / name / "results.md"
    committed = RESULTS / name / report.CURVES_FILE
    out = tmp_path / name
    out.mkdir()
    # The committed curves only (not runs/ a checkout may hold), read from a copy in OUT: the
    # report leaves OUT's copy untouched exactly when the curves it writes have the same text.
    (out / report.CURVES_FILE).write_bytes(committed.read_bytes())
    argv = _report_argv(results_md, out)
    assert argv[0] == f"benchmarks/results/{name}", argv
    root = RESULTS.parents[1]
    argv = [str(root / a) if a.startswith("benchmarks/") else a for a in argv]
    argv[0] = str(out / report.CURVES_FILE)
    mtime = (out / report.CURVES_FILE).stat().st_mtime_ns
    assert report.main(argv) == 0
    assert _tables((out / "results.md").read_text()) == _tables(results_md.read_text())
    assert (out / report.CURVES_FILE).stat().st_mtime_ns == mtime
    assert (out / report.CURVES_FILE).read_bytes() == committed.read_bytes()
