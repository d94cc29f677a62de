"""The ``optarena`` command: list, run, status, score, report, calibrate, export.

Imports are lazy: ``optarena list`` reads the registry tables and never imports torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from optarena.core.errors import OptArenaError

__all__ = ["main"]


def _add_suite_flags(p: argparse.ArgumentParser) -> None:
    """Flags that mirror the suite TOML keys (``--max-steps`` <-> ``max-steps``)."""
    p.add_argument("--workloads", type=lambda s: s.split(","), help="comma-separated workload ids")
    p.add_argument("--methods", type=lambda s: s.split(","), help="comma-separated method names")
    p.add_argument("--rulesets", type=lambda s: s.split(","), help="external, external-quick, self-tuning")
    p.add_argument("--baseline")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--studies", type=int)
    p.add_argument("--trials", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--budget-scale", type=float)
    p.add_argument("-j", "--jobs", type=int)
    p.add_argument("--executor", choices=["local", "ray"])
    p.add_argument("--address", help="Ray cluster address (with --executor ray)")
    p.add_argument("--trial-timeout", type=float)
    p.add_argument("--hparams", type=_json, help='fixed hyperparameters, JSON: \'{"adamw": {"lr": 0.001}}\'')


def _json(text: str) -> dict:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--hparams is not valid JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"--hparams must be a JSON object of method -> {{name: value}}, got {text!r}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="optarena", description=__doc__.splitlines()[0])
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress bars, only results and errors")
    sub = ap.add_subparsers(dest="cmd", required=True)
    quiet = argparse.ArgumentParser(add_help=False)  # `-q` also works after the verb
    quiet.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )

    p = sub.add_parser("list", parents=[quiet], help="registered methods and workloads (never imports torch)")
    p.add_argument("what", nargs="?", choices=["methods", "workloads", "suites", "all"], default="all")

    p = sub.add_parser("run", parents=[quiet], help="run a suite (resumes: finished trials are skipped)")
    p.add_argument("suite", help="shipped suite name (quick, cpu-small) or a .toml path")
    p.add_argument("--store", help="results file (default results/<suite>.sqlite)")
    _add_suite_flags(p)

    for name, text in (("status", "trial counts by status"), ("score", "AlgoPerf scores from stored rows")):
        p = sub.add_parser(name, parents=[quiet], help=text)
        p.add_argument("store", help="results file (.sqlite) or a suite name (uses results/<suite>.sqlite)")
        if name == "score":
            p.add_argument("--json", action="store_true", help="print the scores as JSON")
            p.add_argument("--baseline", help="method for the geometric-mean speedup")
            p.add_argument("--readme", help="also write the scores into this markdown file's generated block")

    p = sub.add_parser("report", parents=[quiet], help="write one self-contained HTML report")
    p.add_argument("store", help="results file or suite name")
    p.add_argument("-o", "--out", help="HTML path (default: next to the store)")
    p.add_argument("--baseline")

    p = sub.add_parser("export", parents=[quiet], help="export trials and evals as CSV or Parquet")
    p.add_argument("store", help="results file or suite name")
    p.add_argument("-o", "--out", default=None, help="output folder (default: <store>-export)")
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")

    p = sub.add_parser(
        "calibrate", parents=[quiet], help="AlgoPerf target setting for a workload, scaled down"
    )
    p.add_argument("workload")
    p.add_argument("--methods", type=lambda s: tuple(s.split(",")), default=None)
    p.add_argument("--trials", type=int, default=8, help="Halton trials per baseline")
    p.add_argument("--reruns", type=int, default=5, help="reruns of the best configuration")
    p.add_argument("--budget", type=float, default=None, help="seconds per trial (default: max_runtime)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--store")
    p.add_argument("-j", "--jobs", type=int, default=1)
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address")

    p = sub.add_parser(
        "verify", parents=[quiet], help="run paper claims and print verdicts (resumes from the store)"
    )
    p.add_argument("claims", nargs="*", help="claim ids (see --list); --all for every claim")
    p.add_argument("--all", action="store_true", help="every shipped claim; also writes the claims page")
    p.add_argument("--list", action="store_true", help="list the claims and their last stored verdict")
    p.add_argument("--quick", action="store_true", help="the small version of each experiment (tests)")
    p.add_argument("--claims-dir", help="a folder of claim files (default: the shipped claims)")
    p.add_argument("--results", default="results", help="results root (default: results)")
    p.add_argument("--page", help="claims page path (default: <results>/claims[-quick]/index.html)")
    p.add_argument("--readme", help="update this README's generated 'What reproduces' table")
    p.add_argument("--judge-only", action="store_true", help="judge what is stored; run nothing")
    p.add_argument("-j", "--jobs", type=int, default=1)
    p.add_argument("--executor", choices=["local", "ray"], default="local")
    p.add_argument("--address")
    return ap


def _store_path(arg: str) -> Path:
    p = Path(arg)
    if p.suffix in (".sqlite", ".db") or p.exists():
        return p
    return Path("results") / f"{arg}.sqlite"


def cmd_list(args: argparse.Namespace) -> int:
    from optarena import registry

    if args.what in ("methods", "all"):
        print("methods:")
        for e in registry.list_methods():
            print(f"  {e.name:<18} {e.family:<16} {e.summary}")
    if args.what in ("workloads", "all"):
        print("workloads:")
        for e in registry.list_workloads():
            print(f"  {e.name:<18} {e.summary}")
    if args.what in ("suites", "all"):
        from importlib.resources import files

        print("suites:")
        for f in sorted((files("optarena") / "suites").iterdir(), key=lambda f: f.name):
            if f.name.endswith(".toml"):
                print(f"  {f.name.removesuffix('.toml')}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from optarena.bench.runner import run_suite
    from optarena.bench.suite import find_suite, load_suite

    suite = load_suite(find_suite(args.suite))
    flags = {
        k: getattr(args, k.replace("-", "_"))
        for k in (
            "workloads",
            "methods",
            "rulesets",
            "baseline",
            "seed",
            "threads",
            "studies",
            "trials",
            "max-steps",
            "budget-scale",
            "jobs",
            "executor",
            "address",
            "trial-timeout",
            "store",
            "hparams",
        )
    }
    suite = suite.with_options(**flags)
    summary = run_suite(suite, quiet=args.quiet)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items())) or "nothing new"
    print(f"{summary.total} trials: {summary.skipped} already stored, {summary.ran} run ({counts})")
    print(f"results: {summary.store}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from optarena.bench.store import Store

    store = Store.open_existing(_store_path(args.store))
    meta = store.meta()
    print(f"{store.path}: suite {meta.get('suite_name')} version {meta.get('suite_version')}")
    print(f"  {'ruleset':<16} {'workload':<18} {'method':<16} statuses")
    for (r, w, m), counts in sorted(store.counts().items()):
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        print(f"  {r:<16} {w:<18} {m:<16} {text}")
    return 0


def _load_scores(path: Path, baseline: str | None):
    """Scores computed only from the stored rows (workload facts come from the rows themselves)."""
    from optarena.bench.scoring import WorkloadInfo, score_trials
    from optarena.bench.store import Store
    from optarena.registry import resolve_workload

    store = Store.open_existing(path)
    try:
        trials = store.trials()
        if not trials:
            raise FileNotFoundError(f"{path} holds no finished trial yet")
        infos = {}
        for spec, result in trials:
            if spec.workload in infos or result.metric is None:
                continue
            try:
                variant_of = resolve_workload(spec.workload).variant_of
            except Exception:  # a plugin workload no longer installed: score it without the gate
                variant_of = None
            infos[spec.workload] = WorkloadInfo(
                spec.workload, result.metric, result.mode, result.target, variant_of
            )
        if baseline is None:
            baseline = _suite_baseline(store)
        unfinished = sum(1 for st in store.statuses().values() if not st.finished)
        if unfinished:
            print(
                f"warning: {unfinished} trial(s) in {path} are not finished; scores are partial "
                "(rerun the suite to complete them)",
                file=sys.stderr,
            )
        scores = score_trials(trials, infos, baseline=baseline)
        return store, scores, trials, infos
    except BaseException:
        store.close()
        raise


def _suite_baseline(store) -> str | None:
    """The baseline the suite named when it ran (kept in the provenance of each run)."""
    for run in reversed(store.runs()):
        if run.get("baseline"):
            return run["baseline"]
    return None


def cmd_score(args: argparse.Namespace) -> int:
    import json

    path = _store_path(args.store)
    store, scores, _trials, _infos = _load_scores(path, args.baseline)
    runs = store.runs()
    meta = store.meta()
    store.close()
    print(json.dumps(scores.to_dict(), indent=2) if args.json else scores.format_table())
    if args.readme:
        import time

        from optarena.bench.readme_block import replace_block
        from optarena.bench.scoring import format_markdown, score_markers

        suite = meta.get("suite_name") or path.stem
        last = runs[-1] if runs else {}
        started = last.get("started")
        day = time.strftime("%Y-%m-%d", time.gmtime(float(started))) if started else "date unknown"
        cpu = last.get("cpu") or "unknown CPU"
        stamp = f"trials run up to {day} on {last.get('hostname') or 'unknown host'} ({cpu}, {last.get('cpu_count', '?')} cores)"
        replace_block(
            args.readme, *score_markers(suite), format_markdown(scores, suite, stamp), f"### Scores: {suite}"
        )
        print(f"wrote the scores of {suite} into {args.readme}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from optarena.bench.report import write_report

    path = _store_path(args.store)
    store, scores, trials, infos = _load_scores(path, args.baseline)
    try:
        meta, runs = store.meta(), store.runs()
    finally:
        store.close()
    prov = {
        **(runs[-1] if runs else {}),
        "suite": meta.get("suite_name"),
        "suite_version": meta.get("suite_version"),
        "runs": len(runs),
    }
    out = Path(args.out) if args.out else path.with_suffix(".html")
    write_report(out, scores, trials, infos, prov, title=f"OptArena report: {meta.get('suite_name')}")
    print(f"report: {out.resolve()}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from optarena.bench.export import export_store
    from optarena.bench.store import Store

    path = _store_path(args.store)
    store = Store.open_existing(path)
    try:
        out = args.out or str(path.with_suffix("")) + "-export"
        for p in export_store(store, out, args.format):
            print(p)
    finally:
        store.close()
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from optarena.bench.calibrate import BASELINES, calibrate

    result = calibrate(
        args.workload,
        methods=args.methods or BASELINES,
        trials=args.trials,
        reruns=args.reruns,
        budget=args.budget,
        seed=args.seed,
        store_path=args.store,
        executor=args.executor,
        jobs=args.jobs,
        address=args.address,
        quiet=args.quiet,
    )
    print(result.describe())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from optarena.claims.cli import verify

    return verify(args)


COMMANDS = {
    "list": cmd_list,
    "run": cmd_run,
    "status": cmd_status,
    "score": cmd_score,
    "report": cmd_report,
    "export": cmd_export,
    "calibrate": cmd_calibrate,
    "verify": cmd_verify,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except OptArenaError as exc:
        print(f"optarena: error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"optarena: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\noptarena: interrupted; finished trials are stored, rerun the same command to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
