"""Lion: equality with lion-pytorch, the sign invariant, fast paths == loop, torch.optim contract."""

from __future__ import annotations

import copy

import pytest
import torch

from optarena.optim.lion import LION, Lion, make_lion

SHAPES = [(7,), (5, 3), (3, 5), (2, 3, 4, 4)]


def _params(shapes, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen, dtype=torch.float64).to(dtype)) for s in shapes]


def _run(opt, params, steps, seed=1, skip=()):
    """``steps`` steps with seeded grads ``noise + 0.5 p``; param i gets no grad on the steps in ``skip``."""
    gen = torch.Generator().manual_seed(seed)
    for t in range(steps):
        for i, p in enumerate(params):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64) + 0.5 * p.detach().double()
            p.grad = None if (t, i) in skip else g.to(p.dtype)
        opt.step()


def _assert_same(a, b, opt_a=None, opt_b=None, tol=0.0):
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)
    if opt_a is not None:
        for x, y in zip(a, b, strict=True):
            sa, sb = opt_a.state[x], opt_b.state[y]
            assert sa.keys() == sb.keys()
            for k in sa:
                torch.testing.assert_close(sa[k], sb[k], rtol=tol, atol=tol)


# --- reference equality --------------------------------------------------------------------------


@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
@pytest.mark.parametrize("impl", [{}, {"foreach": True}])
def test_matches_lion_pytorch(weight_decay, impl):
    lion_pytorch = pytest.importorskip("lion_pytorch", reason="reference lion-pytorch==0.2.5 not installed")
    ours, ref = _params(SHAPES), _params(SHAPES)
    hp = dict(lr=3e-3, betas=(0.9, 0.99), weight_decay=weight_decay)
    opt, ref_opt = Lion(ours, **hp, **impl), lion_pytorch.Lion(ref, **hp)
    _run(opt, ours, 100)
    _run(ref_opt, ref, 100)
    _assert_same(ours, ref, tol=1e-12)
    for p, q in zip(ours, ref, strict=True):
        torch.testing.assert_close(
            opt.state[p]["exp_avg"], ref_opt.state[q]["exp_avg"], rtol=1e-12, atol=1e-12
        )
        assert opt.state[p]["step"].item() == 100


def test_update_magnitude_is_zero_or_lr():
    """With weight decay 0, every coordinate moves by exactly 0 or lr (dyadic values: exact in fp64)."""
    lr = 2.0**-7
    params = [torch.nn.Parameter(torch.randint(-64, 64, s).double() * lr) for s in SHAPES]
    params.append(torch.nn.Parameter(torch.zeros(4, dtype=torch.float64)))  # zero grads: sign 0
    opt = Lion(params, lr=lr)
    gen = torch.Generator().manual_seed(3)
    moved = set()
    for _ in range(20):
        before = [p.detach().clone() for p in params]
        for p in params[:-1]:
            p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        params[-1].grad = torch.zeros(4, dtype=torch.float64)
        opt.step()
        for p, b in zip(params, before, strict=True):
            delta = (p.detach() - b).abs()
            assert bool(((delta == 0) | (delta == lr)).all())
            moved |= set(delta.unique().tolist())
    assert moved == {0.0, lr}


# --- fast paths == loop --------------------------------------------------------------------------

MIXED = [(7,), (5, 3), (0,), (1,), (2, 3, 4, 4)]


def _mixed_params():
    """fp64, fp32 and bf16 params (incl. 0-size and 1-element), as two identical sets."""
    out = []
    for _ in range(2):
        ps = _params(MIXED)
        ps += _params([(6, 2)], dtype=torch.float32, seed=5) + _params([(9,)], dtype=torch.bfloat16, seed=6)
        out.append(ps)
    return out


def test_foreach_equals_loop_bitwise():
    (a, b) = _mixed_params()
    opt_a = Lion(a, lr=1e-2, weight_decay=0.1)
    opt_b = Lion(b, lr=1e-2, weight_decay=0.1, foreach=True)
    skip = {(2, 1), (3, 4)}  # a None grad on some steps: that param's step count lags
    _run(opt_a, a, 9, skip=skip)
    _run(opt_b, b, 9, skip=skip)
    _assert_same(a, b, opt_a, opt_b, tol=0.0)
    assert opt_a.state[a[1]]["step"].item() == 8 and opt_a.state[a[0]]["step"].item() == 9


# The fused path's tests (equality with the loop for every flag and dtype) are in test_fused.py.


# --- torch.optim contract ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "Invalid learning rate: -1.0"),
        ({"lr": float("nan")}, "Invalid learning rate: nan"),
        ({"betas": (1.5, 0.99)}, "Invalid beta parameter at index 0: 1.5"),
        ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ({"betas": (0.9,)}, "Invalid betas"),
        ({"weight_decay": -1e-2}, "Invalid weight_decay value: -0.01"),
        ({"foreach": True, "fused": True}, "exclusive"),
    ],
)
def test_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Lion(_params([(3,)]), **kwargs)
    opt = Lion(_params([(3,)]))
    with pytest.raises(ValueError, match=message):  # per-group values are checked too
        opt.add_param_group({"params": _params([(2,)]), **kwargs})
    assert len(opt.param_groups) == 1


def test_sparse_gradient_raises():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.zeros(4).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        Lion([p]).step()


@pytest.mark.parametrize("impl", [{}, {"foreach": True}])
def test_grad_untouched_closure_and_lr_zero(impl):
    params = _params([*SHAPES, (0,)])
    grads = [torch.randn(p.shape, dtype=p.dtype) for p in params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    before = [p.detach().clone() for p in params]
    opt = Lion(params, lr=0.0, weight_decay=0.1, **impl)

    def closure():
        assert torch.is_grad_enabled()
        return torch.tensor(1.5)

    assert opt.step(closure).item() == 1.5
    _assert_same(params, before)  # lr = 0: no change at all
    _assert_same([p.grad for p in params], grads)


def test_param_groups_and_late_params():
    a, b = _params([(4,)]), _params([(3,)], seed=2)
    opt = Lion([{"params": a}, {"params": b, "lr": 1e-28, "weight_decay": 0.0}], lr=0.1)
    b0 = b[0].detach().clone()
    c = _params([(2,)], seed=3)
    opt.add_param_group({"params": c, "betas": (0.5, 0.5)})
    _run(opt, a + b, 3)
    _run(opt, a + b + c, 1)
    assert opt.state[a[0]]["step"].item() == 4 and opt.state[c[0]]["step"].item() == 1
    torch.testing.assert_close(b[0].detach(), b0, rtol=0, atol=1e-27)
    assert opt.param_groups[2]["betas"] == (0.5, 0.5) and opt.param_groups[2]["lr"] == 0.1


@pytest.mark.parametrize("impl", [{}, {"foreach": True}])
def test_state_dict_round_trip_mid_run(impl):
    params = _params(SHAPES) + _params([(5,)], dtype=torch.bfloat16, seed=4)
    opt = Lion(params, lr=1e-2, weight_decay=0.1, **impl)
    _run(opt, params, 4)
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = Lion(clone, lr=0.5, **impl)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.state[clone[-1]]["exp_avg"].dtype == torch.float32  # bf16 params keep fp32 state
    _run(opt, params, 5, seed=7)
    _run(opt2, clone, 5, seed=7)
    _assert_same(params, clone, opt, opt2)


def test_deterministic_and_deepcopy():
    a, b = _params(SHAPES), _params(SHAPES)
    opt_a, opt_b = Lion(a, lr=1e-2), Lion(b, lr=1e-2)
    _run(opt_a, a, 3)
    _run(opt_b, b, 3)
    _assert_same(a, b, opt_a, opt_b)
    copy.deepcopy(opt_a)


def test_bf16_state_is_fp32_and_rounded_once():
    p32 = torch.nn.Parameter(torch.randn(64, dtype=torch.float32))
    p16 = torch.nn.Parameter(p32.detach().to(torch.bfloat16))
    p32.data = p16.detach().float()
    g = torch.randn(64)
    o32, o16 = Lion([p32], lr=1e-2, weight_decay=0.1), Lion([p16], lr=1e-2, weight_decay=0.1)
    p32.grad, p16.grad = g, g.to(torch.bfloat16)
    o16.step()
    p32.grad = g.to(torch.bfloat16).float()
    o32.step()
    assert o16.state[p16]["exp_avg"].dtype == torch.float32
    assert torch.equal(p16.detach(), p32.detach().to(torch.bfloat16))
    assert torch.equal(o16.state[p16]["exp_avg"], o32.state[p32]["exp_avg"])


def test_complex_equals_view_as_real():
    pc = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.complex128))
    pr = torch.nn.Parameter(torch.view_as_real(pc.detach()).clone())
    oc, orr = Lion([pc], lr=1e-2, weight_decay=0.1), Lion([pr], lr=1e-2, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        g = torch.randn(5, 3, generator=gen, dtype=torch.complex128)
        pc.grad, pr.grad = g, torch.view_as_real(g).clone()
        oc.step()
        orr.step()
    assert torch.equal(torch.view_as_real(pc.detach()), pr.detach())


def test_maximize_is_minimize_of_negated_grads():
    a, b = _params(SHAPES), _params(SHAPES)
    opt_a, opt_b = Lion(a, lr=1e-2, maximize=True), Lion(b, lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p, q in zip(a, b, strict=True):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.grad, q.grad = g, -g
        opt_a.step()
        opt_b.step()
    _assert_same(a, b)


def test_state_bytes_formula():
    """4 B/param (fp32 exp_avg) + 4 B per tensor (fp32 step), for fp32 and bf16 params."""
    params = _params(SHAPES, dtype=torch.float32) + _params([(10, 3)], dtype=torch.bfloat16)
    opt = Lion(params)
    _run(opt, params, 1)
    total = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values())
    n = sum(p.numel() for p in params)
    assert total == 4 * n + 4 * len(params)


def test_method_spec_and_factory():
    assert LION.name == "lion" and LION.family == "torch-optimizer" and LION.status == "experimental"
    assert {"foreach", "fused"} <= LION.capabilities
    assert LION.paper is not None and LION.paper.arxiv == "2302.06675"
    hp = LION.resolve_hparams(dict(LION.defaults))  # the defaults lie in the search space
    assert hp["lr"] == 1e-4 and hp["beta2"] == 0.99
    assert LION.load_factory() is make_lion
    model = torch.nn.Linear(3, 2)
    opt, sched = make_lion(
        list(model.named_parameters()), LION.resolve_hparams(LION.search_space.sample(0)), 50
    )
    assert isinstance(opt, Lion) and sched is not None
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
