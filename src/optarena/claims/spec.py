"""A claim file: what a paper claims, the scaled-down experiment, and the decision rules, fixed in TOML
before anything runs (format: ``src/optarena/claims/README.md``)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optarena.core.errors import OptArenaError
from optarena.core.spec import FAMILIES

__all__ = ["CLAIMS_DIR", "ClaimError", "ClaimSpec", "Rule", "load_claim", "load_claims"]

#: The claim files that ship with OptArena.
CLAIMS_DIR = Path(__file__).resolve().parent

STATS = ("median", "mean", "min", "max", "count", "fraction")
OPS = ("<=", "<", ">=", ">")
MIN_SEEDS = 5


class ClaimError(OptArenaError, ValueError):
    """A claim file that is malformed, or a claim that does not exist."""


@dataclass(frozen=True)
class Rule:
    """``stat`` over seeds of ``metric`` must satisfy ``op threshold``."""

    name: str
    metric: str
    stat: str
    op: str
    threshold: float

    def text(self) -> str:
        return f"{self.stat}({self.metric}) {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Mode:
    seeds: int
    options: dict[str, Any]
    timeout: float


@dataclass(frozen=True)
class ClaimSpec:
    id: str
    family: str
    paper: str
    sentence: str
    setting: str
    baseline: str
    tuning: str
    experiment: str
    full: Mode
    quick: Mode
    rules: tuple[Rule, ...]
    path: Path
    notes: str = ""
    version: str = "1"
    threads: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def mode(self, quick: bool) -> Mode:
        return self.quick if quick else self.full


_REQUIRED = (
    "id",
    "family",
    "paper",
    "sentence",
    "setting",
    "baseline",
    "tuning",
    "experiment",
    "seeds",
    "rules",
)
_KNOWN = set(_REQUIRED) | {"options", "quick", "timeout", "notes", "version", "threads"}


def _fail(path: Path, msg: str) -> ClaimError:
    return ClaimError(f"claim file {path}: {msg}")


def _rule(path: Path, i: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise _fail(path, f"rules[{i}] must be a table, got {raw!r}")
    missing = {"name", "metric", "stat", "op", "threshold"} - set(raw)
    if missing:
        raise _fail(path, f"rules[{i}] lacks {sorted(missing)}")
    if raw["stat"] not in STATS:
        raise _fail(path, f"rules[{i}].stat is {raw['stat']!r}; known: {', '.join(STATS)}")
    if raw["op"] not in OPS:
        raise _fail(path, f"rules[{i}].op is {raw['op']!r}; known: {', '.join(OPS)}")
    thr = raw["threshold"]
    if isinstance(thr, bool) or not isinstance(thr, int | float):
        raise _fail(path, f"rules[{i}].threshold must be a number, got {thr!r}")
    return Rule(str(raw["name"]), str(raw["metric"]), raw["stat"], raw["op"], float(thr))


def _positive(path: Path, name: str, v: Any, minimum: float) -> None:
    if isinstance(v, bool) or not isinstance(v, int | float) or v < minimum:
        raise _fail(path, f"{name} must be a number >= {minimum:g}, got {v!r}")


def load_claim(path: str | Path) -> ClaimSpec:
    """Parse and validate one claim file; every problem names the file and the field."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, str(exc)) from None
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _fail(path, f"missing {missing}")
    unknown = set(raw) - _KNOWN
    if unknown:
        raise _fail(path, f"unknown keys {sorted(unknown)}")
    if raw["id"] != path.stem:
        raise _fail(path, f"id {raw['id']!r} must equal the file name {path.stem!r}")
    if raw["family"] not in FAMILIES:
        raise _fail(path, f"family {raw['family']!r}; known: {FAMILIES}")
    if ":" not in str(raw["experiment"]):
        raise _fail(path, f"experiment {raw['experiment']!r} must look like 'package.module:function'")
    seeds = raw["seeds"]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < MIN_SEEDS:
        raise _fail(path, f"seeds must be an integer >= {MIN_SEEDS}, got {seeds!r}")
    timeout = raw.get("timeout", 1800)
    _positive(path, "timeout", timeout, 1)
    quick = raw.get("quick", {})
    if not isinstance(quick, dict) or set(quick) - {"seeds", "options", "timeout"}:
        raise _fail(path, f"[quick] may hold seeds, options and timeout, got {quick!r}")
    q_seeds = quick.get("seeds", 2)
    if isinstance(q_seeds, bool) or not isinstance(q_seeds, int) or q_seeds < 1:
        raise _fail(path, f"quick.seeds must be a positive integer, got {q_seeds!r}")
    q_timeout = quick.get("timeout", 300)
    _positive(path, "quick.timeout", q_timeout, 1)
    for name, opts in (("options", raw.get("options", {})), ("quick.options", quick.get("options", {}))):
        if not isinstance(opts, dict):
            raise _fail(path, f"{name} must be a table, got {opts!r}")
    rules = raw["rules"]
    if not isinstance(rules, list) or not rules:
        raise _fail(path, "rules must be a non-empty array of tables ([[rules]])")
    threads = raw.get("threads", 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise _fail(path, f"threads must be a positive integer, got {threads!r}")
    return ClaimSpec(
        id=raw["id"],
        family=raw["family"],
        paper=str(raw["paper"]),
        sentence=str(raw["sentence"]).strip(),
        setting=str(raw["setting"]).strip(),
        baseline=str(raw["baseline"]).strip(),
        tuning=str(raw["tuning"]).strip(),
        experiment=str(raw["experiment"]),
        full=Mode(seeds, dict(raw.get("options", {})), float(timeout)),
        quick=Mode(q_seeds, {**raw.get("options", {}), **quick.get("options", {})}, float(q_timeout)),
        rules=tuple(_rule(path, i, r) for i, r in enumerate(rules)),
        path=path,
        notes=str(raw.get("notes", "")).strip(),
        version=str(raw.get("version", "1")),
        threads=threads,
    )


def load_claims(directory: str | Path | None = None) -> dict[str, ClaimSpec]:
    """Every ``*.toml`` claim in ``directory`` (default: the shipped claims), by id."""
    d = Path(directory) if directory is not None else CLAIMS_DIR
    if not d.is_dir():
        raise ClaimError(f"claims directory {d} does not exist")
    return {c.id: c for c in (load_claim(p) for p in sorted(d.glob("*.toml")))}
