"""Per-step time of the matrix optimizers on a stack of hidden layers: Muon (ours, Newton-Schulz in
fp32 and in bf16) against ``torch.optim.Muon`` (always bf16); SOAP (ours) against pytorch-optimizer's
SOAP; COSMOS (ours, fp32 and bf16 Newton-Schulz) against both references (the issue asks COSMOS to be
no slower than either).

Layers: ``--layers`` of 512x512 and as many of 1024x256 (fp32 parameters, seeded gradients that stay
fixed, so every step does the same work). Each optimizer runs ``--warmup`` untimed steps, then
``--steps`` timed ones, ``--repeats`` times in rotating order; the table shows the median per step
and each optimizer's speed relative to the two references (above 1 = faster). Run it on an idle
machine: with the cores shared, OpenMP matmuls slow down by an order of magnitude.

    python benchmarks/matrix_optimizers.py [--threads 2] [--layers 4] [--steps 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layers", type=int, default=4, help="layers of each shape")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from optarena.optim.cosmos import COSMOS
    from optarena.optim.muon import Muon
    from optarena.optim.soap import SOAP

    torch.set_num_threads(args.threads)
    shapes = [(512, 512)] * args.layers + [(1024, 256)] * args.layers
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(s, generator=gen) for s in shapes]

    def params():
        ps = [torch.nn.Parameter(torch.randn(s, generator=gen) * 0.02) for s in shapes]
        for p, g in zip(ps, grads, strict=True):
            p.grad = g
        return ps

    muon_kw = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.95}
    soap_kw = {"lr": 3e-3, "betas": (0.95, 0.95), "weight_decay": 0.01, "precondition_frequency": 10}
    builders = {
        "optarena Muon (fp32 NS)": lambda: Muon(params(), ns_dtype=torch.float32, **muon_kw),
        "optarena Muon (bf16 NS)": lambda: Muon(params(), ns_dtype=torch.bfloat16, **muon_kw),
        "torch.optim.Muon (bf16 NS)": lambda: torch.optim.Muon(params(), **muon_kw),
        "optarena SOAP": lambda: SOAP(params(), **soap_kw),
        "optarena COSMOS (fp32 NS)": lambda: COSMOS(params(), ns_dtype=torch.float32),
        "optarena COSMOS (bf16 NS)": lambda: COSMOS(params(), ns_dtype=torch.bfloat16),
    }
    try:
        from pytorch_optimizer import SOAP as RefSOAP

        builders["pytorch-optimizer SOAP"] = lambda: RefSOAP(params(), **soap_kw)
    except ImportError:
        print("pytorch-optimizer is not installed: no SOAP reference row")
    kinds = list(builders)
    opts = {k: builders[k]() for k in kinds}
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

    med = {k: statistics.median(v) for k, v in times.items()}
    ref_muon = med["torch.optim.Muon (bf16 NS)"]
    ref_soap = med.get("pytorch-optimizer SOAP")
    n_params = sum(a * b for a, b in shapes)
    print(
        f"step time, {args.layers}x 512x512 + {args.layers}x 1024x256 fp32 ({n_params / 1e6:.2f}M params), "
        f"{args.threads} threads, torch {torch.__version__}; median of {args.repeats} x {args.steps} steps"
    )
    # OpenMP threads slow down many-fold when other processes hold the cores: check the load first
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'optimizer':<30} {'ms/step':>9} {'speed vs torch Muon':>20} {'speed vs ref SOAP':>18}")
    for k in kinds:
        vs_soap = f"{ref_soap / med[k]:>17.2f}x" if ref_soap else f"{'-':>18}"
        print(f"{k:<30} {med[k] * 1e3:>9.1f} {ref_muon / med[k]:>19.2f}x {vs_soap}")


if __name__ == "__main__":
    main()
