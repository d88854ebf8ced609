"""Time and size greedy k-center (Coreset) selection against the seed code's approach.

Compares (a) alseg's kcenter_greedy, (b) the seed code's greedy as written (full N×|L| distance
matrix, then a Python loop over all rows per pick; timed for a few picks and extrapolated), and
(c) the read-bandwidth floor: one pass over the N×D float32 matrix per pick, timed in the same
process just before and after (a). (a) and (b) run in their own subprocesses so that their peak
memory (ru_maxrss above the loaded data) is measured separately.

    python benchmarks/bench_kcenter.py                       # N=40,000, D=1,024, |L|=4,000, k=1,000
    python benchmarks/bench_kcenter.py --n 200000 --picks 200
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _make_data(n: int, dim: int, labeled: int, seed: int = 0):  # noqa: ANN202 (numpy imported late)
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    return x, rng.choice(n, size=labeled, replace=False)


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
    from alseg.acquisition.kcenter import kcenter_greedy

    x, labeled = _make_data(args.n, args.dim, args.labeled)
    device = args.device
    if device != "cpu":
        x = torch.from_numpy(x).to(device)
    base_mb = _maxrss_mb()
    result: dict = {}
    if args.worker == "ours":
        floor_before = _read_floor_ms(x, args.floor_reps)
        startup = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            kcenter_greedy(x, labeled, 1, device=device)
            startup = min(startup, time.perf_counter() - start)
        start = time.perf_counter()
        kcenter_greedy(x, labeled, args.picks, device=device)
        total = time.perf_counter() - start
        floor_after = _read_floor_ms(x, args.floor_reps)
        result = {
            "startup_s": startup,
            "total_s": total,
            "ms_per_pick": (total - startup) / max(1, args.picks - 1) * 1e3,
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
        }
    result["peak_extra_mb"] = max(0.0, _maxrss_mb() - base_mb)
    result["data_mb"] = args.n * args.dim * 4 / 2**20
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
    parser.add_argument("--n", type=int, default=40_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--labeled", type=int, default=4000)
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
    parser.add_argument("--worker", choices=["ours", "seed", "check"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args)))
        return

    print(
        f"N={args.n:,} D={args.dim:,} |L|={args.labeled:,} picks={args.picks:,} "
        f"threads={args.threads} device={args.device}"
    )
    seed_matrix_gb = args.n * args.labeled * 8 / 1e9
    ours = _run_worker("ours", args)
    floor_ms = min(ours["floor_sum_ms"], ours["floor_matvec_ms"])
    rows = {"ours": ours, "floor": {"ms_per_pick": floor_ms, "peak_extra_mb": 0.0}}
    if seed_matrix_gb <= args.seed_max_gb:
        rows["seed code"] = _run_worker("seed", args)
    header = (
        f"{'method':<10} {'startup s':>10} {'ms/pick':>10} {'total s':>10} {'peak extra MB':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        total = f"{row['total_s']:.1f}" if "total_s" in row else "-"
        startup = f"{row['startup_s']:.2f}" if "startup_s" in row else "-"
        print(
            f"{name:<10} {startup:>10} {row['ms_per_pick']:>10.2f} {total:>10} "
            f"{row['peak_extra_mb']:>14.0f}"
        )
    print(f"data matrix: {rows['ours']['data_mb']:.0f} MB float32")
    print(
        f"floor = one read of the matrix (best of before/after ours): sum "
        f"{ours['floor_sum_ms']:.2f} ms, matrix-vector {ours['floor_matvec_ms']:.2f} ms; "
        f"ours/floor = {ours['ms_per_pick'] / floor_ms:.2f}x"
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
        f"ours == seed-code picks: {check['equal']}"
    )


if __name__ == "__main__":
    main()
