"""Time the study machinery that is not training: planning a large grid, committing cycle rows to
the SQLite store (WAL, fsync per commit) and loading a store for the report.

    python benchmarks/bench_study.py                    # synthdrive-paper plan, 500 commits
    python benchmarks/bench_study.py --commits 2000 --labeled 40000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synthdrive-paper")
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--labeled", type=int, default=2640, help="indices per cycle row")
    args = parser.parse_args()

    from alseg.report.records import load_records
    from alseg.study.presets import preset
    from alseg.study.runner import plan_study
    from alseg.study.store import CycleRow, Store

    started = time.perf_counter()
    plan = plan_study(preset(args.preset), Path(tempfile.gettempdir()) / "alseg-bench-none")
    plan_seconds = time.perf_counter() - started

    configs = [run.config for run in plan.runs if run.config.strategy != "full"]
    cycles = 5
    runs = configs[: max(1, args.commits // cycles)]
    labeled = list(range(args.labeled))
    metrics = {
        "miou": 40.0,
        "nominal_fraction": 0.1,
        "per_class_iou": {f"class{c}": 40.0 for c in range(19)},
        "diagnostics": {"picks": 264, "distinct_sequences": 12, "distinct_groups": 80},
    }
    with tempfile.TemporaryDirectory() as directory:
        store = Store(directory)
        store.register(runs)
        started = time.perf_counter()
        commits = 0
        for config in runs:
            for cycle in range(cycles):
                row = CycleRow(cycle, labeled, labeled[:264], labeled[:264], metrics)
                store.commit_cycle(config.key(), row, final=cycle + 1 == cycles)
                commits += 1
        commit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        records = load_records(store)
        load_seconds = time.perf_counter() - started
        size_mb = sum(p.stat().st_size for p in Path(directory).iterdir()) / 2**20
    print(
        json.dumps(
            {
                "preset": args.preset,
                "planned_runs": len(plan.runs),
                "plan_seconds": round(plan_seconds, 3),
                "commits": commits,
                "labeled_per_row": args.labeled,
                "ms_per_commit": round(1000 * commit_seconds / commits, 2),
                "load_records_seconds": round(load_seconds, 3),
                "loaded_runs": len(records),
                "store_mb": round(size_mb, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
