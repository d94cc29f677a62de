"""AlgoPerf scoring rules on hand-built trials."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats

from optarena.bench.scoring import (
    WorkloadInfo,
    geomean_speedup,
    learning_rate_sensitivity,
    median_with_misses,
    performance_ratios,
    score_trials,
    time_to_target,
    variant_rank_change,
)
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus

INF = math.inf
TARGET = 0.1
WL = {
    "quad": WorkloadInfo("quad", "loss", "min", TARGET),
    "logreg": WorkloadInfo("logreg", "loss", "min", TARGET),
    "digits": WorkloadInfo("digits", "loss", "min", TARGET),
}


def trial(
    workload: str,
    method: str,
    t: float,
    *,
    study: int = 0,
    index: int = 0,
    budget: float = 100.0,
    ruleset: str = "external",
    status: TrialStatus = TrialStatus.DONE,
    lr: float | None = None,
) -> tuple[TrialSpec, TrialResult]:
    """A trial whose loss first reaches TARGET at time ``t`` (``inf``: never)."""
    hp = {} if lr is None else {"lr": lr}
    spec = TrialSpec(
        workload,
        "1",
        method,
        "1",
        hp,
        seed=study * 100 + index,
        budget=Budget(budget),
        ruleset=ruleset,
        study=study,
        trial=index,
    )
    if math.isinf(t):
        curve = [EvalPoint(i, budget * i / 4, {"loss": 1.0 / (i + 1)}) for i in range(5)]  # >= 0.2
    else:
        curve = [
            EvalPoint(0, 0.0, {"loss": 1.0}),
            EvalPoint(1, t / 2, {"loss": 0.5}),
            EvalPoint(2, t, {"loss": TARGET * 0.9}),
            EvalPoint(3, t * 1.5, {"loss": TARGET * 0.5}),
        ]
    return spec, TrialResult(spec.key, status, curve=curve, timed_time=curve[-1].time)


def studies(workload: str, method: str, times: list[float], **kw) -> list[tuple[TrialSpec, TrialResult]]:
    """One trial per study with the given times."""
    return [trial(workload, method, t, study=s, **kw) for s, t in enumerate(times)]


def suite(table: dict[str, dict[str, float]], n: int = 3, **kw) -> list[tuple[TrialSpec, TrialResult]]:
    """Every (workload, method) with n studies all at the given time."""
    return [x for w, row in table.items() for m, t in row.items() for x in studies(w, m, [t] * n, **kw)]


# ------------------------------------------------------------------------------------ time to target


def test_time_to_target_earliest_time_budget_and_mode() -> None:
    curve = [
        EvalPoint(3, 9.0, {"acc": 0.99}),  # out of order on purpose: the earliest time wins
        EvalPoint(1, 2.0, {"acc": 0.5}),
        EvalPoint(2, 5.0, {"acc": 0.97}),
        EvalPoint(4, 12.0, {"acc": math.nan}),
    ]
    assert time_to_target(curve, 0.96, "max", budget=10.0, metric="acc") == 5.0
    assert time_to_target(curve, 0.98, "max", budget=10.0, metric="acc") == 9.0
    assert time_to_target(curve, 0.98, "max", budget=8.99, metric="acc") == INF  # hit after budget
    assert time_to_target(curve, 0.98, "max", budget=9.0, metric="acc") == 9.0  # at the budget counts
    assert time_to_target(curve, 0.995, "max", budget=100.0, metric="acc") == INF
    # the same curve under "min": 0.5 at t=2 is the first value <= 0.6
    assert time_to_target(curve, 0.6, "min", budget=100.0, metric="acc") == 2.0
    assert time_to_target(curve, 0.1, "min", budget=100.0, metric="acc") == INF
    assert time_to_target(curve, 0.6, "min", budget=100.0, metric="other") == INF
    assert time_to_target(curve, 0.6, "min", budget=100.0) == 2.0  # single metric: may be omitted


def test_time_to_target_nan_never_counts() -> None:
    curve = [EvalPoint(1, 1.0, {"loss": math.nan}), EvalPoint(2, 2.0, {"loss": 0.0})]
    assert time_to_target(curve, 1e9, "min", 10.0, "loss") == 2.0
    assert time_to_target(curve, -1e9, "max", 10.0, "loss") == 2.0


def test_time_to_target_needs_metric_when_ambiguous() -> None:
    with pytest.raises(ValueError, match="name the metric"):
        time_to_target([EvalPoint(1, 1.0, {"a": 0.0, "b": 0.0})], 1.0, "min", 10.0)


def test_median_with_misses() -> None:
    assert median_with_misses([3.0, INF, 1.0, INF, 2.0]) == 3.0  # 3 of 5 hit: finite
    assert median_with_misses([3.0, INF, 1.0, INF, INF]) == INF  # 2 of 5: miss
    assert median_with_misses([1.0, 2.0, INF, INF]) == INF  # even count, a middle value is inf
    assert median_with_misses([1.0, 2.0, 3.0, INF]) == 2.5
    assert median_with_misses([]) == INF


def test_workload_time_is_median_of_study_minima() -> None:
    rows = [
        # study 0: best of two trials is 4
        trial("quad", "a", 7.0, study=0, index=0),
        trial("quad", "a", 4.0, study=0, index=1),
        trial("quad", "a", 6.0, study=1),
        trial("quad", "a", INF, study=2),
        trial("quad", "a", INF, study=3),
        trial("quad", "a", 5.0, study=4),
        *studies("quad", "b", [1.0, 2.0, INF, INF, INF]),
    ]
    rs = score_trials(rows, WL, n_bootstrap=0).rulesets["external"]
    assert rs.study_times["quad"]["a"] == {0: 4.0, 1: 6.0, 2: INF, 3: INF, 4: 5.0}
    assert rs.median_time["quad"]["a"] == 6.0  # 3 of 5 studies hit
    assert rs.median_time["quad"]["b"] == INF  # 2 of 5
    assert rs.hit_rate_studies["quad"]["a"] == pytest.approx(3 / 5)
    assert rs.hit_rate_trials["quad"]["a"] == pytest.approx(4 / 6)
    assert rs.hit_rate_studies["quad"]["b"] == pytest.approx(2 / 5)
    assert rs.score["a"] == 1.0 and rs.score["b"] == 0.0


def test_n_studies_pads_missing_studies_as_misses() -> None:
    rows = studies("quad", "a", [1.0, 2.0, 3.0])
    assert score_trials(rows, WL, n_bootstrap=0).rulesets["external"].median_time["quad"]["a"] == 2.0
    padded = score_trials(rows, WL, n_bootstrap=0, n_studies=6).rulesets["external"]
    assert padded.median_time["quad"]["a"] == INF
    assert padded.hit_rate_studies["quad"]["a"] == 0.5


def test_pending_and_running_rows_are_ignored() -> None:
    rows = studies("quad", "a", [1.0, 1.0, 1.0])
    rows += [trial("quad", "a", 0.01, study=9, status=TrialStatus.RUNNING)]
    rows += [trial("quad", "a", 0.01, study=8, status=TrialStatus.PENDING)]
    rs = score_trials(rows, WL, n_bootstrap=0).rulesets["external"]
    assert set(rs.study_times["quad"]["a"]) == {0, 1, 2}
    assert rs.median_time["quad"]["a"] == 1.0


# ------------------------------------------------------------------------------------ scores


def test_never_hit_scores_zero_and_fastest_everywhere_scores_one() -> None:
    table = {
        "quad": {"adamw": 10.0, "best": 5.0, "sgd-lr1e-6": INF},
        "logreg": {"adamw": 8.0, "best": 7.9, "sgd-lr1e-6": INF},
        "digits": {"adamw": 30.0, "best": 12.0, "sgd-lr1e-6": INF},
    }
    s = score_trials(suite(table), WL, baseline="adamw", n_bootstrap=50).rulesets["external"]
    assert s.score["best"] == 1.0
    assert s.score["sgd-lr1e-6"] == 0.0
    assert 0.0 < s.score["adamw"] < 1.0
    assert s.score_ci["sgd-lr1e-6"] == (0.0, 0.0)
    assert np.all(s.profile["best"] == 1.0) and np.all(s.profile["sgd-lr1e-6"] == 0.0)
    assert s.taus[0] == 1.0 and s.taus[-1] == 4.0


def test_score_is_normalised_area_under_profile() -> None:
    # one workload, ratio 2.5: rho = 1 on [2.5, 4] -> area 1.5 / 3 = 0.5
    rs = score_trials(suite({"quad": {"a": 2.0, "b": 5.0}}), WL, n_bootstrap=0).rulesets["external"]
    assert rs.ratios["quad"] == {"a": 1.0, "b": 2.5}
    assert rs.score["b"] == pytest.approx(0.5, abs=2e-3)
    # two workloads: b is 2.5x on one and best on the other -> (0.5 + 1) / 2
    rs = score_trials(
        suite({"quad": {"a": 2.0, "b": 5.0}, "logreg": {"a": 9.0, "b": 3.0}}), WL, n_bootstrap=0
    ).rulesets["external"]
    assert rs.score["b"] == pytest.approx(0.75, abs=2e-3)
    assert rs.profile["b"][0] == 0.5  # rho(1) is the win rate


def test_adding_a_dominated_method_changes_no_other_score() -> None:
    table = {
        "quad": {"a": 10.0, "b": 12.0, "c": 40.0},
        "logreg": {"a": 8.0, "b": 5.0, "c": INF},
        "digits": {"a": 30.0, "b": INF, "c": 33.0},
    }
    rows = [
        x
        for w, row in table.items()
        for m, t in row.items()
        for x in studies(w, m, [t, t * 1.1, INF, t * 0.9, t * 1.2])
    ]
    before = score_trials(rows, WL, baseline="a", n_bootstrap=200).rulesets["external"]
    slow = {"quad": 11.0, "logreg": 30.0, "digits": INF}  # slower than the best everywhere
    more = rows + [x for w, t in slow.items() for x in studies(w, "slowpoke", [t] * 5)]
    after = score_trials(more, WL, baseline="a", n_bootstrap=200).rulesets["external"]
    assert after.methods == ["a", "b", "c", "slowpoke"]
    for m in ("a", "b", "c"):
        assert after.score[m] == before.score[m]
        assert np.array_equal(after.profile[m], before.profile[m])
        assert after.geomean_speedup[m] == before.geomean_speedup[m]
        for w in table:
            assert after.ratios[w][m] == before.ratios[w][m]
            assert after.median_time_ci[w][m] == before.median_time_ci[w][m]  # own bootstrap stream
    assert after.score["slowpoke"] < after.score["a"]


def test_explicit_method_set_is_frozen() -> None:
    table = {"quad": {"a": 10.0, "b": 5.0}}
    rs = score_trials(suite(table), WL, methods=["a", "ghost"], n_bootstrap=0).rulesets["external"]
    assert rs.methods == ["a", "ghost"]  # b's trials are ignored, ghost has none
    assert rs.score == {"a": 1.0, "ghost": 0.0}


def test_ratio_cutoff_at_four() -> None:
    rs = score_trials(suite({"quad": {"a": 10.0, "b": 40.0, "c": 40.5}}), WL, n_bootstrap=0)
    rs = rs.rulesets["external"]
    assert rs.ratios["quad"] == {"a": 1.0, "b": 4.0, "c": INF}
    assert rs.score["c"] == 0.0  # just beyond 4x earns the same as a miss
    assert 0.0 < rs.score["b"] < 0.01  # exactly 4x only counts at tau = 4
    assert performance_ratios({"a": 1.0, "b": 4.0000001}) == {"a": 1.0, "b": INF}
    assert performance_ratios({"a": 2.0, "b": 5.0}, cutoff=2.0) == {"a": 1.0, "b": INF}


def test_workload_everyone_missed_contributes_zero() -> None:
    rs = score_trials(
        suite({"quad": {"a": 1.0, "b": 2.0}, "logreg": {"a": INF, "b": INF}}), WL, n_bootstrap=0
    )
    rs = rs.rulesets["external"]
    assert rs.ratios["logreg"] == {"a": INF, "b": INF}
    assert rs.score["a"] == pytest.approx(0.5)
    assert np.all(rs.profile["a"] == 0.5)


def test_variant_gate() -> None:
    wl = {**WL, "quad-tanh": WorkloadInfo("quad-tanh", "loss", "min", TARGET, variant_of="quad")}
    table = {
        "quad": {"a": 10.0, "b": 5.0, "c": 8.0, "d": 9.0},
        "quad-tanh": {"a": 10.0, "b": 50.0, "c": INF, "d": 40.0},  # b: 5x the fastest; d: exactly 4x
        "logreg": {"a": 3.0, "b": 3.0, "c": 3.0, "d": 3.0},
    }
    on = score_trials(suite(table), wl, n_bootstrap=0).rulesets["external"]
    off = score_trials(suite(table), wl, n_bootstrap=0, variant_gate=False).rulesets["external"]
    assert on.workloads == ["logreg", "quad"] and on.variants == {"quad-tanh": "quad"}  # not scored
    assert "quad-tanh" not in on.ratios and "quad-tanh" in on.median_time  # but shown
    assert on.median_time["quad"] == {"a": 10.0, "b": INF, "c": INF, "d": 9.0}
    assert on.gated["quad"] == {"a": False, "b": True, "c": True, "d": False}
    assert on.raw_time["quad"]["b"] == 5.0
    assert off.median_time["quad"] == table["quad"]
    assert on.ratios["quad"]["d"] == 1.0  # d is now the fastest on quad
    assert on.score["d"] == 1.0 and off.score["d"] < 1.0
    assert off.score["b"] == 1.0 and on.score["b"] == pytest.approx(0.5)


def test_variant_ranks_report_the_rank_changes() -> None:
    wl = {**WL, "quad-tanh": WorkloadInfo("quad-tanh", "loss", "min", TARGET, variant_of="quad")}
    table = {
        "quad": {"a": 10.0, "b": 5.0, "c": 8.0, "d": 9.0},
        "quad-tanh": {"a": 10.0, "b": 50.0, "c": INF, "d": 40.0},
        "logreg": {"a": 3.0, "b": 3.0, "c": 3.0, "d": 3.0},
    }
    rs = score_trials(suite(table), wl, n_bootstrap=0).rulesets["external"]
    vr = rs.variant_ranks()["quad-tanh"]  # ranked on the ungated times
    assert vr.base == "quad" and vr.ranks_base == {"b": 1, "c": 2, "d": 3, "a": 4}
    assert vr.ranks_variant == {"a": 1, "d": 2, "b": 3, "c": 4}
    assert vr.top_changed and vr.moved == ["a", "b", "c", "d"]  # |-3|, +2, +2, -1
    # of the 6 pairs only (b, c) keeps its order: (1 - 5) / 6; scipy.stats.kendalltau agrees
    assert vr.tau == pytest.approx(-2 / 3)
    text = score_trials(suite(table), wl, n_bootstrap=0).format_table()
    assert "held-out variant quad-tanh" in text and "Kendall tau -0.667" in text
    d = json.loads(json.dumps(score_trials(suite(table), wl, n_bootstrap=0).to_dict(), allow_nan=False))
    assert d["rulesets"]["external"]["variant_ranks"]["quad-tanh"]["moved"] == ["a", "b", "c", "d"]


def test_variant_rank_change_ties_misses_and_same_order() -> None:
    same = variant_rank_change({"a": 1.0, "b": 2.0}, {"a": 3.0, "b": 4.0}, "w", "v", ["a", "b"])
    assert same.tau == 1.0 and not same.moved and not same.top_changed
    misses = variant_rank_change({"a": 1.0, "b": 2.0, "c": INF}, {"a": INF, "b": INF}, "w", "v", "abc")
    assert misses.ranks_variant == {"a": 2.0, "b": 2.0, "c": 2.0}  # a missing method counts as a miss
    assert math.isnan(misses.tau) and misses.top_changed
    with pytest.raises(ValueError, match="NaN time"):
        variant_rank_change({"a": math.nan}, {"a": 1.0}, "w", "v", ["a"])
    ties = variant_rank_change(
        dict(zip("abcd", [1, 1, 2, 3], strict=True)),
        dict(zip("abcd", [1, 2, 2, 3], strict=True)),
        "w",
        "v",
        "abcd",
    )
    assert ties.tau == pytest.approx(scipy.stats.kendalltau([1, 1, 2, 3], [1, 2, 2, 3]).statistic)


def test_geomean_speedup_counts_a_miss_as_budget_plus_one() -> None:
    assert geomean_speedup([10.0, 20.0], [5.0, INF], [100.0, 100.0]) == pytest.approx(
        math.sqrt((10 / 5) * (20 / 101))
    )
    table = {"quad": {"adamw": 10.0, "x": 5.0}, "logreg": {"adamw": 20.0, "x": INF}}
    rs = score_trials(suite(table, budget=100.0), WL, baseline="adamw", n_bootstrap=0).rulesets["external"]
    assert rs.geomean_speedup["x"] == pytest.approx(math.sqrt(2 * 20 / 101))
    assert rs.geomean_speedup["adamw"] == 1.0
    assert math.isnan(score_trials(suite(table), WL, n_bootstrap=0).rulesets["external"].geomean_speedup["x"])


def test_bootstrap_ci_contains_estimate_and_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    rows = []
    for w in WL:
        for m, scale in (("a", 10.0), ("b", 12.0), ("c", 20.0)):
            rows += studies(w, m, list(scale * rng.uniform(0.7, 1.3, size=7)))
    s1 = score_trials(rows, WL, n_bootstrap=300, seed=3).rulesets["external"]
    s2 = score_trials(rows, WL, n_bootstrap=300, seed=3).rulesets["external"]
    assert s1.score_ci == s2.score_ci and s1.median_time_ci == s2.median_time_ci
    for m in s1.methods:
        lo, hi = s1.score_ci[m]
        assert lo <= s1.score[m] <= hi
        assert lo < hi or s1.score[m] in (0.0, 1.0)
        for w in s1.workloads:
            lo, hi = s1.median_time_ci[w][m]
            assert lo <= s1.median_time[w][m] <= hi and lo < hi


def test_rulesets_are_scored_separately() -> None:
    rows = suite({"quad": {"a": 1.0, "b": 2.0}}) + suite(
        {"quad": {"a": 9.0, "b": 2.0}}, ruleset="self-tuning"
    )
    s = score_trials(rows, WL, n_bootstrap=0)
    assert sorted(s.rulesets) == ["external", "self-tuning"]
    assert s.rulesets["external"].score["a"] == 1.0
    assert s.rulesets["self-tuning"].score["b"] == 1.0


def test_workload_info_falls_back_to_results() -> None:
    rows = suite({"unknown": {"a": 1.0}})
    with pytest.raises(ValueError, match="no WorkloadInfo"):
        score_trials(rows, {}, n_bootstrap=0)
    for _, r in rows:
        r.metric, r.target, r.mode = "loss", TARGET, "min"
    assert score_trials(rows, {}, n_bootstrap=0).rulesets["external"].median_time["unknown"]["a"] == 1.0


def test_to_dict_is_json_and_format_table() -> None:
    table = {"quad": {"adamw": 10.0, "x": 5.0}, "logreg": {"adamw": 20.0, "x": INF}}
    s = score_trials(suite(table), WL, baseline="adamw", n_bootstrap=20)
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    rs = d["rulesets"]["external"]
    assert rs["median_time"]["logreg"]["x"] == "inf"
    assert rs["median_time"]["quad"]["x"] == 5.0
    assert rs["study_times"]["logreg"]["x"]["0"] == "inf"
    assert len(rs["profile"]["x"]) == len(rs["taus"]) == 1000
    text = s.format_table()
    for name in ("external", "adamw", "quad", "logreg", "miss", "speedup vs adamw"):
        assert name in text


def test_learning_rate_sensitivity() -> None:
    rows = [
        trial("quad", "sgd", 3.0, lr=0.1, index=0),
        trial("quad", "sgd", INF, lr=1e-6, index=1),
        trial("quad", "sgd", 2.0, index=2),
    ]
    pts = learning_rate_sensitivity(rows, WL)[("quad", "sgd")]
    assert [p.lr for p in pts] == [1e-6, 0.1, None]
    assert [p.reached for p in pts] == [False, True, True]
    assert pts[0].best == pytest.approx(0.2)  # best loss on the missing curve
    assert pts[1].best == pytest.approx(TARGET * 0.5)
