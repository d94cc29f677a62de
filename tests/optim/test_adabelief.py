"""AdaBelief: equality with adabelief-pytorch, fast paths == loop, torch.optim contract."""

from __future__ import annotations

import copy

import pytest
import torch

from optarena.optim.adabelief import ADABELIEF, AdaBelief, make_adabelief

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

FLAGS = [
    dict(weight_decay=0.1, decoupled_weight_decay=True),
    dict(weight_decay=0.1, decoupled_weight_decay=False),
    dict(weight_decay=0.0, decoupled_weight_decay=True, eps=1e-8),
    dict(weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
    dict(weight_decay=0.1, decoupled_weight_decay=True, rectify=True),
]


@pytest.mark.parametrize("flags", FLAGS, ids=["decoupled", "l2", "eps1e-8", "amsgrad", "rectify"])
@pytest.mark.parametrize("impl", [{}, {"foreach": True}], ids=["loop", "foreach"])
def test_matches_adabelief_pytorch(flags, impl, capsys):
    ref_mod = pytest.importorskip(
        "adabelief_pytorch", reason="reference adabelief-pytorch==0.2.1 not installed"
    )
    ours, ref = _params(SHAPES), _params(SHAPES)
    opt = AdaBelief(ours, lr=1e-2, **flags, **impl)
    ref_opt = ref_mod.AdaBelief(
        ref,
        lr=1e-2,
        eps=flags.get("eps", 1e-16),
        weight_decay=flags["weight_decay"],
        weight_decouple=flags["decoupled_weight_decay"],
        amsgrad=flags.get("amsgrad", False),
        rectify=flags.get("rectify", False),
        fixed_decay=False,
        print_change_log=False,
    )
    _run(opt, ours, 100)
    _run(ref_opt, ref, 100)
    _assert_same(ours, ref, tol=1e-12)
    for p, q in zip(ours, ref, strict=True):
        for k in ("exp_avg", "exp_avg_var"):
            torch.testing.assert_close(opt.state[p][k], ref_opt.state[q][k], rtol=1e-12, atol=1e-12)
        assert opt.state[p]["step"].item() == ref_opt.state[q]["step"] == 100
    capsys.readouterr()  # the reference prints its flags


def test_epsilon_accumulates_in_state():
    """The official quirk: s_t = beta2 s_{t-1} + (1 - beta2)(g - m)^2 + eps, eps stored in s."""
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = AdaBelief([p], betas=(0.9, 0.5), eps=1e-3)
    for _ in range(2):
        p.grad = torch.zeros(3, dtype=torch.float64)
        opt.step()
    torch.testing.assert_close(
        opt.state[p]["exp_avg_var"], torch.full((3,), 1e-3 * 0.5 + 1e-3, dtype=torch.float64)
    )


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


@pytest.mark.parametrize("flags", FLAGS, ids=["decoupled", "l2", "eps1e-8", "amsgrad", "rectify"])
def test_foreach_equals_loop_bitwise(flags):
    (a, b) = _mixed_params()
    opt_a = AdaBelief(a, lr=1e-2, **flags)
    opt_b = AdaBelief(b, lr=1e-2, foreach=True, **flags)
    skip = {(2, 1), (3, 4), (5, 4)}  # None grads: those params' step counts lag (per-param bias correction)
    _run(opt_a, a, 9, skip=skip)
    _run(opt_b, b, 9, skip=skip)
    _assert_same(a, b, opt_a, opt_b, tol=0.0)
    assert opt_a.state[a[4]]["step"].item() == 7 and opt_a.state[a[0]]["step"].item() == 9


# The fused path's tests (equality with the loop for every flag and dtype) are in test_fused.py.


# --- torch.optim contract ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": -1.0}, "Invalid learning rate: -1.0"),
        ({"lr": float("inf")}, "Invalid learning rate: inf"),
        ({"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
        ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
        ({"betas": 0.9}, "Invalid betas"),
        ({"weight_decay": -1e-2}, "Invalid weight_decay value: -0.01"),
        ({"foreach": True, "fused": True}, "exclusive"),
    ],
)
def test_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AdaBelief(_params([(3,)]), **kwargs)
    opt = AdaBelief(_params([(3,)]))
    with pytest.raises(ValueError, match=message):  # per-group values are checked too
        opt.add_param_group({"params": _params([(2,)]), **kwargs})
    assert len(opt.param_groups) == 1


def test_sparse_gradient_raises():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.zeros(4).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        AdaBelief([p]).step()


@pytest.mark.parametrize("impl", [{}, {"foreach": True}])
def test_grad_untouched_closure_and_lr_zero(impl):
    params = _params([*SHAPES, (0,)])
    grads = [torch.randn(p.shape, dtype=p.dtype) for p in params]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()
    before = [p.detach().clone() for p in params]
    opt = AdaBelief(params, lr=0.0, weight_decay=0.1, decoupled_weight_decay=False, **impl)

    def closure():
        assert torch.is_grad_enabled()
        return torch.tensor(2.5)

    assert opt.step(closure).item() == 2.5
    _assert_same(params, before)  # lr = 0: no change at all
    _assert_same([p.grad for p in params], grads)  # L2 decay is added out of place


def test_param_groups_and_late_params():
    a, b = _params([(4,)]), _params([(3,)], seed=2)
    opt = AdaBelief([{"params": a}, {"params": b, "lr": 1e-28, "weight_decay": 0.0}], lr=0.1)
    b0 = b[0].detach().clone()
    c = _params([(2,)], seed=3)
    opt.add_param_group({"params": c, "amsgrad": True})
    _run(opt, a + b, 3)
    _run(opt, a + b + c, 1)
    assert opt.state[a[0]]["step"].item() == 4 and opt.state[c[0]]["step"].item() == 1
    assert "max_exp_avg_var" in opt.state[c[0]] and "max_exp_avg_var" not in opt.state[a[0]]
    torch.testing.assert_close(b[0].detach(), b0, rtol=0, atol=1e-27)


@pytest.mark.parametrize("impl", [{}, {"foreach": True}])
def test_state_dict_round_trip_mid_run(impl):
    params = _params(SHAPES) + _params([(5,)], dtype=torch.bfloat16, seed=4)
    opt = AdaBelief(params, lr=1e-2, weight_decay=0.1, amsgrad=True, **impl)
    _run(opt, params, 4)
    clone = [torch.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = AdaBelief(clone, lr=0.5, **impl)
    opt2.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert opt2.state[clone[-1]]["exp_avg_var"].dtype == torch.float32  # bf16 params keep fp32 state
    _run(opt, params, 5, seed=7)
    _run(opt2, clone, 5, seed=7)
    _assert_same(params, clone, opt, opt2)


def test_deterministic_and_deepcopy():
    a, b = _params(SHAPES), _params(SHAPES)
    opt_a, opt_b = AdaBelief(a, lr=1e-2), AdaBelief(b, lr=1e-2)
    _run(opt_a, a, 3)
    _run(opt_b, b, 3)
    _assert_same(a, b, opt_a, opt_b)
    copy.deepcopy(opt_a)


def test_bf16_state_is_fp32_and_rounded_once():
    p16 = torch.nn.Parameter(torch.randn(64).to(torch.bfloat16))
    p32 = torch.nn.Parameter(p16.detach().float())
    o32, o16 = AdaBelief([p32], lr=1e-2, weight_decay=0.1), AdaBelief([p16], lr=1e-2, weight_decay=0.1)
    for _ in range(2):
        g = torch.randn(64).to(torch.bfloat16)
        p16.grad, p32.grad = g, g.float()
        o16.step()
        o32.step()
        assert torch.equal(p16.detach(), p32.detach().to(torch.bfloat16))
        p32.data = p16.detach().float()  # o32 keeps the same rounded weights
    assert o16.state[p16]["exp_avg"].dtype == torch.float32
    assert torch.equal(o16.state[p16]["exp_avg_var"], o32.state[p32]["exp_avg_var"])


def test_complex_equals_view_as_real():
    pc = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.complex128))
    pr = torch.nn.Parameter(torch.view_as_real(pc.detach()).clone())
    oc, orr = AdaBelief([pc], lr=1e-2, weight_decay=0.1), AdaBelief([pr], lr=1e-2, weight_decay=0.1)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        g = torch.randn(5, 3, generator=gen, dtype=torch.complex128)
        pc.grad, pr.grad = g, torch.view_as_real(g).clone()
        oc.step()
        orr.step()
    assert torch.equal(torch.view_as_real(pc.detach()), pr.detach())


def test_maximize_is_minimize_of_negated_grads():
    a, b = _params(SHAPES), _params(SHAPES)
    opt_a, opt_b = AdaBelief(a, lr=1e-2, maximize=True), AdaBelief(b, lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        for p, q in zip(a, b, strict=True):
            g = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            p.grad, q.grad = g, -g
        opt_a.step()
        opt_b.step()
    _assert_same(a, b)


def test_state_bytes_formula():
    """8 B/param (fp32 exp_avg, exp_avg_var) + 4 B per tensor (fp32 step); 12 B/param with amsgrad."""
    for amsgrad, per_param in ((False, 8), (True, 12)):
        params = _params(SHAPES, dtype=torch.float32) + _params([(10, 3)], dtype=torch.bfloat16)
        opt = AdaBelief(params, amsgrad=amsgrad)
        _run(opt, params, 1)
        total = sum(t.numel() * t.element_size() for s in opt.state.values() for t in s.values())
        assert total == per_param * sum(p.numel() for p in params) + 4 * len(params)


def test_method_spec_and_factory():
    spec = ADABELIEF
    assert spec.name == "adabelief" and spec.family == "torch-optimizer" and spec.status == "experimental"
    assert {"foreach", "fused"} <= spec.capabilities
    assert spec.paper is not None and spec.paper.arxiv == "2010.07468"
    hp = spec.resolve_hparams(dict(spec.defaults))  # the defaults lie in the search space
    assert hp["eps"] == 1e-16 and hp["beta2"] == 0.999
    assert spec.load_factory() is make_adabelief
    model = torch.nn.Linear(3, 2)
    opt, sched = make_adabelief(
        list(model.named_parameters()), spec.resolve_hparams(spec.search_space.sample(1)), 50
    )
    assert isinstance(opt, AdaBelief) and not opt.param_groups[0]["rectify"]
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched.step()
