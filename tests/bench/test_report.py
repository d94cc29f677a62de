"""The HTML report: self-contained, faithful to the scores, escaped."""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from optarena.bench.report import write_report
from optarena.bench.scoring import WorkloadInfo, score_trials
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus

WORKLOADS = {
    "quad": WorkloadInfo("quad", "subopt", "min", 1e-3),
    "digits": WorkloadInfo("digits", "val_acc", "max", 0.97),
    "digits-tanh": WorkloadInfo("digits-tanh", "val_acc", "max", 0.95, variant_of="digits"),
    "logreg": WorkloadInfo("logreg", "gap", "min", 1e-5),
}
# method -> (speed, best lr)
METHODS = {"adamw": (1.0, 3e-3), "cosmos": (1.6, 1e-3), "sgd-lr1e-6": (0.0, 1e-6), "<b>x</b>": (0.7, 1e-2)}


def synthetic_trials(
    seed: int = 0, studies: int = 5, per_study: int = 4
) -> list[tuple[TrialSpec, TrialResult]]:
    """Curves that decay (or rise) exponentially, faster for a fast method and an lr near its best."""
    rng = np.random.default_rng(seed)
    out = []
    for ruleset, n_trials, scale in (("external", per_study, 1.0), ("self-tuning", 1, 3.0)):
        for w, info in WORKLOADS.items():
            budget = 60.0 * scale
            for m, (speed, lr_best) in METHODS.items():
                for s in range(studies):
                    for k in range(n_trials):
                        lr = lr_best if ruleset == "self-tuning" else lr_best * 10 ** rng.uniform(-1.5, 1.5)
                        if m == "sgd-lr1e-6":
                            lr = 1e-6
                        quality = math.exp(-((math.log10(lr / lr_best)) ** 2) / 1.5)
                        rate = speed * quality * rng.uniform(0.6, 1.4) * (0.8 if "tanh" in w else 1.0)
                        spec = TrialSpec(
                            w,
                            "1",
                            m,
                            "1",
                            {"lr": lr, "wd": 0.1},
                            seed=100 * s + k,
                            budget=Budget(budget),
                            ruleset=ruleset,
                            study=s,
                            trial=k,
                        )
                        curve = []
                        for i in range(0, 41):
                            t = i * budget / 40 * rng.uniform(0.97, 1.0)
                            if info.mode == "min":
                                v = 1.0 * math.exp(-rate * t / 4) * (1 + 0.1 * rng.random()) + 1e-7
                            else:
                                v = 0.99 - 0.89 * math.exp(-rate * t / 5) - 0.005 * rng.random()
                            curve.append(EvalPoint(i * 10, t, {info.metric: v, "train_loss": 1.0 / (1 + t)}))
                            if (v <= info.target) if info.mode == "min" else (v >= info.target):
                                break  # stop at target
                        status = TrialStatus.DONE if speed > 0 or w != "quad" else TrialStatus.DIVERGED
                        out.append(
                            (spec, TrialResult(spec.key, status, curve=curve, timed_time=curve[-1].time))
                        )
    return out


PROVENANCE = {
    "git_sha": "0123abc",
    "suite": "cpu-mini v1",
    "packages": {"numpy": np.__version__, "optarena": "0.1.0"},
    "cpu": 'test CPU <fast> & "quoted"',
    "threads": 2,
    "executor": "local",
    "created": "2025-01-01T00:00:00Z",
}


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict[str, str]] = []
        self.table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table" and "data-ruleset" in a:
            self.table = a["data-ruleset"]
        if tag == "td" and "data-ttt" in a:
            self.cells.append({**a, "ruleset": self.table or ""})


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, list]:
    trials = synthetic_trials()
    scores = score_trials(trials, WORKLOADS, baseline="adamw", n_bootstrap=200, seed=0)
    path = write_report(
        tmp_path_factory.mktemp("report") / "sub" / "report.html",
        scores,
        trials,
        WORKLOADS,
        PROVENANCE,
        title="OptArena <test> report",
    )
    return path, scores, trials


def test_report_is_self_contained(report) -> None:
    path, _, _ = report
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "http://" not in text and "https://" not in text and "//cdn" not in text
    assert not re.search(r"\bsrc\s*=", text)
    assert not re.search(r"<link\b", text) and "@import" not in text and "url(" not in text
    assert "<script>" in text and "<style>" in text
    assert text.count('<svg class="plot"') >= 5
    for kind in ("profile", "curves", "strips", "hits", "lr"):
        assert f'data-plot="{kind}"' in text


def test_report_times_equal_scores(report) -> None:
    path, scores, trials = report
    parser = _Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    # every (ruleset, workload, method) appears exactly once
    expected = {(r, w, m) for r, rs in scores.rulesets.items() for w in rs.all_workloads for m in rs.methods}
    seen = [(c["ruleset"], c["data-workload"], c["data-method"]) for c in parser.cells]
    assert sorted(seen) == sorted(expected)
    # the page shows exactly the stored scores, which equal an independent recomputation
    again = score_trials(list(reversed(trials)), WORKLOADS, baseline="adamw", n_bootstrap=0)
    n_miss = 0
    for c in parser.cells:
        r, w, m = c["ruleset"], c["data-workload"], c["data-method"]
        shown = float(c["data-ttt"])
        assert shown == scores.rulesets[r].median_time[w][m]
        assert shown == again.rulesets[r].median_time[w][m]
        n_miss += math.isinf(shown)
    assert 0 < n_miss < len(parser.cells)  # the data has hits and misses


def test_report_names_every_method_and_workload_escaped(report) -> None:
    path, scores, _ = report
    text = path.read_text(encoding="utf-8")
    assert "<b>x</b>" not in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "OptArena &lt;test&gt; report" in text
    assert "test CPU &lt;fast&gt; &amp; &quot;quoted&quot;" in text
    for m in METHODS:
        if m != "<b>x</b>":
            assert m in text
    for w in WORKLOADS:
        assert f'data-workload="{w}"' in text
    for rs in scores.rulesets.values():
        assert f"{rs.score['cosmos']:.4f}" in text


def test_report_with_hits_only_and_no_lr(tmp_path: Path) -> None:
    """A minimal suite (one method, no lr, no bootstrap) still gives a valid page."""
    wl = {"quad": WORKLOADS["quad"]}
    trials = [
        (s, r)
        for s, r in synthetic_trials(studies=2, per_study=1)
        if s.workload == "quad" and s.method == "adamw"
    ]
    trials = [(TrialSpec(**{**s.to_dict(), "hparams": {}, "budget": s.budget}), r) for s, r in trials]
    scores = score_trials(trials, wl, n_bootstrap=0)
    text = write_report(tmp_path / "r.html", scores, trials, wl, {}).read_text(encoding="utf-8")
    assert "No finished trial records a positive" in text
    assert 'data-plot="lr"' not in text and 'data-plot="profile"' in text
