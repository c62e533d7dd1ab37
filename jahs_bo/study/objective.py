"""The objective contract shared by ``Study.optimize``, :func:`jahs_bo.tune` and ``jahs-bo run``.

An objective is a callable ``objective(config, ctx) -> value(s)``:

* ``config``: the configuration, a dict of plain JSON values (architectures are strings);
* ``ctx``: a :class:`TrialContext` with the trial's number, fidelity (``ctx.fidelity["epochs"]``),
  the parent's fidelity for a promotion (``ctx.previous_fidelity``), a checkpoint directory, and
  ``ctx.report(step, value)`` / ``ctx.set_user_attr(key, value)``;
* it returns one number per objective: a float, a numpy or torch scalar, a sequence or 1-d
  array/tensor in the order of the study's directions, or a dict by objective name. Strings,
  bytes and bools are refused, NaN/inf make the trial FAILED with the reason.

Raising :class:`TrialPruned` (``ctx.report`` does so when the scheduler stops the trial) records
the trial PRUNED with its last report; any other exception records it FAILED with the traceback.

A worker process finds the objective by reference (:func:`objective_spec`): a top-level function
of an importable module or script, or a ``"path/to/file.py:func"`` / ``"module:func"`` string.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jahs_bo.exceptions import InputError, JahsBOError, ObjectiveValueError
from jahs_bo.types import Config, FidelityValues, _number

__all__ = [
    "ObjectiveLoadError",
    "TrialContext",
    "TrialPruned",
    "check_objective",
    "load_objective",
    "objective_spec",
]


class TrialPruned(JahsBOError):
    """Raised by :meth:`TrialContext.report` when the scheduler stops the trial early.

    Let it propagate out of the training function (or raise it yourself); the trial is recorded
    PRUNED with its last reported value.
    """


class ObjectiveLoadError(InputError):
    """The training function cannot be found or imported (wrong path, module or name)."""


# ------------------------------------------------------------------------------------------
# The context the training function receives
# ------------------------------------------------------------------------------------------


class TrialContext:
    """What a training function knows about its trial.

    Attributes:
        trial_id: Storage-wide id of the trial.
        number: Position of the trial in its study (0-based).
        config: The configuration (plain JSON values).
        fidelity: Fidelity values to train at, e.g. ``{"epochs": 9}`` (empty without fidelities).
        previous_fidelity: Fidelity of the parent trial when this trial continues one (a
            promotion by a multi-fidelity scheduler), else ``None``. Resume from the checkpoint
            the parent left in :attr:`checkpoint_dir`; a function that cannot resume may simply
            train from scratch.
        checkpoint_dir: A directory that belongs to this configuration (the same for every
            trial of the same configuration, so promotions find the parent's files). Created
            before the function is called.
        max_fidelity: The space's largest fidelity values (e.g. to set a learning-rate
            schedule that does not depend on the fidelity a trial runs at, so a resumed run
            continues exactly as an uninterrupted one would).
    """

    def __init__(
        self,
        *,
        trial_id: int,
        number: int,
        config: Config,
        fidelity: FidelityValues,
        previous_fidelity: FidelityValues | None,
        checkpoint_dir: Path,
        max_fidelity: FidelityValues | None = None,
        reporter: Callable[[int, float], bool],
        attr_setter: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.trial_id = trial_id
        self.number = number
        self.config = config
        self.fidelity = fidelity
        self.previous_fidelity = previous_fidelity
        self.checkpoint_dir = checkpoint_dir
        self.max_fidelity = dict(max_fidelity or {})
        self._reporter = reporter
        self._attr_setter = attr_setter
        self.last_report: tuple[int, float] | None = None

    def report(self, step: int, value: float) -> None:
        """Record an intermediate metric (e.g. the validation accuracy after epoch ``step``).

        Args:
            step: Increasing step number (epoch).
            value: The metric of the first objective, in its own direction.

        Raises:
            TrialPruned: The study's scheduler decided to stop this trial; let it propagate.
        """
        step = _check_step(step)
        value = _number(value, f" reported at step {step}")
        self.last_report = (step, value)
        if not math.isfinite(value):
            return  # a NaN report is kept out of the study; the final value decides
        if self._reporter(step, value):
            raise TrialPruned(f"trial {self.number} pruned at step {step} (value {value:g})")

    def set_user_attr(self, key: str, value: Any) -> None:
        """Store a JSON value on the trial (e.g. a test accuracy or a parameter count).

        Raises:
            InputError: ``value`` is not JSON-serialisable.
        """
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise InputError(
                f"user attribute {key!r}={value!r} is not JSON-serialisable; store numbers, "
                "strings, lists or dicts"
            ) from None
        if self._attr_setter is not None:
            self._attr_setter(str(key), value)

    def __repr__(self) -> str:
        return (
            f"TrialContext(number={self.number}, fidelity={self.fidelity}, "
            f"previous_fidelity={self.previous_fidelity}, checkpoint_dir='{self.checkpoint_dir}')"
        )


def load_objective(spec: str) -> Callable[..., Any]:
    """Load a function from ``"path/to/file.py:name"`` or ``"package.module:name"``.

    Raises:
        ObjectiveLoadError: The file or module does not exist or does not import, or has no
            callable of that name; the message names the path and the function.
    """
    if ":" not in spec:
        raise ObjectiveLoadError(
            f"objective {spec!r} has no ':'; write 'path/to/train.py:train' or 'module:train'"
        )
    target, _, name = spec.rpartition(":")
    if not name:
        raise ObjectiveLoadError(f"objective {spec!r} names no function after ':'")
    if target.endswith(".py") or os.sep in target or "/" in target:
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise ObjectiveLoadError(
                f"training script {str(path)!r} does not exist (from {spec!r})"
            )
        mod_name = "_jahs_bo_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
        module = sys.modules.get(mod_name)
        if module is None:
            file_spec = importlib.util.spec_from_file_location(mod_name, path)
            if file_spec is None or file_spec.loader is None:
                raise ObjectiveLoadError(f"cannot import {str(path)!r} as a Python file")
            module = importlib.util.module_from_spec(file_spec)
            sys.modules[mod_name] = module
            sys.path.insert(0, str(path.parent))  # sibling imports of the script
            try:
                file_spec.loader.exec_module(module)
            except Exception as exc:
                del sys.modules[mod_name]
                raise ObjectiveLoadError(
                    f"importing {str(path)!r} failed: {type(exc).__name__}: {exc}"
                ) from exc
        where = repr(str(path))
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ObjectiveLoadError(
                f"cannot import module {target!r} (from {spec!r}): {exc}"
            ) from exc
        where = f"module {target!r}"
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            found = sorted(
                k
                for k, v in vars(module).items()
                if callable(v)
                and not k.startswith("_")
                and getattr(v, "__module__", None) == module.__name__
            )
            raise ObjectiveLoadError(
                f"{where} has no function {name!r}; callables defined there: {found}"
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ObjectiveLoadError(f"{name!r} in {where} is a {type(obj).__name__}, not a function")
    return obj


def objective_spec(objective: Callable[..., Any] | str) -> str:
    """A ``"file.py:name"`` or ``"module:name"`` reference that a spawned worker can import.

    Raises:
        ObjectiveLoadError: The function is a lambda or defined inside another function.
    """
    if isinstance(objective, str):
        return objective
    qualname = getattr(objective, "__qualname__", None)
    module = getattr(objective, "__module__", None)
    if not qualname or not module or "<" in qualname:
        raise ObjectiveLoadError(
            f"{objective!r} cannot run in a worker process: worker processes import the "
            "training function, so define it at the top level of a module or script (no lambda, "
            "no nested function), or use n_workers=1 without timeout_per_trial"
        )
    if module == "__main__":
        main_file = getattr(sys.modules["__main__"], "__file__", None)
        if not main_file:
            raise ObjectiveLoadError(
                f"{qualname!r} is defined in an interactive session; worker processes cannot "
                "import it. Put it in a file and pass 'file.py:name', or use n_workers=1 "
                "without timeout_per_trial"
            )
        return f"{Path(main_file).resolve()}:{qualname}"
    return f"{module}:{qualname}"


def _fallback_spec(spec: str) -> str | None:
    """The ``"file.py:name"`` form of a ``"module:name"`` spec, for workers whose ``sys.path``
    cannot import the module by name (test modules, scripts beside the working directory)."""
    target, _, name = spec.rpartition(":")
    if target.endswith(".py") or "/" in target or os.sep in target:
        return None
    mod_file = getattr(sys.modules.get(target), "__file__", None)
    return f"{Path(mod_file).resolve()}:{name}" if mod_file else None


def _load_with_fallback(spec: str, fallback: str | None) -> Callable[..., Any]:
    try:
        return load_objective(spec)
    except ObjectiveLoadError:
        if fallback is None:
            raise
        return load_objective(fallback)


def _check_step(step: Any) -> int:
    """``step`` as an int; a float step that is not whole (swapped arguments) is refused."""
    if isinstance(step, (bool, str, bytes)):
        raise ObjectiveValueError(
            f"report(step, value) got step={step!r}; step is the integer epoch or iteration"
        )
    try:
        f = float(step)
    except (TypeError, ValueError, OverflowError):
        raise ObjectiveValueError(
            f"report(step, value) got step={step!r}; step is the integer epoch or iteration"
        ) from None
    if not f.is_integer() or not 0 <= f < 2**63:
        raise ObjectiveValueError(
            f"report(step, value) got step={step!r}, which is not a non-negative integer; the "
            "step (epoch) comes first and the metric second: ctx.report(epoch, value)"
        )
    return int(f)


def check_objective(objective: Callable[..., Any]) -> None:
    """Refuse a callable that cannot be called as ``objective(config, ctx)``.

    Raises:
        InputError: ``objective`` is not callable, or its signature takes no two positional
            arguments (e.g. an old-style ``fn(trial)``).
    """
    if isinstance(objective, str):
        return
    if not callable(objective):
        raise InputError(
            f"objective must be a callable objective(config, ctx) or a 'file.py:function' "
            f"string, got {type(objective).__name__} {objective!r}"
        )
    try:
        sig = inspect.signature(objective)
    except (TypeError, ValueError):  # builtins and some C callables: nothing to check
        return
    try:
        sig.bind(object(), object())
    except TypeError:
        raise InputError(
            f"objective {getattr(objective, '__name__', objective)!r} has the signature {sig}; "
            "jahs-bo calls objective(config, ctx) with the configuration dict and a TrialContext "
            "(ctx.fidelity, ctx.report, ctx.checkpoint_dir): define it as "
            "`def objective(config, ctx): ...`"
        ) from None
