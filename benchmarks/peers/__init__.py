"""Peer libraries (Optuna, SMAC3, DEHB, NePS) run side by side with jahs-bo, one venv each.

Each peer lives in its own virtual environment under ``benchmarks/peers/envs/<peer>/`` (made by
``bash benchmarks/peers/setup.sh``) because their pins conflict with jahs-bo's. The harness launches
one run as a subprocess with :func:`run_peer`; ``registry.json`` holds the same information for
``benchmarks/run.py``. This module imports only the standard library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = Path(__file__).resolve().parent / "registry.json"

__all__ = ["PeerNotInstalledError", "available_peers", "peer_command", "registry", "run_peer"]


class PeerNotInstalledError(RuntimeError):
    """The peer's virtual environment is missing."""


@lru_cache(maxsize=1)
def registry() -> dict[str, dict[str, Any]]:
    """Optimizer name -> ``{"python", "module", "args", "problems"}`` (``registry.json``)."""
    with REGISTRY.open() as fh:
        return json.load(fh)


def available_peers() -> list[str]:
    """Optimizer names whose virtual environment exists."""
    return sorted(k for k, v in registry().items() if (ROOT / v["python"]).exists())


def peer_command(
    optimizer: str,
    problem: str,
    seed: int,
    budget: int | None,
    out_path: str | os.PathLike[str],
    *,
    cost_budget: float | None = None,
) -> list[str]:
    """The command line that runs one seed of ``optimizer`` (run it from the repository root).

    Raises:
        KeyError: Unknown optimizer; the message lists the known ones.
        PeerNotInstalledError: Its virtual environment is missing (run ``setup.sh``).
    """
    reg = registry()
    if optimizer not in reg:
        raise KeyError(f"unknown peer optimizer {optimizer!r}; choose one of {sorted(reg)}")
    entry = reg[optimizer]
    python = ROOT / entry["python"]
    if not python.exists():
        peer = Path(entry["python"]).parts[-3]
        raise PeerNotInstalledError(
            f"{optimizer}: {python} is missing; run `bash benchmarks/peers/setup.sh {peer}`"
        )
    cmd = [str(python), "-m", entry["module"], *entry["args"], "--problem", problem]
    cmd += ["--seed", str(seed), "--out", str(out_path)]
    if cost_budget is not None:
        cmd += ["--cost-budget", str(cost_budget)]
    elif budget is not None:
        cmd += ["--budget", str(budget)]
    return cmd


def run_peer(
    optimizer: str,
    problem: str,
    seed: int,
    budget: int | None,
    out_path: str | os.PathLike[str],
    *,
    cost_budget: float | None = None,
    timeout: float | None = None,
) -> Path:
    """Run one seed of a peer optimizer in its own venv and return the CSV it wrote.

    Args:
        optimizer: Registry name, e.g. ``"optuna-tpe"``, ``"smac-hpo"``, ``"dehb"``, ``"neps"``.
        problem: Problem name, e.g. ``"nb201/cifar10"``.
        seed: Seed of the run.
        budget: Number of evaluations (ignored when ``cost_budget`` is given).
        out_path: Where the per-run CSV goes (schema of ``benchmarks/README.md``).
        cost_budget: Stop once the cumulative cost reaches this (multi-fidelity problems).
        timeout: Seconds before the subprocess is killed.

    Raises:
        PeerNotInstalledError: The peer's venv is missing.
        RuntimeError: The run failed; the message holds the end of its output.
    """
    out = Path(out_path).resolve()
    cmd = peer_command(optimizer, problem, seed, budget, out, cost_budget=cost_budget)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0 or not out.exists():
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise RuntimeError(
            f"{optimizer} on {problem} seed {seed} failed ({proc.returncode}):\n{tail}"
        )
    return out


if __name__ == "__main__":  # python -m benchmarks.peers: list what is installed
    print("\n".join(available_peers()) or "no peer installed", file=sys.stdout)
