"""Time and size greedy k-center (Coreset) selection against the seed code's approach.

Compares (a) alseg's kcenter_greedy, (a') the same without pruning (one full read per pick),
(b) the seed code's greedy as written (full N×|L| distance matrix, then a Python loop over all
rows per pick; timed for a few picks and extrapolated), and (c) the read-bandwidth floor: one
pass over the N×D float32 matrix per pick, timed in the same process just before and after (a).
Each runs in its own subprocess so that its peak memory (ru_maxrss above the loaded data) is
measured separately. A check on a subset compares the picks with the seed code's and with an
exact float64 oracle (direct differences).

Data: ``random`` (standard normal rows) or ``video`` (drives far apart, |x|² ~ 590, each a slow
random walk over its frames, --step of |x| per frame, plus --jitter per coordinate; N = drives ×
frames, rows in drive order; --labeled defaults to 1% of N there).

    python benchmarks/bench_kcenter.py                       # N=40,000, D=1,024, |L|=4,000, k=1,000
    python benchmarks/bench_kcenter.py --n 200000 --picks 200
    python benchmarks/bench_kcenter.py --data video          # 500 drives x 200 frames, D=256
    python benchmarks/bench_kcenter.py --data video --drives 5000 --dim 1024 --labeled 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _make_data(args: argparse.Namespace, seed: int = 0):  # noqa: ANN202 (numpy imported late)
    import numpy as np

    rng = np.random.default_rng(seed)
    if args.data == "random":
        x = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    else:
        x = _video_data(rng, args.drives, args.frames, args.dim, args.step, args.jitter)
    return x, rng.choice(len(x), size=args.labeled, replace=False)


def _video_data(rng, drives: int, frames: int, dim: int, step: float, jitter: float):  # noqa: ANN001, ANN202
    """Drive after drive, straight into one float32 matrix (no N×D temporary)."""
    import numpy as np

    scale = (590 / dim) ** 0.5  # per coordinate, for |x|² ~ 590
    x = np.empty((drives * frames, dim), dtype=np.float32)
    for drive in range(drives):
        walk = rng.standard_normal((frames, dim), dtype=np.float32)
        walk *= step * scale
        np.cumsum(walk, axis=0, out=walk)
        walk += rng.standard_normal(dim, dtype=np.float32) * scale
        walk += rng.standard_normal((frames, dim), dtype=np.float32) * jitter
        x[drive * frames : (drive + 1) * frames] = walk
    return x


def _oracle_greedy(x, labeled, picks: int) -> list[int]:  # noqa: ANN001
    """SPEC §2 in float64 from direct differences (exact duplicates at exactly 0)."""
    import numpy as np

    x = x.astype(np.float64)
    d2 = np.full(len(x), np.inf)
    for c in labeled:
        d2 = np.minimum(d2, ((x - x[c]) ** 2).sum(1))
    eligible = np.ones(len(x), dtype=bool)
    eligible[labeled] = False
    chosen = []
    for _ in range(picks):
        chosen.append(int(np.argmax(np.where(eligible, d2, -np.inf))))
        eligible[chosen[-1]] = False
        d2 = np.minimum(d2, ((x - x[chosen[-1]]) ** 2).sum(1))
    return chosen


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pairwise_distances(a, b):  # noqa: ANN001, ANN202
    """sklearn-style full Euclidean distance matrix in float64 (|a|² − 2 a·b + |b|², clamped)."""
    import numpy as np

    a = a.astype(np.float64)
    b = b.astype(np.float64)
    d = a @ b.T
    d *= -2
    d += np.einsum("ij,ij->i", a, a)[:, None]
    d += np.einsum("ij,ij->i", b, b)[None, :]
    np.maximum(d, 0, out=d)
    return np.sqrt(d, out=d)


def _seed_greedy(x, labeled, picks: int):  # noqa: ANN001, ANN202
    """The seed code's greedy: full distance matrix to the labeled set, Python loop per pick."""
    import numpy as np

    start = time.perf_counter()
    min_distances = _pairwise_distances(x, x[labeled]).min(axis=1)
    init_s = time.perf_counter() - start
    chosen = []
    start = time.perf_counter()
    for _ in range(picks):
        masked = min_distances.copy()
        masked[labeled] = -np.inf
        masked[chosen] = -np.inf
        pick = int(np.argmax(masked))
        chosen.append(pick)
        column = _pairwise_distances(x, x[[pick]])[:, 0]
        for i in range(len(x)):
            if column[i] < min_distances[i]:
                min_distances[i] = column[i]
    return chosen, init_s, (time.perf_counter() - start) / picks


def _read_floor_ms(x, reps: int) -> dict[str, float]:  # noqa: ANN001
    """Milliseconds for one read of the matrix: a full sum, and a matrix-vector product."""
    vector = x[0] * 1
    timings = {}
    for name, op in (("sum", lambda: float(x.sum())), ("matvec", lambda: float((x @ vector)[0]))):
        op()
        start = time.perf_counter()
        for _ in range(reps):
            op()
        timings[name] = (time.perf_counter() - start) / reps * 1e3
    return timings


def _worker(args: argparse.Namespace) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    from alseg.acquisition import kcenter
    from alseg.acquisition.kcenter import _greedy_picks, kcenter_greedy
    from alseg.distances import as_index_array, as_matrix

    x, labeled = _make_data(args)
    device = args.device
    if device != "cpu":
        x = torch.from_numpy(x).to(device)
    base_mb = _maxrss_mb()
    result: dict = {}
    if args.worker in ("ours", "full"):
        prune = args.worker == "ours"
        if not prune:  # the baseline: no pruning, and the start-up as one scan of all pairs
            kcenter._MIN_MEAN_RUN = float("inf")
        floor_before = _read_floor_ms(x, args.floor_reps)
        kcenter_greedy(x, labeled, 1, device=device, prune=prune)  # warm-up
        stats: dict[str, float] = {}
        start = time.perf_counter()
        matrix, rows = as_matrix(x, device), as_index_array(labeled, len(x))
        picks = _greedy_picks(matrix, rows, args.picks, 1024, prune=prune, stats=stats)
        total = time.perf_counter() - start
        floor_after = _read_floor_ms(x, args.floor_reps)
        startup = total - stats["picks_s"]
        result = {
            "startup_s": startup,
            "total_s": total,
            "ms_per_pick": stats["picks_s"] / args.picks * 1e3,
            "rows_read_per_pick": stats["rows_read"] / max(1, stats["picks_updated"]) / len(x),
            "full_passes": stats["full_passes"],
            "startup_rows_scanned": stats.get("startup_rows_scanned", len(x)),
            "startup_rows_refined": stats.get("startup_rows_refined", 0),
            "picks": picks.tolist(),
            **{f"floor_{op}_ms": min(floor_before[op], floor_after[op]) for op in floor_before},
        }
        if device != "cpu":
            result["gpu_peak_extra_mb"] = (
                torch.cuda.max_memory_allocated() - x.numel() * x.element_size()
            ) / 2**20
    elif args.worker == "seed":
        _, init_s, per_pick = _seed_greedy(x, labeled, args.seed_picks)
        result = {
            "startup_s": init_s,
            "ms_per_pick": per_pick * 1e3,
            "total_s": init_s + per_pick * args.picks,
            "extrapolated_from_picks": args.seed_picks,
        }
    elif args.worker == "check":
        n = min(args.check_n, args.n)
        sub = np.ascontiguousarray(x[:n]) if device == "cpu" else x[:n].cpu().numpy()
        sub_labeled = np.arange(0, n, max(1, n // max(1, args.check_labeled)))
        ours = kcenter_greedy(sub, sub_labeled, args.check_picks).tolist()
        seed, _, _ = _seed_greedy(sub, sub_labeled, args.check_picks)
        result = {
            "n": n,
            "labeled": len(sub_labeled),
            "picks": args.check_picks,
            "equal": ours == seed,
            "exact": ours == _oracle_greedy(sub, sub_labeled, args.check_picks),
        }
    result["peak_extra_mb"] = max(0.0, _maxrss_mb() - base_mb)
    result["data_mb"] = x.shape[0] * x.shape[1] * 4 / 2**20
    return result


def _run_worker(name: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    src = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    argv = [sys.executable, __file__, *sys.argv[1:], "--worker", name]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["random", "video"], default="random")
    parser.add_argument("--n", type=int, default=40_000, help="rows of random data")
    parser.add_argument("--dim", type=int, help="default 1,024 (random), 256 (video)")
    parser.add_argument("--labeled", type=int, help="default 4,000 (random), 1%% of N (video)")
    parser.add_argument("--drives", type=int, default=500, help="video: drives")
    parser.add_argument("--frames", type=int, default=200, help="video: frames per drive")
    parser.add_argument("--step", type=float, default=0.02, help="video: walk step / |x|")
    parser.add_argument("--jitter", type=float, default=1e-3, help="video: per coordinate")
    parser.add_argument("--picks", type=int, default=1000)
    parser.add_argument("--seed-picks", type=int, default=3, help="picks timed for the seed code")
    parser.add_argument(
        "--seed-max-gb", type=float, default=2.0, help="skip the seed code above this N×|L| size"
    )
    parser.add_argument("--floor-reps", type=int, default=20)
    parser.add_argument("--check-n", type=int, default=3000)
    parser.add_argument("--check-labeled", type=int, default=100)
    parser.add_argument("--check-picks", type=int, default=50)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (ours and floor only)")
    parser.add_argument(
        "--worker", choices=["ours", "full", "seed", "check"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.data == "video":
        args.n = args.drives * args.frames
    args.dim = args.dim or (1024 if args.data == "random" else 256)
    if args.labeled is None:
        args.labeled = 4000 if args.data == "random" else args.n // 100
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    data = "random" if args.data == "random" else f"video {args.drives:,}x{args.frames:,}"
    print(
        f"{data}: N={args.n:,} D={args.dim:,} |L|={args.labeled:,} picks={args.picks:,} "
        f"threads={args.threads} device={args.device}"
    )
    seed_matrix_gb = args.n * args.labeled * 8 / 1e9
    ours = _run_worker("ours", args)
    floor_ms = min(ours["floor_sum_ms"], ours["floor_matvec_ms"])
    rows = {"ours": ours, "no pruning": _run_worker("full", args)}
    rows["floor"] = {"ms_per_pick": floor_ms, "peak_extra_mb": 0.0}
    if seed_matrix_gb <= args.seed_max_gb:
        rows["seed code"] = _run_worker("seed", args)
    header = (
        f"{'method':<10} {'startup s':>10} {'ms/pick':>10} {'total s':>10} {'peak extra MB':>14} "
        f"{'x floor':>8} {'rows read':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        total = f"{row['total_s']:.1f}" if "total_s" in row else "-"
        startup = f"{row['startup_s']:.2f}" if "startup_s" in row else "-"
        read = f"{row['rows_read_per_pick']:.1%}" if "rows_read_per_pick" in row else "-"
        print(
            f"{name:<10} {startup:>10} {row['ms_per_pick']:>10.2f} {total:>10} "
            f"{row['peak_extra_mb']:>14.0f} {row['ms_per_pick'] / floor_ms:>8.2f} {read:>10}"
        )
    print(f"data matrix: {rows['ours']['data_mb']:.0f} MB float32")
    same = rows["ours"]["picks"] == rows["no pruning"]["picks"]
    print(f"ours == no pruning (all {args.picks:,} picks, full-scan start-up): {same}")
    print(
        f"floor = one read of the matrix (best of before/after ours): sum "
        f"{ours['floor_sum_ms']:.2f} ms, matrix-vector {ours['floor_matvec_ms']:.2f} ms; "
        f"ours/floor = {ours['ms_per_pick'] / floor_ms:.2f}x per pick, "
        f"{ours['total_s'] / (floor_ms * args.picks / 1e3):.2f}x in all (with start-up); "
        f"rows read = share of N read per pick; ours fell back to full passes on "
        f"{ours['full_passes']} of {args.picks - 1} updates; its start-up scanned "
        f"{ours['startup_rows_scanned']:,} of {args.n:,} rows against every labeled row (the "
        f"others by runs of consecutive rows, {ours['startup_rows_refined']:,} of them on a "
        f"second level of short runs; 'no pruning' scans all)"
    )
    if "gpu_peak_extra_mb" in rows["ours"]:
        print(f"ours: GPU peak extra {rows['ours']['gpu_peak_extra_mb']:.0f} MB")
    if "seed code" in rows:
        seed = rows["seed code"]
        print(
            f"seed code: total extrapolated from {seed['extrapolated_from_picks']} timed picks; "
            f"its N×|L| float64 distance matrix alone is {seed_matrix_gb:.2f} GB"
        )
    else:
        print(
            "seed code skipped: its N×|L| float64 distance matrix would need "
            f"{seed_matrix_gb:.1f} GB (> --seed-max-gb {args.seed_max_gb})"
        )
    check = _run_worker("check", args)
    print(
        f"check on a {check['n']}-row subset, {check['labeled']} labeled, {check['picks']} picks: "
        f"ours == seed-code picks: {check['equal']}, ours == exact float64 oracle: "
        f"{check['exact']}"
    )


if __name__ == "__main__":
    main()
