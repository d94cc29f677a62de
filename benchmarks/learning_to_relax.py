"""Time the learning-to-relax pipeline: cached SOR costs (batched solver), the bandit loops, and the
reference one-system SOR for comparison.

    PYTHONPATH=src python benchmarks/learning_to_relax.py --T 5000 --setting high

Prints seconds per stage and the extrapolated cost of the reference solver for the same table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from optarena.solvers.relax import (
    DEFAULT_GRID,
    TsallisINF,
    TsallisINFCB,
    cost_table,
    generate_sequence,
    run_sequence,
    sor,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--T", type=int, default=5000)
    ap.add_argument("--setting", default="high", choices=["high", "low"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-instances", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    seq = generate_sequence(args.T, args.setting, seed=args.seed)
    t1 = time.perf_counter()
    table = cost_table(seq, DEFAULT_GRID)
    t2 = time.perf_counter()
    tinf = run_sequence(TsallisINF(seed=args.seed), seq, table)
    t3 = time.perf_counter()
    cb = run_sequence(TsallisINFCB(seed=args.seed), seq, table, contextual=True)
    t4 = time.perf_counter()

    k = args.reference_instances
    start = time.perf_counter()
    ref = [sor(seq.matrix(t), seq.rhs[t], float(w))[1] for t in range(k) for w in DEFAULT_GRID]
    ref_s = time.perf_counter() - start
    assert np.abs(np.array(ref).reshape(k, -1) - table.costs[:k]).max() <= 1

    sweeps = int(table.costs.sum() + table.opt_costs.sum())
    print(f"T={args.T} setting={args.setting} grid={len(DEFAULT_GRID)} omegas")
    print(f"generate instances      {t1 - t0:8.2f} s")
    print(
        f"cost table (batched)    {t2 - t1:8.2f} s   ({sweeps:,} SOR sweeps, {1e6 * (t2 - t1) / sweeps:.2f} us/sweep)"
    )
    print(f"Tsallis-INF loop        {t3 - t2:8.2f} s   total iterations {tinf.total:,}")
    print(f"Tsallis-INF-CB loop     {t4 - t3:8.2f} s   total iterations {cb.total:,}")
    ref_sweeps = int(table.costs[:k].sum())
    print(
        f"reference sor()         {ref_s:8.2f} s for {ref_sweeps:,} sweeps "
        f"-> {ref_s / ref_sweeps * sweeps:8.0f} s extrapolated for the table"
    )


if __name__ == "__main__":
    main()
