from __future__ import annotations

import json
import statistics

from optarena.bench.calibrate import MIN_RUNTIME, calibrate
from optarena.bench.store import Store


def test_calibrate_follows_algoperf_target_setting(tmp_path):
    store = tmp_path / "cal.sqlite"
    res = calibrate(
        "toy-quad",
        methods=("toy-sgd", "toy-sgd-slow"),
        trials=2,
        reruns=3,
        budget=0.3,
        store_path=store,
        quiet=True,
    )
    trials = Store.open_existing(store).trials()
    tune = [(s, r) for s, r in trials if s.ruleset == "calibrate-tune"]
    reruns = [(s, r) for s, r in trials if s.ruleset == "calibrate-rerun"]
    assert len(tune) == 4 and len(reruns) == 3
    best = {s.key: min(p.metrics["rel_loss"] for p in r.curve) for s, r in tune}
    best_spec = next(s for s, _ in tune if best[s.key] == min(best.values()))
    assert all((s.method, s.hparams) == (best_spec.method, best_spec.hparams) for s, _ in reruns)
    assert len({s.seed for s, _ in reruns}) == 3  # fresh seeds
    bests = [min(p.metrics["rel_loss"] for p in r.curve) for _, r in reruns]
    assert res.target == statistics.median(bests) and not res.target_fixed
    # a rerun that never reaches the target counts its whole time
    firsts = [
        next((p.time for p in r.curve if p.metrics["rel_loss"] <= res.target), r.timed_time)
        for _, r in reruns
    ]
    assert res.time_to_target == statistics.median(firsts)
    assert res.raw_runtime == 4 / 3 * res.time_to_target and res.max_runtime == MIN_RUNTIME  # toy: floored
    assert json.loads(store.with_suffix(".json").read_text())["target"] == res.target
    again = calibrate(
        "toy-quad",
        methods=("toy-sgd", "toy-sgd-slow"),
        trials=2,
        reruns=3,
        budget=0.3,
        store_path=store,
        quiet=True,
    )  # resumes: nothing reruns, same answer
    assert again.target == res.target and set(Store.open_existing(store).attempts().values()) == {1}
