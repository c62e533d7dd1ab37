"""Fuzz: create_study / load_study arguments and ask/tell/report values and fidelities."""

from __future__ import annotations

import math
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

import ConfigSpace as CS
import numpy as np
from hypothesis import strategies as st

from jahs_bo.exceptions import JahsBOError
from jahs_bo.spaces import Fidelity, NB201Cell, SearchSpace
from jahs_bo.study import Study, create_study, load_study
from jahs_bo.types import TrialState


def _space() -> SearchSpace:
    cs = CS.ConfigurationSpace(name="toy", seed=0)
    cs.add(CS.Float("x", (0.0, 1.0)))
    return SearchSpace(cs, {"arch": NB201Cell()}, [Fidelity("epochs", 1, 9, integer=True)])


SPACE = _space()
TMP = Path(tempfile.mkdtemp(prefix="jahs-bo-fuzz-"))
DB = TMP / "study.db"
create_study(SPACE, storage=DB, study_name="s", searcher="random", seed=0).tell(
    create_study(SPACE, storage=DB, study_name="s", load_if_exists=True, searcher="random").ask(),
    0.5,
)
NOT_A_DB = TMP / "notes.txt"
NOT_A_DB.write_text("not a database\n" * 100)

STORAGES = [None, str(DB), DB, f"sqlite:///{DB}", "sqlite://", "", ":memory:", "mysql://u@h/db",
            str(TMP / "missing" / "x.db"), str(TMP), str(NOT_A_DB), str(TMP / "new.db")]  # fmt: skip


def _sane(study: Study) -> None:
    """What every surviving study must satisfy: complete trials carry finite values."""
    for t in study.trials:
        if t.state is TrialState.COMPLETE:
            assert t.values and all(math.isfinite(v) for v in t.values), t
    with suppress(JahsBOError):
        study.best_trial  # noqa: B018


def test_create_study_arguments(fuzz, anything) -> None:
    names = st.sampled_from(["minimize", "maximize", "MAXIMIZE", "up"]) | anything
    kwargs = st.fixed_dictionaries(
        {},
        optional={
            "direction": names,
            "directions": st.lists(names, max_size=3) | anything,
            "objectives": st.dictionaries(st.text(max_size=4), names, max_size=2) | anything,
            "searcher": st.sampled_from(["random", "re", "ls", "gp", "nope", ""]) | anything,
            "storage": st.sampled_from(STORAGES) | anything,
            "study_name": st.text(max_size=10) | anything,
            "seed": st.integers(-(2**70), 2**70) | anything,
            "load_if_exists": st.booleans() | anything,
            "searcher_options": st.dictionaries(st.sampled_from(["n_init", "zzz"]), anything)
            | anything,
            "scheduler": st.sampled_from(["hyperband", "asha", "fifo", "bogus"]) | anything,
            "scheduler_options": st.dictionaries(
                st.sampled_from(["eta", "fidelity", "tie_others", "min_fidelity"]), anything
            )
            | anything,
            "grace_period": anything,
            "user_attrs": anything,
            "constraints": st.sampled_from(["0 <= 1", "lat <= 3", "x >>"]) | anything,
            "warm_start_size": anything,
        },
    )

    def check(kw: dict[str, Any]) -> None:
        study = create_study(SPACE, **kw)
        trial = study.ask()
        study.tell(trial, [0.5] * len(study.directions))
        _sane(study)

    fuzz(kwargs, check)


def test_load_study_arguments(fuzz, anything) -> None:
    kwargs = st.fixed_dictionaries(
        {
            "study_name": st.sampled_from(["s", "S", ""]) | anything,
            "storage": st.sampled_from(STORAGES) | anything,
        },
        optional={
            "searcher": st.sampled_from(["random", "re", "nope"]) | anything,
            "searcher_options": anything,
            "scheduler": st.sampled_from(["hyperband", "bogus"]) | anything,
            "scheduler_options": anything,
            "grace_period": anything,
        },
    )

    def check(kw: dict[str, Any]) -> None:
        study = load_study(**kw)
        _sane(study)

    fuzz(kwargs, check)


def test_ask_tell_report_values_and_fidelities(fuzz, anything) -> None:
    values = st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.lists(st.floats(allow_nan=True), max_size=3),
        st.sampled_from([np.float32(0.5), np.array(0.25), np.array([0.1, 0.2]), np.bool_(True)]),
        anything,
    )
    configs = st.one_of(
        st.fixed_dictionaries(
            {
                "x": st.floats(-1, 2) | anything,
                "arch": st.just(SPACE.sample(np.random.default_rng(0))["arch"]) | anything,
            }
        ),
        anything,
    )
    fidelities = st.one_of(st.dictionaries(st.sampled_from(["epochs", "N"]), anything), anything)
    ops = st.lists(
        st.one_of(
            st.tuples(st.just("ask"), configs | st.none(), fidelities | st.none()),
            st.tuples(
                st.just("tell"),
                values,
                st.sampled_from(["complete", "failed", "pruned", "running", "x"]) | anything,
                anything,
            ),
            st.tuples(st.just("report"), st.integers(-3, 3) | anything, values),
            st.tuples(st.just("id"), anything),
        ),
        min_size=1,
        max_size=6,
    )

    def check(seq: list[tuple[Any, ...]]) -> None:
        study = create_study(SPACE, searcher="random", seed=0)
        trial = study.ask()
        for op, *args in seq:
            with suppress(JahsBOError):
                if op == "ask":
                    config, fidelity = args
                    kw = {} if fidelity is None else {"fidelity": fidelity}
                    trial = study.ask(config, **kw) if config is not None else study.ask(**kw)
                elif op == "tell":
                    value, state, error = args
                    study.tell(
                        trial, value, state=state, error=error if state == "failed" else None
                    )
                elif op == "report":
                    step, value = args
                    study.report(trial, step, value)
                    study.should_stop(trial, step, value)
                else:
                    study.tell(args[0], 1.0)
        _sane(study)

    fuzz(ops, check)
