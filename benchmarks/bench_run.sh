#!/usr/bin/env bash
# Wall time and peak memory of the default `alseg run` (the README's main job) and its 100% reference.
# Usage: bash benchmarks/bench_run.sh [extra alseg run options]
set -euo pipefail
out=$(mktemp -d)
for strategy in entropy full; do
  /usr/bin/time -v alseg run --strategy "$strategy" --out "$out/$strategy" "$@" >"$out/$strategy.log" 2>&1
  wall=$(grep "Elapsed (wall clock)" "$out/$strategy.log" | awk '{print $NF}')
  rss=$(grep "Maximum resident set size" "$out/$strategy.log" | awk '{print $NF}')
  python - "$out/$strategy/results.json" "$strategy" "$wall" "$rss" <<'PY'
import json, sys
path, strategy, wall, rss = sys.argv[1:]
r = json.load(open(path))
curve = ", ".join(f"{c['miou']:.1f}" for c in r["cycles"])
print(f"{strategy:<8} wall {wall:>8}  peak RSS {int(rss) / 1024:.0f} MiB  mIoU per cycle: {curve}  "
      f"mIoU@B {r['miou_at_budget']:.2f}  AUC@B {r['auc_at_budget']:.2f}")
PY
done
