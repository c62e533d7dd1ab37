"""ask() overhead of the GP searcher versus the number of observations.

Prints a table of the median/max seconds per ``GPSearcher.suggest`` on the NB201 space, the
JAHS-Bench-201 joint space (NB201 cell + 4 hyperparameters + 4 fidelities) and the hierarchical
NB201 grammar space (``--spaces hierarchical_nb201``, ~10^446 architectures) after ``n``
observations. Each measured ask adds one observation, as in a real study, so warm starts and
caches are in their steady state. The machine is shared, so a fixed numeric baseline (a
1000 x 1000 double Cholesky on one thread) is timed in the same run and every ask time is also
given as a ratio to it. ``--pending P`` keeps ``P`` trials running at every ask (asynchronous
workers); ``--max-observations K`` sets the searcher's cap on modelled observations (0: none);
``--arch-store-size S`` bounds its architecture stores (a small ``S`` reaches, within a few asks,
the regime of a long grammar search, where every ask refills slots freed by evictions).
``--optuna PYTHON`` also times Optuna's ``GPSampler`` on an 8-dimensional
mixed space in that interpreter (e.g. ``benchmarks/peers/envs/optuna/bin/python``).

Usage::

    python -m benchmarks.bench_gp_overhead --sizes 50 200 1000 --asks 5
    python -m benchmarks.bench_gp_overhead --spaces hierarchical_nb201 --sizes 100 500 --asks 5
    python -m benchmarks.bench_gp_overhead --sizes 200 --asks 10 --pending 32
    python -m benchmarks.bench_gp_overhead --spaces hierarchical_nb201 --sizes 100 --asks 8 \
        --arch-store-size 1500
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from jahs_bo.searchers.gp import GPSearcher
from jahs_bo.spaces import hierarchical_nb201_space, jahs_bench_201_space, nb201_space
from jahs_bo.types import Trial, TrialState

DATA = Path(__file__).resolve().parent / "data" / "nb201.csv.gz"


def _accuracy_table() -> dict[str, float]:
    df = pd.read_csv(DATA, usecols=["arch_str", "c10v_valid_acc_200"])
    return dict(zip(df.arch_str, df.c10v_valid_acc_200, strict=True))


def _conv_score(config: dict, fidelity: dict) -> float:
    """A deterministic stand-in for the hierarchical space: 3x3 convolutions count 1, 1x1 ones
    0.5, identities 0.3, zero operations -1 (from the derivation string)."""
    arch = config["arch"]
    return (
        arch.count("conv3x3o")
        + 0.5 * arch.count("conv1x1o")
        + 0.3 * arch.count(" id")
        - arch.count("zero")
    )


def _objective(space, acc: dict[str, float]):
    """NB201 accuracy; on the joint space shaped by learning rate and fidelity (synthetic); on
    the hierarchical space :func:`_conv_score`."""
    if space.name == "hierarchical_nb201":
        return _conv_score

    def f(config: dict, fidelity: dict) -> float:
        value = acc[config["arch"]]
        if "LearningRate" in config:
            value -= 4.0 * (np.log10(config["LearningRate"]) + 1.0) ** 2
            value -= 1.0 if config["Activation"] == "Mish" else 0.0
            value *= 1.0 - 0.5 * np.exp(-fidelity["epoch"] / 40.0)
        return float(value)

    return f


def _trial(i: int, space, config: dict, rng: np.random.Generator, f) -> Trial:
    fid = {}
    for name, fi in space.fidelities.items():
        fid[name] = fi.unnormalize(float(rng.random()))
    return Trial(i, i, config, fid, TrialState.COMPLETE, (f(config, space.validate_fidelity(fid)),))


def _running(i: int, config: dict) -> Trial:
    return Trial(i, i, config, {}, TrialState.RUNNING, None)


def time_asks(
    space,
    n: int,
    asks: int,
    f,
    seed: int = 0,
    pending: int = 0,
    options: dict | None = None,
    extra: dict[str, float] | None = None,
) -> list[float]:
    """Seconds of ``asks`` suggestions after ``n`` observations, ``pending`` trials running.

    Each measured ask adds one observation; the ``pending`` running trials are the searcher's
    own latest proposals (the previous ask's proposal joins them and the oldest one is told), as
    with that many asynchronous workers. ``options``: further ``GPSearcher`` arguments.
    ``extra`` (if given) receives ``"cold"``, the seconds of the first (cold, not measured) fit,
    and ``"refit"``, those of one more ask forced to re-optimize the hyperparameters (warm
    start), which the refit schedule does once the observations grew by 5%.
    """
    rng = np.random.default_rng(seed)
    trials = [_trial(i, space, c, rng, f) for i, c in enumerate(space.sample_many(n, rng))]
    running = [_running(n + i, c) for i, c in enumerate(space.sample_many(pending, rng))]
    searcher = GPSearcher(space, ["maximize"], **(options or {}))
    t0 = time.perf_counter()
    searcher.suggest(trials, running, np.random.default_rng((seed, 10**6)))  # cold, not measured
    cold = time.perf_counter() - t0
    out = []
    for k in range(asks):
        if running:  # the oldest running trial finishes (at a random fidelity, as the others)
            done = running.pop(0)
            trials.append(_trial(done.number, space, done.config, rng, f))
        else:
            trials.append(_trial(len(trials), space, space.sample(rng), rng, f))
        t0 = time.perf_counter()
        config = searcher.suggest(trials, running, np.random.default_rng((seed, k)))
        out.append(time.perf_counter() - t0)
        if pending:
            running.append(_running(n + pending + k, config))
    if extra is not None:
        extra["cold"] = cold
        searcher.schedule.n_optimized = 0  # the next ask re-optimizes, warm-started
        t0 = time.perf_counter()
        searcher.suggest(trials, running, np.random.default_rng((seed, 10**7)))
        extra["refit"] = time.perf_counter() - t0
    return out


def cholesky_baseline(repeats: int = 5) -> float:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    a = torch.randn(1000, 1000, dtype=torch.double, generator=torch.Generator().manual_seed(0))
    a = a @ a.T + 1000 * torch.eye(1000, dtype=torch.double)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.linalg.cholesky(a)
        times.append(time.perf_counter() - t0)
    torch.set_num_threads(before)
    return statistics.median(times)


_OPTUNA = r"""
import json, sys, time, statistics, warnings
import optuna
warnings.simplefilter("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)
n, asks = int(sys.argv[1]), int(sys.argv[2])
def space(t):
    return (t.suggest_float("a", 1e-4, 1, log=True), t.suggest_float("b", 0, 1),
            t.suggest_float("c", 0, 1), t.suggest_int("d", 1, 8), t.suggest_int("e", 16, 512, log=True),
            t.suggest_categorical("f", ["x", "y", "z"]), t.suggest_categorical("g", ["p", "q"]),
            t.suggest_float("h", -1, 1))
def f(t):
    a, b, c, d, e, cat, g, h = space(t)
    return (b - .3) ** 2 + c * h + d / 8 + (cat == "x") + 0.1 * (g == "p")
study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=0))
rs = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
rs.optimize(f, n_trials=n)
study.add_trials(rs.trials)
times = []
for _ in range(asks):
    t0 = time.perf_counter(); t = study.ask(); space(t); times.append(time.perf_counter() - t0)
    study.tell(t, f(t))
print(json.dumps(times))
"""


def optuna_times(python: str, n: int, asks: int) -> list[float]:
    out = subprocess.run(
        [python, "-c", _OPTUNA, str(n), str(asks)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _kernel_datasets(rng: np.random.Generator, n: int):
    """Real multi-fidelity data: (name, space, configs, fidelities, y) with y maximized."""
    df = pd.read_csv(DATA, usecols=["arch_str", "c10v_valid_acc_12", "c10v_valid_acc_200"])
    space = nb201_space(epochs=(12, 200))
    rows = df.sample(n, random_state=int(rng.integers(2**31)))
    epochs = rng.choice([12, 200], size=n)
    configs = [{"arch": a} for a in rows.arch_str]
    y = np.where(epochs == 12, rows.c10v_valid_acc_12, rows.c10v_valid_acc_200)
    yield "nb201 arch x epochs", space, configs, [{"epochs": float(e)} for e in epochs], y
    try:
        from benchmarks.problems.lcbench import predict
    except ImportError:
        return
    from jahs_bo.spaces import lcbench_space

    space = lcbench_space()
    configs = space.sample_many(n, rng)
    epochs = rng.integers(1, 53, size=n).astype(float)
    y = predict("3945", configs, epochs)[:, 1]
    yield "lcbench hps x epoch", space, configs, [{"epoch": e} for e in epochs], y


def compare_combinations(n_train: int = 120, n_test: int = 300, splits: int = 3) -> None:
    """Held-out quality of the kernel combinations on real multi-fidelity data.

    Trains on ``n_train`` points at mixed fidelities, tests at those fidelities on ``n_test``
    others: Spearman rank correlation and mean predictive negative log-likelihood.
    """
    from scipy.stats import spearmanr

    from jahs_bo.kernels import COMBINATIONS
    from jahs_bo.models import JointEncoder, fit_gp

    print(f"{'data':<22}{'combination':<14}{'spearman':>10}{'nll':>8}")
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for split in range(splits):
        rng = np.random.default_rng(split)
        for name, space, configs, fids, y in _kernel_datasets(rng, n_train + n_test):
            enc = JointEncoder(space)
            X = enc.encode(configs, fids)
            Y = torch.tensor(np.asarray(y, dtype=float)).unsqueeze(-1)
            for comb in COMBINATIONS:
                model = fit_gp(X[:n_train], Y[:n_train], enc.covar_module(comb), maxiter=100)
                with torch.no_grad():
                    post = model.posterior(X[n_train:], observation_noise=True)
                    mu, var = post.mean.squeeze(-1), post.variance.squeeze(-1)
                yt = Y[n_train:].squeeze(-1)
                nll = float(
                    (0.5 * torch.log(2 * torch.pi * var) + 0.5 * (yt - mu) ** 2 / var).mean()
                )
                rho = float(spearmanr(mu.numpy(), yt.numpy()).statistic)
                results.setdefault((name, comb), []).append((rho, nll))
    for (name, comb), vals in results.items():
        rho, nll = np.mean(vals, axis=0)
        print(f"{name:<22}{comb:<14}{rho:>10.3f}{nll:>8.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 1000])
    parser.add_argument("--asks", type=int, default=5)
    parser.add_argument(
        "--spaces",
        nargs="+",
        default=["nb201", "jahs_bench_201"],
        choices=["nb201", "jahs_bench_201", "hierarchical_nb201"],
    )
    parser.add_argument("--optuna", default=None, help="python with optuna installed")
    parser.add_argument("--pending", type=int, default=0, help="running trials at every ask")
    parser.add_argument(
        "--max-observations",
        type=int,
        default=None,
        help="GPSearcher max_observations (default: the searcher's; 0: no cap)",
    )
    parser.add_argument(
        "--arch-store-size",
        type=int,
        default=None,
        help="GPSearcher arch_store_size (default: the searcher's 20,000); a small one puts a "
        "short run where a long grammar search is: every ask refills slots freed by evictions",
    )
    parser.add_argument(
        "--n-random",
        type=int,
        default=None,
        help="GPSearcher n_random (default: the searcher's, 256; 16 in grammar spaces)",
    )
    parser.add_argument(
        "--kernels", action="store_true", help="compare kernel combinations instead of timing"
    )
    args = parser.parse_args(argv)
    if args.kernels:
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        compare_combinations()
        torch.set_num_threads(before)
        return
    acc = _accuracy_table()
    spaces = {
        "nb201": nb201_space,
        "jahs_bench_201": jahs_bench_201_space,
        "hierarchical_nb201": hierarchical_nb201_space,
    }
    base = cholesky_baseline()
    print(f"baseline: 1000x1000 Cholesky, 1 thread: {base * 1e3:.1f} ms")
    options: dict[str, int | None] = {}
    if args.max_observations is not None:
        options["max_observations"] = args.max_observations or None
    if args.arch_store_size is not None:
        options["arch_store_size"] = args.arch_store_size
    if args.n_random is not None:
        options["n_random"] = args.n_random
    print(f"pending trials: {args.pending}; GPSearcher options: {options or 'defaults'}")
    print(
        f"{'sampler':<24}{'n':>6}{'median s':>10}{'max s':>8}{'x base':>9}"
        f"{'cold fit s':>12}{'refit s':>9}"
    )
    for name in args.spaces:
        space = spaces[name]()
        f = _objective(space, acc)
        for n in args.sizes:
            fits: dict[str, float] = {}
            t = time_asks(space, n, args.asks, f, pending=args.pending, options=options, extra=fits)
            med = statistics.median(t)
            print(
                f"{'gp/' + name:<24}{n:>6}{med:>10.3f}{max(t):>8.2f}{med / base:>9.1f}"
                f"{fits['cold']:>12.2f}{fits['refit']:>9.2f}",
                flush=True,
            )
    if args.optuna:
        for n in args.sizes:
            t = optuna_times(args.optuna, n, args.asks)
            med = statistics.median(t)
            print(f"{'optuna-gp/mixed8':<24}{n:>6}{med:>10.3f}{max(t):>8.2f}{med / base:>9.1f}")
    print(f"baseline (end of run): {cholesky_baseline() * 1e3:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
