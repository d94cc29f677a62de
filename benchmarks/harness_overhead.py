"""Harness overhead on a ~10-second trial: process start, store, eval scheduling.

Runs the same trial (teacher workload, AdamW, a fixed number of steps so both sides do identical
work) two ways, alternating, several times:

- bare: build the problem and optimizer in this process and run a plain training loop with the
  same evaluations at the same steps, timed with perf_counter;
- harness: the full path of ``optarena run``: suite store (SQLite, WAL), local executor (a worker
  forked from the preloaded forkserver), recorder and clock, result written to the store.

Overhead = (harness wall - bare wall) / bare wall, median over repeats. The forkserver's one-time
start (once per ``optarena run``) is reported separately. Target: under 5% of a 10-second trial.

    python benchmarks/harness_overhead.py [--repeats 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def bare(workload_id: str, method: str, steps: int, seed: int) -> float:
    import torch

    from optarena.bench.trial import seed_everything
    from optarena.registry import resolve_method, resolve_workload

    t0 = time.perf_counter()
    w, m = resolve_workload(workload_id), resolve_method(method)
    seed_everything(seed, 1)
    problem = w.build(seed)
    opt, sched = m.load_factory()(problem.named_parameters(), m.resolve_hparams({}), w.step_hint)
    problem.evaluate()
    for step in range(1, steps + 1):
        batch = problem.next_batch()
        opt.zero_grad(set_to_none=True)
        loss = problem.loss(batch)
        loss.backward()
        opt.step()
        sched.step()
        float(loss.detach())
        if step % w.eval_every == 0:
            with torch.no_grad():
                problem.evaluate()
    if steps % w.eval_every:
        problem.evaluate()
    return time.perf_counter() - t0


def harness(workload_id: str, method: str, steps: int, seed: int, tmp: Path, tag: str) -> float:
    from optarena.bench.executors.local import LocalExecutor
    from optarena.bench.runner import run_specs
    from optarena.bench.store import Store
    from optarena.core.types import Budget, TrialSpec
    from optarena.registry import resolve_method, resolve_workload

    w, m = resolve_workload(workload_id), resolve_method(method)
    spec = TrialSpec(
        workload_id, w.version, method, m.version, {}, seed, Budget(1e6, steps), stop_at_target=False
    )
    t0 = time.perf_counter()
    store = Store.open(tmp / f"{tag}.sqlite", "bench", tag)
    run_specs([spec], store, LocalExecutor(jobs=1), {"benchmark": "harness_overhead"}, quiet=True)
    [(_, result)] = store.trials()
    store.close()
    elapsed = time.perf_counter() - t0
    assert result.status == "done" and result.steps == steps, (result.status, result.steps, result.error)
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", default="teacher")
    ap.add_argument("--method", default="adamw")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    bare(args.workload, args.method, 200, 0)  # first call pays imports and dataset set-up
    probe = bare(args.workload, args.method, 1000, 0)
    steps = max(200, int(1000 * args.seconds / probe))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        harness(args.workload, args.method, 10, 0, tmp, "warm")  # starts the forkserver
        forkserver_start = time.perf_counter() - t0
        b, h = [], []
        for r in range(args.repeats):
            b.append(bare(args.workload, args.method, steps, r))
            h.append(harness(args.workload, args.method, steps, r, tmp, f"r{r}"))
    mb, mh = statistics.median(b), statistics.median(h)
    print(f"trial: {args.workload} / {args.method}, {steps} steps, repeats {args.repeats}")
    print(f"bare loop wall      : median {mb:.3f} s  {[round(x, 3) for x in b]}")
    print(f"harness wall        : median {mh:.3f} s  {[round(x, 3) for x in h]}")
    print(f"overhead            : {(mh - mb) / mb:+.2%} of the trial (target < 5%)")
    print(
        f"forkserver start    : {forkserver_start:.2f} s once per `optarena run` "
        f"({forkserver_start / (mb * 25):.2%} of a 25-trial study of such trials)"
    )


if __name__ == "__main__":
    main()
