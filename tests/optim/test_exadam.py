"""EXAdam: reference equality (pytorch-optimizer, which equals the author's HEAD), fast paths equal to
the readable loop, and the torch.optim contract (validation, state, dtypes, grads, state_dict)."""

from __future__ import annotations

import copy
import doctest
import io
import math

import pytest
import torch

import optarena.optim.exadam as exadam_module
from optarena.optim.exadam import EXADAM, EXAdam

SHAPES = [(7,), (5, 3), (3, 5), (2, 3, 4, 4)]


def _params(shapes, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype)) for s in shapes]


def _run(params, opt, steps, seed=1, skip=None):
    """Feed seeded grads ``noise + 0.1 p``; ``skip(t, i)`` True leaves param i without a grad at step t."""
    g = torch.Generator().manual_seed(seed)
    for t in range(steps):
        for i, p in enumerate(params):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if skip is not None and skip(t, i):
                p.grad = None
            else:
                p.grad = (noise + 0.1 * p.detach().double()).to(p.dtype)
        opt.step()


def _max_rel(a, b):
    return max(
        ((x - y).abs().max() / y.abs().max().clamp(min=1e-300)).item() for x, y in zip(a, b, strict=True)
    )


# ------------------------------------------------------------------------------------------------
# reference equality


@pytest.mark.parametrize("hp", [{}, {"lr": 3e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}])
def test_equals_pytorch_optimizer_100_steps_fp64(hp):
    po = pytest.importorskip(
        "pytorch_optimizer", reason="pytorch-optimizer's EXAdam is the installable reference"
    )
    ref_p, our_p = _params(SHAPES), _params(SHAPES)
    # its defaults (weight_decouple=True, fixed_decay=False, maximize=False, foreach=False) match ours
    ref = po.EXAdam(ref_p, weight_decouple=True, fixed_decay=False, maximize=False, foreach=False, **hp)
    ours = EXAdam(our_p, **hp)
    _run(ref_p, ref, 100)
    _run(our_p, ours, 100)
    assert _max_rel(our_p, ref_p) <= 1e-12
    for p, q in zip(our_p, ref_p, strict=True):
        assert ours.state[p]["step"] == 100
        for key in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(ours.state[p][key], ref.state[q][key], rtol=1e-12, atol=0)


def _v1_reference_step(p, m, v, grad, step, lr, beta1, beta2, eps, wd):
    """Paper v1 / the author's code before the schedule was dropped, transcribed op for op."""
    if wd != 0.0:
        p.add_(p, alpha=lr * -wd)
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    d1 = 1 + v.div(v + eps) * beta2**step
    d2 = 1 + m.pow(2).div(m.pow(2) + eps) * beta1**step
    m_tilde = m.div(1 - beta1**step) * d1
    v_tilde = v.div(1 - beta2**step) * d2
    g_tilde = grad.div(1 - beta1**step) * d1
    step_size = lr * math.log(math.sqrt(step + 1) * math.sqrt(2.0))
    p.add_(-step_size * (m_tilde + g_tilde) / (v_tilde.sqrt() + eps))


def test_lr_schedule_v1_matches_the_v1_formula():
    ours_p, ref_p = _params(SHAPES), _params(SHAPES)
    opt = EXAdam(ours_p, lr=1e-2, weight_decay=0.01, lr_schedule_v1=True)
    state = [(torch.zeros_like(p), torch.zeros_like(p)) for p in ref_p]
    g = torch.Generator().manual_seed(1)
    for t in range(1, 51):
        for p, q, (m, v) in zip(ours_p, ref_p, state, strict=True):
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.grad = noise + 0.1 * p.detach()
            with torch.no_grad():
                _v1_reference_step(q, m, v, noise + 0.1 * q.detach(), t, 1e-2, 0.9, 0.999, 1e-8, 0.01)
        opt.step()
    assert _max_rel(ours_p, ref_p) <= 1e-12


# ------------------------------------------------------------------------------------------------
# fast paths equal the loop


def _parity_params(dtype_mix):
    shapes = [*SHAPES, (0, 4)]
    ps = _params(shapes)
    if dtype_mix:
        ps += _params([(4, 6), (5,)], dtype=torch.bfloat16, seed=3)
    return ps


def _parity_run(ps, **kw):
    opt = EXAdam(ps, lr=1e-2, weight_decay=0.02, **kw)
    # step 3: the (5, 3) param gets no grad; the last param starts late (step 5)
    _run(ps, opt, 8, skip=lambda t, i: (t == 3 and i == 1) or (t < 5 and i == len(ps) - 1))
    return opt


def test_foreach_is_bit_identical_to_loop():
    loop_p, fe_p = _parity_params(True), _parity_params(True)
    loop, fe = _parity_run(loop_p), _parity_run(fe_p, foreach=True)
    for p, q in zip(loop_p, fe_p, strict=True):
        assert torch.equal(p, q)
        for key, value in loop.state[p].items():
            other = fe.state[q][key]
            assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other


# The fused path's tests (equality with the loop for every flag and dtype) are in test_fused.py.


# ------------------------------------------------------------------------------------------------
# contract


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"lr": -1.0}, "-1.0"),
        ({"lr": float("nan")}, "nan"),
        ({"lr": torch.tensor([1e-3, 1e-3])}, "shape"),
        ({"betas": (1.0, 0.999)}, "1.0"),
        ({"betas": (0.9, -0.5)}, "-0.5"),
        ({"betas": (0.9,)}, "(0.9,)"),
        ({"eps": 0.0}, "0.0"),
        ({"eps": -1e-8}, "-1e-08"),
        ({"weight_decay": -0.1}, "-0.1"),
        ({"weight_decay": float("inf")}, "inf"),
        ({"maximize": "yes"}, "'yes'"),
        ({"foreach": True, "fused": True}, "fused"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_value(kwargs, shown):
    with pytest.raises(ValueError) as err:
        EXAdam(_params([(3,)]), **kwargs)
    assert shown in str(err.value)


def test_bad_param_group_value_raises():
    opt = EXAdam(_params([(3,)]))
    with pytest.raises(ValueError, match=r"-2\.0"):
        opt.add_param_group({"params": _params([(2,)]), "lr": -2.0})


def test_complex_params_rejected():
    with pytest.raises(ValueError, match="complex"):
        EXAdam([torch.zeros(3, dtype=torch.complex64, requires_grad=True)])


def test_sparse_grad_raises():
    p = torch.nn.Parameter(torch.zeros(4, 2))
    opt = EXAdam([p])
    p.grad = torch.eye(4, 2).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("path", [{}, {"foreach": True}])
@pytest.mark.parametrize("maximize", [False, True])
def test_grad_never_modified(path, maximize):
    ps = _params(SHAPES) + _params([(3, 3)], dtype=torch.bfloat16)
    opt = EXAdam(ps, weight_decay=0.1, maximize=maximize, **path)
    for p in ps:
        p.grad = torch.randn_like(p)
    before = [p.grad.clone() for p in ps]
    opt.step()
    opt.step()
    assert all(torch.equal(p.grad, b) for p, b in zip(ps, before, strict=True))


@pytest.mark.parametrize("path", [{}, {"foreach": True}])
def test_bf16_params_keep_fp32_state_and_round_trip(path):
    p = torch.nn.Parameter(torch.randn(6, 4).bfloat16())
    opt = EXAdam([p], lr=1e-2, **path)
    p.grad = torch.randn(6, 4).bfloat16()
    opt.step()
    st = opt.state[p]
    assert st["exp_avg"].dtype == torch.float32 and st["exp_avg_sq"].dtype == torch.float32
    assert p.dtype == torch.bfloat16
    saved = copy.deepcopy(opt.state_dict())
    fresh = EXAdam([p], lr=1e-2, **path)
    fresh.load_state_dict(saved)
    assert fresh.state[p]["exp_avg"].dtype == torch.float32
    assert torch.equal(fresh.state[p]["exp_avg_sq"], st["exp_avg_sq"])


def test_state_bytes_formula():
    ps = _params(SHAPES) + _params([(3, 5)], dtype=torch.float32) + _params([(4, 4)], dtype=torch.bfloat16)
    opt = EXAdam(ps)
    for p in ps:
        p.grad = torch.ones_like(p)
    opt.step()
    for p in ps:
        tensors = [v for v in opt.state[p].values() if isinstance(v, torch.Tensor)]
        per_param = 16 if p.dtype == torch.float64 else 8  # exp_avg + exp_avg_sq; step is a Python int
        assert sum(t.numel() * t.element_size() for t in tensors) == per_param * p.numel()
        assert opt.state[p]["step"] == 1 and isinstance(opt.state[p]["step"], int)


def test_zero_size_none_grad_and_lr_zero():
    ps = _params([(0, 3), (4,)])
    opt = EXAdam(ps, lr=0.0, weight_decay=0.1)
    ps[0].grad = torch.zeros(0, 3, dtype=torch.float64)
    before = ps[1].detach().clone()
    opt.step()  # ps[1] has no grad: untouched, no state
    assert ps[1] not in opt.state and torch.equal(ps[1], before)
    ps[1].grad = torch.randn(4, dtype=torch.float64)
    opt.step()  # lr = 0: nothing moves, even with weight decay
    assert torch.equal(ps[1], before)


def test_step_counted_per_parameter():
    """A param whose grads start late follows a fresh optimizer started at that time."""
    a, b = _params([(3,), (4,)])
    b_alone = torch.nn.Parameter(b.detach().clone())
    opt, solo = EXAdam([a, b], lr=0.1), EXAdam([b_alone], lr=0.1)
    g = torch.Generator().manual_seed(0)
    for t in range(6):
        a.grad = torch.randn(3, generator=g, dtype=torch.float64)
        grad_b = torch.randn(4, generator=g, dtype=torch.float64)
        b.grad = grad_b if t >= 3 else None
        opt.step()
        if t >= 3:
            b_alone.grad = grad_b.clone()
            solo.step()
    assert opt.state[a]["step"] == 6 and opt.state[b]["step"] == 3
    assert torch.equal(b, b_alone)


def test_closure_param_groups_and_state_dict_lockstep():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    x, y = torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    groups = [
        {"params": model[0].parameters()},
        {"params": model[2].parameters(), "lr": 1e-28, "weight_decay": 0.0},
    ]
    opt = EXAdam(groups, lr=1e-2, weight_decay=0.01)
    frozen = [p.detach().clone() for p in model[2].parameters()]

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    losses = [float(opt.step(closure).detach()) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert all(
        torch.allclose(p, q, rtol=0, atol=1e-20) for p, q in zip(model[2].parameters(), frozen, strict=True)
    )

    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    twin = copy.deepcopy(model)
    twin_opt = EXAdam([{"params": twin[0].parameters()}, {"params": twin[2].parameters()}])
    buf.seek(0)
    twin_opt.load_state_dict(torch.load(buf))
    assert twin_opt.param_groups[1]["lr"] == 1e-28

    def twin_closure():
        twin_opt.zero_grad()
        loss = torch.nn.functional.mse_loss(twin(x), y)
        loss.backward()
        return loss

    for _ in range(10):
        opt.step(closure)
        twin_opt.step(twin_closure)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), twin.parameters(), strict=True))
    clone = copy.deepcopy(opt)
    assert clone.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_method_spec_and_factory():
    assert EXADAM.name == "exadam" and EXADAM.family == "torch-optimizer"
    assert EXADAM.paper is not None and EXADAM.paper.arxiv == "2412.20302"
    hp = EXADAM.resolve_hparams({"lr": 3e-3})
    model = torch.nn.Linear(3, 2)
    opt, sched = EXADAM.load_factory()(list(model.named_parameters()), hp, 100)
    assert isinstance(opt, EXAdam) and opt.param_groups[0]["betas"] == (0.9, 0.999)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()


def test_docstring_examples_run():
    result = doctest.testmod(exadam_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
