"""Storages (memory, SQLite, PostgreSQL): round trips of every field, error cases, the dead-worker
rule, cached reads, SQLite and PostgreSQL specifics."""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import pickle
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from jahs_bo.exceptions import (
    CorruptStudyError,
    DuplicateStudyError,
    InputError,
    StorageError,
    StorageNotFoundError,
    StudyNotFoundError,
    TrialNotFoundError,
    TrialStateError,
)
from jahs_bo.storage import InMemoryStorage, SQLiteStorage, Storage, get_storage
from jahs_bo.storage.base import (
    HEARTBEAT,
    LOST,
    OWNER_HOST,
    OWNER_PID,
    OWNER_PID_NAMESPACE,
    TrialNumberTakenError,
    owner_attrs,
)
from jahs_bo.storage.postgres import PostgresStorage
from jahs_bo.types import Direction, IntermediateReport, TrialState

SPACE_JSON = json.dumps({"format": "test", "version": 1})


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "memory":
        return InMemoryStorage()
    if request.param == "postgres":
        return PostgresStorage(request.getfixturevalue("postgres_url"))
    return SQLiteStorage(tmp_path / "study.db")


def _study(storage: Storage, name: str = "s", **kw) -> int:
    args = dict(directions=["minimize", "maximize"], seed=2**62 + 5, searcher_name="re")
    args.update(kw)
    return storage.create_study(name, SPACE_JSON, **args)


def test_study_round_trip(storage: Storage) -> None:
    sid = _study(storage, user_attrs={"a": [1, 2]}, system_attrs={"searcher_options": {"p": 3}})
    info = storage.get_study("s")
    assert info.study_id == sid
    assert info.name == "s"
    assert info.space_json == SPACE_JSON
    assert info.directions == (Direction.MINIMIZE, Direction.MAXIMIZE)
    assert info.seed == 2**62 + 5
    assert info.searcher_name == "re"
    assert info.user_attrs == {"a": [1, 2]}
    assert info.system_attrs == {"searcher_options": {"p": 3}}
    assert info.datetime_created is not None
    storage.set_study_user_attr(sid, "b", {"x": 1.5})
    storage.set_study_system_attr(sid, "c", None)
    info = storage.get_study_by_id(sid)
    assert info.user_attrs == {"a": [1, 2], "b": {"x": 1.5}}
    assert info.system_attrs["c"] is None
    assert [s.name for s in storage.list_studies()] == ["s"]


def test_trial_round_trip_every_field(storage: Storage) -> None:
    sid = _study(storage)
    config = {"arch": "|nor_conv_3x3~0|+|none~0|skip_connect~1|", "lr": 0.01, "act": "Mish", "n": 3}
    parent = storage.create_trial(sid, config, {"epochs": 12})
    t = storage.create_trial(
        sid, config, {"epochs": 200, "R": 0.5}, parent.trial_id, {"bracket": 1, OWNER_PID: 7}
    )
    assert (t.number, t.state, t.values, t.error) == (1, TrialState.RUNNING, None, None)
    assert t.datetime_start is not None and t.datetime_complete is None
    storage.report(t.trial_id, 1, 0.5)
    storage.report(t.trial_id, 3, float("nan"))
    storage.report(t.trial_id, 2, 0.25)
    storage.report(t.trial_id, 2, 0.125)  # a repeated step overwrites
    storage.set_user_attr(t.trial_id, "note", {"k": [1, "two"]})
    storage.set_system_attr(t.trial_id, "rung", 2)
    done = storage.finish_trial(t.trial_id, TrialState.COMPLETE, [0.75, -1e300])
    got = storage.get_trial(t.trial_id)
    assert replace(got, intermediate=()) == replace(done, intermediate=())  # NaN != NaN
    assert got.trial_id == t.trial_id and got.number == 1
    assert got.config == config
    assert got.fidelity == {"epochs": 200, "R": 0.5}
    assert got.state is TrialState.COMPLETE
    assert got.values == (0.75, -1e300)
    assert got.parent_id == parent.trial_id
    assert got.user_attrs == {"note": {"k": [1, "two"]}}
    assert got.system_attrs["bracket"] == 1 and got.system_attrs["rung"] == 2
    assert isinstance(got.system_attrs[HEARTBEAT], float)
    assert [r.step for r in got.intermediate] == [1, 2, 3]
    assert got.intermediate[:2] == (IntermediateReport(1, 0.5), IntermediateReport(2, 0.125))
    assert math.isnan(got.intermediate[2].value)
    assert got.datetime_complete >= got.datetime_start
    assert got.duration is not None and got.duration >= 0
    assert storage.get_trial_study_id(t.trial_id) == sid
    # Frozen copies: mutating what we got back does not change the storage.
    got.config["lr"] = 99
    assert storage.get_trial(t.trial_id).config["lr"] == 0.01


def test_failed_trial_keeps_error_and_states_filter(storage: Storage) -> None:
    sid = _study(storage)
    ids = [storage.create_trial(sid, {"x": i}).trial_id for i in range(4)]
    storage.finish_trial(ids[0], TrialState.COMPLETE, [1.0, 2.0])
    storage.finish_trial(ids[1], TrialState.FAILED, None, "Traceback ...\nValueError: bad")
    storage.finish_trial(ids[2], TrialState.PRUNED, [3.0, 4.0])
    assert storage.get_trial(ids[1]).error == "Traceback ...\nValueError: bad"
    assert [t.number for t in storage.get_trials(sid)] == [0, 1, 2, 3]
    assert [t.number for t in storage.get_trials(sid, states=("running",))] == [3]
    both = storage.get_trials(sid, states=[TrialState.FAILED, TrialState.PRUNED])
    assert [t.number for t in both] == [1, 2]
    assert storage.count_trials(sid) == 4
    with pytest.raises(InputError, match="unknown trial state 'done'"):
        storage.get_trials(sid, states=["done"])


def test_errors_name_the_value_and_the_fix(storage: Storage) -> None:
    sid = _study(storage)
    _study(storage, name="other")
    with pytest.raises(DuplicateStudyError, match="load_if_exists=True"):
        _study(storage)
    with pytest.raises(StudyNotFoundError, match=r"'nope'.*\['other', 's'\]"):
        storage.get_study("nope")
    with pytest.raises(TrialNotFoundError, match="12345"):
        storage.get_trial(12345)
    with pytest.raises(TrialNotFoundError):
        storage.finish_trial(12345, TrialState.COMPLETE, [1.0, 1.0])
    t = storage.create_trial(sid, {"x": 1})
    storage.finish_trial(t.trial_id, TrialState.FAILED, None, "ValueError: broken objective")
    with pytest.raises(TrialStateError, match=r"trial 0 .*already failed.*broken objective"):
        storage.finish_trial(t.trial_id, TrialState.COMPLETE, [1.0, 2.0])
    with pytest.raises(TrialStateError, match="report to trial 0"):
        storage.report(t.trial_id, 1, 0.5)
    t2 = storage.create_trial(sid, {"x": 2})
    with pytest.raises(TrialStateError, match="values are required"):
        storage.finish_trial(t2.trial_id, TrialState.COMPLETE, None)
    with pytest.raises(TrialNumberTakenError):
        storage.create_trial(sid, {"x": 3}, number=1)
    assert storage.create_trial(sid, {"x": 3}, number=2).number == 2
    with pytest.raises(InputError, match="cannot be stored as JSON"):
        storage.create_trial(sid, {"x": object()})


def test_threads_get_unique_gap_free_numbers(storage: Storage) -> None:
    sid = _study(storage)

    def work() -> None:
        for _ in range(10):
            storage.create_trial(sid, {"x": 0})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert [t.number for t in storage.get_trials(sid)] == list(range(40))


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # reaped: the pid is free
    return proc.pid


def test_dead_worker_rule(storage: Storage) -> None:
    sid = _study(storage)
    host = socket.gethostname()
    dead = _dead_pid()
    alive_here = storage.create_trial(sid, {"x": 0}, system_attrs={OWNER_HOST: host, OWNER_PID: 1})
    dead_here = storage.create_trial(
        sid, {"x": 1}, system_attrs={OWNER_HOST: host, OWNER_PID: dead}
    )
    mine = storage.create_trial(
        sid, {"x": 2}, system_attrs={OWNER_HOST: host, OWNER_PID: os.getpid()}
    )
    far_old = storage.create_trial(
        sid, {"x": 3}, system_attrs={OWNER_HOST: "elsewhere", OWNER_PID: 1}
    )
    far_new = storage.create_trial(
        sid, {"x": 4}, system_attrs={OWNER_HOST: "elsewhere", OWNER_PID: 1}
    )
    ownerless = storage.create_trial(sid, {"x": 5})
    other_container = storage.create_trial(  # same host name, other pid namespace, old beat
        sid,
        {"x": 7},
        system_attrs={**owner_attrs(), OWNER_PID: dead, OWNER_PID_NAMESPACE: "pid:[1]"},
    )
    storage.record_heartbeat([other_container.trial_id], when=time.time() - 1000)
    storage.record_heartbeat([far_old.trial_id], when=time.time() - 1000)
    told = storage.create_trial(sid, {"x": 6}, system_attrs={OWNER_HOST: host, OWNER_PID: dead})
    storage.finish_trial(told.trial_id, TrialState.COMPLETE, [1.0, 2.0])

    failed = storage.fail_stale_trials(sid, grace_period=None)
    assert [t.trial_id for t in failed] == [dead_here.trial_id]
    assert failed[0].error == f"worker died (pid {dead} on host {host}) before telling a result"
    failed = storage.fail_stale_trials(sid, grace_period=100.0)
    assert [t.trial_id for t in failed] == [far_old.trial_id, other_container.trial_id]
    assert "pid 1 on host elsewhere" in failed[0].error and "no heartbeat" in failed[0].error
    running = {t.trial_id for t in storage.get_trials(sid, states=["running"])}
    assert running == {alive_here.trial_id, mine.trial_id, far_new.trial_id, ownerless.trial_id}
    assert storage.get_trial(told.trial_id).values == (1.0, 2.0)  # told trials are untouched


def _reopen(storage: Storage) -> Storage:
    """Another storage object on the same data: what another process would open."""
    if isinstance(storage, SQLiteStorage):
        return SQLiteStorage(storage.path)
    if isinstance(storage, PostgresStorage):
        return PostgresStorage(storage.url)
    return storage


def test_cached_reads_see_what_others_change(storage: Storage) -> None:
    sid = _study(storage)
    other = _reopen(storage)
    t0 = storage.create_trial(sid, {"x": 0})
    storage.finish_trial(t0.trial_id, TrialState.COMPLETE, [1.0, 2.0])
    t1 = storage.create_trial(sid, {"x": 1})
    first = storage.get_trials(sid, deepcopy=False)
    assert [t.state for t in first] == [TrialState.COMPLETE, TrialState.RUNNING]
    # Another process tells the running trial, creates one and reports to it.
    other.finish_trial(t1.trial_id, TrialState.PRUNED, [3.0, 4.0])
    t2 = other.create_trial(sid, {"x": 2})
    other.report(t2.trial_id, 1, 0.5)
    second = storage.get_trials(sid, deepcopy=False)
    assert second == storage.get_trials(sid)  # what a full read gives
    assert [t.state for t in second] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING]
    assert second[2].intermediate == (IntermediateReport(1, 0.5),)
    assert second[0] is first[0]  # a finished trial is not read (or copied) again
    assert storage.get_trials(sid, ["running"], deepcopy=False) == [second[2]]
    # An attribute this storage sets on a finished trial is seen by its cached reads.
    storage.set_trial_user_attr(t0.trial_id, "latency", 3.5)
    assert storage.get_trials(sid, deepcopy=False)[0].user_attrs == {"latency": 3.5}
    assert storage.count_trials(sid) == 3


def test_trial_views_are_the_split_of_a_full_read(storage: Storage) -> None:
    """``get_trial_views`` (kept up to date by the caches) equals splitting a fresh full read,
    through finishes here and in another process, attributes and a trial marked lost."""
    sid = _study(storage)
    other = _reopen(storage)

    def check() -> None:
        views = storage.get_trial_views(sid)
        full = storage.get_trials(sid)
        assert views.trials == full
        assert views.finished == [t for t in full if t.state.is_finished]
        assert views.running == [t for t in full if t.state is TrialState.RUNNING]
        assert views.has_lost == any(LOST in t.system_attrs for t in full)

    trials = [storage.create_trial(sid, {"x": i}) for i in range(6)]
    check()
    storage.finish_trial(trials[3].trial_id, TrialState.COMPLETE, [1.0, 2.0])
    storage.finish_trial(trials[1].trial_id, TrialState.FAILED, error="boom")  # out of order
    check()
    other.finish_trial(trials[0].trial_id, TrialState.PRUNED, [3.0, 4.0])
    other.create_trial(sid, {"x": 6})
    check()
    storage.set_trial_user_attr(trials[3].trial_id, "latency", 3.5)  # a finished trial changes
    check()
    assert storage.get_trial_views(sid).finished[2].user_attrs == {"latency": 3.5}
    storage.finish_trial(trials[5].trial_id, TrialState.FAILED, error="worker died")
    storage.set_trial_system_attr(trials[5].trial_id, LOST, "worker died")
    check()
    assert storage.get_trial_views(sid).has_lost


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_cache_off_reads_everything_every_time(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        storage: Storage = SQLiteStorage(tmp_path / "x.db", cache=False)
    else:
        storage = PostgresStorage(request.getfixturevalue("postgres_url"), cache=False)
    sid = _study(storage)
    t = storage.create_trial(sid, {"x": 0})
    storage.finish_trial(t.trial_id, TrialState.COMPLETE, [1.0, 2.0])
    a, b = storage.get_trials(sid, deepcopy=False), storage.get_trials(sid, deepcopy=False)
    assert a == b and a[0] is not b[0]
    with pytest.raises(StudyNotFoundError):
        storage.get_trials(sid + 1, deepcopy=False)


# --------------------------------------------------------------------- PostgreSQL specifics
def test_postgres_persists_pickles_and_checks_its_schema(postgres_url: str) -> None:
    import psycopg

    st = get_storage(postgres_url)
    assert isinstance(st, PostgresStorage)
    sid = _study(st)
    t = st.create_trial(sid, {"a": 1})
    st.finish_trial(t.trial_id, TrialState.COMPLETE, [1.0, 2.0])
    clone = pickle.loads(pickle.dumps(st))
    assert clone.url == postgres_url and clone.get_trials(sid) == st.get_trials(sid)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        assert conn.execute("SELECT version FROM jahs_bo_schema").fetchall() == [(1,)]
        conn.execute("UPDATE jahs_bo_schema SET version = 99")
    with pytest.raises(StorageError, match="schema version 99.*reads version 1"):
        PostgresStorage(postgres_url)


def test_postgres_rows_are_checked_and_driver_errors_mapped(postgres_url: str) -> None:
    """The rows of a PostgreSQL study go through the same checks as a SQLite file's
    (``storage/_rows.py``); a damaged table raises CorruptStudyError, not a psycopg error."""
    import psycopg

    st = PostgresStorage(postgres_url)
    sid = _study(st)
    t = st.create_trial(sid, {"a": 1})
    st.finish_trial(t.trial_id, TrialState.COMPLETE, [1.0])
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE trials SET objective_values = '[\"x\"]'")
    for fresh in (PostgresStorage(postgres_url), PostgresStorage(postgres_url, cache=False)):
        with pytest.raises(CorruptStudyError, match=rf"trial_id={t.trial_id}.*objective_values"):
            fresh.get_trials(sid, deepcopy=False)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE trials SET objective_values = '[1.0]', state = 'bogus'")
    with pytest.raises(CorruptStudyError, match="column state holds 'bogus'"):
        st.get_trial(t.trial_id)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE trials SET state = 'complete'")
        conn.execute("ALTER TABLE reports RENAME COLUMN value TO v")
    with pytest.raises(CorruptStudyError, match="UndefinedColumn"):
        st.get_trials(sid)
    # a plain error of the driver (here a cancelled query) stays a retryable StorageError
    with pytest.raises(StorageError) as info, st._read():
        raise psycopg.errors.QueryCanceled("canceled")
    assert not isinstance(info.value, CorruptStudyError)


def test_postgres_unreachable_server_names_the_url_without_its_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    url = f"postgresql://jahs:s3cret@127.0.0.1:{port}/db"
    with pytest.raises(StorageError, match=rf"'postgresql://jahs:\*\*\*@127.0.0.1:{port}/db'") as e:
        get_storage(url)
    assert "s3cret" not in str(e.value) and "server is running" in str(e.value)
    with pytest.raises(InputError, match="postgresql://user:password@host:port/dbname"):
        PostgresStorage("sqlite:///x.db")


def test_postgres_reopens_its_connection_after_fork(postgres_url: str) -> None:
    st = PostgresStorage(postgres_url)
    sid = _study(st)
    st.create_trial(sid, {"parent": 0})
    proc = multiprocessing.get_context("fork").Process(target=_fork_child, args=(st, sid))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    st.create_trial(sid, {"parent": 1})  # the parent's connection still works
    trials = st.get_trials(sid)
    assert [t.number for t in trials] == list(range(7))
    assert sum("child" in t.config for t in trials) == 5


# ------------------------------------------------------------------------- SQLite specifics
def test_sqlite_persists_across_connections_and_pickles(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "x.db"
    st = SQLiteStorage(path)
    sid = _study(st)
    t = st.create_trial(sid, {"a": 1})
    st.finish_trial(t.trial_id, TrialState.COMPLETE, [1.0, 2.0])
    again = SQLiteStorage(path)
    assert again.get_trials(sid) == st.get_trials(sid)
    clone = pickle.loads(pickle.dumps(st))
    assert clone.path == path and clone.get_trial(t.trial_id).values == (1.0, 2.0)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM jahs_bo_schema").fetchall() == [(1,)]
    conn.close()


def test_sqlite_schema_version_and_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    SQLiteStorage(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE jahs_bo_schema SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="schema version 99.*reads version 1"):
        SQLiteStorage(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database, just bytes" * 100)
    with pytest.raises(StorageError, match="cannot open .*junk.db"):
        SQLiteStorage(junk)


def _fork_child(storage: Storage, sid: int) -> None:
    for i in range(5):
        storage.create_trial(sid, {"child": i})


def test_sqlite_reopens_its_connection_after_fork(tmp_path: Path) -> None:
    st = SQLiteStorage(tmp_path / "x.db")
    sid = _study(st)
    st.create_trial(sid, {"parent": 0})
    proc = multiprocessing.get_context("fork").Process(target=_fork_child, args=(st, sid))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    st.create_trial(sid, {"parent": 1})
    trials = st.get_trials(sid)
    assert [t.number for t in trials] == list(range(7))
    assert sum("child" in t.config for t in trials) == 5


def test_get_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(get_storage(None), InMemoryStorage)
    st = InMemoryStorage()
    assert get_storage(st) is st
    monkeypatch.chdir(tmp_path)
    rel = get_storage("sqlite:///rel/a.db", create_dirs=True)
    assert isinstance(rel, SQLiteStorage) and (tmp_path / "rel" / "a.db").exists()
    absolute = get_storage(f"sqlite:///{tmp_path / 'abs.db'}")
    assert absolute.path == tmp_path / "abs.db"
    assert isinstance(get_storage(tmp_path / "p.db"), SQLiteStorage)
    with pytest.raises(InputError, match="unknown storage URL 'mysql://x/y' .*'mysql'"):
        get_storage("mysql://x/y")
    # one grammar everywhere: a plain path means a SQLite file
    plain = get_storage("plain.db")
    assert isinstance(plain, SQLiteStorage) and plain.path == Path("plain.db")
    # a mistyped directory is an error, not a new empty study; create_dirs=True makes it
    with pytest.raises(StorageNotFoundError, match=r"directory 'no/such' .*create_dirs=True"):
        get_storage("no/such/x.db")
    with pytest.raises(StorageNotFoundError):
        get_storage("sqlite:///no/such/x.db")
    assert isinstance(get_storage("new/dir/x.db", create_dirs=True), SQLiteStorage)
    # loading needs the file to exist
    with pytest.raises(StorageNotFoundError, match="does not exist"):
        get_storage("missing.db", must_exist=True)
    with pytest.raises(InputError, match="names no database file"):
        get_storage("sqlite:///:memory:")
    with pytest.raises(InputError, match="not int"):
        get_storage(3)  # type: ignore[arg-type]
