"""The README's "Expert priors" snippet runs as written."""

from __future__ import annotations

import re
from pathlib import Path


def test_expert_priors_snippet_runs(tmp_path, monkeypatch) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### Expert priors\n", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["study"].searcher.use_prior
    assert len(namespace["configs"]) == 5
