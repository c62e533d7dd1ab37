"""Checkpoints of meta-models: a ``state_dict`` plus versioned JSON metadata, never a pickle.

A checkpoint is a directory::

    weights.pt   torch.save(net.state_dict()), read back with torch.load(weights_only=True)
    meta.json    {"format": "jahs_bo.metalearn.MetaModel", "version": 1, "jahs_bo_version",
                  "space_fingerprint", "space", "hyperparameters", "sources", "info"}

The space fingerprint is the SHA-256 of the space's JSON (``space.to_json()``) without its
cosmetic ``name``. Loading for a space that differs raises :class:`InputError` naming the first
differences (a hyperparameter's range, a missing architecture, a fidelity's bounds, ...).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from jahs_bo.exceptions import InputError

FORMAT = "jahs_bo.metalearn.MetaModel"
#: Version of the checkpoint layout written by :func:`save`.
FORMAT_VERSION = 1
WEIGHTS = "weights.pt"
META = "meta.json"


def _space_dict(space: Any) -> dict[str, Any]:
    data = json.loads(space.to_json())
    data.pop("name", None)
    return data


def space_fingerprint(space: Any) -> str:
    """SHA-256 (hex) of the space's canonical JSON, ignoring its ``name``.

    Args:
        space: A :class:`~jahs_bo.spaces.SearchSpace`, or its JSON form as a dict.
    """
    if isinstance(space, Mapping):
        data = {k: v for k, v in space.items() if k != "name"}
    else:
        data = _space_dict(space)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def space_differences(expected: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two space descriptions (``to_dict`` form).

    Returns:
        Sentences such as ``"hyperparameter 'lr' differs: {...} vs {...}"``; empty when equal.
    """
    out: list[str] = []

    def by_name(items: Any) -> dict[str, Any]:
        if isinstance(items, Mapping):
            return dict(items)
        return {str(i.get("name", k)): i for k, i in enumerate(items or [])}

    hp_a = by_name((expected.get("hyperparameters") or {}).get("hyperparameters", []))
    hp_b = by_name((got.get("hyperparameters") or {}).get("hyperparameters", []))
    parts = [
        ("hyperparameter", hp_a, hp_b),
        ("architecture", by_name(expected.get("architectures")), by_name(got.get("architectures"))),
        ("fidelity", by_name(expected.get("fidelities")), by_name(got.get("fidelities"))),
    ]
    for kind, a, b in parts:
        for name in a:
            if name not in b:
                out.append(f"{kind} {name!r} is missing from the study's space")
            elif a[name] != b[name]:
                out.append(f"{kind} {name!r} differs: {a[name]} (model) vs {b[name]} (study)")
        out.extend(f"{kind} {name!r} is not in the model's space" for name in b if name not in a)
    ha = {
        k: v for k, v in (expected.get("hyperparameters") or {}).items() if k != "hyperparameters"
    }
    hb = {k: v for k, v in (got.get("hyperparameters") or {}).items() if k != "hyperparameters"}
    for key in sorted(set(ha) | set(hb)):
        if ha.get(key) != hb.get(key):
            out.append(
                f"ConfigSpace {key!r} differ: {ha.get(key)} (model) vs {hb.get(key)} (study)"
            )
    return out


def check_same_space(expected: Any, got: Any, what: str = "the checkpoint") -> None:
    """Raise :class:`InputError` naming the differences unless the spaces are equal.

    Args:
        expected: The model's space.
        got: The study's space.
        what: How the message names the model.
    """
    if space_fingerprint(expected) == space_fingerprint(got):
        return
    diffs = space_differences(_space_dict(expected), _space_dict(got)) or [
        "their JSON descriptions differ"
    ]
    shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
    raise InputError(
        f"{what} was trained for another search space: {shown}. Meta-train a model on this "
        "space (metalearn.meta_train(space, sources)) or open the study with the space the "
        "model was trained on"
    )


def save(model: Any, path: str | Path) -> None:
    """Write a :class:`~jahs_bo.metalearn.MetaModel` to directory ``path`` (created)."""
    from jahs_bo import __version__

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in model.net.state_dict().items()}
    torch.save(state, out / WEIGHTS)
    meta = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "jahs_bo_version": __version__,
        "space_fingerprint": space_fingerprint(model.space),
        "space": json.loads(model.space.to_json()),
        "hyperparameters": model.hyperparameters(),
        "sources": model.sources,
        "info": model.info,
    }
    (out / META).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The checked ``meta.json`` of a checkpoint directory.

    Raises:
        InputError: missing, malformed, another format or an unsupported version.
    """
    file = Path(path) / META
    try:
        meta = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            f"{file} does not exist; pass the directory written by MetaModel.save()"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read the checkpoint metadata {file}: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(f"{file} is not a jahs-bo meta-model checkpoint (format {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise InputError(
            f"{file} has checkpoint version {meta.get('version')!r}; this jahs-bo reads version "
            f"{FORMAT_VERSION}: meta-train again or use the jahs-bo version that wrote it "
            f"({meta.get('jahs_bo_version')})"
        )
    return meta


def load(path: str | Path, space: Any = None) -> Any:
    """Load a meta-model written by :meth:`MetaModel.save`.

    Args:
        path: The checkpoint directory.
        space: The space (or a study) it will be used with; checked against the checkpoint's
            fingerprint. ``None``: the space stored in the checkpoint.

    Returns:
        The :class:`~jahs_bo.metalearn.MetaModel`.

    Raises:
        InputError: not a checkpoint, an unsupported version, weights that do not fit, or a
            space that differs from the one it was trained on (the message names the
            differences).
    """
    from jahs_bo.metalearn.model import MetaModel
    from jahs_bo.metalearn.net import MetaConfig, MetaNet
    from jahs_bo.spaces import SearchSpace

    meta = read_metadata(path)
    # The file's own integrity: its space as written, not as rebuilt by this version.
    if space_fingerprint(meta["space"]) != meta.get("space_fingerprint"):
        raise InputError(
            f"{Path(path) / META}: the stored space does not match its fingerprint (the file "
            "was edited or written by another jahs-bo version); meta-train again"
        )
    stored = SearchSpace.from_dict(meta["space"])
    if space is not None:
        space = getattr(space, "space", space)
        check_same_space(stored, space, what=f"the checkpoint {str(path)!r}")
    else:
        space = stored
    config = MetaConfig.from_dict(meta["hyperparameters"])
    with torch.random.fork_rng(devices=[]):
        net = MetaNet(space, config)
    try:
        state = torch.load(Path(path) / WEIGHTS, weights_only=True, map_location="cpu")
        net.load_state_dict(state, strict=True)
    except FileNotFoundError:
        raise InputError(f"{Path(path) / WEIGHTS} is missing from the checkpoint") from None
    except (RuntimeError, KeyError) as e:
        raise InputError(
            f"the weights in {Path(path) / WEIGHTS} do not fit the model described by its "
            f"meta.json: {e}"
        ) from None
    return MetaModel(space, config, net, meta.get("sources", []), meta.get("info", {}))
