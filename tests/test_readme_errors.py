"""The README's Errors section lists every error type a user can catch."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import jahs_bo
from jahs_bo.exceptions import JahsBOError

INTERNAL = {"TrialNumberTakenError"}  # caught inside the study; documented as internal


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_every_jahs_bo_error_is_in_the_readme_errors_section() -> None:
    for mod in pkgutil.walk_packages(jahs_bo.__path__, "jahs_bo."):
        importlib.import_module(mod.name)
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(\w+)`", section))
    names = {c.__name__ for c in _all_subclasses(JahsBOError) if c.__module__.startswith("jahs_bo")}
    assert names - INTERNAL
    assert (names | {"JahsBOError"}) - listed <= INTERNAL, "add them to the README's Errors table"
