"""The ``jahs-bo`` command line on tiny studies: run/resume, status, best, export, plot, errors."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import ConfigSpace as CS
import pytest

from jahs_bo.cli import main
from jahs_bo.spaces import Fidelity, SearchSpace
from jahs_bo.study import load_study
from jahs_bo.types import TrialState

TRAIN = textwrap.dedent(
    """
    def train(config, ctx):
        for epoch in range(int(ctx.fidelity["epochs"])):
            ctx.report(epoch, (config["x"] - 0.3) ** 2 + 1.0 / (epoch + 1))
        if ctx.number % 4 == 3:
            raise RuntimeError("diverged")
        return (config["x"] - 0.3) ** 2

    def two(config, ctx):
        return {"err": config["x"], "size": (1.0 - config["x"]) ** 2}

    def in_ray_task(config, ctx):
        import ray

        ctx.set_user_attr("ray_task", ray.get_runtime_context().get_task_id())
        return config["x"]
    """
)
PNG = b"\x89PNG\r\n\x1a\n"


def toy_space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="toy")
    cs.add(CS.Float("x", (0.0, 1.0)))
    return SearchSpace(cs, None, [Fidelity("epochs", 1, 9, integer=True)], name="toy")


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    train = tmp_path / "train.py"
    train.write_text(TRAIN)
    space = tmp_path / "space.json"
    toy_space().to_json(str(space))
    return {"train": train, "space": space, "db": tmp_path / "study.db", "dir": tmp_path}


def run(files: dict[str, Path], *extra: str, target: str = "train", n: int = 6) -> int:
    return main(
        [
            "run",
            f"{files['train']}:{target}",
            "--space",
            str(files["space"]),
            "--n-trials",
            str(n),
            "--storage",
            str(files["db"]),
            "--searcher",
            "random",
            "--seed",
            "0",
            "--no-progress",
            *extra,
        ]
    )


def test_run_resume_status_best_export_plot(files: dict[str, Path], capsys) -> None:
    assert run(files, "--scheduler", "asha", n=6) == 0
    assert "best trial" in capsys.readouterr().out
    # same command, larger budget: the study continues (resume)
    assert run(files, "--scheduler", "asha", n=10) == 0
    study = load_study("train", files["db"])
    assert len(study.trials) == 10 and all(t.state.is_finished for t in study.trials)
    assert any(t.parent_id is not None for t in study.trials)  # ASHA promoted

    db = str(files["db"])
    assert main(["status", "--storage", db]) == 0
    out = capsys.readouterr().out
    assert "study train" in out and "complete" in out and "best" in out

    assert main(["best", "--storage", db, "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best[0]["number"] == study.best_trial.number
    assert best[0]["config"] == study.best_trial.config

    csv_path = files["dir"] / "trials.csv"
    assert main(["export", "--storage", db, "--format", "csv", "--output", str(csv_path)]) == 0
    assert "wrote 10 trials" in capsys.readouterr().out
    rows = list(csv.DictReader(csv_path.open()))
    assert [int(r["number"]) for r in rows] == list(range(10))
    assert {"state", "value", "config_x", "fidelity_epochs"} <= set(rows[0])

    assert main(["export", "--storage", db, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["study"] == "train" and len(doc["trials"]) == 10
    assert doc["trials"][0]["intermediate"], "per-epoch reports are exported"
    assert SearchSpace.from_dict(doc["space"]) == toy_space()

    plots = files["dir"] / "plots"
    assert main(["plot", "--storage", db, "--output-dir", str(plots)]) == 0
    names = sorted(p.name for p in plots.iterdir())
    # named by database and study, so two databases with the same study name keep their plots
    stem = Path(db).stem
    assert names == [
        f"{stem}-train_{p}.png" for p in ("fidelity_usage", "incumbent", "incumbent_cost")
    ]
    assert all((plots / n).read_bytes()[:8] == PNG for n in names)


def test_failed_trials_do_not_stop_the_cli_run(files: dict[str, Path]) -> None:
    assert run(files, n=8) == 0
    trials = load_study("train", files["db"]).trials
    failed = [t for t in trials if t.state is TrialState.FAILED]
    assert [t.number for t in failed] == [3, 7]
    assert all("RuntimeError: diverged" in t.error for t in failed)
    assert sum(t.state is TrialState.COMPLETE for t in trials) == 6


def test_two_objectives_give_a_pareto_plot(files: dict[str, Path], capsys) -> None:
    code = run(files, "--objectives", "err:minimize", "size:minimize", target="two", n=8)
    assert code == 0
    assert "Pareto front" in capsys.readouterr().out
    plots = files["dir"] / "p"
    assert main(["plot", "--storage", str(files["db"]), "--output-dir", str(plots)]) == 0
    stem = files["db"].stem
    assert (plots / f"{stem}-two_pareto_front.png").read_bytes()[:8] == PNG


def test_constraints_from_the_command_line_bound_the_front(files: dict[str, Path]) -> None:
    code = run(
        files,
        "--objectives",
        "err:minimize",
        "size:minimize",
        "--constraint",
        "size <= 0.25",
        target="two",
        n=12,
    )
    assert code == 0
    study = load_study("two", files["db"])
    front = study.best_trials
    assert front and all(t.values[1] <= 0.25 for t in front)
    feasible = [t for t in study.trials if t.values is not None and t.values[1] <= 0.25]
    assert len(front) <= len(feasible) < len(study.trials)


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("missing_script", "nope.py' does not exist"),
        (
            "missing_function",
            "has no function 'fit'; callables defined there: ['in_ray_task', 'train', 'two']",
        ),
        ("bad_json", "is not valid JSON"),
        ("bad_field", "hyperparameters"),
        ("missing_space", "does not exist"),
        ("missing_factory", "has no function 'nothing'"),
        ("bad_objectives", "name:minimize or name:maximize"),
        ("bad_constraint", "cannot read constraint 'loss < 1'"),
    ],
)
def test_bad_inputs_exit_2_with_a_message(
    files: dict[str, Path], capsys, case: str, fragment: str
) -> None:
    d = files["dir"]
    (d / "bad.json").write_text("{oops")
    good = json.loads(files["space"].read_text())
    (d / "badfield.json").write_text(json.dumps({**good, "hyperparameters": 5}))
    target, space, extra = f"{files['train']}:train", str(files["space"]), []
    if case == "missing_script":
        target = f"{d / 'nope.py'}:train"
    elif case == "missing_function":
        target = f"{files['train']}:fit"
    elif case == "bad_json":
        space = str(d / "bad.json")
    elif case == "bad_field":
        space = str(d / "badfield.json")
    elif case == "missing_space":
        space = str(d / "nothere.json")
    elif case == "missing_factory":
        space = f"{files['train']}:nothing"
    elif case == "bad_objectives":
        extra = ["--objectives", "err"]
    elif case == "bad_constraint":
        extra = ["--constraint", "loss < 1"]
    argv = ["run", target, "--space", space, "--n-trials", "1", "--storage", str(files["db"])]
    assert main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("jahs-bo run: error:") and fragment in err
    assert not files["db"].exists() or case in ("bad_objectives", "bad_constraint")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--ray-address", "auto"], "apply to Ray only; add --executor ray"),
        (["--resources", "cpu=2"], "apply to Ray only; add --executor ray"),
        (["--executor", "ray", "--resources", "cpu"], "cannot read --resources 'cpu'"),
        (["--executor", "ray", "--resources", "cpu=many"], "e.g. cpu=4,gpu=1"),
        (["--executor", "ray", "--workers", "0"], "n_workers=0 must be a positive integer"),
    ],
)
def test_bad_ray_options_exit_2_before_anything_starts(
    files: dict[str, Path], capsys, extra: list[str], fragment: str
) -> None:
    assert run(files, *extra) == 2
    assert fragment in capsys.readouterr().err
    assert not files["db"].exists()


def test_run_with_the_ray_executor_on_a_real_cluster(files: dict[str, Path], ray_cluster) -> None:
    """``jahs-bo run --executor ray``: trials run as Ray tasks; failures stay data; resumable."""
    ray_opts = ["--executor", "ray", "--ray-address", ray_cluster.address, "--workers", "2"]
    assert run(files, *ray_opts, "--resources", "cpu=0.5", n=8) == 0
    trials = load_study("train", files["db"]).trials
    assert len(trials) == 8 and all(t.state.is_finished for t in trials)
    assert [t.number for t in trials if t.state is TrialState.FAILED] == [3, 7]
    assert run(files, *ray_opts, n=10) == 0  # the same command with a larger budget resumes
    assert len(load_study("train", files["db"]).trials) == 10
    assert run(files, *ray_opts, target="in_ray_task", n=3) == 0
    tasks = [t.user_attrs["ray_task"] for t in load_study("in_ray_task", files["db"]).trials]
    assert len(tasks) == 3 and all(tasks), "every trial ran inside a Ray task"


def test_inspecting_a_missing_study_exits_2(files: dict[str, Path], capsys) -> None:
    assert main(["status", "--storage", str(files["dir"] / "none.db")]) == 2
    assert "does not exist" in capsys.readouterr().err
    from jahs_bo.storage import get_storage

    assert get_storage(str(files["dir"] / "empty.db")).list_studies() == []  # no study in it
    assert main(["status", "--storage", str(files["dir"] / "empty.db")]) == 2
    assert "holds no study yet" in capsys.readouterr().err
    assert main(["status", "--storage", "postgresql+psycopg://u:hunter2@127.0.0.1:1/db"]) == 2
    err = capsys.readouterr().err
    assert "unknown storage URL" in err and "hunter2" not in err
    assert run(files, n=1) == 0
    assert main(["best", "--storage", str(files["db"]), "--study-name", "other"]) == 2
    assert "no study named 'other'" in capsys.readouterr().err


def _factory(files: dict[str, Path]) -> Path:
    factory = files["dir"] / "make_space.py"
    factory.write_text(
        textwrap.dedent(
            """
            import ConfigSpace as CS
            from jahs_bo.spaces import Fidelity, SearchSpace

            def space():
                cs = CS.ConfigurationSpace(name="toy")
                cs.add(CS.Float("x", (0.0, 1.0)))
                return SearchSpace(cs, None, [Fidelity("epochs", 1, 9, integer=True)], name="toy")
            """
        )
    )
    return factory


def _python_m(files: dict[str, Path], workers: int) -> None:
    cmd = [
        sys.executable, "-m", "jahs_bo.cli", "run", f"{files['train']}:train",
        "--space", f"{_factory(files)}:space", "--n-trials", "4", "--workers", str(workers),
        "--storage", str(files["db"]), "--seed", "1", "--searcher", "random",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "best trial" in proc.stdout
    trials = load_study("train", files["db"]).trials
    assert len(trials) == 4 and all(t.state.is_finished for t in trials)


def test_python_dash_m_with_a_space_factory(files: dict[str, Path]) -> None:
    _python_m(files, workers=1)


@pytest.mark.slow
def test_python_dash_m_with_worker_processes(files: dict[str, Path]) -> None:
    """Spawned workers re-import ``jahs_bo.cli`` as the main module: it must be guarded."""
    _python_m(files, workers=2)


def test_incumbent_curve_skips_missing_values() -> None:
    from jahs_bo.plotting import incumbent_curve

    nan = float("nan")
    got = incumbent_curve([nan, 0.5, nan, 0.3, 0.9], "minimize")
    assert math.isnan(got[0]) and list(got[1:]) == [0.5, 0.5, 0.3, 0.3]
    assert list(incumbent_curve([0.5, 0.3, 0.9], "maximize")) == [0.5, 0.5, 0.9]


def test_configspace_json_is_accepted_as_a_space(files: dict[str, Path]) -> None:
    cs_file = files["dir"] / "cs.json"
    toy_space().hyperparameters.to_json(cs_file)
    files = {**files, "space": cs_file}
    assert run(files, "--objectives", "err:minimize", "size:minimize", target="two", n=2) == 0
    study = load_study("two", files["db"])
    assert study.space.hp_names == ["x"] and not study.space.fidelities


def test_two_cli_workers_share_one_postgres_study(
    files: dict[str, Path], postgres_url: str, capsys
) -> None:
    """``jahs-bo run --storage postgresql://...`` from two processes (two machines alike): one
    study, unique numbers, and both stop when the study holds ``--n-trials`` trials."""
    cmd = [
        sys.executable, "-m", "jahs_bo", "run", f"{files['train']}:train",
        "--space", str(files["space"]), "--n-trials", "12", "--storage", postgres_url,
        "--searcher", "random", "--seed", "0", "--no-progress",
    ]  # fmt: skip
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert "best trial" in out
    study = load_study("train", postgres_url)
    trials = study.trials
    assert 12 <= len(trials) <= 13  # a race between the two last asks may add one
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state.is_finished for t in trials)
    assert sum(t.state is TrialState.FAILED for t in trials) == len(trials) // 4  # "diverged"
    assert main(["status", "--storage", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "study train" in out and "complete" in out
    # a password in the URL (the test server trusts local connections and ignores it) is
    # never printed
    with_password = postgres_url.replace("postgres@", "postgres:hunter2@", 1)
    assert main(["status", "--storage", with_password]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "postgres:***@" in out
