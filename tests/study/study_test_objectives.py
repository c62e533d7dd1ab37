"""Module-level objectives that worker processes can import (tests put this folder on sys.path)."""

from __future__ import annotations

import os

from jahs_bo.study import TrialContext


def n_convs(config: dict, ctx: TrialContext) -> float:
    """Number of convolutions in the NB201 cell (a deterministic toy objective)."""
    return float(config["arch"].count("conv"))


def n_convs_or_crash(config: dict, ctx: TrialContext) -> float:
    """Like :func:`n_convs`, but trials with an odd number raise; reports the worker pid."""
    if ctx.number % 2 == 1:
        raise ValueError(f"odd trial {ctx.number} in pid {os.getpid()}")
    return n_convs(config, ctx)


def crash_odd_die_at_4(config: dict, ctx: TrialContext) -> float:
    """:func:`n_convs_or_crash`, and trial 4 kills its worker (as an out-of-memory kill would)."""
    if ctx.number == 4:
        os._exit(3)
    return n_convs_or_crash(config, ctx)


def always_dies(config: dict, ctx: TrialContext) -> float:
    """Kills its worker at once, like a script without an ``if __name__ == '__main__'`` guard."""
    os._exit(1)


def sleeps(config: dict, ctx: TrialContext) -> float:
    """Sleeps long enough to be interrupted."""
    import time

    time.sleep(60)
    return 0.0


def ray_node_and_value(config: dict, ctx: TrialContext) -> float:
    """Records the Ray node it runs on, reports twice, sleeps briefly and returns a value."""
    import time

    import ray

    ctx.set_user_attr("node", ray.get_runtime_context().get_node_id())
    ctx.report(0, 1.0)
    time.sleep(0.3)
    ctx.report(1, 0.5)
    return n_convs(config, ctx)


def resumable_quadratic(config: dict, ctx: TrialContext) -> float:
    """Trains ``ctx.fidelity["epochs"]`` epochs of a quadratic, resuming a promoted trial from
    the epoch its parent saved in the checkpoint directory (recorded as ``resumed_from``)."""
    import json

    path = ctx.checkpoint_dir / "epoch.json"
    start = json.loads(path.read_text())["epoch"] if ctx.previous_fidelity and path.exists() else 0
    ctx.set_user_attr("resumed_from", start)
    value = float(config["x"] - 0.3) ** 2
    for epoch in range(start, int(ctx.fidelity["epochs"])):
        value = float(config["x"] - 0.3) ** 2 + 1.0 / (epoch + 1)
        ctx.report(epoch, value)
        path.write_text(json.dumps({"epoch": epoch + 1}))
    return value


def blocks_while_flagged(config: dict, ctx: TrialContext) -> float:
    """Writes its pid to ``<checkpoint_dir>/started`` and, while ``<checkpoint_root>/BLOCK``
    exists, sleeps (to be interrupted); returns at once otherwise."""
    import time

    (ctx.checkpoint_dir / "started").write_text(str(os.getpid()))
    if (ctx.checkpoint_dir.parent / "BLOCK").exists():
        time.sleep(120)
    return n_convs(config, ctx)
