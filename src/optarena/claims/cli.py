"""``optarena verify``: run claims, print verdicts, write the claims page and the README table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from optarena.bench.provenance import provenance
from optarena.claims.engine import ClaimResult, load_result, run_claim
from optarena.claims.render import claims_page, readme_table, text, update_readme
from optarena.claims.spec import ClaimSpec, load_claims
from optarena.core.errors import OptArenaError, UnknownNameError

__all__ = ["verify"]


def _select(args: argparse.Namespace, claims: dict[str, ClaimSpec]) -> list[ClaimSpec]:
    if args.all and args.claims:
        raise OptArenaError("give claim ids or --all, not both")
    if args.all:
        return list(claims.values())
    if not args.claims:
        raise OptArenaError("name the claims to verify (optarena verify --list shows them) or pass --all")
    for cid in args.claims:
        if cid not in claims:
            raise UnknownNameError("claim", cid, list(claims))
    return [claims[c] for c in args.claims]


def _list(claims: dict[str, ClaimSpec], root: Path) -> int:
    print(f"  {'claim':<22} {'family':<16} {'last full verdict':<20} last quick verdict")
    for c in claims.values():
        full, quick = (load_result(c, q, root) for q in (False, True))
        f = full.verdict if full else "not run"
        q = quick.verdict if quick else "not run"
        print(f"  {c.id:<22} {c.family:<16} {f:<20} {q}")
    return 0


def machine() -> str:
    p = provenance()
    return f"{p['cpu']}, {p['cpu_count']} CPUs, {p['platform']}, torch {p['packages'].get('torch', '-')}"


def verify(args: argparse.Namespace) -> int:
    claims = load_claims(args.claims_dir)
    root = Path(args.results)
    if args.list:
        return _list(claims, root)
    chosen = _select(args, claims)
    if args.readme and not args.all:
        raise OptArenaError("--readme needs --all: the README table lists every claim")
    if args.jobs < 1:
        raise OptArenaError(f"--jobs must be >= 1, got {args.jobs}")
    results: list[ClaimResult] = []
    missing: list[ClaimSpec] = []
    for claim in chosen:
        if args.judge_only:
            r = load_result(claim, args.quick, root)
            if r is None:
                print(f"{claim.id}: nothing stored yet (run `optarena verify {claim.id}`)", file=sys.stderr)
                missing.append(claim)
                continue
        else:
            r = run_claim(
                claim,
                quick=args.quick,
                executor=args.executor,
                jobs=args.jobs,
                address=args.address,
                root=root,
                quiet=args.quiet,
            )
        results.append(r)
        print(text(r))
        print()
    if args.all or args.page:
        page = (
            Path(args.page)
            if args.page
            else root / ("claims-quick" if args.quick else "claims") / "index.html"
        )
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(claims_page(results), encoding="utf-8")
        print(f"claims page: {page.resolve()}")
    if args.readme:
        update_readme(args.readme, readme_table(results, machine(), missing))
        print(f"README table updated: {args.readme}")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    print("verdicts: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    return 0
