"""Source tasks for meta-learning: one table of (configuration, fidelity, value) per dataset.

A :class:`TaskData` is what the meta-model learns from: the configurations evaluated on one
dataset, their objective values (higher or lower is better, per ``direction``), optionally the
fidelities they ran at and samples of the dataset itself. Values are only ever compared within a
task: :meth:`TaskData.scores` turns them into per-task normal scores (higher is better), so tasks
whose metrics live on different scales (accuracy in %, log-loss, ...) mix freely.

Nothing here imports torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy.special import ndtri

from jahs_bo.exceptions import InputError
from jahs_bo.types import Direction, TrialState

#: How values become per-task scores: Gaussian copula of the ranks, or a z-score.
ScoreTransform = Literal["copula", "standardize"]


def copula_scores(values: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks: ``Phi^-1((rank + 0.5) / n)`` (ties share their mean rank).

    Args:
        values: ``n`` values, higher is better.

    Returns:
        ``n`` scores with mean 0, robust to heavy tails (diverged networks far below the rest).
    """
    from scipy.stats import rankdata

    n = len(values)
    if n == 0:
        return np.zeros(0)
    ranks = rankdata(values, method="average") - 0.5
    return ndtri(ranks / n)


def standardize(values: np.ndarray) -> np.ndarray:
    """``(values - mean) / std`` (``std`` of 0 counts as 1)."""
    if len(values) == 0:
        return np.zeros(0)
    std = float(values.std())
    return (values - values.mean()) / (std if std > 0 else 1.0)


def _dataset_arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(X, y)`` as float arrays from a pair or a mapping with ``"X"``/``"y"`` (or ``None``)."""
    if dataset is None:
        return None
    if isinstance(dataset, Mapping):
        try:
            dataset = (dataset["X"], dataset["y"])
        except KeyError:
            raise InputError(
                f"a dataset mapping needs keys 'X' and 'y', got {sorted(dataset)}"
            ) from None
    try:
        x, y = dataset
    except (TypeError, ValueError):
        raise InputError(
            f"dataset must be a pair (X, y) of arrays, got {type(dataset).__name__}"
        ) from None
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or len(x) == 0:
        raise InputError(
            f"dataset samples must be X of shape n x p and y of shape n with n >= 1, got X "
            f"{x.shape} and y {y.shape}; flatten images to rows first"
        )
    if not np.isfinite(x).all():
        raise InputError("dataset samples X hold NaN/inf; impute or drop those rows")
    return x, y


@dataclass
class TaskData:
    """The evaluations of one task (a dataset) as a plain table.

    Args:
        configs: ``n`` configurations of the space, as plain dicts (what ``study.ask`` gives).
        values: ``n`` objective values.
        dataset: Optional samples of the task's dataset, a pair ``(X, y)`` with ``X`` of shape
            ``m x p`` (any ``p``, flattened) and ``y`` of shape ``m`` (class labels, any number
            of classes, or real targets). The dataset encoder reads them.
        name: The task's name (kept in checkpoints as the list of source tasks).
        fidelities: ``n`` fidelity assignments (``None`` or missing names mean full fidelity),
            or ``None`` for all at full fidelity.
        direction: ``"maximize"`` (default) or ``"minimize"``.

    Raises:
        InputError: lengths disagree, no values, non-finite values, or a bad direction.

    Example:
        >>> TaskData([{"arch": cell_a}, {"arch": cell_b}], [91.2, 88.4], name="cifar10")
    """

    configs: Sequence[Mapping[str, Any]]
    values: Sequence[float] | np.ndarray
    dataset: Any = None
    name: str = "task"
    fidelities: Sequence[Mapping[str, float] | None] | None = None
    direction: Direction | str = "maximize"
    _values: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.configs = [dict(c) for c in self.configs]
        values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if len(values) != len(self.configs):
            raise InputError(
                f"task {self.name!r}: got {len(self.configs)} configurations but {len(values)} "
                "values; pass one value per configuration"
            )
        if len(values) == 0:
            raise InputError(f"task {self.name!r} has no evaluations; drop it from the sources")
        if not np.isfinite(values).all():
            bad = values[~np.isfinite(values)][0]
            raise InputError(
                f"task {self.name!r} holds a non-finite value ({bad}); drop failed evaluations"
            )
        self._values = values
        self.values = values
        try:
            self.direction = Direction.parse(self.direction)
        except Exception:
            raise InputError(
                f"task {self.name!r}: direction must be 'maximize' or 'minimize', got "
                f"{self.direction!r}"
            ) from None
        if self.fidelities is not None:
            if len(self.fidelities) != len(self.configs):
                raise InputError(
                    f"task {self.name!r}: got {len(self.fidelities)} fidelity assignments for "
                    f"{len(self.configs)} configurations"
                )
            self.fidelities = [dict(f) if f else None for f in self.fidelities]
        self.dataset = _dataset_arrays(self.dataset)

    def __len__(self) -> int:
        return len(self._values)

    def scores(self, transform: ScoreTransform = "copula") -> np.ndarray:
        """Per-task scores, higher is better, comparable across tasks.

        Args:
            transform: ``"copula"`` (normal scores of the ranks, the default) or
                ``"standardize"`` (z-scores of the values).

        Returns:
            ``n`` scores.
        """
        signed = self._values if self.direction is Direction.MAXIMIZE else -self._values
        if transform == "copula":
            return copula_scores(signed)
        if transform == "standardize":
            return standardize(signed)
        raise InputError(f"transform must be 'copula' or 'standardize', got {transform!r}")

    @classmethod
    def from_dataframe(
        cls,
        frame: Any,
        value: str = "value",
        *,
        config_columns: Sequence[str] | None = None,
        fidelity_columns: Sequence[str] = (),
        name: str = "task",
        direction: Direction | str = "maximize",
        dataset: Any = None,
    ) -> TaskData:
        """A task from a pandas ``DataFrame`` with one row per evaluation.

        Args:
            frame: The table.
            value: Column holding the objective value.
            config_columns: Columns forming the configuration (default: every column that is
                neither ``value`` nor a fidelity column). NaN entries are left out of a row's
                configuration (inactive conditional hyperparameters).
            fidelity_columns: Columns holding fidelity values.
            name: The task's name.
            direction: ``"maximize"`` or ``"minimize"``.
            dataset: Samples of the dataset (see the class).

        Raises:
            InputError: a named column is missing.
        """
        columns = list(frame.columns)
        missing = [
            c for c in [value, *fidelity_columns, *(config_columns or [])] if c not in columns
        ]
        if missing:
            raise InputError(f"columns {missing} are not in the table (it has {columns})")
        if config_columns is None:
            config_columns = [c for c in columns if c != value and c not in fidelity_columns]
        records = frame[list(config_columns)].to_dict("records")
        configs = [
            {k: _plain(v) for k, v in r.items() if not (isinstance(v, float) and np.isnan(v))}
            for r in records
        ]
        fids = None
        if fidelity_columns:
            fids = [
                {k: float(v) for k, v in r.items()}
                for r in frame[list(fidelity_columns)].to_dict("records")
            ]
        return cls(
            configs,
            frame[value].to_numpy(dtype=np.float64),
            dataset=dataset,
            name=name,
            fidelities=fids,
            direction=direction,
        )

    @classmethod
    def from_study(
        cls, study: Any, objective: int = 0, name: str | None = None, dataset: Any = None
    ) -> TaskData:
        """The complete trials of a study (any storage) as a task.

        Args:
            study: A :class:`~jahs_bo.study.Study` (e.g. from ``jahs_bo.load_study``).
            objective: Which objective to learn, for studies with several.
            name: The task's name (default: the study's name).
            dataset: Samples of the study's dataset (see the class).

        Raises:
            InputError: the study has no complete trial, or ``objective`` is out of range.
        """
        directions = list(study.directions)
        if not 0 <= objective < len(directions):
            raise InputError(
                f"objective {objective} is out of range: study {study.study_name!r} has "
                f"{len(directions)} objective(s)"
            )
        done = [
            t
            for t in study.get_trials([TrialState.COMPLETE])
            if t.values is not None and np.isfinite(t.values[objective])
        ]
        if not done:
            raise InputError(
                f"study {study.study_name!r} has no complete trial to learn from; run it first "
                "or leave it out of the sources"
            )
        return cls(
            [t.config for t in done],
            [t.values[objective] for t in done],
            dataset=dataset,
            name=name if name is not None else study.study_name,
            fidelities=[dict(t.fidelity) or None for t in done],
            direction=directions[objective],
        )


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


class SourceDirectionWarning(UserWarning):
    """A study optimizes in the direction none of its source tasks did."""


def check_directions(
    target: Direction | str, sources: Iterable[Direction | str], what: str
) -> None:
    """Warn (:class:`SourceDirectionWarning`) when no source direction is ``target``.

    Each source's best is taken by its own direction, so nothing breaks; but a study left at
    the default ``"minimize"`` whose sources maximize accuracy searches for the worst networks
    once the sources' picks are spent. ``what`` names the sources in the message.
    """
    goal = Direction.parse(target)
    given = [Direction.parse(d) for d in sources]
    if given and all(d is not goal for d in given):
        other = given[0].value
        warnings.warn(
            f"{what}: the study's direction is {goal.value!r} but its source tasks {other} "
            f"their values; pass direction={other!r} (CLI: --direction {other}) if the study "
            "optimizes the same metric",
            SourceDirectionWarning,
            stacklevel=4,
        )


def as_task(source: Any, index: int = 0) -> TaskData:
    """A :class:`TaskData` from a task or a study (anything with ``get_trials``).

    Raises:
        InputError: ``source`` is neither.
    """
    if isinstance(source, TaskData):
        return source
    if hasattr(source, "get_trials") and hasattr(source, "directions"):
        return TaskData.from_study(source)
    raise InputError(
        f"source {index} is a {type(source).__name__}; pass a jahs_bo Study or a "
        "metalearn.TaskData (e.g. TaskData.from_dataframe(frame, value='accuracy'))"
    )
