"""Compare picks and mIoU of two benchmarks/equivalence/run_all.sh outputs (before, after).

Usage: python benchmarks/equivalence/compare.py BEFORE AFTER. Prints one line per run and exits
1 when any run's picks, mIoU, per-class IoU, mIoU@B or AUC@B differ.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

CYCLE_FIELDS = ("added", "miou", "per_class_iou")
RUN_FIELDS = ("miou_at_budget", "auc_at_budget")


def run_differences(before: Path, after: Path) -> int:
    differences = 0
    for folder in sorted(p for p in before.iterdir() if (p / "results.json").exists()):
        old = json.loads((folder / "results.json").read_text())
        new_path = after / folder.name / "results.json"
        if not new_path.exists():
            print(f"MISSING {folder.name}")
            differences += 1
            continue
        new = json.loads(new_path.read_text())
        same = len(old["cycles"]) == len(new["cycles"]) and all(
            a[name] == b[name]
            for a, b in zip(old["cycles"], new["cycles"], strict=True)
            for name in CYCLE_FIELDS
        )
        same = same and all(old[name] == new[name] for name in RUN_FIELDS)
        print(("same " if same else "DIFF ") + folder.name, [c["miou"] for c in new["cycles"]])
        differences += not same
    return differences


def study_cycles(root: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(root / "study" / "study.sqlite") as db:
        runs = db.execute("SELECT key, config FROM runs").fetchall()
        found = {}
        for key, config in runs:
            rows = db.execute(
                "SELECT cycle, labeled, added, acquired, metrics FROM cycles WHERE run = ?"
                " ORDER BY cycle",
                (key,),
            ).fetchall()
            found[json.loads(config)["strategy"]] = [
                (cycle, json.loads(labeled), json.loads(added), json.loads(acquired),
                 json.loads(metrics)["miou"])
                for cycle, labeled, added, acquired, metrics in rows
            ]  # fmt: skip
    return found


def main(before: Path, after: Path) -> int:
    differences = run_differences(before, after)
    old, new = study_cycles(before), study_cycles(after)
    for name, cycles in old.items():
        same = cycles == new.get(name)
        print(("same " if same else "DIFF ") + f"study {name}", [c[4] for c in cycles])
        differences += not same
    print(f"differences: {differences}")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
