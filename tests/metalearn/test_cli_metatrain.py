"""``jahs-bo metatrain`` on finished studies, then ``jahs-bo run --meta`` with the result."""

from __future__ import annotations

import textwrap
from pathlib import Path

from jahs_bo.cli import main
from jahs_bo.study import create_study, load_study

from .conftest import make_space, synthetic_task

TRAIN = textwrap.dedent(
    """
    def train(config, ctx):
        return config["arch"].count("conv_3x3") - 4.0 * (config["lr"] - 0.45) ** 2
    """
)


def test_metatrain_from_study_files_then_run_with_the_meta_model(tmp_path: Path, capsys):
    space = make_space()
    space_file = tmp_path / "space.json"
    space.to_json(str(space_file))
    for seed, shift in enumerate([0.2, 0.6]):
        task = synthetic_task(space, shift, 30, seed)
        study = create_study(
            space,
            direction="maximize",
            searcher="random",
            storage=tmp_path / f"s{seed}.db",
            study_name=f"task{seed}",
        )
        for cfg, fid, v in zip(task.configs, task.fidelities, task.values, strict=True):
            study.tell(study.ask(cfg, fidelity=fid), float(v))
    out = tmp_path / "meta"
    args = ["metatrain", "--space", str(space_file), "--out", str(out), "--no-progress"]
    sources = ["--from", str(tmp_path / "s0.db"), "--from", str(tmp_path / "s1.db")]
    assert main([*args, *sources, "--steps", "5"]) == 0
    assert (out / "meta.json").is_file() and (out / "weights.pt").is_file()

    assert main([*args, "--from", str(tmp_path / "s0.db")]) == 2
    assert "at least 2 source studies" in capsys.readouterr().err

    train = tmp_path / "train.py"
    train.write_text(TRAIN)
    db = tmp_path / "run.db"
    run = ["run", f"{train}:train", "--space", str(space_file), "--n-trials", "3"]
    run += ["--storage", str(db), "--direction", "maximize", "--seed", "0", "--no-progress"]
    assert main([*run, "--meta", str(out), "--searcher", "gp"]) == 2
    assert "--meta uses searcher 'transfer'" in capsys.readouterr().err
    assert main([*run, "--meta", str(out)]) == 0
    study = load_study("train", db)
    assert study.searcher.name == "transfer"
    assert len(study.trials) == 3
    assert study.system_attrs["searcher_options"]["meta"] == str(out.resolve())


def test_run_with_warm_start_evaluates_the_best_of_earlier_studies_first(tmp_path: Path, capsys):
    space = make_space()
    space_file = tmp_path / "space.json"
    space.to_json(str(space_file))
    best = []
    for seed, shift in enumerate([0.3, 0.5]):
        task = synthetic_task(space, shift, 20, seed)
        study = create_study(
            space, direction="maximize", storage=tmp_path / "old.db", study_name=f"task{seed}"
        )
        full = [i for i, f in enumerate(task.fidelities) if f["epochs"] == 9]
        for i in full:
            study.tell(study.ask(task.configs[i], fidelity=task.fidelities[i]), task.values[i])
        best.append(space.config_key(task.configs[max(full, key=lambda i: task.values[i])]))
    train = tmp_path / "train.py"
    train.write_text(TRAIN)
    db = tmp_path / "run.db"
    run = ["run", f"{train}:train", "--space", str(space_file), "--n-trials", "4"]
    run += ["--storage", str(db), "--direction", "maximize", "--seed", "0", "--no-progress"]
    assert main([*run, "--warm-start", str(tmp_path / "old.db")]) == 0
    first = {space.config_key(t.config) for t in load_study("train", db).trials}
    assert set(best) <= first  # each source's best is in the portfolio evaluated first
    assert main([*run, "--warm-start", str(tmp_path / "missing.db")]) == 2
    assert "missing.db" in capsys.readouterr().err
