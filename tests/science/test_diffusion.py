"""Tests of the diffusion samplers (DDIM, DPM-Solver++(2M), USF unified sampler), metrics and S^3 search."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from optarena.science.diffusion import (
    SolverSchedule,
    StepChoice,
    VPSchedule,
    baseline_schedule,
    check_timesteps,
    ddim,
    dpm_solver_pp_2m,
    endpoint_error,
    reference_solve,
    sample_data,
    search_schedule,
    sliced_wasserstein,
    timesteps,
    train_model,
    unified_sample,
)
from optarena.science.diffusion.solvers import phi
from optarena.science.diffusion.specs import DPM_SOLVER_PP_2M_SPEC, USF_SEARCH_SPEC


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    return train_model(0, "moons", steps=300)


def _noise(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class _Counting(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.model(x, t)


def test_schedule_inverse_lambda_and_grids() -> None:
    s = VPSchedule()
    t = torch.linspace(s.t_end, 1.0, 50, dtype=torch.float64)
    assert torch.allclose(s.t_of_lam(s.lam(t)), t, atol=1e-12)
    for kind in ("logSNR", "time_uniform", "time_quadratic"):
        ts = timesteps(s, 7, kind)
        assert ts.shape == (8,) and ts[0] == 1.0 and abs(ts[-1].item() - s.t_end) < 1e-15
        check_timesteps(ts)
    lam = s.lam(timesteps(s, 7, "logSNR"))
    assert torch.allclose(lam.diff(), lam.diff()[0].expand(7), atol=1e-10)


def test_phi_series_matches_closed_form() -> None:
    for z in (-3.0, -0.6, -0.4, -1e-3, 1e-3, 0.4, 0.6, 2.0):
        assert phi(1, z) == pytest.approx(math.expm1(z) / z, rel=1e-12)
        assert phi(2, z) == pytest.approx((math.expm1(z) - z) / z**2, rel=1e-9)
    assert phi(3, 0.4999) == pytest.approx(phi(3, 0.5001), rel=1e-3)


def test_dpm_solver_pp_converges_to_reference(trained) -> None:
    model, s = trained
    x = _noise(400)
    ref = reference_solve(model, s, x, 300)
    errs = [endpoint_error(dpm_solver_pp_2m(model, s, x, timesteps(s, n)), ref) for n in (5, 10, 20, 40)]
    assert all(a > b for a, b in itertools.pairwise(errs)), errs
    assert errs[-1] < 0.1 * errs[0], errs
    # the reference is far more accurate than the low-NFE solvers: 150 vs 300 steps
    assert endpoint_error(reference_solve(model, s, x, 150), ref) < 0.01 * errs[0]


@pytest.mark.parametrize("nfe", [1, 2, 5, 20])
def test_unified_with_baseline_choices_equals_dpm_solver_pp_2m(trained, nfe: int) -> None:
    model, s = trained
    x = _noise(300)
    a = dpm_solver_pp_2m(model, s, x, timesteps(s, nfe))
    b = unified_sample(model, s, x, baseline_schedule(s, nfe))
    assert torch.equal(a, b)
    # a different choice changes the result (the comparison can fail)
    if nfe >= 3:
        steps = list(baseline_schedule(s, nfe).steps)
        steps[2] = StepChoice("noise", 2)
        other = SolverSchedule(tuple(timesteps(s, nfe).tolist()), tuple(steps))
        assert not torch.allclose(a, unified_sample(model, s, x, other))


def test_order_one_is_ddim_in_both_predictions(trained) -> None:
    model, s = trained
    x, ts = _noise(200), timesteps(s, 6, "time_uniform")
    ref = ddim(model, s, x, ts)
    for pred in ("data", "noise"):
        sol = SolverSchedule(tuple(ts.tolist()), tuple(StepChoice(pred, 1) for _ in range(6)))
        assert torch.allclose(unified_sample(model, s, x, sol), ref, atol=1e-10)


def test_unified_uses_exactly_nfe_evaluations_with_correctors(trained) -> None:
    model, s = trained
    counting = _Counting(model)
    ts = tuple(timesteps(s, 5).tolist())
    steps = (
        StepChoice("data", 1, corrector=True),
        StepChoice("noise", 2, taylor=True, corrector=True),
        StepChoice("data", 3, corrector=True),
        StepChoice("noise", 3),
        StepChoice("data", 2),
    )
    out = unified_sample(counting, s, _noise(100), SolverSchedule(ts, steps))
    assert counting.calls == 5 and torch.isfinite(out).all()


def test_high_order_and_corrector_converge(trained) -> None:
    model, s = trained
    x = _noise(300)
    ref = reference_solve(model, s, x, 300)

    def err(n: int, order: int, corr: bool) -> float:
        steps = tuple(
            StepChoice("data", min(order, i + 1), taylor=True, corrector=corr and i < n - 1) for i in range(n)
        )
        return endpoint_error(
            unified_sample(model, s, x, SolverSchedule(tuple(timesteps(s, n).tolist()), steps)), ref
        )

    assert err(40, 3, False) < 0.5 * err(40, 1, False)
    assert err(40, 2, True) < err(40, 1, False)


def test_sliced_wasserstein_zero_and_grows_with_shift() -> None:
    x = sample_data("moons", 1000, 0)
    assert sliced_wasserstein(x, x.clone()) == 0.0
    shifts = [sliced_wasserstein(x, x + torch.tensor([c, 0.0]), n_proj=2000) for c in (0.1, 0.3, 1.0)]
    assert shifts[0] < shifts[1] < shifts[2]
    # pure translation by v: SW_2 = |v| / sqrt(d) in expectation over directions
    assert shifts[2] == pytest.approx(1.0 / math.sqrt(2.0), rel=0.05)
    y = sample_data("moons", 1000, 1)
    assert sliced_wasserstein(x, y) < sliced_wasserstein(x, sample_data("gmm8", 1000, 1))


def test_bad_inputs_raise_naming_the_value(trained) -> None:
    model, s = trained
    with pytest.raises(ValueError, match="nfe = 0"):
        timesteps(s, 0)
    with pytest.raises(ValueError, match="nfe = -2"):
        search_schedule(model, s, -2, _noise(10))
    with pytest.raises(ValueError, match=r"t\[1\] = 0.5 <= t\[2\] = 0.7"):
        check_timesteps([1.0, 0.5, 0.7, 0.1])
    with pytest.raises(ValueError, match="strictly decreasing"):
        dpm_solver_pp_2m(model, s, _noise(5), [1.0, 0.5, 0.5, 0.1])
    with pytest.raises(ValueError, match="at least 2 timesteps"):
        ddim(model, s, _noise(5), [1.0])
    with pytest.raises(ValueError, match="order 3"):
        SolverSchedule((1.0, 0.5, 0.1), (StepChoice("data", 3), StepChoice("data", 1)))
    with pytest.raises(ValueError, match="last step"):
        SolverSchedule((1.0, 0.5, 0.1), (StepChoice("data", 1), StepChoice("data", 1, corrector=True)))
    with pytest.raises(ValueError, match="'score'"):
        StepChoice("score", 1)
    with pytest.raises(ValueError, match="order must be"):
        StepChoice("data", 4)
    with pytest.raises(ValueError, match="unknown data set 'circles'"):
        sample_data("circles", 10, 0)
    with pytest.raises(ValueError, match=r"\(10, 2\) and \(11, 2\)"):
        sliced_wasserstein(_noise(10), _noise(11))


def test_search_beats_baseline_on_calibration_and_counts_budget(trained) -> None:
    model, s = trained
    cal = _noise(200, seed=5)
    res = search_schedule(model, s, 4, cal, budget=24, seed=0, ref_nfe=100)
    assert res.n_evals == 24 == len(res.scores)
    assert res.best.nfe == 4
    assert res.best_score <= res.baseline_score
    ref = reference_solve(model, s, cal, 100)
    assert endpoint_error(unified_sample(model, s, cal, res.best), ref) == pytest.approx(
        res.best_score, rel=1e-12
    )
    base = endpoint_error(unified_sample(model, s, cal, baseline_schedule(s, 4)), ref)
    assert res.baseline_score == pytest.approx(base, rel=1e-12)


def test_specs_build_and_run(trained) -> None:
    model, s = trained
    run = USF_SEARCH_SPEC.load_factory()(USF_SEARCH_SPEC.resolve_hparams({"budget": 12}))
    sol = run(model, s, 3, _noise(50), seed=1)
    assert isinstance(sol, SolverSchedule) and sol.nfe == 3
    base = DPM_SOLVER_PP_2M_SPEC.load_factory()(DPM_SOLVER_PP_2M_SPEC.resolve_hparams())(model, s, 5)
    assert base == baseline_schedule(s, 5)
