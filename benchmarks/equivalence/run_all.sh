#!/usr/bin/env bash
# Same config -> same picks and mIoU across a refactor: run every strategy, an SSL run, the 100%
# reference and a small study with the alseg of one checkout, write them to OUT.
#   git worktree add /tmp/before <commit>
#   bash benchmarks/equivalence/run_all.sh /tmp/before/src /tmp/eq/before
#   bash benchmarks/equivalence/run_all.sh src /tmp/eq/after
#   python benchmarks/equivalence/compare.py /tmp/eq/before /tmp/eq/after
set -e
SRC=$(realpath "$1"); OUT=$2; HERE=$(dirname "$(realpath "$0")"); mkdir -p "$OUT"
export PYTHONPATH=$SRC HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2
al() { python -c 'import sys; from alseg.cli import main; sys.argv[0]="alseg"; main()' "$@"; }
for s in random entropy entropy-minmax equal equal-consistency bald coreset uniform \
         uniform5-entropy typiclust diverse-entropy full; do
  al run --config "$HERE/tiny.yaml" --strategy $s --out "$OUT/$s" --device cpu \
    > "$OUT/$s.log" 2>&1 || echo "FAIL $s"
done
al run --config "$HERE/tiny.yaml" --strategy coreset --ssl s4gan --out "$OUT/coreset-s4gan" \
  --device cpu > "$OUT/s4gan.log" 2>&1 || echo "FAIL s4gan"
al study "$HERE/study.yaml" --threads 2 --device cpu --out "$OUT/study" > "$OUT/study.log" 2>&1 \
  || echo "FAIL study"
