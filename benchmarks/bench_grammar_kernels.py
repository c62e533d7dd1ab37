"""Which architecture kernel models real grammar-network accuracies best (issue 16)?

Data: the digits-NAS table (``benchmarks/results/digits-nas/table.csv.xz``): random derivations
of the hierarchical NB201 grammar, each trained under one protocol (validation accuracy, %).
For each training size ``n`` and repeat, a random subset of ``n`` architectures trains a GP
(``jahs_bo.models.fit_gp``: ``SingleTaskGP``, ``Standardize``, L-BFGS-B on the marginal
likelihood) and the rest is held out. Kernels, all over the same ``ArchitectureStore`` of the
grammar domain (WL ``h=1``, direction ``both``: the GP searcher's defaults, one graph per derivation level; level 0 is the
final graph):

- ``hierarchical``: the library default for grammar spaces, ``JointEncoder.covar_module()``
  (``s * sum_l w_l k_l``, softmax weights learned);
- ``flat``: ``s * k_0``, the WL kernel of the final graph only;
- ``level-sum``: ``sum_l s_l k_l``, separately scaled per-level kernels;
- ``level-product``: ``s * prod_l k_l``.

Reported: held-out Spearman rank correlation of the posterior mean and mean predictive negative
log-likelihood (observation noise included, accuracy in %), mean ± standard error over repeats,
and the learned level weights of ``hierarchical``.

    python -m benchmarks.bench_grammar_kernels [--sizes 20 50 100] [--repeats 10] \\
        [--protocol b16] [--wl-iterations 1] [--out benchmarks/results/digits-nas/kernels.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "digits-nas"
KERNELS: tuple[str, ...] = ("hierarchical", "flat", "level-sum", "level-product")


def load_grammar_table(path: Path, protocol: str, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Architectures and validation accuracies (%) of one protocol and training seed."""
    import pandas as pd

    frame = pd.read_csv(path)
    frame = frame[(frame["space"] == "grammar") & (frame["protocol"] == protocol)]
    frame = frame[(frame["seed"] == seed) & frame["val_acc"].notna()]
    return frame["arch"].tolist(), frame["val_acc"].to_numpy(dtype=float)


def kernel_builders(encoder) -> dict[str, Callable[[], torch.nn.Module]]:
    """Fresh-kernel factories by name, over the encoder's single architecture column."""
    from jahs_bo.kernels import joint_kernel
    from jahs_bo.kernels.wl import WLKernel

    store = next(iter(encoder.stores.values()))
    col = encoder.arch_dims[0]

    def levels() -> list[WLKernel]:
        return [WLKernel(store, lev, active_dims=[col]) for lev in range(store.n_levels)]

    return {
        "hierarchical": lambda: encoder.covar_module(),
        "flat": lambda: joint_kernel([WLKernel(store, 0, active_dims=[col])]),
        "level-sum": lambda: joint_kernel(levels(), combination="sum"),
        "level-product": lambda: joint_kernel(levels(), combination="product"),
    }


def evaluate(model, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Held-out Spearman rank correlation and mean predictive NLL of ``model`` at ``X``."""
    from scipy.stats import spearmanr

    with torch.no_grad():
        post = model.posterior(X, observation_noise=True)
        mu, var = post.mean.squeeze(-1), post.variance.squeeze(-1)
    nll = float((0.5 * torch.log(2 * torch.pi * var) + 0.5 * (y - mu) ** 2 / var).mean())
    rho = float(spearmanr(mu.numpy(), y.numpy()).statistic)
    return rho, nll


def level_weights(name: str, model) -> np.ndarray:
    """Per-level shares of a fitted model: the softmax weights of ``hierarchical``, the output
    scales of ``level-sum`` divided by their sum."""
    if name == "hierarchical":
        return model.covar_module.base_kernel.level_weights.detach().numpy().copy()
    scales = np.array([float(k.outputscale.detach()) for k in model.covar_module.kernels])
    return scales / scales.sum()


def compare(
    archs: list[str], y: np.ndarray, sizes: list[int], repeats: int, wl_iterations: int = 1
) -> tuple[dict[tuple[str, int], np.ndarray], dict[tuple[str, int], np.ndarray], int]:
    """Run every (kernel, size, repeat); returns per-cell ``repeats x 2`` (rho, nll) arrays,
    per-(kernel, size) ``repeats x n_levels`` level shares and the number of levels."""
    from benchmarks.problems.digits_nas.train import space
    from jahs_bo.models import JointEncoder, fit_gp

    encoder = JointEncoder(space("grammar"), iterations=wl_iterations, direction="both")
    X = encoder.encode([{"arch": a} for a in archs])
    Y = torch.tensor(y, dtype=torch.double).unsqueeze(-1)
    builders = kernel_builders(encoder)
    scores: dict[tuple[str, int], list[tuple[float, float]]] = {}
    weights: dict[tuple[str, int], list[np.ndarray]] = {}
    for n in sizes:
        for rep in range(repeats):
            perm = np.random.default_rng(1000 * n + rep).permutation(len(archs))
            tr, te = torch.from_numpy(perm[:n]), torch.from_numpy(perm[n:])
            for name, build in builders.items():
                model = fit_gp(X[tr], Y[tr], build(), maxiter=100)
                scores.setdefault((name, n), []).append(evaluate(model, X[te], Y[te, 0]))
                if name in ("hierarchical", "level-sum"):
                    weights.setdefault((name, n), []).append(level_weights(name, model))
    store = next(iter(encoder.stores.values()))
    return (
        {k: np.asarray(v) for k, v in scores.items()},
        {k: np.asarray(v) for k, v in weights.items()},
        store.n_levels,
    )


def _mse(values: np.ndarray) -> str:
    """``mean ± standard error``."""
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.3f} ± {se:.3f}"


def render(
    scores: dict[tuple[str, int], np.ndarray],
    weights: dict[tuple[str, int], np.ndarray],
    n_levels: int,
    n_archs: int,
    repeats: int,
    header: str,
) -> str:
    """The markdown report: one table of Spearman / NLL and one of level weights."""
    sizes = sorted({n for _, n in scores})
    lines = [header, "", f"{n_archs} architectures, {repeats} random splits per size.", ""]
    lines.append("| kernel | " + " | ".join(f"Spearman n={n} | NLL n={n}" for n in sizes) + " |")
    lines.append("|---|" + "---|---|" * len(sizes))
    for name in KERNELS:
        cells = []
        for n in sizes:
            s = scores[(name, n)]
            cells += [_mse(s[:, 0]), _mse(s[:, 1])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Paired against `hierarchical` on the same subsets: mean difference ± standard error "
        "(Spearman: higher is better; NLL: lower is better) and the subsets where the kernel "
        "is better.",
        "",
        "| kernel | " + " | ".join(f"ΔSpearman n={n} | ΔNLL n={n}" for n in sizes) + " |",
        "|---|" + "---|---|" * len(sizes),
    ]
    for name in KERNELS[1:]:
        cells = []
        for n in sizes:
            d = scores[(name, n)] - scores[("hierarchical", n)]
            wins = (int((d[:, 0] > 0).sum()), int((d[:, 1] < 0).sum()))
            cells += [f"{_mse(d[:, c])} ({wins[c]}/{len(d)})" for c in (0, 1)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Learned per-level shares (mean ± standard error; level 0 = final graph): the softmax "
        "weights of `hierarchical` and the output scales of `level-sum` over their sum.",
        "",
    ]
    lines.append("| kernel | n | " + " | ".join(f"level {lev}" for lev in range(n_levels)) + " |")
    lines.append("|---|---|" + "---|" * n_levels)
    for name in ("hierarchical", "level-sum"):
        for n in sizes:
            w = weights[(name, n)]
            cells = " | ".join(_mse(w[:, lev]) for lev in range(n_levels))
            lines.append(f"| {name} | {n} | {cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: print the report and write it to ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table", default=str(RESULTS / "table.csv.xz"))
    parser.add_argument("--protocol", default="b16")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--wl-iterations", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "kernels.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    archs, y = load_grammar_table(Path(args.table), args.protocol)
    sizes = [n for n in args.sizes if n <= len(archs) - 3]
    t0 = time.perf_counter()
    scores, weights, n_levels = compare(archs, y, sizes, args.repeats, args.wl_iterations)
    header = (
        "# Grammar-space kernels on real digits-NAS accuracies\n\n"
        f"`python -m benchmarks.bench_grammar_kernels --protocol {args.protocol} "
        f"--sizes {' '.join(map(str, sizes))} --repeats {args.repeats} "
        f"--wl-iterations {args.wl_iterations}` "
        f"({time.perf_counter() - t0:.0f} s, one thread)."
    )
    text = render(scores, weights, n_levels, len(archs), args.repeats, header)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main(sys.argv[1:])
