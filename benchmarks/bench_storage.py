"""Cost of one ask + tell of random search versus the size of the study, SQLite and PostgreSQL.

For each backend, one study grows (by ask/tell) to each size; then
``--reps`` ask + tell pairs are timed with the storage's cached reads (the default: only new and
unfinished trials are read, see :mod:`jahs_bo.storage.sql`) and, in the same run on the same
database, with ``cache=False`` (every ask reads every trial, as before the cache). The table gives
the median milliseconds of both and their ratio (cache off / cache on).

SQLite runs with ``synchronous=FULL`` (the storage's setting); PostgreSQL is a local server
started for the run with ``fsync`` on (:class:`~jahs_bo.storage.local_postgres.LocalPostgres`),
unless ``--postgres URL`` names one. Both commit to the same local disk, so the figures include
the durable commits of the tells.

The space is an NB201 cell plus a log-uniform learning rate: the cell alone has 8,765 distinct
networks, so random search would exhaust it before 10,000 trials and spend its asks redrawing.

Usage::

    python -m benchmarks.bench_storage                      # ~3-5 minutes
    python -m benchmarks.bench_storage --sizes 500 2000 --reps 10 --backends sqlite
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import ConfigSpace as CS

from jahs_bo.spaces import NB201Cell, SearchSpace
from jahs_bo.storage import Storage
from jahs_bo.storage.local_postgres import LocalPostgres
from jahs_bo.storage.postgres import PostgresStorage
from jahs_bo.storage.sqlite import SQLiteStorage
from jahs_bo.study import Study, create_study, load_study

RESULTS = Path(__file__).resolve().parent / "results" / "parallel" / "large-studies.md"


def bench_space() -> SearchSpace:
    """An NB201 cell (``arch``) and a learning rate: a space random search never exhausts."""
    hps = CS.ConfigurationSpace(name="storage-bench")
    hps.add(CS.Float("lr", (1e-4, 1.0), log=True))
    return SearchSpace(hps, {"arch": NB201Cell()}, name="nb201-lr")


def _value(config: dict) -> float:
    return float(len(config["arch"])) + config["lr"]


def _time_ask_tell(study: Study, reps: int) -> float:
    """Median milliseconds of ``reps`` ask + tell pairs."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        trial = study.ask()
        study.tell(trial, _value(trial.config))
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _grow(study: Study, size: int) -> None:
    """Ask and tell until the study holds ``size`` trials."""
    for _ in range(size - study.storage.count_trials(study.study_id)):
        trial = study.ask()
        study.tell(trial, _value(trial.config))


def bench_backend(
    cached: Storage, uncached: Storage, sizes: list[int], reps: int, log
) -> list[tuple[int, float, float]]:
    """``(size, ms with cache, ms without)`` per size, on one study in ``cached``'s database."""
    study = create_study(bench_space(), searcher="random", seed=0, storage=cached, study_name="b")
    plain = load_study("b", uncached)
    rows = []
    for size in sizes:
        t0 = time.perf_counter()
        _grow(study, size)
        grown = time.perf_counter() - t0
        on = _time_ask_tell(study, reps)
        off = _time_ask_tell(plain, reps)
        log(
            f"  {size:>6} trials: cache on {on:7.2f} ms, off {off:8.2f} ms (grown in {grown:.0f} s)"
        )
        rows.append((size, on, off))
    return rows


def table(results: dict[str, list[tuple[int, float, float]]]) -> str:
    """A markdown table: one row per size, three columns per backend."""
    names = list(results)
    head = "| trials | " + " | ".join(
        f"{n} ask+tell ms | {n} without cache ms | {n} ratio" for n in names
    )
    sep = "|---:|" + "---:|---:|---:|" * len(names)
    lines = [head + " |", sep]
    sizes = [r[0] for r in next(iter(results.values()))]
    for i, size in enumerate(sizes):
        cells = []
        for n in names:
            _, on, off = results[n][i]
            cells += [f"{on:.2f}", f"{off:.2f}", f"{off / on:.1f}x"]
        lines.append(f"| {size:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 5000, 10000])
    parser.add_argument("--reps", type=int, default=30, help="timed ask+tell pairs per size")
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"]
    )
    parser.add_argument("--postgres", default=None, help="URL of a server (default: start one)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    results: dict[str, list[tuple[int, float, float]]] = {}
    t0 = time.perf_counter()
    with ExitStack() as stack:
        if "sqlite" in args.backends:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="jahs_bo_bench_")))
            log("SQLite (synchronous=FULL, a file in the temporary directory)")
            results["SQLite"] = bench_backend(
                SQLiteStorage(tmp / "bench.db"),
                SQLiteStorage(tmp / "bench.db", cache=False),
                args.sizes,
                args.reps,
                log,
            )
        if "postgres" in args.backends:
            url = args.postgres
            if url is None:
                url = stack.enter_context(LocalPostgres("bench", durable=True)).url
            log(f"PostgreSQL ({url})")
            results["PostgreSQL"] = bench_backend(
                PostgresStorage(url), PostgresStorage(url, cache=False), args.sizes, args.reps, log
            )
    elapsed = time.perf_counter() - t0
    text = table(results)
    print(text)
    command = "python -m benchmarks.bench_storage " + " ".join(argv or sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        "# Large studies: ask + tell of random search versus the number of trials\n\n"
        f"Command: `{command.strip()}` ({elapsed / 60:.1f} minutes, "
        f"{platform.machine()}, Python {platform.python_version()}, a shared 2-core machine).\n\n"
        "Median milliseconds of one `study.ask()` + `study.tell()` of random search on an "
        f"NB201 cell plus a learning rate ({args.reps} pairs per size), with the storage's cached reads "
        "(finished trials kept in memory, only new and unfinished trials read) and, in the same "
        "run on the same database, with `cache=False` (every ask reads every trial). SQLite "
        "commits with `synchronous=FULL`; PostgreSQL 15 is a local server with `fsync` on.\n\n"
        f"{text}\n"
    )
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
