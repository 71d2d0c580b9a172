"""NumPy/SciPy peer of the `probe-fit` benchmark (lib/studies/bench/probe_bench.ts).

The same ridge probe as ours (lib/eval/probe.ts fitRidgeProbe), step for step, in float64:
features scaled by one global scale (the root mean column variance) after centring, a bias
column that is not penalised, the penalty chosen from 0.01 ... 10000 by the R^2 on the held-out
last fifth of the episodes after fitting the normal equations of the other rows (Cholesky,
scipy.linalg.cho_factor / cho_solve), then the refit on every row. 3,000 rows of 1,568
features, 15 episodes, one target; the data come from the same recipe (not the same generator).
NumPy and SciPy run on their own OpenBLAS; --threads sets its thread count before import.

A measurement tool only, run by `deno task bench --peers` when numpy and scipy are importable;
never a dependency of the project. Prints one JSON line:
  {"bench": "probe-fit", "impl": "numpy", "value": fits/s, "threads": N, ...}
With --serve: prints 'ready', then for each line 'reference N' on stdin fits N probes and prints
{"seconds": ...} (paired timing).
"""

import argparse
import json
import os
import sys
import time

from peer_common import measure, peak_rss_kib

ROWS, FEATURES, EPISODES = 3000, 1568, 15
LAMBDAS = [0.01, 0.1, 1, 10, 100, 1000, 10000]


def data(np, rows=ROWS, features=FEATURES, episodes=EPISODES):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, features)).astype(np.float32)
    y = x[:, 0] - 0.5 * x[:, 1] + 0.25 * x[:, 2] + 0.1 * rng.standard_normal(rows)
    groups = (np.arange(rows) * episodes) // rows
    return x, y.astype(np.float64), groups


def fit(np, linalg, x, y, groups):
    """fitRidgeProbe: returns (weights, lambda)."""
    n, d = x.shape
    mean = x.mean(axis=0, dtype=np.float64)
    centred = x - mean
    scale = np.sqrt((centred.astype(np.float64) ** 2).sum() / max(1, n - 1) / d) or 1.0
    design = np.empty((n, d + 1))
    design[:, :d] = centred / scale
    design[:, d] = 1.0
    ids = np.unique(groups)
    held = ids[len(ids) - max(1, round(len(ids) / 5)):]
    val = np.isin(groups, held)
    xf, yf, xv, yv = design[~val], y[~val], design[val], y[val]

    def solve(xtx, xty, lam):
        a = xtx.copy()
        a[np.arange(d), np.arange(d)] += lam
        a[d, d] += 1e-9
        return linalg.cho_solve(linalg.cho_factor(a, lower=True, check_finite=False), xty,
                                check_finite=False)

    xtx, xty = xf.T @ xf, xf.T @ yf
    best, best_r2 = LAMBDAS[0], -np.inf
    for lam in LAMBDAS:
        pred = xv @ solve(xtx, xty, lam)
        r2 = 1 - ((yv - pred) ** 2).sum() / ((yv - yv.mean()) ** 2).sum()
        if r2 > best_r2:
            best, best_r2 = lam, r2
    return solve(design.T @ design, design.T @ y, best), best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="OpenBLAS threads of NumPy/SciPy")
    ap.add_argument("--quick", action="store_true", help="a small problem, one window")
    ap.add_argument("--serve", action="store_true", help="paired timing (see the module doc)")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    from scipy import linalg

    x, y, groups = data(np, 300, 96, 5) if args.quick else data(np)
    if args.serve:
        for _ in range(2):
            fit(np, linalg, x, y, groups)
        print("ready", flush=True)
        for line in sys.stdin:
            _, count = line.split()
            start = time.perf_counter()
            for _ in range(int(count)):
                fit(np, linalg, x, y, groups)
            print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
        return
    lam = fit(np, linalg, x, y, groups)[1]
    windows, seconds, warmup = (1, 0, 0) if args.quick else (3, 2, 0.5)
    median, lo, hi = measure(lambda: fit(np, linalg, x, y, groups), 1, windows, seconds, warmup)
    print(
        json.dumps(
            {
                "bench": "probe-fit",
                "impl": "numpy",
                "numpy": np.__version__,
                "threads": args.threads,
                "lambda": lam,
                "value": round(median, 3),
                "unit": "fits/s",
                "range": [round(lo, 3), round(hi, 3)],
                "peakRssMiB": round(peak_rss_kib() / 1024),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
