"""TOPO swap evaluation speed: candidate swaps scored per second at d = 40 (ER4, n = 1000).

Issue 8 asks for a benchmark of TOPO's inner loop. One TOPO iteration ranks the forbidden pairs
(``candidate_pairs``) and scores a swap of each candidate's two positions; ``_Search.swap_loss``
refits only the nodes between the two positions (Schur complement of the Cholesky factor of the
ordered Gram matrix, lambda1 = 0). The benchmark draws a random ER4 DAG and a random order, then
times (a) ranking the candidates, (b) scoring the first ``--swaps`` candidates with the block refit,
(c) scoring a few of them by a full order-constrained refit (``order_refit`` + score, the naive
way) as a reference, and checks that (b) and (c) agree; also the cost of ``set_order`` (one accepted
move) and of a whole TOPO run from that order.

    python benchmarks/topo_swaps.py [--d 40] [--n 1000] [--graph ER4] [--swaps 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from optarena.science.dag import fit, least_squares_score, order_refit, simulate_dag, simulate_linear_sem
    from optarena.science.dag.topo import _Search, candidate_pairs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=40)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--graph", default="ER4")
    ap.add_argument("--swaps", type=int, default=1000)
    ap.add_argument("--naive", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    W = simulate_dag(args.d, args.graph, args.seed)
    X = simulate_linear_sem(W, args.n, seed=args.seed)
    X = X - X.mean(axis=0)
    order = np.random.default_rng(args.seed).permutation(args.d).tolist()
    S = _Search(X, 0.0)

    t0 = time.perf_counter()
    S.set_order(order)
    t_set = time.perf_counter() - t0
    t0 = time.perf_counter()
    pairs = candidate_pairs(S.W, S.grad_loss(), S.order)[: args.swaps]
    t_rank = time.perf_counter() - t0
    pos = np.empty(args.d, dtype=int)
    pos[S.order] = np.arange(args.d)
    t0 = time.perf_counter()
    fast = np.array([S.swap_loss(pos[j], pos[i]) for i, j in pairs])
    t_fast = time.perf_counter() - t0

    k = min(args.naive, len(pairs))
    t0 = time.perf_counter()
    naive = []
    for i, j in pairs[:k]:
        new = list(S.order)
        a, b = pos[j], pos[i]
        new[a], new[b] = new[b], new[a]
        naive.append(least_squares_score(X, order_refit(X, new)))
    t_naive = time.perf_counter() - t0
    err = float(np.max(np.abs(fast[:k] - np.array(naive))))

    t0 = time.perf_counter()
    _, _, q = fit(X, init_order=order)
    t_fit = time.perf_counter() - t0

    print(f"topo swaps: d={args.d}, {args.graph}, n={args.n}, seed {args.seed}")
    print(f"  block refit : {len(pairs)} swaps in {t_fast:.3f} s = {len(pairs) / t_fast:,.0f} swaps/s")
    print(f"  full refit  : {k} swaps in {t_naive:.3f} s = {k / t_naive:,.0f} swaps/s (max |diff| {err:.1e})")
    print(f"  rank candidates {1e3 * t_rank:.1f} ms, set_order {1e3 * t_set:.1f} ms")
    print(f"  whole TOPO run from this random order: {t_fit:.2f} s, score {q:.4f}")


if __name__ == "__main__":
    main()
