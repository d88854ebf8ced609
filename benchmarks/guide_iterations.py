"""Fixed against growing training iterations: the guide study's 21f high budget, side by side.

Reads two finished study folders, ``synthdrive-guide`` (a fixed 200 iterations per cycle) and
``synthdrive-guide-scaled`` (``docs/studies/guide-scaled.yaml``: 4 epochs, 105/210/315 iterations),
and prints per strategy the mIoU at each budget step (mean ± 95% CI half-width over seeds), the
gain from the first to the last step (paired by seed), and each strategy's final mIoU minus
Random's (paired by seed), under both rules:

    python benchmarks/guide_iterations.py studies/synthdrive-guide studies/synthdrive-guide-scaled
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alseg.report.records import RunRecord, load_records
from alseg.report.stats import bootstrap_mean, paired_difference
from alseg.study.store import Store


def runs_by_strategy(folder: Path, pool: str, budget: str) -> dict[str, dict[int, RunRecord]]:
    records = load_records(Store(folder, read_only=True))
    chosen: dict[str, dict[int, RunRecord]] = {}
    for r in records:
        if not r.is_reference and r.pool == pool and r.budget == budget and r.ssl == "none":
            chosen.setdefault(r.strategy, {})[r.seed] = r
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixed", type=Path)
    parser.add_argument("scaled", type=Path)
    parser.add_argument("--pool", default="21f")
    parser.add_argument("--budget", default="10-10@30")
    args = parser.parse_args()
    for name, folder in (("fixed", args.fixed), ("scaled", args.scaled)):
        runs = runs_by_strategy(folder, args.pool, args.budget)
        random_final = {seed: r.mious[-1] for seed, r in runs.get("random", {}).items()}
        print(f"\n{name} iterations ({folder}), pool {args.pool}, budget {args.budget}")
        for strategy, seeds in runs.items():
            steps = len(next(iter(seeds.values())).mious)
            per_step = [bootstrap_mean([r.mious[i] for r in seeds.values()]) for i in range(steps)]
            first = {s: r.mious[0] for s, r in seeds.items()}
            final = {s: r.mious[-1] for s, r in seeds.items()}
            line = " | ".join(e.text(1) for e in per_step)
            gain = paired_difference(final, first).text(1)
            versus = paired_difference(final, random_final).text(1) if strategy != "random" else "-"
            print(f"  {strategy:<8} {line} | gain {gain} | final − Random {versus}")


if __name__ == "__main__":
    main()
