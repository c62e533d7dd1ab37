"""Real processes on one study: ``kill -9`` of a worker, then resume (SQLite and PostgreSQL);
two writers on SQLite, eight on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jahs_bo.spaces import nb201_space
from jahs_bo.storage import get_storage
from jahs_bo.study import TrialContext, create_study, load_study
from jahs_bo.types import TrialState

# A worker: loads the study and optimizes; prints every told trial once tell() has returned.
WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from jahs_bo.study import load_study

    url, name, n_trials, hang_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    go = sys.argv[5] if len(sys.argv) > 5 else None
    study = load_study(name, url)
    while go is not None and not os.path.exists(go):  # start together with the other worker
        time.sleep(0.005)

    def objective(config, ctx):
        if ctx.number == hang_at:
            print(json.dumps({"hanging": ctx.number}), flush=True)
            time.sleep(600)
        time.sleep(0.01)
        return float(config["arch"].count("conv")) + 0.001 * ctx.number

    def told(study, trial):
        print(json.dumps({"told": trial.number, "values": trial.values}), flush=True)

    study.optimize(objective, n_trials=n_trials, callbacks=[told])
    """
)


def objective(config: dict, ctx: TrialContext) -> float:
    return float(config["arch"].count("conv")) + 0.001 * ctx.number


def _worker(
    tmp_path: Path, url: str, name: str, n_trials: int, hang_at: int = -1, go: Path | None = None
) -> subprocess.Popen[str]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    extra = [] if go is None else [str(go)]
    return subprocess.Popen(
        [sys.executable, str(script), url, name, str(n_trials), str(hang_at), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_kill_9_of_a_worker_loses_nothing_told_and_the_study_continues(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'study.db'}"
    create_study(nb201_space(), searcher="random", seed=3, storage=url, study_name="k")
    proc = _worker(tmp_path, url, "k", n_trials=1000, hang_at=12)
    told: dict[int, list[float]] = {}
    assert proc.stdout is not None
    for line in proc.stdout:  # read until the worker hangs inside trial 12
        msg = json.loads(line)
        if "hanging" in msg:
            break
        told[msg["told"]] = msg["values"]
    else:
        raise AssertionError(f"worker ended early: {proc.stderr.read()}")  # type: ignore[union-attr]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert sorted(told) == list(range(12))

    storage = get_storage(url)
    before = storage.get_trials(storage.get_study("k").study_id)
    assert [t.state for t in before] == [TrialState.COMPLETE] * 12 + [TrialState.RUNNING]

    study = load_study("k", url)  # applies the dead-worker rule
    trials = study.trials
    for n, values in told.items():  # every told trial is there, with its values
        assert trials[n].state is TrialState.COMPLETE and list(trials[n].values) == values
    dead = trials[12]
    assert dead.state is TrialState.FAILED
    host = socket.gethostname()
    assert dead.error == f"worker died (pid {proc.pid} on host {host}) before telling a result"

    assert dead.system_attrs["lost"] == "worker died"
    study.optimize(objective, n_trials=15)  # 12 counted, the lost one does not count
    trials = study.trials
    assert [t.number for t in trials] == list(range(16))
    assert [t.state for t in trials[13:]] == [TrialState.COMPLETE] * 3
    # The lost trial is re-run first, with its configuration ...
    assert trials[13].config == dead.config
    assert trials[13].system_attrs["rerun_of"] == dead.trial_id
    # ... then the same continuation as a study that never crashed (random search ignores
    # the history).
    ref = create_study(nb201_space(), searcher="random", seed=3)
    for _ in range(16):
        ref.tell(ref.ask(), 1.0)
    assert [t.config for t in ref.trials[14:]] == [t.config for t in trials[14:]]


def test_two_processes_share_one_sqlite_study(tmp_path: Path) -> None:
    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    create_study(nb201_space(), searcher="random", seed=0, storage=url, study_name="two")
    go = tmp_path / "go"
    # n_trials is what the shared study should hold: both processes stop at 60 together
    # (a race between their last asks may add one more).
    procs = [_worker(tmp_path, url, "two", n_trials=60, go=go) for _ in range(2)]
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    told = [[json.loads(line)["told"] for line in out.splitlines()] for out, _ in outs]
    study = load_study("two", url)
    trials = study.trials
    n = len(trials)
    assert 60 <= n <= 61
    assert sorted(told[0] + told[1]) == list(range(n))  # each number told by exactly one
    assert [t.number for t in trials] == list(range(n))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert len({t.trial_id for t in trials}) == n
    # Each proposal saw every earlier trial (pending included): no configuration twice.
    assert len({study.space.config_key(t.config) for t in trials}) == n
    # Both processes took part (how they interleave depends on the machine's load).
    assert {t.system_attrs["owner_pid"] for t in trials} == {p.pid for p in procs}


# A client of a shared study: ``n`` plain ask/tell rounds, printing each told number.
ASK_TELL = textwrap.dedent(
    """
    import os, sys, time
    from jahs_bo.study import load_study

    url, name, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    study = load_study(name, url)
    while not os.path.exists(go):  # start together with the other clients
        time.sleep(0.005)
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, float(len(trial.config["arch"])))
        print(trial.number, flush=True)
    """
)


def test_eight_processes_ask_and_tell_on_one_postgres_study(
    tmp_path: Path, postgres_url: str
) -> None:
    create_study(nb201_space(), searcher="random", seed=1, storage=postgres_url, study_name="p8")
    script = tmp_path / "client.py"
    script.write_text(ASK_TELL)
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), postgres_url, "p8", "50", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(8)
    ]
    go.touch()
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    told = sorted(int(n) for out, _ in outs for n in out.split())
    assert told == list(range(400))  # every number told once: no duplicate, no gap
    study = load_study("p8", postgres_url)
    trials = study.trials
    assert [t.number for t in trials] == list(range(400))
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 400
    assert not any(t.system_attrs.get("lost") for t in trials)
    assert len({t.trial_id for t in trials}) == 400
    # Each proposal saw every earlier trial, pending ones included: no configuration twice.
    assert len({t.config_key for t in trials}) == 400
    assert {t.system_attrs["owner_pid"] for t in trials} == {p.pid for p in procs}
