"""The ``fused=True`` path of Lion, AdaBelief and EXAdam (the C++ extension of optim/_fused.py) equals
the readable loop: float64 to 1e-12 for every flag, the other dtypes to their default tolerances, with
lagging and late-starting parameters, many small tensors and one split over several blocks; what the
kernels cannot take goes to the loop; without the extension, fused=True is the loop."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

from optarena.optim import _fused
from optarena.optim import adabelief as adabelief_module
from optarena.optim import exadam as exadam_module
from optarena.optim import lion as lion_module
from optarena.optim.adabelief import AdaBelief
from optarena.optim.exadam import EXAdam
from optarena.optim.lion import Lion

# 1-D, 2-D both ways, 4-D, empty, one element, 20 small tensors, and one of several 2**15-element blocks.
SHAPES = [(7,), (5, 3), (3, 5), (2, 3, 4, 4), (0,), (1,), *[(3, 4)] * 20, (3, 2**15 + 5)]

CASES = [
    (Lion, lion_module, "_single_tensor_lion", {"weight_decay": 0.1}),
    (Lion, lion_module, "_single_tensor_lion", {"maximize": True}),
    (AdaBelief, adabelief_module, "_single_tensor_adabelief", {"weight_decay": 0.1}),
    (
        AdaBelief,
        adabelief_module,
        "_single_tensor_adabelief",
        {"weight_decay": 0.1, "decoupled_weight_decay": False},
    ),
    (AdaBelief, adabelief_module, "_single_tensor_adabelief", {"eps": 1e-8, "maximize": True}),
    (AdaBelief, adabelief_module, "_single_tensor_adabelief", {"weight_decay": 0.1, "amsgrad": True}),
    (AdaBelief, adabelief_module, "_single_tensor_adabelief", {"weight_decay": 0.1, "rectify": True}),
    (AdaBelief, adabelief_module, "_single_tensor_adabelief", {"amsgrad": True, "rectify": True}),
    (EXAdam, exadam_module, "_single_tensor_exadam", {"weight_decay": 0.02}),
    (EXAdam, exadam_module, "_single_tensor_exadam", {"maximize": True, "lr_schedule_v1": True}),
]
IDS = [
    "lion-wd",
    "lion-maximize",
    "adabelief-decoupled",
    "adabelief-l2",
    "adabelief-maximize",
    "adabelief-amsgrad",
    "adabelief-rectify",
    "adabelief-amsgrad-rectify",
    "exadam-wd",
    "exadam-maximize-v1",
]


def _params(shapes, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)) for s in shapes]


def _run(opt, params, steps, skip=lambda t, i: False):
    """Seeded grads ``noise + 0.5 p`` (the same for every optimizer); a learning rate that changes every
    step; param ``i`` gets no grad at step ``t`` when ``skip(t, i)``."""
    gen = torch.Generator().manual_seed(1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    for t in range(steps):
        for i, p in enumerate(params):
            wide = torch.complex128 if p.is_complex() else torch.float64
            g = torch.randn(p.shape, generator=gen, dtype=wide) + 0.5 * p.detach().to(wide)
            p.grad = None if skip(t, i) else g.to(p.dtype)
        opt.step()
        sched.step()


def _skip(t, i):
    """Param 1 lags a step, param 2 two steps, the last (large) one starts at step 3."""
    return (t == 2 and i in (1, 2)) or (t == 4 and i == 2) or (t < 3 and i == len(SHAPES) - 1)


def _assert_close(a, b, opt_a, opt_b, **tol):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(y, x, **tol)
        assert opt_a.state[x].keys() == opt_b.state[y].keys()
        for k, v in opt_a.state[x].items():
            w = opt_b.state[y][k]
            if isinstance(v, torch.Tensor):
                torch.testing.assert_close(w, v, **tol)
            else:
                assert w == v


DISABLED = _fused.compile_disabled()  # read before a fixture changes the environment


def _need_extension():
    if DISABLED:
        pytest.skip(f"{_fused.NO_COMPILE_ENV} is set: no extension to test")
    if _fused.extension() is None:
        pytest.fail(f"the fused extension did not build: {_fused._failure}")


@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES, ids=IDS)
def test_fused_equals_loop_fp64(cls, module, loop, flags, loop_calls):
    """Params, every state tensor and every step count to 1e-12; the kernels did all of it."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a failed build warns
        _need_extension()
    a, b = _params(SHAPES), _params(SHAPES)
    opt_a, opt_b = cls(a, lr=1e-2, **flags), cls(b, lr=1e-2, fused=True, **flags)
    _run(opt_a, a, 8, _skip)
    loop_calls.clear()
    _run(opt_b, b, 8, _skip)
    assert sum(loop_calls) == 0, f"the loop updated {loop_calls} tensors: the kernels should take all"
    _assert_close(a, b, opt_a, opt_b, rtol=1e-12, atol=1e-12)
    versions = [p._version for p in b]
    opt_b.step()  # writes from C++ still bump the version counter, as an in-place op does
    assert all(p._version > v for p, v in zip(b, versions, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.complex64])
@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES[::2], ids=IDS[::2])
def test_fused_dtypes_equal_loop(cls, module, loop, flags, dtype, loop_calls):
    """fp32, bf16 and fp16 (fp32 state, one rounding) and complex (as real pairs; EXAdam rejects it)."""
    if dtype.is_complex and cls is EXAdam:
        pytest.skip("EXAdam rejects complex parameters")
    _need_extension()
    shapes = SHAPES[:8]
    a, b = _params(shapes, dtype), _params(shapes, dtype)
    opt_a, opt_b = cls(a, lr=1e-2, **flags), cls(b, lr=1e-2, fused=True, **flags)
    _run(opt_a, a, 6)
    loop_calls.clear()
    _run(opt_b, b, 6)
    assert sum(loop_calls) == 0
    for x, y in zip(a, b, strict=True):  # the update magnitude is lr: far above the rounding
        torch.testing.assert_close(y, x, rtol=1e-3, atol=1e-3)
        for k, v in opt_a.state[x].items():
            if k != "step":
                assert opt_b.state[y][k].dtype == v.dtype
                torch.testing.assert_close(opt_b.state[y][k], v, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES[::2], ids=IDS[::2])
def test_what_the_kernels_cannot_take_goes_to_the_loop(cls, module, loop, flags, loop_calls):
    """A transposed (dense) parameter whose grad has other strides, and a parameter of a tensor subclass:
    the loop updates exactly those two, and the result equals the loop everywhere."""

    _need_extension()

    class Sub(torch.Tensor):
        pass

    def make():
        ps = _params([(4, 5), (6,), (5, 4), (3,)])
        ps[2] = torch.nn.Parameter(ps[2].detach().t().contiguous().t())  # (5, 4) with strides (1, 5)
        ps[3] = torch.nn.Parameter(ps[3].detach().as_subclass(Sub))
        return ps

    a, b = make(), make()
    opt_a, opt_b = cls(a, lr=1e-2, **flags), cls(b, lr=1e-2, fused=True, **flags)
    _run(opt_a, a, 4)
    loop_calls.clear()
    _run(opt_b, b, 4)
    assert sum(loop_calls) == 2 * 4  # two tensors, four steps
    _assert_close(a, b, opt_a, opt_b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES[::2], ids=IDS[::2])
def test_groups_and_state_out_of_parameter_order(cls, module, loop, flags, loop_calls):
    """Two groups with their own lr, state created in another order than the parameters' (the C++ walk
    of the state dict then looks each parameter up), a parameter added later with add_param_group."""
    a, b = _params(SHAPES[:6]), _params(SHAPES[:6])
    extra_a, extra_b = _params([(4, 2)], seed=9), _params([(4, 2)], seed=9)
    opts = []
    for ps, extra, fused in ((a, extra_a, False), (b, extra_b, True)):
        opt = cls([{"params": ps[:3]}, {"params": ps[3:], "lr": 3e-3}], lr=1e-2, fused=fused, **flags)
        _run(opt, ps, 3, skip=lambda t, i: t == 0 and i in (0, 4))  # 0 and 4 get state at step 2
        opt.add_param_group({"params": extra})
        _run(opt, [*ps, *extra], 4, skip=lambda t, i: t == 1 and i == 3)
        opts.append(opt)
    _assert_close([*a, *extra_a], [*b, *extra_b], *opts, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES[::2], ids=IDS[::2])
def test_fused_with_state_dict_round_trip(cls, module, loop, flags):
    a = _params(SHAPES[:6])
    opt = cls(a, lr=1e-2, fused=True, **flags)
    _run(opt, a, 3)
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    opt_b = cls(b, lr=1e-2, fused=True, **flags)
    opt_b.load_state_dict(copy.deepcopy(opt.state_dict()))  # torch would share the tensors
    for opt_x, ps in ((opt, a), (opt_b, b)):
        for p in ps:
            p.grad = torch.ones_like(p)
        opt_x.step()
    _assert_close(a, b, opt, opt_b, rtol=0, atol=0)


@pytest.mark.parametrize(("cls", "module", "loop", "flags"), CASES[::2], ids=IDS[::2])
def test_without_compile_fused_is_the_loop(cls, module, loop, flags, monkeypatch):
    monkeypatch.setenv(_fused.NO_COMPILE_ENV, "1")
    a, b = _params(SHAPES[:8]), _params(SHAPES[:8])
    opt_a, opt_b = cls(a, lr=1e-2, **flags), cls(b, lr=1e-2, fused=True, **flags)
    _run(opt_a, a, 4, _skip)
    _run(opt_b, b, 4, _skip)
    _assert_close(a, b, opt_a, opt_b, rtol=0, atol=0)


def test_failed_build_warns_once_and_falls_back_to_the_loop(monkeypatch, loop_calls):
    def broken():
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(_fused, "_build", broken)
    monkeypatch.setattr(_fused, "_module", None)
    monkeypatch.setattr(_fused, "_failure", None)
    a, b = _params(SHAPES[:6]), _params(SHAPES[:6])
    opt_a, opt_b = Lion(a, lr=1e-2), Lion(b, lr=1e-2, fused=True)
    _run(opt_a, a, 3)
    loop_calls.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _run(opt_b, b, 3)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(messages) == 1 and "no compiler here" in messages[0] and "falls back" in messages[0]
    _assert_close(a, b, opt_a, opt_b, rtol=0, atol=0)  # the loop ran: bit-identical
    assert sum(loop_calls) == 6 * 3
