"""Helpers of the training-family claims: workload variants, tuning studies, measured state bytes, toys."""

from __future__ import annotations

import math

import pytest
import torch

from optarena import registry
from optarena.claims.experiments._training import (
    Study,
    log_ratio,
    optimizer_state_bytes,
    state_bytes,
    tune,
    variant,
)
from optarena.claims.experiments.adabelief import DigitsGapWorkload, toy_steps
from optarena.core.types import Budget, EvalPoint, TrialResult, TrialSpec, TrialStatus


def test_variant_overrides_and_is_idempotent():
    vid = variant("digits-mlp", step_hint=123, batch_size=256, eval_every=7, target=0.5)
    assert vid == variant("digits-mlp", step_hint=123, batch_size=256, eval_every=7, target=0.5)
    w = registry.resolve_workload(vid)
    assert (w.id, w.step_hint, w.eval_every, w.target, w.metric) == (vid, 123, 7, 0.5, "val_accuracy")
    assert w.build(0).batch_size == 256
    base = registry.resolve_workload("digits-mlp")
    assert base.build(0).batch_size == 64 and base.step_hint != 123  # the base is untouched


def test_variant_rejects_bad_values():
    with pytest.raises(ValueError, match="step_hint must be a positive integer, got 0"):
        variant("quad", step_hint=0)
    with pytest.raises(ValueError, match="target must be a finite number"):
        variant("quad", step_hint=10, target=math.nan)
    with pytest.raises(TypeError, match="has no batch_size"):
        registry.resolve_workload(variant("quad", step_hint=10, batch_size=8)).build(0)


def test_tune_uses_seed_offset_halton_points_and_paired_data_seeds():
    vid = variant("quad", step_hint=20, eval_every=5)
    a = tune("adamw", vid, seed=3, trials=2, max_steps=20, seed_key="quad")
    b = tune("sgd-nesterov", vid, seed=3, trials=2, max_steps=20, seed_key="quad")
    space = registry.resolve_method("adamw").search_space
    assert [dict(s.hparams) for s, _ in a.trials] == [space.sample(6), space.sample(7)]
    assert [s.seed for s, _ in a.trials] == [s.seed for s, _ in b.trials]  # same data per trial index
    assert all(r.steps == 20 and r.curve[-1].step == 20 for _, r in a.trials)
    # quad's target (subopt 1e-3) is out of reach in 20 steps: a miss counts the cap plus one eval period.
    assert not a.hit and a.steps_to_target() == 25.0 and a.time_to_target() == math.inf
    loose = tune(
        "sgd-nesterov", variant("quad", step_hint=20, eval_every=5, target=0.999), 3, 2, max_steps=20
    )
    assert loose.hit and loose.steps_to_target() == 5.0  # first eval after step 0 reaches it
    for _, r in loose.trials:  # a trial that reached the target stopped at that eval
        reached = [p.step for p in r.curve if p.metrics["subopt"] <= 0.999]
        assert not reached or r.steps == reached[0]


def _result(status: TrialStatus, values: list[float]) -> tuple[TrialSpec, TrialResult]:
    spec = TrialSpec("w", "1", "m", "1", {}, 0, Budget(10.0))
    curve = [EvalPoint(10 * i, float(i), {"loss": v}) for i, v in enumerate(values)]
    return spec, TrialResult("k", status, curve=curve)


def test_study_summaries_skip_diverged_trials():
    st = Study("m", "w", "loss", "min", 0.5, max_steps=20, eval_every=10)
    st.trials = [
        _result(TrialStatus.DIVERGED, [2.0, 0.1, math.nan]),
        _result(TrialStatus.DONE, [2.0, 0.9, 0.7]),
        _result(TrialStatus.DONE, [2.0, 0.4, 0.6]),
    ]
    assert st.best_index() == 2 and st.best_final() == 0.6
    assert st.steps_to_target() == 10.0 and st.hit  # the diverged trial's hit before diverging counts
    assert st.diverged == 1
    none = Study("m", "w", "loss", "min", 0.5, max_steps=20, eval_every=10)
    none.trials = [_result(TrialStatus.DIVERGED, [2.0, math.nan])]
    assert none.best_index() == -1 and none.best_final() == 2.0  # no progress: the step-0 value


def test_state_bytes_counts_each_tensor_once():
    t = torch.zeros(3, 4)
    assert state_bytes({"a": {"m": t, "v": torch.zeros(2, dtype=torch.float64)}, "b": [t, 5]}) == 48 + 16


def test_optimizer_state_bytes_matches_adamw_layout():
    state, params = optimizer_state_bytes("adamw", "digits-mlp")
    n_tensors = len(registry.resolve_workload("digits-mlp").build(0).named_parameters())
    assert state == 2 * params + 4 * n_tensors  # exp_avg, exp_avg_sq and a float32 step per tensor


def test_log_ratio():
    assert log_ratio(math.e, 1.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="positive numbers"):
        log_ratio(0.0, 1.0)


def test_toy_steps():
    # (x+y)^2 + (x-y)^2/10 from (2.5, 0): a sensible rate gets there, a zero-size step never does.
    assert toy_steps("adam", "quadratic_rotated", (2.5, 0.0), [1e-12, 0.1], 500) < 500
    assert toy_steps("sgd", "quadratic_rotated", (2.5, 0.0), [0.0], 50) == math.inf
    assert toy_steps("adabelief", "abs", (0.0, 0.0), [0.1], 5) == 0.0  # already optimal
    with pytest.raises(ValueError, match="unknown toy method 'rmsprop'"):
        toy_steps("rmsprop", "abs", (1.0, 1.0), [0.1], 5)


def test_digits_gap_problem_splits_held_out_images():
    p = DigitsGapWorkload().build(0)
    assert len(p.y_val) == 197 and len(p.y_test) == 200
    m = p.evaluate()
    assert {"val_accuracy", "test_accuracy", "train_accuracy"} <= set(m)
