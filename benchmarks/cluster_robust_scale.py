"""Timing of analysis.cluster_robust at the scale it must reach: 1,000,000 rows, 150 clusters, 17 columns.

Run from the project root:
  .venv/bin/python benchmarks/cluster_robust_scale.py [--rows N] [--clusters G] [--B B]
Prints a table of wall-clock times (best of --repeat runs). Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
from timing import timed  # benchmarks/ (this script's folder)

from analysis.cluster_robust import ols_cr2, wild_cluster_bootstrap


def simulate(rows: int, clusters: int, columns: int,
             seed: int = 1) -> tuple[np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Unequal cluster sizes (log-normal shares), rows in random cluster order as in survey data.
    shares = rng.lognormal(sigma=0.8, size=clusters)
    labels = rng.choice(clusters, size=rows, p=shares / shares.sum())
    exposure = rng.integers(0, 3, size=clusters)[labels]  # cluster-level three-group exposure
    X = np.empty((rows, columns))
    X[:, 0] = 1.0
    X[:, 1] = exposure == 1
    X[:, 2] = exposure == 2
    X[:, 3:] = rng.normal(size=(rows, columns - 3)) + rng.normal(size=(clusters, columns - 3))[labels]
    beta = rng.normal(size=columns)
    beta[1] = 0.0  # the bootstrapped term: its null is true, so the p-value is not trivially 0
    y = X @ beta + rng.normal(size=clusters)[labels] + rng.normal(size=rows)
    names = ["Intercept", "group[T.b]", "group[T.c]", *[f"x{i}" for i in range(3, columns)]]
    return y, pd.DataFrame(X, columns=names), np.array([f"LA{g:03d}" for g in range(clusters)])[labels]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=150)
    parser.add_argument("--columns", type=int, default=17)
    parser.add_argument("--B", type=int, default=9999)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    start = time.perf_counter()
    y, X, clusters = simulate(args.rows, args.clusters, args.columns)
    simulate_s = time.perf_counter() - start

    rows = [("simulate data", simulate_s, "")]
    t, table = timed(lambda: ols_cr2(y, X, clusters), args.repeat)
    rows.append(("ols_cr2 (CR2 + Satterthwaite df, all terms)", t,
                 f"SE[group[T.b]] = {table['std_error'].iloc[1]:.4g}, df = {table['df'].iloc[1]:.1f}"))
    t, boot = timed(lambda: wild_cluster_bootstrap(y, X, clusters, "group[T.b]", B=args.B), args.repeat)
    rows.append((f"wild_cluster_bootstrap (B = {args.B}, p + inverted CI)", t,
                 f"p = {boot['p_value']:.4f}, CI [{boot['ci_lower']:.4g}, {boot['ci_upper']:.4g}]"))

    print(f"{args.rows:,} rows, {args.clusters} clusters, {args.columns} columns; numpy {np.__version__}, "
          f"python {platform.python_version()}, best of {args.repeat}")
    print(f"{'step':<56} {'seconds':>9}  result")
    for name, seconds, note in rows:
        print(f"{name:<56} {seconds:>9.2f}  {note}")


if __name__ == "__main__":
    main()
