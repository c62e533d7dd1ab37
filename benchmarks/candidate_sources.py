"""Where the GP searcher's proposals come from: random draws, parents' neighbourhoods, local search.

    python -m benchmarks.candidate_sources --problem digits-nas/grammar --optimizer gp \\
        --seeds 0-2 --budget 100 --out /tmp/sources [--json sources.json]

Runs the harness (``benchmarks.run``, one process) while recording, for every model-based ask,
which part of :func:`jahs_bo.acquisition.optimize.optimize_acquisition`'s candidate search
produced the top-ranked candidate: the ``random`` draws, the neighbourhoods of the best observed
configurations (``parents``), or local-search round ``local1``, ``local2``, ... (a candidate that
several parts produced is listed under each; ``other``: rows the searcher adds itself, a prior's or
another task's configurations, or gradient-refined ones). It is the top of the acquisition's
ranking; the searcher proposes the first ranked configuration it has not proposed before, almost
always that one. It answers whether the random candidates are worth
their cost in a space (each random grammar derivation is a whole new tree to featurize). The
recording wraps the functions the GP searcher calls; nothing the searcher decides changes.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence

from torch import Tensor

import jahs_bo.acquisition.optimize as optimize
import jahs_bo.searchers.gp as gp
from jahs_bo.acquisition.candidates import row_keys
from jahs_bo.models.encoder import JointEncoder


class SourceRecorder:
    """Wraps the candidate generators and the acquisition optimizer of the GP searcher."""

    def __init__(self) -> None:
        self.asks: list[list[str]] = []
        self._parts: list[tuple[str, JointEncoder, Tensor]] = []
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> SourceRecorder:
        sample_rows, neighbourhood = JointEncoder.sample_rows, optimize.neighbourhood
        optimize_acquisition = gp.optimize_acquisition
        parts = self._parts

        def recorded_sample_rows(encoder: JointEncoder, n: int, rng) -> Tensor:
            X = sample_rows(encoder, n, rng)
            parts.append(("random", encoder, X))
            return X

        def recorded_neighbourhood(encoder: JointEncoder, parents: Tensor, rng, k: int) -> Tensor:
            X = neighbourhood(encoder, parents, rng, k)
            rounds = sum(name != "random" for name, _, _ in parts)
            parts.append(("parents" if rounds == 0 else f"local{rounds}", encoder, X))
            return X

        def recorded_optimize(*args, **kwargs) -> Tensor:
            parts.clear()
            ranked = optimize_acquisition(*args, **kwargs)
            if len(ranked) and parts:
                encoder = parts[0][1]
                top = set(row_keys(encoder, ranked[:1]))
                self.asks.append([n for n, e, X in parts if top & set(row_keys(e, X))])
            return ranked

        self._saved = [
            (JointEncoder, "sample_rows", sample_rows),
            (optimize, "neighbourhood", neighbourhood),
            (gp, "optimize_acquisition", optimize_acquisition),
        ]
        JointEncoder.sample_rows = recorded_sample_rows  # type: ignore[method-assign]
        optimize.neighbourhood = recorded_neighbourhood  # type: ignore[assignment]
        gp.optimize_acquisition = recorded_optimize  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)

    def counts(self) -> Counter[str]:
        """How many asks' winners each part produced."""
        return Counter(name for sources in self.asks for name in (set(sources) or {"other"}))


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import run

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.candidate_sources", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--problem", required=True)
    parser.add_argument("--optimizer", default="gp")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--budget", type=int, default=100)
    parser.add_argument("--out", required=True, help="folder for the harness's curve CSVs")
    parser.add_argument("--json", default=None, help="write the per-ask sources here")
    args = parser.parse_args(argv)
    with SourceRecorder() as recorder:
        run.main(
            [
                "--problem", args.problem, "--optimizer", args.optimizer, "--seeds", args.seeds,
                "--budget", str(args.budget), "--out", args.out, "--jobs", "1", "--overwrite",
            ]
        )  # fmt: skip
    total = len(recorder.asks)
    print(f"{total} model-based asks; the top-ranked candidate came from:")
    for name, n in sorted(recorder.counts().items()):
        print(f"  {name:<10}{n:>6}  ({100 * n / max(total, 1):.1f} %)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(recorder.asks, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
