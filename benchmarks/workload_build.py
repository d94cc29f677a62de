"""Time to build each workload's problem from a seed (set-up happens before the harness clock starts,
but it is part of every trial's wall time). Warm numbers: the first build in a process also pays
one-time imports and dataset reads, reported separately.

    python benchmarks/workload_build.py
"""

from __future__ import annotations

import statistics
import time

import torch

from optarena.registry import list_workloads, resolve_workload


def main() -> None:
    torch.set_num_threads(1)
    print(f"{'workload':<18} {'first build':>12} {'warm median':>12}")
    for entry in list_workloads():
        w = resolve_workload(entry.name)
        t0 = time.perf_counter()
        w.build(0)
        first = time.perf_counter() - t0
        warm = []
        for seed in range(1, 4):
            t0 = time.perf_counter()
            w.build(seed)
            warm.append(time.perf_counter() - t0)
        print(f"{entry.name:<18} {first:>11.3f}s {statistics.median(warm):>11.3f}s")


if __name__ == "__main__":
    main()
