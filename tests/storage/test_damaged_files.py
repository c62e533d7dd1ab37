"""Damaged or hand-edited SQLite study files: every read path raises one CorruptStudyError that
names the file, the table and row, and what is wrong; nothing leaks sqlite3, json or enum errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import ConfigSpace as CS
import pytest

from jahs_bo.exceptions import CorruptStudyError, StorageError
from jahs_bo.spaces import SearchSpace
from jahs_bo.storage import get_storage
from jahs_bo.study import Study, create_study, load_study


def _space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="toy", seed=0)
    cs.add(CS.Float("x", (0.0, 1.0)))
    return SearchSpace(cs)


def _make(path: Path, n: int = 4) -> Path:
    study = create_study(_space(), storage=path, study_name="s", searcher="random", seed=0)
    for i in range(n):
        study.tell(study.ask(), float(i))
    study.report(study.ask(), 0, 0.5)  # one running trial with a report
    return path


def _sql(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def _uses(study_reader: str) -> Callable[[Path], object]:
    def read(path: Path) -> object:
        if study_reader == "load":
            return load_study("s", path)
        study = load_study("s", path) if study_reader != "trials-url" else None
        if study_reader == "trials-url":
            storage = get_storage(f"sqlite:///{path}")
            return storage.get_trials(storage.get_study("s").study_id)
        assert isinstance(study, Study)
        if study_reader == "best":
            return study.best_trial
        if study_reader == "ask":
            return study.ask()
        return study.trials

    return read


TAMPERED = [
    ("UPDATE trials SET state = 'bogus' WHERE number = 1", "trial_id=2.*state holds 'bogus'"),
    ("UPDATE trials SET objective_values = '[NaN]' WHERE number = 1", "trial_id=2.*finite"),
    ("UPDATE trials SET objective_values = '[]' WHERE number = 1", "trial_id=2.*non-empty"),
    ("UPDATE trials SET objective_values = NULL WHERE number = 1", "trial_id=2.*COMPLETE.*NULL"),
    ("UPDATE trials SET objective_values = '[\"x\"]' WHERE number = 1", "trial_id=2.*numbers"),
    ("UPDATE trials SET config = '{not json' WHERE number = 1", "trial_id=2.*config.*JSON"),
    ("UPDATE trials SET config = '[1, 2]' WHERE number = 1", "trial_id=2.*config.*not a JSON obj"),
    ("UPDATE trials SET number = 'abc' WHERE number = 1", "trial_id=2.*number holds 'abc'"),
    ("UPDATE trials SET datetime_start = 'yesterday' WHERE number = 1", "trial_id=2.*ISO"),
    ('UPDATE trials SET system_attrs = \'{"owner_pid": "x"}\' WHERE number = 1', "owner"),
    ("UPDATE trials SET heartbeat = 'now' WHERE number = 1", "trial_id=2.*heartbeat"),
    ("UPDATE reports SET value = 'high'", "table reports.*value holds 'high'"),
    ("UPDATE studies SET directions = '[\"sideways\"]'", "table studies.*directions"),
    ("UPDATE studies SET directions = 'minimize'", "table studies.*directions"),
    ("UPDATE studies SET seed = 'lucky'", "table studies.*seed holds 'lucky'"),
    ("UPDATE studies SET system_attrs = 'null'", "table studies.*system_attrs"),
    ("UPDATE jahs_bo_schema SET version = 'one'", "table jahs_bo_schema"),
    (
        "UPDATE studies SET system_attrs = '{\"searcher_options\": 5}'",
        "study_id=1.*'searcher_options' holds 5",
    ),
    ("UPDATE studies SET system_attrs = '{\"constraints\": [3]}'", "constraint 3"),
    ("ALTER TABLE trials DROP COLUMN error", "no such column"),
]


@pytest.mark.parametrize("sql,match", TAMPERED, ids=[t[0][:48] for t in TAMPERED])
def test_tampered_rows_raise_corrupt_study_error_naming_the_row(
    tmp_path: Path, sql: str, match: str
) -> None:
    path = _make(tmp_path / "s.db")
    _sql(path, sql)
    with pytest.raises(CorruptStudyError, match=match) as info:
        reader = "trials" if "studies" not in sql and "schema" not in sql else "load"
        _uses(reader)(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("reader", ["load", "trials", "trials-url", "best", "ask"])
def test_every_read_path_reports_a_bad_state(tmp_path: Path, reader: str) -> None:
    path = _make(tmp_path / "s.db")
    _sql(path, "UPDATE trials SET state = 'bogus' WHERE number = 2")
    with pytest.raises(CorruptStudyError, match=r"s\.db.*trials, row trial_id=3"):
        _uses(reader)(path).__class__  # noqa: B018 - load_study reads the trials too


def test_tell_on_a_loaded_study_with_a_tampered_trial(tmp_path: Path) -> None:
    path = _make(tmp_path / "s.db")
    study = load_study("s", path)
    running = study.get_trials(states="running")[0]
    _sql(path, "UPDATE trials SET system_attrs = '[]' WHERE trial_id = ?", running.trial_id)
    with pytest.raises(CorruptStudyError, match=f"trial_id={running.trial_id}.*system_attrs"):
        study.tell(running, 1.0)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: bytes(range(256)) * 64,  # random bytes, never a database
        lambda b: b[: len(b) // 2],  # truncated copy
        lambda b: b[:100],  # truncated inside the header
        lambda b: b[:4096] + b"\xff" * (len(b) - 4096),  # pages overwritten
    ],
    ids=["bytes", "half", "header", "pages"],
)
def test_a_damaged_file_is_a_corrupt_study_naming_the_file(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    good = _make(tmp_path / "good.db", n=60)
    conn = sqlite3.connect(good)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    bad = tmp_path / "bad.db"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(CorruptStudyError, match="bad.db"):
        study = load_study("s", bad)
        study.trials  # noqa: B018 - a damaged page may only show when the trials are read


def test_a_lock_is_not_reported_as_damage(tmp_path: Path) -> None:
    from jahs_bo.storage import SQLiteStorage

    path = _make(tmp_path / "s.db")
    storage = SQLiteStorage(path, timeout=0.05)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError) as info:
            storage.set_study_user_attr(storage.get_study("s").study_id, "k", 1)
        assert not isinstance(info.value, CorruptStudyError)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
