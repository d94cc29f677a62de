"""Suites: workloads x methods x rulesets, read from a TOML file whose keys mirror the CLI flags.

Example (``optarena run quick`` reads ``optarena/suites/quick.toml``)::

    name = "quick"
    version = "1"
    workloads = ["quad", "logreg", "teacher"]
    methods = ["adamw", "nadamw", "sgd-nesterov"]
    rulesets = ["external-quick"]
    baseline = "adamw"
    seed = 0
    threads = 1
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path
from typing import Any

from optarena import registry
from optarena.bench.adapters import check_compatible
from optarena.bench.rulesets import RULESETS, Ruleset
from optarena.core.errors import HyperparameterError, IncompatibleError, SuiteError, UnknownNameError
from optarena.core.types import Budget, TrialSpec, canonical_json

__all__ = ["Suite", "expand", "find_suite", "load_suite"]

# key -> (type, description). Keys are spelled as the CLI flags (``--max-steps`` <-> ``max-steps``).
_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "suite name"),
    "version": ((str, int), "suite version; a store written by another version is refused"),
    "description": (str, "one line"),
    "workloads": (list, "workload ids"),
    "methods": (list, "method names"),
    "rulesets": (list, f"rulesets, of {sorted(RULESETS)}"),
    "baseline": (str, "method the geometric-mean speedup is taken against"),
    "seed": (int, "base seed; trial seeds derive from it, the workload, study and trial (not the method)"),
    "threads": (int, "torch threads per trial"),
    "studies": (int, "override the ruleset's number of studies"),
    "trials": (int, "override the ruleset's trials per study"),
    "max-steps": (int, "cap every trial's steps (for smoke runs)"),
    "budget-scale": ((int, float), "multiply every budget (for smoke runs)"),
    "stop-at-target": (bool, "stop a trial when it reaches the target (AlgoPerf: yes)"),
    "jobs": (int, "trials at once (local executor)"),
    "executor": (str, "local or ray"),
    "address": (str, "Ray cluster address"),
    "trial-timeout": ((int, float), "seconds before a trial is killed (default 3 x budget + 60)"),
    "store": (str, "results file"),
    "hparams": (
        dict,
        "fixed hyperparameters per method, e.g. {adamw = {lr = 1e-3}}; checked against the space",
    ),
}
# Keys that change how a suite runs but not what its trials compute: not part of the fingerprint.
_RUN_ONLY = {"jobs", "executor", "address", "trial-timeout", "store", "description"}


@dataclass(frozen=True)
class Suite:
    name: str
    workloads: tuple[str, ...]
    methods: tuple[str, ...]
    rulesets: tuple[str, ...] = ("external",)
    version: str = "1"
    description: str = ""
    baseline: str | None = None
    seed: int = 0
    threads: int = 1
    studies: int | None = None
    trials: int | None = None
    max_steps: int | None = None
    budget_scale: float = 1.0
    stop_at_target: bool = True
    jobs: int = 1
    executor: str = "local"
    address: str | None = None
    trial_timeout: float | None = None
    store: str | None = None
    hparams: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = field(default="<inline>", compare=False)

    def with_options(self, **options: Any) -> Suite:
        """Apply CLI overrides (``None`` means "not given")."""
        given = {k.replace("-", "_"): v for k, v in options.items() if v is not None}
        unknown = set(given) - {k.replace("-", "_") for k in _KEYS}
        if unknown:
            raise SuiteError(f"unknown suite option(s): {sorted(unknown)}")
        suite = replace(self, **{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})
        suite.validate()
        return suite

    def validate(self) -> None:
        for r in self.rulesets:
            if r not in RULESETS:
                raise SuiteError(f"{self.source}: unknown ruleset {r!r}; known: {sorted(RULESETS)}")
        for name, value, low in (
            ("threads", self.threads, 1),
            ("jobs", self.jobs, 1),
            ("studies", self.studies, 1),
            ("trials", self.trials, 1),
            ("max-steps", self.max_steps, 1),
        ):
            if value is not None and value < low:
                raise SuiteError(f"{self.source}: {name} must be >= {low}, got {value}")
        if not self.budget_scale > 0:
            raise SuiteError(f"{self.source}: budget-scale must be > 0, got {self.budget_scale}")
        if self.executor not in ("local", "ray"):
            raise SuiteError(f"{self.source}: executor must be 'local' or 'ray', got {self.executor!r}")
        if not self.workloads or not self.methods:
            raise SuiteError(f"{self.source}: a suite needs at least one workload and one method")
        for w in self.workloads:
            _check_name("workload", w)
        for m in self.methods:
            _check_name("method", m)
        for m, values in self.hparams.items():
            if m not in self.methods:
                raise SuiteError(
                    f"{self.source}: hparams given for {m!r}, which is not one of the suite's methods"
                )
            if not isinstance(values, Mapping):
                raise SuiteError(
                    f"{self.source}: hparams for {m!r} must be a table of name = value, got {values!r}"
                )
            registry.resolve_method(m).search_space.validate(values, m)
        if self.baseline is not None and self.baseline not in self.methods:
            raise SuiteError(f"{self.source}: baseline {self.baseline!r} is not one of the suite's methods")

    def ruleset_objs(self) -> list[Ruleset]:
        out = []
        for name in self.rulesets:
            r = RULESETS[name]
            out.append(
                replace(
                    r, studies=self.studies or r.studies, trials=(self.trials or r.trials) if r.tuned else 1
                )
            )
        return out

    def fingerprint(self) -> str:
        """Hash of everything that determines the suite's trials (workload and method versions included)."""
        d = {k: v for k, v in self.__dict__.items() if k.replace("_", "-") not in _RUN_ONLY and k != "source"}
        d["workload_versions"] = {w: registry.resolve_workload(w).version for w in self.workloads}
        d["method_versions"] = {m: registry.resolve_method(m).version for m in self.methods}
        return hashlib.sha256(canonical_json(d).encode()).hexdigest()[:16]

    def default_store(self) -> Path:
        return Path(self.store) if self.store else Path("results") / f"{self.name}.sqlite"


def _check_name(kind: str, name: str) -> None:
    known = [e.name for e in (registry.list_workloads() if kind == "workload" else registry.list_methods())]
    if name not in known:
        raise UnknownNameError(kind, name, known)


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return i
    return None


def load_suite(path: str | Path) -> Suite:
    """Parse a suite TOML file. Errors name the file, the line and the key."""
    path = Path(path)
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: malformed TOML: {exc}") from None
    return suite_from_mapping(data, str(path), text)


def suite_from_mapping(data: Mapping[str, Any], source: str = "<inline>", text: str = "") -> Suite:
    def where(key: str) -> str:
        line = _line_of(text, key)
        return f"{source}, line {line}, key {key!r}" if line else f"{source}, key {key!r}"

    for key, value in data.items():
        if key not in _KEYS:
            close = [k for k in _KEYS if k.replace("-", "_") == key.replace("-", "_")]
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known keys: {', '.join(_KEYS)}"
            raise SuiteError(f"{where(key)}: unknown key{hint}")
        typ, desc = _KEYS[key]
        ok = isinstance(value, typ) and not (isinstance(value, bool) and typ in (int, (int, float)))
        if not ok:
            raise SuiteError(f"{where(key)}: expected {desc} ({_type_name(typ)}), got {value!r}")
        if typ is list and not all(isinstance(v, str) for v in value):
            raise SuiteError(f"{where(key)}: expected a list of names, got {value!r}")
    for required in ("name", "workloads", "methods"):
        if required not in data:
            raise SuiteError(f"{source}: missing required key {required!r}")
    kwargs = {k.replace("-", "_"): (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
    if "hparams" in kwargs:
        kwargs["hparams"] = {
            m: dict(v) if isinstance(v, Mapping) else v for m, v in kwargs["hparams"].items()
        }
    kwargs["version"] = str(kwargs.get("version", "1"))
    suite = Suite(source=source, **kwargs)
    try:
        suite.validate()
    except UnknownNameError as exc:
        key = "workloads" if exc.kind == "workload" else "methods"
        raise SuiteError(f"{where(key)}: {exc}") from None
    except HyperparameterError as exc:
        raise SuiteError(f"{where('hparams')}: {exc}") from None
    return suite


def _type_name(typ: type | tuple[type, ...]) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__


def find_suite(name_or_path: str) -> Path:
    """A path to a TOML file, or the name of a shipped suite (``quick``, ``cpu-small``)."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.exists():
            raise SuiteError(f"suite file {p} does not exist")
        return p
    shipped = files("optarena") / "suites" / f"{name_or_path}.toml"
    if not shipped.is_file():
        names = sorted(
            f.name.removesuffix(".toml")
            for f in (files("optarena") / "suites").iterdir()
            if f.name.endswith(".toml")
        )
        raise SuiteError(
            f"no suite named {name_or_path!r}; shipped suites: {', '.join(names)} (or pass a .toml path)"
        )
    return Path(str(shipped))


def trial_seed(base: int, workload: str, study: int, trial: int) -> int:
    """Seeds are shared across methods (paired comparisons) and differ across workloads, studies and trials."""
    h = hashlib.sha256(f"{base}/{workload}/{study}/{trial}".encode()).digest()
    return int.from_bytes(h[:4], "little") % (2**31 - 1)


def expand(suite: Suite) -> tuple[list[TrialSpec], list[str]]:
    """All trials of a suite, and notes on method/workload pairs that cannot run together (skipped)."""
    specs, notes = [], []
    for ruleset in suite.ruleset_objs():
        for w in suite.workloads:
            workload = registry.resolve_workload(w)
            budget = Budget(
                workload.max_runtime * ruleset.budget_factor * suite.budget_scale, suite.max_steps
            )
            for m in suite.methods:
                method = registry.resolve_method(m)
                try:
                    check_compatible(method, workload)
                except IncompatibleError as err:
                    note = f"skipped {m} on {w}: {err}; scored as a miss"
                    if note not in notes:
                        notes.append(note)
                    continue
                for s in range(ruleset.studies):
                    for t in range(ruleset.trials):
                        if ruleset.tuned:
                            hp = method.search_space.sample(s * ruleset.trials + t)
                        else:
                            hp = dict(method.defaults)
                        hp.update(suite.hparams.get(m, {}))
                        specs.append(
                            TrialSpec(
                                workload=w,
                                workload_version=workload.version,
                                method=m,
                                method_version=method.version,
                                hparams=hp,
                                seed=trial_seed(suite.seed, w, s, t),
                                budget=budget,
                                ruleset=ruleset.name,
                                study=s,
                                trial=t,
                                threads=suite.threads,
                                stop_at_target=suite.stop_at_target,
                            )
                        )
    return specs, notes
