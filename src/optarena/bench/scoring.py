"""AlgoPerf-style scores from stored trials: time-to-target, medians over studies, performance profiles.

Pure functions on :class:`~optarena.core.types.TrialSpec` / :class:`~optarena.core.types.TrialResult`
pairs (numpy only). The rules follow the AlgoPerf benchmark:

1. *Time to target* of a trial: the earliest eval **time** (harness clock, timed seconds) whose
   validation metric reaches the workload target (``<=`` for ``mode="min"``, ``>=`` for ``"max"``);
   ``inf`` when no eval reaches it or when that time exceeds the trial's budget. NaN never counts.
   AlgoPerf's scoring code picks the earliest eval *index*; we use the earliest *time*, which is
   the same for time-ordered curves and well defined for any order. Every finished trial counts
   (done, diverged, failed, timed out) with the evals it logged before it stopped; pending and
   running rows are ignored.
2. *Study time*: min over the study's trials (self-tuning: one trial per study, same formula).
   *Workload time*: median over studies with misses kept as ``inf`` (``np.median``: with 5 studies,
   3 hits are needed; for an even count, an ``inf`` middle value makes the median ``inf``).
3. *Held-out variant gate* (optional): a method's time on base workload W becomes ``inf`` when its
   time on a variant V of W is ``inf`` or more than ``cutoff`` x the fastest method on V. Variants
   are not scored as separate workloads in the profile; they are reported in tables.
4. *Performance ratio* r = t / min over methods of t on that workload; r > ``cutoff`` (4) becomes
   ``inf``. A workload every method missed gives r = ``inf`` (rho = 0) to all.
5. *Performance profile* (Dolan & Moré 2002): rho_m(tau) = fraction of scored workloads with
   r <= tau, on ``n_tau`` (default 1000) evenly spaced taus in [1, cutoff]. *Score* = normalised area
   under rho, (1/(cutoff-1)) * integral rho d tau, by the trapezoid rule on that grid (AlgoPerf uses
   the same rule on 100 points). We divide by the trapezoid area of rho = 1 on the same grid, which is
   exactly ``cutoff - 1`` mathematically and makes "fastest everywhere" score exactly 1.0.
6. *Geometric-mean speedup* over a baseline method: per scored workload, baseline time / method time,
   where a miss counts as the workload's budget + 1 s (AlgoPerf's convention); geometric mean over
   workloads.
7. *Bootstrap* (percentile, seeded): studies are resampled with replacement, independently per
   (workload, method); medians, gate, ratios and scores are recomputed per resample. Each
   (workload, method) draws from its own stream (seeded from the seed and the names), so adding a
   method leaves other methods' median-time intervals unchanged; score intervals can move since the
   best method of a resample can change. Interval ends use the ``lower``/``higher`` order statistics
   (no interpolation, so ``inf`` ends stay ``inf``).

Scores are relative to the best method in the set scored together, so adding a method that is slower
everywhere changes no other method's score; the set is frozen per call (the methods in the trials, or
an explicit ``methods`` list). Serialisation (:meth:`SuiteScores.to_dict`) writes ``inf`` as the
string ``"inf"`` and NaN / undefined values as ``None``, everywhere.

References:
    G. E. Dahl, F. Schneider, Z. Nado, et al. "Benchmarking Neural Network Training Algorithms".
    arXiv:2306.07179, 2023.
    E. D. Dolan and J. J. Moré. "Benchmarking optimization software with performance profiles".
    Mathematical Programming 91(2):201-213, 2002.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from optarena.core.types import EvalPoint, TrialResult, TrialSpec, TrialStatus

__all__ = [
    "LRPoint",
    "RulesetScores",
    "SuiteScores",
    "WorkloadInfo",
    "best_metric",
    "best_trials",
    "format_time",
    "geomean_speedup",
    "learning_rate_sensitivity",
    "median_with_misses",
    "performance_profile",
    "performance_ratios",
    "profile_score",
    "reaches",
    "score_trials",
    "tau_grid",
    "time_to_target",
    "trial_time",
]

Trial = tuple[TrialSpec, TrialResult]
INF = math.inf


@dataclass(frozen=True)
class WorkloadInfo:
    """What scoring needs to know about a workload: its metric, direction, target and base workload."""

    id: str
    metric: str
    mode: str  # "min" or "max"
    target: float
    variant_of: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ValueError(f"workload {self.id!r}: mode must be 'min' or 'max', got {self.mode!r}")


# ----------------------------------------------------------------------------------------------
# Per-trial quantities
# ----------------------------------------------------------------------------------------------


def reaches(value: float, target: float, mode: str) -> bool:
    """Whether ``value`` meets ``target`` (``<=`` for min, ``>=`` for max); NaN never does."""
    if value is None or not isinstance(value, int | float) or math.isnan(value):
        return False
    return value <= target if mode == "min" else value >= target


def time_to_target(
    curve: Sequence[EvalPoint], target: float, mode: str, budget: float, metric: str | None = None
) -> float:
    """Earliest eval time at which ``metric`` reaches ``target``; ``inf`` if never or after ``budget``.

    ``metric`` may be omitted when every eval records a single metric.
    """
    hits = [p.time for p in curve if reaches(_metric_of(p, metric), target, mode)]
    if not hits:
        return INF
    t = min(hits)
    return float(t) if t <= budget else INF


def _metric_of(p: EvalPoint, metric: str | None) -> float:
    if metric is None:
        if len(p.metrics) != 1:
            raise ValueError(f"name the metric: the eval at step {p.step} records {sorted(p.metrics)}")
        (value,) = p.metrics.values()
        return value
    return p.metrics.get(metric, math.nan)


def best_metric(curve: Sequence[EvalPoint], metric: str, mode: str, budget: float = INF) -> float:
    """Best value of ``metric`` among evals within ``budget`` (NaN when there is none)."""
    vals = [
        float(p.metrics[metric])
        for p in curve
        if p.time <= budget and metric in p.metrics and not math.isnan(float(p.metrics[metric]))
    ]
    if not vals:
        return math.nan
    return min(vals) if mode == "min" else max(vals)


def median_with_misses(values: Iterable[float]) -> float:
    """Median with misses as ``inf`` kept in (``np.median``); ``inf`` for an empty list."""
    arr = np.asarray(list(values), dtype=float)
    return float(np.median(arr)) if arr.size else INF


# ----------------------------------------------------------------------------------------------
# Across methods
# ----------------------------------------------------------------------------------------------


def performance_ratios(times: Mapping[str, float], cutoff: float = 4.0) -> dict[str, float]:
    """r = t / best t over ``times``; ``inf`` above ``cutoff``, and for all when every method missed."""
    arr = np.array([times[m] for m in times], dtype=float)[None, None, :]
    r = _ratios(arr, cutoff)[0, 0]
    return {m: float(x) for m, x in zip(times, r, strict=True)}


def _ratios(t: np.ndarray, cutoff: float) -> np.ndarray:
    """Ratios along the last axis of ``t`` (shape (..., M)) to the row minimum, with the cutoff."""
    best = np.min(t, axis=-1, keepdims=True) if t.shape[-1] else np.full((*t.shape[:-1], 1), INF)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = t / best
    r = np.where(np.isfinite(best) & (best > 0), r, np.where((best == 0) & (t == 0), 1.0, INF))
    r = np.where(np.isfinite(t), r, INF)
    return np.where(r <= cutoff, r, INF)


def tau_grid(cutoff: float = 4.0, n_tau: int = 1000) -> np.ndarray:
    """The taus the profile is evaluated on: ``n_tau`` evenly spaced points in [1, cutoff]."""
    return np.linspace(1.0, cutoff, n_tau)


def performance_profile(ratios: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """rho(tau) from ratios of shape (..., W): fraction of the W workloads with r <= tau.

    Returns shape (..., len(taus)); all zeros when W = 0.
    """
    w = ratios.shape[-1]
    if w == 0:
        return np.zeros((*ratios.shape[:-1], len(taus)))
    counts = (ratios[..., :, None] <= taus).sum(axis=-2)
    return counts / w


def profile_score(rho: np.ndarray, taus: np.ndarray) -> np.ndarray | float:
    """Normalised trapezoid area under rho (last axis) on ``taus``: 1 when rho = 1, 0 when rho = 0."""
    area = np.trapezoid(rho, taus, axis=-1)
    norm = np.trapezoid(np.ones(len(taus)), taus)
    out = area / norm
    return float(out) if np.ndim(out) == 0 else out


def geomean_speedup(
    base_times: Sequence[float], method_times: Sequence[float], budgets: Sequence[float]
) -> float:
    """Geometric mean over workloads of baseline time / method time; a miss counts as budget + 1 s."""
    b = np.asarray(base_times, dtype=float)
    m = np.asarray(method_times, dtype=float)
    cap = np.asarray(budgets, dtype=float) + 1.0
    if b.size == 0:
        return math.nan
    b = np.where(np.isfinite(b), b, cap)
    m = np.where(np.isfinite(m), m, cap)
    floor = 1e-12  # a target met at time 0 would otherwise divide by zero
    return float(np.exp(np.mean(np.log(np.maximum(b, floor)) - np.log(np.maximum(m, floor)))))


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------

Table = dict[str, dict[str, float]]  # workload -> method -> value


@dataclass
class RulesetScores:
    """Scores of one ruleset. Tables are keyed ``[workload][method]``; times are timed seconds.

    Attributes:
        ruleset: ruleset name ("external", "self-tuning", ...).
        methods: the frozen method set, in display order.
        workloads: workloads scored in the profile (variants excluded).
        variants: held-out variants present, mapped to their base workload (shown, not scored).
        budgets: per workload, the largest trial budget (``max_time``) seen.
        study_times: per (workload, method), study index -> min time-to-target over its trials.
        best_trial: per (workload, method), study index -> key of the study's best trial.
        raw_time: median over studies before the variant gate.
        median_time: the workload time used for scoring (after the gate); ``inf`` = miss.
        median_time_ci: bootstrap interval (lo, hi) of ``median_time``.
        gated: True where the variant gate turned a finite time into ``inf``.
        ratios: r = t / best t with the cutoff (``inf`` above it).
        hit_rate_trials / hit_rate_studies: fraction of trials / studies that reached the target.
        n_trials / n_studies: counts behind the hit rates.
        score / score_ci: normalised area under the profile and its bootstrap interval.
        taus / profile: the tau grid and rho_m(tau) per method.
        geomean_speedup: vs the baseline method (NaN when there is no baseline).
    """

    ruleset: str
    methods: list[str]
    workloads: list[str]
    variants: dict[str, str]
    budgets: dict[str, float]
    study_times: dict[str, dict[str, dict[int, float]]]
    best_trial: dict[str, dict[str, dict[int, str]]]
    raw_time: Table
    median_time: Table
    median_time_ci: dict[str, dict[str, tuple[float, float]]]
    gated: dict[str, dict[str, bool]]
    ratios: Table
    hit_rate_trials: Table
    hit_rate_studies: Table
    n_trials: dict[str, dict[str, int]]
    n_studies: dict[str, dict[str, int]]
    score: dict[str, float]
    score_ci: dict[str, tuple[float, float]]
    taus: np.ndarray
    profile: dict[str, np.ndarray]
    geomean_speedup: dict[str, float]

    @property
    def all_workloads(self) -> list[str]:
        """Scored workloads followed by the variants."""
        return self.workloads + sorted(self.variants)

    def variant_ranks(self) -> dict[str, VariantRanks]:
        """Per held-out variant present with its base workload: how the methods' ranking moves."""
        return {
            v: variant_rank_change(self.raw_time[base], self.raw_time[v], base, v, self.methods)
            for v, base in sorted(self.variants.items())
            if base in self.raw_time and v in self.raw_time
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "ruleset": self.ruleset,
            "methods": list(self.methods),
            "workloads": list(self.workloads),
            "variants": dict(self.variants),
            "budgets": _jsonify(self.budgets),
            "study_times": {
                w: {m: {str(s): _num(t) for s, t in d.items()} for m, d in row.items()}
                for w, row in self.study_times.items()
            },
            "best_trial": {
                w: {m: {str(s): k for s, k in d.items()} for m, d in row.items()}
                for w, row in self.best_trial.items()
            },
            "raw_time": _jsonify(self.raw_time),
            "median_time": _jsonify(self.median_time),
            "median_time_ci": _jsonify(self.median_time_ci),
            "gated": self.gated,
            "ratios": _jsonify(self.ratios),
            "hit_rate_trials": _jsonify(self.hit_rate_trials),
            "hit_rate_studies": _jsonify(self.hit_rate_studies),
            "n_trials": self.n_trials,
            "n_studies": self.n_studies,
            "score": _jsonify(self.score),
            "score_ci": _jsonify(self.score_ci),
            "taus": _jsonify(self.taus),
            "profile": _jsonify(self.profile),
            "geomean_speedup": _jsonify(self.geomean_speedup),
            "variant_ranks": {v: r.to_dict() for v, r in self.variant_ranks().items()},
        }


@dataclass(frozen=True)
class VariantRanks:
    """The methods' ranks by median time-to-target (before the variant gate) on a base workload and on
    its held-out variant. Rank 1 = fastest; methods that miss share the last rank (ties share the mean
    rank). ``tau`` is Kendall's tau-b between the two time vectors (misses tied last); 1 = same order,
    NaN when either ranking is all ties (nothing to compare)."""

    base: str
    variant: str
    ranks_base: dict[str, float]
    ranks_variant: dict[str, float]
    tau: float

    @property
    def moved(self) -> list[str]:
        """Methods whose rank differs between the base and the variant, largest move first."""
        d = {m: self.ranks_variant[m] - self.ranks_base[m] for m in self.ranks_base}
        return sorted((m for m in d if d[m] != 0), key=lambda m: (-abs(d[m]), m))

    @property
    def top_changed(self) -> bool:
        """True when the fastest method(s) on the base and on the variant differ."""
        best_b = {m for m, r in self.ranks_base.items() if r == min(self.ranks_base.values())}
        best_v = {m for m, r in self.ranks_variant.items() if r == min(self.ranks_variant.values())}
        return best_b != best_v

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "variant": self.variant,
            "ranks_base": dict(self.ranks_base),
            "ranks_variant": dict(self.ranks_variant),
            "tau": _num(self.tau),
            "moved": self.moved,
            "top_changed": self.top_changed,
        }


def _ranks(times: Sequence[float]) -> list[float]:
    """Ranks (1 = smallest), ties sharing their mean rank; ``inf`` ties last."""
    order = sorted(range(len(times)), key=lambda i: times[i])
    ranks = [0.0] * len(times)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and times[order[j + 1]] == times[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _kendall_tau_b(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either vector excluded from the pair counts as in tau-b); NaN if undefined."""
    conc = disc = ties_a = ties_b = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da = (a[i] > a[j]) - (a[i] < a[j])
            db = (b[i] > b[j]) - (b[i] < b[j])
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif da == db:
                conc += 1
            else:
                disc += 1
    denom = math.sqrt((conc + disc + ties_a) * (conc + disc + ties_b))
    return (conc - disc) / denom if denom > 0 else math.nan


def variant_rank_change(
    base_times: Mapping[str, float],
    variant_times: Mapping[str, float],
    base: str,
    variant: str,
    methods: Sequence[str],
) -> VariantRanks:
    """Ranks of ``methods`` by time on ``base`` and ``variant`` (``inf`` = miss, tied last), and the
    Kendall tau-b between the two; a method without a time counts as a miss."""
    ms = list(methods)
    a = [float(base_times.get(m, math.inf)) for m in ms]
    b = [float(variant_times.get(m, math.inf)) for m in ms]
    if any(math.isnan(x) for x in a + b):
        raise ValueError(f"NaN time in the ranking of {base!r} vs {variant!r}")
    return VariantRanks(
        base=base,
        variant=variant,
        ranks_base=dict(zip(ms, _ranks(a), strict=True)),
        ranks_variant=dict(zip(ms, _ranks(b), strict=True)),
        tau=_kendall_tau_b(a, b),
    )


@dataclass
class SuiteScores:
    """Scores of every ruleset in a set of trials, with the settings that produced them."""

    rulesets: dict[str, RulesetScores]
    workloads: dict[str, WorkloadInfo]
    baseline: str | None = None
    cutoff: float = 4.0
    variant_gate: bool = True
    n_bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    n_tau: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form: ``inf`` as ``"inf"``, NaN as ``None``."""
        return {
            "settings": {
                "baseline": self.baseline,
                "cutoff": self.cutoff,
                "variant_gate": self.variant_gate,
                "n_bootstrap": self.n_bootstrap,
                "confidence": self.confidence,
                "seed": self.seed,
                "n_tau": self.n_tau,
            },
            "workloads": {
                w: {
                    "metric": i.metric,
                    "mode": i.mode,
                    "target": _num(i.target),
                    "variant_of": i.variant_of,
                }
                for w, i in self.workloads.items()
            },
            "rulesets": {name: rs.to_dict() for name, rs in self.rulesets.items()},
            **({"extra": _jsonify(self.extra)} if self.extra else {}),
        }

    def format_table(self) -> str:
        """Plain-text tables for the CLI: per ruleset, the scores, then median time-to-target."""
        pct = round(self.confidence * 100)
        out: list[str] = []
        for name, rs in self.rulesets.items():
            out.append(
                f"== ruleset {name}: {len(rs.workloads)} scored workloads, {len(rs.methods)} methods =="
            )
            base = f"speedup vs {self.baseline}" if self.baseline else "speedup"
            rows = [["method", "score", f"{pct}% CI", base, "hit rate (studies)"]]
            for m in sorted(rs.methods, key=lambda m: (-rs.score[m], m)):
                lo, hi = rs.score_ci[m]
                hits = [rs.hit_rate_studies[w][m] for w in rs.all_workloads]
                hits = [h for h in hits if not math.isnan(h)]
                rows.append(
                    [
                        m,
                        f"{rs.score[m]:.4f}",
                        f"[{lo:.3f}, {hi:.3f}]",
                        _fmt_speedup(rs.geomean_speedup[m]),
                        f"{np.mean(hits):.0%}" if hits else "-",
                    ]
                )
            out.append(_text_table(rows))
            out.append("")
            out.append("median time-to-target [s] (ratio to best); miss = no median hit, * = variant gate")
            rows = [["workload", *rs.methods]]
            for w in rs.all_workloads:
                label = w if w not in rs.variants else f"{w} (variant of {rs.variants[w]})"
                row = [label]
                for m in rs.methods:
                    t = rs.median_time[w][m]
                    if math.isinf(t):
                        row.append("miss*" if rs.gated[w][m] else "miss")
                    elif w in rs.ratios:
                        r = rs.ratios[w][m]
                        row.append(
                            f"{format_time(t)} ({'>' + _g(self.cutoff) if math.isinf(r) else f'{r:.2f}'})"
                        )
                    else:
                        row.append(format_time(t))
                rows.append(row)
            out.append(_text_table(rows))
            out.append("")
            for v, vr in rs.variant_ranks().items():
                tau = "undefined (all tied)" if math.isnan(vr.tau) else f"{vr.tau:.3f}"
                out.append(
                    f"ranks on {vr.base} -> held-out variant {v} (1 = fastest; misses tie last): "
                    f"Kendall tau {tau}; fastest {'changes' if vr.top_changed else 'unchanged'}"
                )
                rows = [["method", vr.base, v, "move"]]
                for m in sorted(rs.methods, key=lambda m: (vr.ranks_base[m], m)):
                    d = vr.ranks_variant[m] - vr.ranks_base[m]
                    rows.append([m, _g(vr.ranks_base[m]), _g(vr.ranks_variant[m]), f"{d:+g}" if d else "="])
                out.append(_text_table(rows))
                out.append("")
        return "\n".join(out).rstrip() + "\n"


def score_markers(suite: str) -> tuple[str, str]:
    """The begin and end marker lines of a suite's generated score block in a markdown file."""
    return (
        f"<!-- scores:begin {suite} (generated by `optarena score {suite} --readme README.md`) -->",
        f"<!-- scores:end {suite} -->",
    )


def format_markdown(scores: SuiteScores, suite: str, stamp: str) -> str:
    """A markdown block for a README: per ruleset, the score table and the rank changes on the
    held-out variants, between the suite's markers; ``stamp`` says when and where the trials ran."""
    begin, end = score_markers(suite)
    pct = round(scores.confidence * 100)
    out = [begin, "", f"Suite `{suite}`, {stamp}. `optarena report {suite}` has the performance profiles."]
    for name, rs in scores.rulesets.items():
        base = f"speedup vs {scores.baseline}" if scores.baseline else "speedup"
        out += [
            "",
            f"Ruleset `{name}`: {len(rs.workloads)} scored workloads ({', '.join(rs.workloads)}), "
            f"score = area under the performance profile on tau in [1, {scores.cutoff:g}].",
            "",
            f"| Method | Score | {pct}% CI | {base.capitalize()} | Hit rate (studies) |",
            "|---|---|---|---|---|",
        ]
        for m in sorted(rs.methods, key=lambda m: (-rs.score[m], m)):
            lo, hi = rs.score_ci[m]
            hits = [h for h in (rs.hit_rate_studies[w][m] for w in rs.all_workloads) if not math.isnan(h)]
            hit = f"{np.mean(hits):.0%}" if hits else "-"
            out.append(
                f"| {m} | {rs.score[m]:.3f} | [{lo:.3f}, {hi:.3f}] | "
                f"{_fmt_speedup(rs.geomean_speedup[m])} | {hit} |"
            )
        for v, vr in rs.variant_ranks().items():
            tau = "undefined (all tied)" if math.isnan(vr.tau) else f"{vr.tau:.2f}"
            moves = (
                ", ".join(f"{m} {vr.ranks_base[m]:g}->{vr.ranks_variant[m]:g}" for m in vr.moved) or "none"
            )
            out += [
                "",
                f"Held-out variant `{v}` of `{vr.base}`: Kendall tau of the rankings {tau}; the fastest "
                f"method {'changes' if vr.top_changed else 'stays the same'}; rank moves: {moves}.",
            ]
    out += ["", end]
    return "\n".join(out)


def format_time(t: float) -> str:
    """A time with 4 significant digits, or "miss" for ``inf``."""
    return "miss" if math.isinf(t) else f"{t:.4g}"


def _g(x: float) -> str:
    return f"{x:g}"


def _fmt_speedup(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}x"


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(x: Any) -> Any:
    if isinstance(x, bool | str) or x is None:
        return x
    x = float(x)
    if math.isnan(x):
        return None
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _jsonify(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonify(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_jsonify(v) for v in obj]
    if isinstance(obj, int) and not isinstance(obj, bool):
        return obj
    if isinstance(obj, float | np.floating):
        return _num(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------


def _finished(trials: Iterable[Trial]) -> list[Trial]:
    return [(s, r) for s, r in trials if TrialStatus(r.status).finished]


def _infos(trials: Sequence[Trial], workloads: Mapping[str, WorkloadInfo] | None) -> dict[str, WorkloadInfo]:
    """The given infos, completed from the results' own metric/mode/target for unknown workloads."""
    infos = dict(workloads or {})
    for spec, res in trials:
        if spec.workload in infos:
            continue
        if res.target is None or res.metric is None:
            raise ValueError(
                f"no WorkloadInfo for {spec.workload!r} and its results do not record metric and target"
            )
        infos[spec.workload] = WorkloadInfo(spec.workload, res.metric, res.mode, float(res.target))
    return infos


def trial_time(spec: TrialSpec, res: TrialResult, info: WorkloadInfo) -> float:
    """Time-to-target of one trial under the workload's rule and the trial's budget."""
    return time_to_target(res.curve, info.target, info.mode, spec.budget.max_time, info.metric)


def best_trials(
    trials: Iterable[Trial], workloads: Mapping[str, WorkloadInfo] | None = None
) -> dict[tuple[str, str, str], dict[int, Trial]]:
    """The best trial of each study: (ruleset, workload, method) -> {study: (spec, result)}.

    Best = earliest time-to-target; among trials that all missed, the best metric reached.
    """
    trials = _finished(trials)
    infos = _infos(trials, workloads)
    best: dict[tuple[str, str, str], dict[int, tuple[tuple[float, float], Trial]]] = defaultdict(dict)
    for spec, res in trials:
        info = infos[spec.workload]
        t = trial_time(spec, res, info)
        bm = best_metric(res.curve, info.metric, info.mode, spec.budget.max_time)
        sort_metric = INF if math.isnan(bm) else (bm if info.mode == "min" else -bm)
        key = (t, sort_metric)
        slot = best[(spec.ruleset, spec.workload, spec.method)]
        if spec.study not in slot or key < slot[spec.study][0]:
            slot[spec.study] = (key, (spec, res))
    return {k: {s: v[1] for s, v in sorted(d.items())} for k, d in best.items()}


def _stream(seed: int, *names: str) -> np.random.Generator:
    """A generator seeded from ``seed`` and names, stable across runs and method sets."""
    return np.random.default_rng([seed, *(zlib.crc32(n.encode()) for n in names)])


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    lo = np.quantile(samples, alpha, method="lower")
    hi = np.quantile(samples, 1.0 - alpha, method="higher")
    return float(lo), float(hi)


def _gate(
    t: np.ndarray, widx: Mapping[str, int], variants: Mapping[str, str], cutoff: float
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the variant gate to times ``t`` of shape (..., W, M); returns (gated times, gate mask)."""
    mask = np.zeros(t.shape, dtype=bool)
    for v, base in variants.items():
        if base not in widx:
            continue
        tv = t[..., widx[v], :]
        fastest = np.min(tv, axis=-1, keepdims=True)
        fail = ~np.isfinite(tv) | (tv > cutoff * fastest)
        mask[..., widx[base], :] |= fail
    gated = np.where(mask, INF, t)
    return gated, mask & np.isfinite(t)


def _score_ruleset(
    ruleset: str,
    trials: Sequence[Trial],
    infos: Mapping[str, WorkloadInfo],
    methods: Sequence[str] | None,
    baseline: str | None,
    cutoff: float,
    variant_gate: bool,
    n_bootstrap: int,
    confidence: float,
    seed: int,
    n_tau: int,
    n_studies: int | None,
) -> RulesetScores:
    mset = list(methods) if methods is not None else sorted({s.method for s, _ in trials})
    present = sorted({s.workload for s, _ in trials})
    variants = {w: infos[w].variant_of for w in present if infos[w].variant_of is not None}
    scored = [w for w in present if w not in variants]
    all_w = scored + sorted(variants)
    widx = {w: i for i, w in enumerate(all_w)}

    budgets: dict[str, float] = {w: 0.0 for w in all_w}
    per_study: dict[tuple[str, str], dict[int, float]] = defaultdict(dict)
    trial_hits: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for spec, res in trials:
        if spec.method not in mset:
            continue
        w, m = spec.workload, spec.method
        budgets[w] = max(budgets[w], float(spec.budget.max_time))
        t = trial_time(spec, res, infos[w])
        trial_hits[(w, m)].append(math.isfinite(t))
        d = per_study[(w, m)]
        d[spec.study] = min(d.get(spec.study, INF), t)

    best = best_trials(trials, infos)
    study_times: dict[str, dict[str, dict[int, float]]] = {w: {} for w in all_w}
    best_trial: dict[str, dict[str, dict[int, str]]] = {w: {} for w in all_w}
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for w in all_w:
        for m in mset:
            d = dict(sorted(per_study.get((w, m), {}).items()))
            study_times[w][m] = d
            best_trial[w][m] = {s: r.key for s, (_, r) in best.get((ruleset, w, m), {}).items()}
            vals = list(d.values())
            if n_studies is not None and len(vals) < n_studies:
                vals += [INF] * (n_studies - len(vals))  # studies that never ran count as misses
            arrays[(w, m)] = np.asarray(vals, dtype=float)

    n_w, n_m = len(all_w), len(mset)
    raw = np.full((n_w, n_m), INF)
    for (w, m), a in arrays.items():
        raw[widx[w], mset.index(m)] = median_with_misses(a)
    live_variants = variants if variant_gate else {}
    gated, gate_mask = _gate(raw, widx, live_variants, cutoff)
    n_s = len(scored)
    taus = tau_grid(cutoff, n_tau)
    ratios = _ratios(gated[:n_s], cutoff)  # (W_s, M)
    rho = performance_profile(ratios.T, taus)  # (M, n_tau)
    score = profile_score(rho, taus)

    # bootstrap: (B, W, M) medians of resampled studies
    boot = np.full((n_bootstrap, n_w, n_m), INF)
    for (w, m), a in arrays.items():
        if a.size:
            idx = _stream(seed, ruleset, w, m).integers(0, a.size, size=(n_bootstrap, a.size))
            boot[:, widx[w], mset.index(m)] = np.median(a[idx], axis=1)
    boot_gated, _ = _gate(boot, widx, live_variants, cutoff)
    boot_ratios = _ratios(boot_gated[:, :n_s], cutoff)  # (B, W_s, M)
    boot_scores = (
        np.stack(
            [
                np.atleast_1d(profile_score(performance_profile(boot_ratios[:, :, j], taus), taus))
                for j in range(n_m)
            ],
            axis=-1,
        )
        if n_bootstrap
        else np.zeros((0, n_m))
    )

    speed: dict[str, float] = {}
    for j, m in enumerate(mset):
        if baseline is None or baseline not in mset or not n_s:
            speed[m] = math.nan
        else:
            speed[m] = geomean_speedup(
                gated[:n_s, mset.index(baseline)], gated[:n_s, j], [budgets[w] for w in scored]
            )

    def table(a: np.ndarray, ws: Sequence[str]) -> Table:
        return {w: {m: float(a[i, j]) for j, m in enumerate(mset)} for i, w in enumerate(ws)}

    def ci(j: int, i: int | None = None) -> tuple[float, float]:
        if not n_bootstrap:
            return (math.nan, math.nan)
        return _interval(boot_scores[:, j] if i is None else boot_gated[:, i, j], confidence)

    return RulesetScores(
        ruleset=ruleset,
        methods=mset,
        workloads=scored,
        variants=variants,
        budgets=budgets,
        study_times=study_times,
        best_trial=best_trial,
        raw_time=table(raw, all_w),
        median_time=table(gated, all_w),
        median_time_ci={w: {m: ci(j, i) for j, m in enumerate(mset)} for i, w in enumerate(all_w)},
        gated={w: {m: bool(gate_mask[i, j]) for j, m in enumerate(mset)} for i, w in enumerate(all_w)},
        ratios=table(ratios, scored),
        hit_rate_trials={
            w: {m: float(np.mean(trial_hits[(w, m)])) if trial_hits.get((w, m)) else math.nan for m in mset}
            for w in all_w
        },
        hit_rate_studies={
            w: {
                m: float(np.mean(np.isfinite(arrays[(w, m)]))) if arrays[(w, m)].size else math.nan
                for m in mset
            }
            for w in all_w
        },
        n_trials={w: {m: len(trial_hits.get((w, m), [])) for m in mset} for w in all_w},
        n_studies={w: {m: int(arrays[(w, m)].size) for m in mset} for w in all_w},
        score={m: float(score[j]) for j, m in enumerate(mset)},
        score_ci={m: ci(j) for j, m in enumerate(mset)},
        taus=taus,
        profile={m: rho[j] for j, m in enumerate(mset)},
        geomean_speedup=speed,
    )


def score_trials(
    trials: Iterable[Trial],
    workloads: Mapping[str, WorkloadInfo] | None = None,
    *,
    methods: Sequence[str] | None = None,
    baseline: str | None = None,
    cutoff: float = 4.0,
    variant_gate: bool = True,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    n_tau: int = 1000,
    n_studies: int | None = None,
) -> SuiteScores:
    """Score trials per ruleset under the AlgoPerf rules (see the module docstring).

    Args:
        trials: (spec, result) pairs; pending and running rows are ignored.
        workloads: workload id -> :class:`WorkloadInfo`; a workload missing here is described by its
            results' ``metric``/``mode``/``target``.
        methods: the frozen method set (default: every method in the trials, sorted). A listed
            method without trials misses everywhere; trials of unlisted methods are ignored.
        baseline: method the geometric-mean speedup is measured against.
        cutoff: ratios above it count as misses; the profile spans [1, cutoff]. Also the variant
            gate's factor.
        variant_gate: apply the held-out variant gate.
        n_bootstrap, confidence, seed: percentile bootstrap over studies.
        n_tau: points of the tau grid for the trapezoid rule.
        n_studies: expected studies per (workload, method); missing ones count as misses.
    """
    if cutoff <= 1:
        raise ValueError(f"cutoff must be > 1, got {cutoff!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if n_tau < 2:
        raise ValueError(f"n_tau must be >= 2, got {n_tau!r}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap!r}")
    rows = _finished(trials)
    infos = _infos(rows, workloads)
    by_ruleset: dict[str, list[Trial]] = defaultdict(list)
    for spec, res in rows:
        by_ruleset[spec.ruleset].append((spec, res))
    rulesets = {
        name: _score_ruleset(
            name,
            by_ruleset[name],
            infos,
            methods,
            baseline,
            cutoff,
            variant_gate,
            n_bootstrap,
            confidence,
            seed,
            n_tau,
            n_studies,
        )
        for name in sorted(by_ruleset)
    }
    used = {w for rs in rulesets.values() for w in rs.all_workloads}
    return SuiteScores(
        rulesets=rulesets,
        workloads={w: infos[w] for w in sorted(used)},
        baseline=baseline,
        cutoff=cutoff,
        variant_gate=variant_gate,
        n_bootstrap=n_bootstrap,
        confidence=confidence,
        seed=seed,
        n_tau=n_tau,
    )


# ----------------------------------------------------------------------------------------------
# Learning-rate sensitivity
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LRPoint:
    """One trial on the sensitivity plot: its learning rate, best metric and whether it hit."""

    lr: float | None
    best: float
    reached: bool
    ruleset: str
    study: int
    trial: int


def learning_rate_sensitivity(
    trials: Iterable[Trial], workloads: Mapping[str, WorkloadInfo] | None = None
) -> dict[tuple[str, str], list[LRPoint]]:
    """(workload, method) -> one point per finished trial: hparams["lr"] (None if absent), best metric
    within budget (NaN if none), and whether the target was reached within budget. Sorted by lr."""
    rows = _finished(trials)
    infos = _infos(rows, workloads)
    out: dict[tuple[str, str], list[LRPoint]] = defaultdict(list)
    for spec, res in rows:
        info = infos[spec.workload]
        lr = spec.hparams.get("lr")
        lr = float(lr) if isinstance(lr, int | float) and not isinstance(lr, bool) else None
        out[(spec.workload, spec.method)].append(
            LRPoint(
                lr=lr,
                best=best_metric(res.curve, info.metric, info.mode, spec.budget.max_time),
                reached=math.isfinite(trial_time(spec, res, info)),
                ruleset=spec.ruleset,
                study=spec.study,
                trial=spec.trial,
            )
        )
    return {
        k: sorted(v, key=lambda p: (p.lr is None, p.lr or 0.0, p.ruleset, p.study, p.trial))
        for k, v in sorted(out.items())
    }
