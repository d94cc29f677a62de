"""Every optimizer record passes the optimizer contract suite, and the suite catches broken optimizers.

The negative tests start from ``TinyAdam``, a small correct Adam that passes every check (the positive
control), and break one thing at a time: each broken variant must fail exactly the checks listed, and
nothing else.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
import torch

from optarena.testing.optim_checks import (
    OPTIMIZER_INFOS,
    OptimizerInfo,
    optimizer_checks,
    parametrize_with_checks,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@parametrize_with_checks(OPTIMIZER_INFOS)
def test_optimizer_contract(check):
    check()


# ------------------------------------------------------------------------------ the positive control


class TinyAdam(torch.optim.Optimizer):
    """Adam with decoupled weight decay in one readable loop; ``foreach=True`` is a "fast path" that
    computes the same step in another order. Complex parameters are treated as pairs of reals."""

    fp32_state = False  # keep the state of bfloat16 parameters in float32
    real_view = True  # treat complex parameters as their view_as_real

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0, foreach=False):
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, group, self.state[p])
        return loss

    def _init_state(self, p, state):
        state["step"] = torch.tensor(0.0)
        dtype = torch.float32 if self.fp32_state and p.dtype == torch.bfloat16 else p.dtype
        state["exp_avg"] = torch.zeros_like(p, dtype=dtype)
        state["exp_avg_sq"] = torch.zeros_like(p, dtype=dtype)

    def _count(self, p, group, state) -> float:
        state["step"] += 1
        return float(state["step"])

    def _decay(self, x, group):
        x.mul_(1 - group["lr"] * group["weight_decay"])

    def _fast_step_size(self, lr, beta1, t):
        return -lr / (1 - beta1**t)

    def _update(self, p, grad, group, state):
        if grad.is_sparse:
            raise RuntimeError("TinyAdam does not support sparse gradients")
        if not state:
            self._init_state(p, state)
        x, m, v = p, state["exp_avg"], state["exp_avg_sq"]
        if p.is_complex() and self.real_view:
            x, grad, m, v = (torch.view_as_real(t) for t in (p, grad, m, v))
        work, grad = x.to(m.dtype), grad.to(m.dtype)  # a float32 copy only with fp32_state and bf16
        t = self._count(p, group, state)
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        self._decay(work, group)
        m.lerp_(grad, 1 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (v / (1 - beta2**t)).sqrt_().add_(eps)
        if group["foreach"]:
            work.addcdiv_(m, denom, value=self._fast_step_size(lr, beta1, t))
        else:
            work.sub_(lr * (m / (1 - beta1**t)) / denom)
        if work is not x:
            x.copy_(work)


TINY = OptimizerInfo(
    name="tiny_adam",
    factory=TinyAdam,
    default_kwargs={"lr": 1e-2, "weight_decay": 1e-2},
    readable_kwargs={"foreach": False},
    fast_paths={"foreach": {"foreach": True}},
    bad_inputs=(
        ({"lr": -1e-2}, r"learning rate: -0\.01"),
        ({"betas": (0.9, 1.5)}, r"index 1: 1\.5"),
        ({"eps": -1.0}, r"epsilon value: -1\.0"),
    ),
    supports_complex=True,
    state_bytes_per_param=lambda p: 2 * p.numel() * p.element_size() + 4,
    converges_kwargs={"lr": 2e-2, "weight_decay": 0.0},
    converges_steps=1000,
)


class TinyAdamFp32State(TinyAdam):
    fp32_state = True


class OnlyMatrices(TinyAdam):
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.ndim != 2 or p.is_complex():
                raise ValueError(f"OnlyMatrices takes real 2-D parameters, got {p.dtype}{tuple(p.shape)}")


def _failures(info: OptimizerInfo) -> dict[str, str]:
    failures = {}
    for check in optimizer_checks(info):
        try:
            check()
        except Exception as exc:
            failures[check.name] = f"{type(exc).__name__}: {exc}"
    return failures


@pytest.mark.parametrize(
    "info",
    [
        TINY,
        dataclasses.replace(
            TINY,
            name="tiny_fp32_state",
            factory=TinyAdamFp32State,
            bf16_state_fp32=True,
            state_bytes_per_param=lambda p: 2 * p.numel() * max(p.element_size(), 4) + 4,
        ),
        dataclasses.replace(
            TINY, name="only_matrices", factory=OnlyMatrices, only_2d=True, supports_complex=False
        ),
    ],
    ids=lambda info: info.name,
)
def test_a_correct_optimizer_passes_every_check(info):
    assert _failures(info) == {}


# ------------------------------------------------------------------------- broken optimizers


class NormalizesGradInPlace(TinyAdam):
    def _update(self, p, grad, group, state):
        grad.div_(grad.norm().clamp_min(1.0))  # should have been grad = grad / ...
        super()._update(p, grad, group, state)


class CountsStepsInAttribute(TinyAdam):
    def _init_state(self, p, state):
        super()._init_state(p, state)
        del state["step"]

    def _count(self, p, group, state) -> float:
        counts = self.__dict__.setdefault("step_counts", {})  # invisible to state_dict
        counts[p] = counts.get(p, 0) + 1
        return float(counts[p])


class IgnoresGroupLr(TinyAdam):
    def _update(self, p, grad, group, state):
        super()._update(p, grad, {**group, "lr": self.defaults["lr"]}, state)


class CountsStepsPerGroup(TinyAdam):
    def _init_state(self, p, state):
        super()._init_state(p, state)
        del state["step"]

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            group["step"] = group.get("step", 0) + 1
        return super().step(closure)

    def _count(self, p, group, state) -> float:
        return float(group["step"])


class DecaysIdleParams(TinyAdam):
    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    self._decay(p, group)
        return loss


class DecayIgnoresLr(TinyAdam):
    def _decay(self, x, group):
        x.mul_(1 - group["weight_decay"])


class ForeachForgetsBiasCorrection(TinyAdam):
    def _fast_step_size(self, lr, beta1, t):
        return -lr


class ComplexAsIs(TinyAdam):
    real_view = False  # squares complex gradients (g * g instead of |g|^2)


class VagueErrors(TinyAdam):
    def __init__(self, params, lr=1e-2, **kwargs):
        if lr < 0:
            raise ValueError("the learning rate must be non-negative")
        super().__init__(params, lr=lr, **kwargs)


class SwallowsUnknownKwargs(TinyAdam):
    def __init__(self, params, **kwargs):
        known = ("lr", "betas", "eps", "weight_decay", "foreach")
        super().__init__(params, **{k: v for k, v in kwargs.items() if k in known})


class CallsClosureTwice(TinyAdam):
    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            with torch.enable_grad():
                closure()
        return super().step(closure)


class ChecksFiniteWithMax(TinyAdam):
    def _update(self, p, grad, group, state):
        if not grad.is_sparse and not torch.isfinite(grad.abs().max()):  # max() of an empty tensor raises
            raise ValueError("non-finite gradient")
        super()._update(p, grad, group, state)


BROKEN = [
    (NormalizesGradInPlace, {"grad_not_modified"}),
    (CountsStepsInAttribute, {"state_location", "state_dict_round_trip", "state_size"}),
    (IgnoresGroupLr, {"param_groups"}),
    (CountsStepsPerGroup, {"late_start", "state_size"}),
    (DecaysIdleParams, {"grad_none_untouched", "late_start"}),
    (DecayIgnoresLr, {"lr_zero", "param_groups"}),
    (ForeachForgetsBiasCorrection, {"fast_path_foreach"}),
    (ComplexAsIs, {"complex_params"}),
    (VagueErrors, {"bad_hyperparameters"}),
    (SwallowsUnknownKwargs, {"rejects_unknown_kwargs"}),
    (CallsClosureTwice, {"closure"}),
    (ChecksFiniteWithMax, {"zero_size_params"}),
]


@pytest.mark.parametrize(("cls", "expected"), BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_the_suite_catches_a_broken_optimizer(cls, expected):
    failures = _failures(dataclasses.replace(TINY, name=cls.__name__, factory=cls))
    assert set(failures) == expected, failures  # and nothing else


LYING_RECORDS = [
    pytest.param({"supports_sparse": True}, {"sparse_gradients"}, id="claims_sparse"),
    pytest.param({"supports_complex": False}, {"complex_params"}, id="claims_complex_is_rejected"),
    pytest.param({"bf16_state_fp32": True}, {"dtypes"}, id="claims_bf16_state_fp32"),
    pytest.param(
        {"state_bytes_per_param": lambda p: 2 * p.numel() * p.element_size()},
        {"state_size"},
        id="state_formula_forgets_the_step",
    ),
    pytest.param({"bad_inputs": ()}, {"bad_hyperparameters"}, id="no_bad_inputs"),
    pytest.param(
        {"bad_inputs": (({"weight_decay": 0.5}, "weight_decay"),)},
        {"bad_hyperparameters"},
        id="good_input_as_bad",
    ),
    pytest.param(
        {"converges_steps": 20}, {"converges_quadratic", "converges_rosenbrock"}, id="too_few_steps"
    ),
]


@pytest.mark.parametrize(("changes", "expected"), LYING_RECORDS)
def test_the_suite_catches_a_record_that_claims_too_much(changes, expected):
    failures = _failures(dataclasses.replace(TINY, name="liar", **changes))
    assert set(failures) == expected, failures


def test_the_suite_catches_nondeterminism():
    class ClockSeededNoise(TinyAdam):
        def _update(self, p, grad, group, state):
            gen = torch.Generator().manual_seed(time.perf_counter_ns())
            super()._update(
                p, grad + 1e-3 * torch.randn(grad.shape, generator=gen, dtype=grad.dtype), group, state
            )

    failures = _failures(dataclasses.replace(TINY, name="noisy", factory=ClockSeededNoise))
    assert "deterministic" in failures and "state_dict_round_trip" in failures, failures


# ------------------------------------------------------------------------------ the machinery


def test_check_names_and_ids():
    names = [c.name for c in optimizer_checks(TINY)]
    assert names == [
        "param_groups",
        "state_dict_round_trip",
        "closure",
        "lr_zero",
        "grad_none_untouched",
        "late_start",
        "grad_not_modified",
        "bad_hyperparameters",
        "rejects_unknown_kwargs",
        "sparse_gradients",
        "complex_params",
        "dtypes",
        "zero_size_params",
        "deterministic",
        "state_location",
        "converges_quadratic",
        "converges_rosenbrock",
        "state_size",
        "fast_path_foreach",
    ]
    assert repr(optimizer_checks(TINY)[1]) == "tiny_adam::state_dict_round_trip"
    bare = dataclasses.replace(TINY, supports_closure=False, state_bytes_per_param=None, fast_paths={})
    assert {"closure", "state_size", "fast_path_foreach"}.isdisjoint(c.name for c in optimizer_checks(bare))


def test_records_have_unique_names():
    names = [info.name for info in OPTIMIZER_INFOS]
    assert len(names) == len(set(names)), names


def test_known_failures_become_strict_xfails():
    info = dataclasses.replace(TINY, known_failures={"late_start": "counts steps per group"})
    mark = parametrize_with_checks([info]).mark
    (argnames, cases), marked = mark.args, {}
    assert argnames == "check"
    for case in cases:
        for m in case.marks:
            marked[case.id] = (m.name, m.kwargs)
    assert marked == {
        "tiny_adam::late_start": ("xfail", {"strict": True, "reason": "counts steps per group"})
    }


def test_records_are_validated():
    with pytest.raises(ValueError, match="late_strat"):
        optimizer_checks(dataclasses.replace(TINY, known_failures={"late_strat": "typo"}))
    with pytest.raises(ValueError, match="dtypes"):
        optimizer_checks(dataclasses.replace(TINY, dtypes=(torch.float16,)))


class KeepsTensorsInAGroup(TinyAdam):
    def _count(self, p, group, state) -> float:
        group["last_step"] = state["step"] + 1  # a tensor among the hyperparameters
        return super()._count(p, group, state)


class KeepsScratchInAnAttribute(TinyAdam):
    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.scratch: list[torch.Tensor] = []  # present from the start, so only its contents tell

    def _update(self, p, grad, group, state):
        self.scratch.append(grad.detach().clone())
        super()._update(p, grad, group, state)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (KeepsTensorsInAGroup, r"param_groups\[0\]\['last_step'\] holds a tensor"),
        (KeepsScratchInAnAttribute, r"attribute 'scratch' holds tensors"),
        (CountsStepsInAttribute, r"step\(\) added attributes \['step_counts'\]"),
    ],
    ids=["tensor_in_group", "tensor_in_attribute", "new_attribute"],
)
def test_state_location_finds_state_kept_elsewhere(cls, message):
    from optarena.testing.optim_checks import check_state_location

    with pytest.raises(AssertionError, match=message):
        check_state_location(dataclasses.replace(TINY, factory=cls))


def test_a_tensor_lr_the_user_passed_may_stay_a_tensor():
    from optarena.testing.optim_checks import check_state_location

    check_state_location(
        dataclasses.replace(TINY, default_kwargs={"lr": torch.tensor(1e-2), "weight_decay": 1e-2})
    )
