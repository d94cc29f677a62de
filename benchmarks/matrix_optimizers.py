"""Per-step time of Muon: ours with the Newton-Schulz iteration in fp32 and in bf16, against
``torch.optim.Muon`` (always bf16), on a stack of hidden layers.

Layers: ``--layers`` of 512x512 and as many of 1024x256 (fp32 parameters, seeded gradients that stay
fixed, so every step does the same work). Each optimizer runs ``--warmup`` untimed steps, then
``--steps`` timed ones, ``--repeats`` times in rotating order; the table shows the median per step
and the rate in GFLOP/s of the Newton-Schulz matmuls (5 iterations of 4 m^2 n + 2 m^3 for an m x n
matrix, m <= n), which dominate the step. Run it on an idle machine: with the cores shared, OpenMP
matmuls slow down by an order of magnitude and the table says nothing.

    python benchmarks/matrix_optimizers.py [--threads 2] [--layers 4] [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def ns_flops(shapes: list[tuple[int, int]], ns_steps: int = 5) -> float:
    total = 0.0
    for a, b in shapes:
        m, n = min(a, b), max(a, b)
        total += ns_steps * (4 * m * m * n + 2 * m**3)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4, help="layers of each shape")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from optarena.optim.muon import Muon

    torch.set_num_threads(args.threads)
    shapes = [(512, 512)] * args.layers + [(1024, 256)] * args.layers
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(s, generator=gen) for s in shapes]

    def build(kind: str):
        params = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.02) for s in shapes]
        for p, g in zip(params, grads, strict=True):
            p.grad = g
        kw = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.95}
        if kind == "torch.optim.Muon (bf16 NS)":
            return torch.optim.Muon(params, **kw)
        dtype = torch.float32 if "fp32" in kind else torch.bfloat16
        return Muon(params, ns_dtype=dtype, **kw)

    kinds = ["optarena Muon (fp32 NS)", "optarena Muon (bf16 NS)", "torch.optim.Muon (bf16 NS)"]
    opts = {k: build(k) for k in kinds}
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for k in kinds:
        for _ in range(args.warmup):
            opts[k].step()
    for r in range(args.repeats):
        for k in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:  # rotate the order: no position bias
            t0 = time.perf_counter()
            for _ in range(args.steps):
                opts[k].step()
            times[k].append((time.perf_counter() - t0) / args.steps)

    flops = ns_flops(shapes)
    ref = statistics.median(times["torch.optim.Muon (bf16 NS)"])
    n_params = sum(a * b for a, b in shapes)
    print(
        f"Muon step, {args.layers}x 512x512 + {args.layers}x 1024x256 fp32 ({n_params / 1e6:.2f}M params), "
        f"{args.threads} threads, torch {torch.__version__}; median of {args.repeats} x {args.steps} steps"
    )
    # OpenMP threads slow down many-fold when other processes hold the cores: check the load first
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'optimizer':<30} {'ms/step':>9} {'NS GFLOP/s':>11} {'vs torch':>9}")
    for k in kinds:
        med = statistics.median(times[k])
        print(f"{k:<30} {med * 1e3:>9.1f} {flops / med / 1e9:>11.1f} {ref / med:>8.2f}x")


if __name__ == "__main__":
    main()
