"""Fuzz: study files with random byte damage and tampered rows.

Reading a damaged study (load_study, trials, best, ask, tell) either works (the damage hit bytes
nothing reads, or a row that still makes sense) or raises a JahsBOError; a COMPLETE trial read
back always carries finite values.
"""

from __future__ import annotations

import math
import sqlite3
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

import ConfigSpace as CS
from hypothesis import strategies as st

from jahs_bo.exceptions import JahsBOError
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace
from jahs_bo.study import create_study, load_study
from jahs_bo.types import TrialState

TMP = Path(tempfile.mkdtemp(prefix="jahs-bo-fuzz-files-"))


def _good_file() -> bytes:
    cs = CS.ConfigurationSpace(name="toy", seed=0)
    cs.add(CS.Float("x", (0.0, 1.0)))
    space = SearchSpace(cs, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 9, integer=True)])
    path = TMP / "good.db"
    study = create_study(
        space, storage=path, study_name="s", searcher="re", scheduler="hyperband", seed=0
    )
    for i in range(12):
        trial = study.ask()
        study.report(trial, 0, 0.1 * i)
        study.tell(trial, 0.1 * i)
    study.ask()  # one running trial
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.read_bytes()


GOOD = _good_file()
TABLES = {
    "trials": ["trial_id", "study_id", "number", "state", "config", "fidelity", "objective_values",
               "parent_id", "user_attrs", "system_attrs", "error", "datetime_start",
               "datetime_complete", "heartbeat"],
    "studies": ["study_id", "name", "space_json", "directions", "seed", "searcher_name",
                "user_attrs", "system_attrs", "datetime_created"],
    "reports": ["trial_id", "step", "value"],
    "jahs_bo_schema": ["version"],
}  # fmt: skip
COUNTER = iter(range(10**9))


def _read_and_use(path: Path) -> None:
    study = load_study("s", path)
    for t in study.trials:
        if t.state is TrialState.COMPLETE:
            assert t.values and all(math.isfinite(v) for v in t.values), t
    with suppress(JahsBOError):
        study.best_trial  # noqa: B018
    trial = study.ask()
    study.tell(trial, 0.5)


def _fresh() -> Path:
    path = TMP / f"f{next(COUNTER)}.db"
    path.write_bytes(GOOD)
    return path


def test_random_byte_damage(fuzz) -> None:
    damage = st.lists(
        st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=30
    )
    cut = st.integers(0, len(GOOD))

    def check(args: tuple[list[tuple[int, int]], int]) -> None:
        edits, keep = args
        data = bytearray(GOOD)
        for pos, byte in edits:
            data[pos] = byte
        path = _fresh()
        path.write_bytes(bytes(data[: max(keep, 1)]))
        _read_and_use(path)

    fuzz(st.tuples(damage, cut | st.just(len(GOOD))), check)


def test_tampered_rows(fuzz, json_values) -> None:
    cell = st.one_of(
        st.none(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.binary(max_size=8),
        json_values.map(lambda v: __import__("json").dumps(v)),
        st.sampled_from(
            ["running", "complete", "failed", "pruned", "[NaN]", "[]", "{}", "[1e999]"]
        ),
    )
    edit = st.sampled_from(sorted(TABLES)).flatmap(
        lambda table: st.tuples(
            st.just(table), st.sampled_from(TABLES[table]), cell, st.integers(0, 15)
        )
    )

    def check(edits: list[tuple[str, str, Any, int]]) -> None:
        path = _fresh()
        conn = sqlite3.connect(path)
        for table, column, value, row in edits:
            with suppress(sqlite3.Error):  # a constraint may refuse the edit: fine
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE rowid = "
                    f"(SELECT rowid FROM {table} LIMIT 1 OFFSET ?)",
                    (value, row),
                )
                conn.commit()
        conn.close()
        _read_and_use(path)

    fuzz(st.lists(edit, min_size=1, max_size=4), check)
