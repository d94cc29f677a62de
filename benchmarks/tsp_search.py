"""Speed of the heatmap-guided TSP search: candidate moves evaluated per second.

    PYTHONPATH=src python benchmarks/tsp_search.py --sizes 200 500 1000 --budget 2

For each size and heatmap, runs :func:`optarena.science.tsp.solve` for ``--budget`` seconds and prints
rounds, moves evaluated per second (batched 2-opt + Or-opt deltas), moves applied, kicks and the tour
length; then times one batch of move deltas through the vectorized evaluator against a pure-Python
loop over the same moves, and LKH-3 (``elkai``, RUNS = 1) when it is installed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optarena.science.tsp import (
    distance_matrix,
    elkai_available,
    knn_heatmap,
    lkh_solve,
    random_uniform,
    softdist,
    solve,
    uniform_heatmap,
)
from optarena.science.tsp.search import _State


def python_two_opt(D: np.ndarray, tour: np.ndarray, i: np.ndarray, j: np.ndarray) -> list[float]:
    """Reference pure-Python loop of the successor 2-opt deltas (what vectorization replaces)."""
    n = len(tour)
    pos = {int(c): k for k, c in enumerate(tour)}
    out = []
    for a, b in zip(i.tolist(), j.tolist(), strict=True):
        sa, sb = int(tour[(pos[a] + 1) % n]), int(tour[(pos[b] + 1) % n])
        out.append(D[a, b] + D[sa, sb] - D[a, sa] - D[b, sb] if b != sa and sb != a and a != b else np.inf)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    ap.add_argument("--budget", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    print(f"{'n':>5} {'heatmap':>9} {'rounds':>7} {'moves/s':>10} {'applied':>8} {'kicks':>6} {'length':>9}")
    for n in args.sizes:
        c = random_uniform(n, seed=args.seed)
        for name, H in (("softdist", softdist(c)), ("knn", knn_heatmap(c)), ("uniform", uniform_heatmap(c))):
            r = solve(c, H, args.budget, seed=args.seed)
            print(
                f"{n:>5} {name:>9} {r.rounds:>7} {r.moves_per_second:>10.3g} {r.applied:>8} "
                f"{r.kicks:>6} {r.length:>9.4f}"
            )
        if elkai_available():
            _, length, seconds = lkh_solve(c, 1, time_limit=args.budget)
            print(f"{n:>5} {'LKH-3':>9} {'':>7} {'':>10} {'':>8} {'':>6} {length:>9.4f}  ({seconds:.2f} s)")

    n = args.sizes[-1]
    c = random_uniform(n, seed=args.seed)
    D = distance_matrix(c)
    rng = np.random.default_rng(args.seed)
    tour = rng.permutation(n)
    i, j = rng.integers(n, size=30 * n), rng.integers(n, size=30 * n)
    st = _State(D, tour)
    t0 = time.perf_counter()
    vec = st.deltas(0, i, j)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = python_two_opt(D, tour, i, j)
    t_py = time.perf_counter() - t0
    np.testing.assert_allclose(vec, ref)
    print(
        f"2-opt deltas, {i.size} moves at n = {n}: numpy {i.size / t_vec:.3g} moves/s, "
        f"python loop {i.size / t_py:.3g} moves/s ({t_py / t_vec:.0f}x)"
    )


if __name__ == "__main__":
    main()
