"""What a new user hit, each as a test: one incumbent, one storage grammar, strict values,
discoverable searchers, full architecture strings in the CLI."""

from __future__ import annotations

from pathlib import Path

import ConfigSpace as CS
import numpy as np
import pytest
import torch

from jahs_bo.cli import main
from jahs_bo.exceptions import InputError, ObjectiveValueError, StorageNotFoundError
from jahs_bo.progress import summarize
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace, nb201_space
from jahs_bo.study import TrialContext, create_study, load_study


def fid_space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="toy", seed=0)
    cs.add(CS.Float("x", (0.0, 1.0)))
    return SearchSpace(cs, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 27, integer=True)])


def test_one_incumbent_at_the_highest_fidelity_reached(tmp_path: Path) -> None:
    study = create_study(fid_space(), direction="maximize", searcher="random", seed=0)
    t3 = study.ask(fidelity={"epochs": 3})
    study.tell(t3, 0.99)
    t9 = study.ask(fidelity={"epochs": 9})
    study.tell(t9, 0.90)
    # With no full-fidelity trial, the incumbent is the best at 9 epochs and says so.
    assert study.best_trial.number == t9.number
    assert study.incumbent.note == "at epochs=9 (not the full fidelity)"
    s = summarize(study)
    assert s["best_number"] == t9.number and "not the full fidelity" in s["best_text"]
    t27 = study.ask()
    study.tell(t27, 0.80)
    # A 27-epoch result beats every lower-fidelity one, everywhere "best" is shown.
    assert study.best_trial.number == t27.number and study.incumbent.note == ""
    assert summarize(study)["best_number"] == t27.number
    assert study.best_trials == [study.best_trial]


def test_status_and_best_agree_and_show_full_architectures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    study = create_study(
        fid_space(), direction="maximize", searcher="random", seed=0, storage=db, study_name="s"
    )
    study.tell(study.ask(fidelity={"epochs": 3}), 0.99)
    best = study.ask(fidelity={"epochs": 9})
    study.tell(best, 0.5)
    capsys.readouterr()
    assert main(["status", "--storage", f"sqlite:///{db}"]) == 0  # URL or path, same grammar
    status = capsys.readouterr().out
    assert f"(#{best.number})" in status and "not the full" in status
    assert main(["best", "--storage", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"trial {best.number}" in out
    assert best.config["arch"] in out  # never truncated


def test_storage_grammar_and_missing_directories(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    a = create_study(nb201_space(), storage="a.db", study_name="a", searcher="random")
    b = load_study("a", "sqlite:///a.db")  # a path and a URL name the same file
    assert a.study_id == b.study_id
    with pytest.raises(StorageNotFoundError, match="create_dirs=True"):
        create_study(nb201_space(), storage="tyop/a.db", study_name="a")
    with pytest.raises(StorageNotFoundError, match="does not exist"):
        load_study("a", "b.db")  # a mistyped file does not open a new, empty study
    assert not (tmp_path / "b.db").exists()
    create_study(nb201_space(), storage="new/a.db", create_dirs=True, searcher="random")
    assert (tmp_path / "new" / "a.db").exists()


def test_cli_run_refuses_a_missing_directory(tmp_path: Path, capsys) -> None:
    train = tmp_path / "train.py"
    train.write_text("def train(config, ctx):\n    return config['x']\n")
    space = tmp_path / "space.json"
    SearchSpace(CS.ConfigurationSpace({"x": (0.0, 1.0)}), name="x").to_json(str(space))
    args = ["run", f"{train}:train", "--space", str(space), "--n-trials", "2", "--no-progress"]
    assert main([*args, "--storage", str(tmp_path / "nope" / "s.db")]) == 2
    assert "--mkdir" in capsys.readouterr().err
    assert main([*args, "--storage", str(tmp_path / "nope" / "s.db"), "--mkdir"]) == 0
    study = load_study("train", tmp_path / "nope" / "s.db")
    assert study.searcher.name == "gp"  # the CLI's default is Python's


def test_tell_takes_numbers_only() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0)
    for bad, why in [("0.93", "str"), (b"5", "bytes"), (True, "bool"), (["1.0"], "str")]:
        t = study.ask()
        with pytest.raises(ObjectiveValueError, match=why):
            study.tell(t, bad)
        study.tell(t, 0.0)  # the trial stayed running and can be told
    t = study.ask()
    with pytest.raises(ObjectiveValueError, match="too large"):
        study.tell(t, 10**400)
    for ok, expected in [
        (torch.tensor(0.5), 0.5),
        (np.float32(0.25), 0.25),
        (np.int64(3), 3.0),
        (np.array([2.0]), 2.0),
    ]:
        assert study.tell(study.ask(), ok).values == (expected,)
    study.tell(t, 1.0)


def test_report_refuses_swapped_arguments() -> None:
    study = create_study(nb201_space(), searcher="random", seed=0)
    t = study.ask()
    with pytest.raises(ObjectiveValueError, match=r"step .* first"):
        study.report(t, 0.9, 0)  # type: ignore[arg-type]

    def swapped(config: dict, ctx: TrialContext) -> float:
        ctx.report(0.9, 0)  # type: ignore[arg-type]
        return 1.0

    study.tell(t, 1.0)
    study.optimize(swapped, n_trials=2)
    assert "step (epoch) comes first" in study.trials[-1].error


def test_unknown_searcher_lists_every_searcher() -> None:
    with pytest.raises(InputError, match=r"\['bananas', 'gp', 'ls', 'random', 're'") as info:
        create_study(nb201_space(), searcher="gpp")
    assert "gpp" in str(info.value)


def test_arguments_of_the_wrong_type_get_clear_errors() -> None:
    from jahs_bo.exceptions import InvalidConfigError
    from jahs_bo.spaces import jahs_bench_201_space

    with pytest.raises(InputError, match="study_name"):
        create_study(nb201_space(), study_name=["x"])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mapping of names to directions"):
        create_study(nb201_space(), objectives=[("a", "minimize")])  # type: ignore[arg-type]
    with pytest.raises(InputError, match="registered name"):
        create_study(nb201_space(), scheduler=5)  # type: ignore[arg-type]
    study = create_study(jahs_bench_201_space(), searcher="random")
    for bad in ("10", True):
        with pytest.raises(InvalidConfigError, match="not a number"):
            study.ask(fidelity={"epoch": bad})


def test_trials_of_another_study_and_bad_errors_are_refused(tmp_path: Path) -> None:
    from jahs_bo.exceptions import TrialNotFoundError

    a = create_study(nb201_space(), storage=tmp_path / "a.db", searcher="random", seed=0)
    b = create_study(nb201_space(), storage=tmp_path / "b.db", searcher="random", seed=1)
    ta, tb = a.ask(), b.ask()
    assert ta.trial_id == tb.trial_id  # same id, other file
    with pytest.raises(TrialNotFoundError, match="not asked from study"):
        a.tell(tb, 1.0)
    with pytest.raises(TrialNotFoundError, match="not a trial"):
        a.tell(2**70, 1.0)
    with pytest.raises(InputError, match="error="):
        a.tell(ta, state="failed", error=123)  # type: ignore[arg-type]
    assert a.tell(ta, 1.0).values == (1.0,)


def test_a_stored_space_is_data_never_a_path(tmp_path: Path) -> None:
    import sqlite3

    from jahs_bo.exceptions import CorruptStudyError

    db = tmp_path / "s.db"
    create_study(nb201_space(), storage=db, study_name="s", searcher="random")
    other = tmp_path / "other.json"
    nb201_space().to_json(str(other))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE studies SET space_json = ?", (str(other),))
    with pytest.raises(CorruptStudyError, match="not a JSON object"):
        load_study("s", db)
