"""jahs-bo as a Ray Tune search algorithm: :class:`JahsBOSearch`.

::

    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import ConcurrencyLimiter
    from jahs_bo.integrations.ray_tune import JahsBOSearch

    search = JahsBOSearch(space, searcher="gp", metric="loss", mode="min", seed=0)
    tuner = tune.Tuner(
        train,
        tune_config=tune.TuneConfig(
            search_alg=ConcurrencyLimiter(search, max_concurrent=4),
            scheduler=ASHAScheduler(metric="loss", mode="min", max_t=27),
            num_samples=50,
        ),
    )
    tuner.fit()

Ray Tune runs the trials and its scheduler (ASHA) stops them; jahs-bo only proposes
configurations (``suggest``) from the results it is told (``on_trial_complete``). The space may be
any jahs-bo :class:`~jahs_bo.spaces.SearchSpace`, architectures included (the trainable receives
them as strings in ``config``), or a flat Ray Tune ``param_space`` dict, converted by
:func:`~jahs_bo.integrations.ray_tune_space.from_ray_tune`. Fidelities are Ray Tune's business
(its scheduler's ``max_t``), so a space with fidelities runs every suggestion at the full one.

A trial stopped early by the scheduler is told with its last reported value (as Ray Tune's
other searchers do). ``save``/``restore`` (called by Ray Tune for experiment checkpoints, and
``restore_from_dir`` for a finished experiment) write and read JSON: the space, the options and
every trial; restoring replays them into a fresh in-memory study, so the next suggestion is the
one the saved searcher would have made.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jahs_bo.exceptions import InputError, JahsBOError
from jahs_bo.integrations.ray_tune_space import from_ray_tune, to_ray_tune
from jahs_bo.spaces import SearchSpace
from jahs_bo.study import Study, create_study
from jahs_bo.study.ray_executor import import_ray
from jahs_bo.types import Trial, TrialState

__all__ = ["JahsBOSearch", "JahsBOSearchStateError", "from_ray_tune", "to_ray_tune"]

_FORMAT = "jahs_bo.integrations.ray_tune.JahsBOSearch"
_VERSION = 1
_DIRECTIONS = {"min": "minimize", "max": "maximize"}

import_ray()
from ray.tune.search import Searcher  # noqa: E402  (after the check that Ray is installed)


class JahsBOSearch(Searcher):
    """A Ray Tune ``Searcher`` that proposes configurations with a jahs-bo searcher.

    Args:
        space: A jahs-bo search space, or a flat Ray Tune ``param_space`` dict; ``None`` to
            take the ``param_space`` given to ``tune.Tuner``.
        searcher: A jahs-bo searcher name (``"gp"``, ``"random"``, ``"evolution"``, ...).
        metric: The result key to optimize (or give it to ``tune.TuneConfig``).
        mode: ``"min"`` or ``"max"``.
        seed: Seed of the searcher (same seed, same suggestions).
        searcher_options: Keyword arguments of the jahs-bo searcher.

    Raises:
        InputError: ``mode`` is not ``"min"``/``"max"``, or ``searcher`` is unknown.
        InvalidSpaceError: ``space`` is a param_space that has no jahs-bo form.
    """

    CKPT_FILE_TMPL = "searcher-state-{}.json"

    def __init__(
        self,
        space: SearchSpace | Mapping[str, Any] | None = None,
        searcher: str = "gp",
        metric: str | None = None,
        mode: str | None = None,
        seed: int | None = None,
        searcher_options: Mapping[str, Any] | None = None,
    ) -> None:
        if mode is not None and mode not in _DIRECTIONS:
            raise InputError(f"mode={mode!r} must be 'min' or 'max'")
        if metric is not None and not isinstance(metric, str):
            raise InputError(f"metric={metric!r} must be the name of one reported result key")
        if not isinstance(searcher, str):
            raise InputError(
                f"searcher={searcher!r} must be a jahs-bo searcher name such as 'gp' (a name "
                "keeps the searcher's state JSON for save/restore)"
            )
        super().__init__(metric=metric, mode=mode)
        self._space = self._as_space(space)
        self._searcher = searcher
        self._seed = seed
        self._options = dict(searcher_options or {})
        self._study: Study | None = None
        self._live: dict[str, Trial] = {}
        if self._space is not None and mode is not None:
            self._build()

    @staticmethod
    def _as_space(space: SearchSpace | Mapping[str, Any] | None) -> SearchSpace | None:
        if space is None or isinstance(space, SearchSpace):
            return space
        return from_ray_tune(space)

    # ------------------------------------------------------------------ study
    def _build(self) -> Study:
        """The in-memory study behind the suggestions (created on first need)."""
        if self._study is None:
            if self._space is None:
                raise InputError(
                    "JahsBOSearch has no search space: pass space= to JahsBOSearch or "
                    "param_space= to tune.Tuner"
                )
            if self._mode not in _DIRECTIONS:
                raise InputError(
                    "JahsBOSearch needs mode='min' or 'max' (and metric=): pass them to "
                    "JahsBOSearch or to tune.TuneConfig"
                )
            self._study = create_study(
                self._space,
                direction=_DIRECTIONS[self._mode],
                searcher=self._searcher,
                searcher_options=self._options or None,
                seed=self._seed,
            )
            self._seed = self._study.seed
        return self._study

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        """Take ``metric``, ``mode`` and ``param_space`` from ``tune.Tuner`` when not given."""
        if self._study is not None or (self._space is not None and config):
            return False
        if metric and not self._metric:
            self._metric = metric
        if mode and not self._mode:
            if mode not in _DIRECTIONS:
                return False
            self._mode = mode
        if config:
            self._space = from_ray_tune(config)
        return True

    # ------------------------------------------------------------------ searcher protocol
    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The next configuration (a dict of plain values) for Ray Tune's trial ``trial_id``."""
        trial = self._build().ask()
        self._live[trial_id] = trial
        return dict(trial.config)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Keep an intermediate result as a report of the trial."""
        trial = self._live.get(trial_id)
        value = result.get(self._metric) if self._metric else None
        step = result.get("training_iteration")
        if trial is None or not _finite(value) or not isinstance(step, int):
            return
        assert self._study is not None
        self._study.report(trial, step, float(value))

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tell the trial's final result (FAILED when it errored or reported no metric)."""
        trial = self._live.pop(trial_id, None)
        if trial is None or self._study is None:
            return
        value = (result or {}).get(self._metric) if self._metric else None
        if error or not _finite(value):
            why = "the Ray Tune trial errored" if error else f"no finite {self._metric!r} result"
            self._study.tell(trial, state=TrialState.FAILED, error=why)
        else:
            self._study.tell(trial, float(value))

    # ------------------------------------------------------------------ checkpoints (JSON)
    def get_state(self) -> dict[str, Any]:
        """The searcher's state as JSON-ready data (space, options, every trial)."""
        trials = self._study.trials if self._study is not None else []
        live = {t.trial_id: rid for rid, t in self._live.items()}
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "space": None if self._space is None else self._space.to_dict(),
            "searcher": self._searcher,
            "searcher_options": self._options,
            "metric": self._metric,
            "mode": self._mode,
            "seed": self._seed,
            "trials": [
                {
                    "config": dict(t.config),
                    "state": t.state.value,
                    "values": None if t.values is None else list(t.values),
                    "error": t.error,
                    "intermediate": [[r.step, r.value] for r in t.intermediate],
                    "ray_trial_id": live.get(t.trial_id),
                }
                for t in trials
            ],
        }

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Rebuild from :meth:`get_state`: a fresh study that replays every trial."""
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise JahsBOSearchStateError(
                f"not a JahsBOSearch state of version {_VERSION} (format "
                f"{state.get('format')!r}, version {state.get('version')!r})"
            )
        space = state["space"]
        self._space = None if space is None else SearchSpace.from_dict(space)
        self._searcher = state["searcher"]
        self._options = dict(state["searcher_options"] or {})
        self._metric, self._mode, self._seed = state["metric"], state["mode"], state["seed"]
        self._study, self._live = None, {}
        if not state["trials"]:
            return
        study = self._build()
        for saved in state["trials"]:
            trial = study.ask(saved["config"])
            for step, value in saved["intermediate"]:
                study.report(trial, step, value)
            if saved["state"] == TrialState.RUNNING.value:
                if saved["ray_trial_id"] is not None:
                    self._live[saved["ray_trial_id"]] = trial
                else:  # a pending trial nobody will tell: keep it out of the model
                    study.tell(trial, state=TrialState.FAILED, error="pending when saved")
            elif saved["state"] == TrialState.COMPLETE.value:
                study.tell(trial, saved["values"])
            else:
                study.tell(trial, state=saved["state"], error=saved["error"])

    def __getstate__(self) -> dict[str, Any]:
        """Ray Tune pickles its search algorithm with the Tuner: the payload is the JSON state
        (the in-memory study and its storage do not pickle)."""
        return {"json": json.dumps(self.get_state(), allow_nan=False)}

    def __setstate__(self, data: dict[str, Any]) -> None:
        self._study, self._live = None, {}
        self.set_state(json.loads(data["json"]))

    def save(self, checkpoint_path: str) -> None:
        """Write :meth:`get_state` as JSON to ``checkpoint_path``."""
        Path(checkpoint_path).write_text(json.dumps(self.get_state(), allow_nan=False))

    def restore(self, checkpoint_path: str) -> None:
        """Read a state written by :meth:`save`.

        Raises:
            JahsBOSearchStateError: The file is not a JahsBOSearch state (or not JSON).
        """
        try:
            state = json.loads(Path(checkpoint_path).read_text())
        except (OSError, ValueError) as exc:
            raise JahsBOSearchStateError(
                f"cannot read a JahsBOSearch state from {checkpoint_path!r}: {exc}"
            ) from None
        if not isinstance(state, Mapping):
            raise JahsBOSearchStateError(f"{checkpoint_path!r} does not hold a JSON object")
        self.set_state(state)

    @property
    def study(self) -> Study:
        """The in-memory jahs-bo study behind the suggestions (every told trial)."""
        return self._build()


class JahsBOSearchStateError(JahsBOError, ValueError):
    """A saved JahsBOSearch state that cannot be read (wrong file, format or version)."""


def _finite(value: Any) -> bool:
    """Whether ``value`` is a finite number (numpy scalars included, bools not)."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False
