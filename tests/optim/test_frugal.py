"""FRUGAL: exact oracles from the paper's equations (no reference package exists)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from optarena.optim.frugal import FRUGAL, FRUGAL_SPEC, PROJECTIONS, make_frugal, subspace_rank

F64 = torch.float64


def _grads(shape, steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen, dtype=F64) for _ in range(steps)]


def _param(shape, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=gen, dtype=F64).requires_grad_()


def _adam_dir(low, state, k, beta1, beta2, eps):
    """Bias-corrected Adam direction of the test's transcription (fresh moments when state is empty)."""
    if not state:
        state["m"], state["v"] = torch.zeros_like(low), torch.zeros_like(low)
    state["m"] = beta1 * state["m"] + (1 - beta1) * low
    state["v"] = beta2 * state["v"] + (1 - beta2) * low * low
    return (state["m"] / (1 - beta1**k)) / ((state["v"] / (1 - beta2**k)).sqrt() + eps)


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5,)])
def test_density_one_is_adamw(projection, shape):
    kw = {"lr": 3e-2, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}
    p, q = _param(shape), _param(shape)
    opt = FRUGAL([p], density=1.0, projection=projection, update_period=7, **kw)
    ref = torch.optim.AdamW([q], **kw)
    for g in _grads(shape, 50):
        p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    torch.testing.assert_close(p, q, rtol=0, atol=1e-12)


@pytest.mark.parametrize("projection", PROJECTIONS)
@pytest.mark.parametrize("rule", ["sign", "sgd"])
def test_density_zero_is_signsgd(projection, rule):
    lr, wd, scale = 2e-2, 0.1, 0.3
    p = _param((5, 3))
    expected = p.detach().clone()
    opt = FRUGAL(
        [p],
        lr=lr,
        weight_decay=wd,
        density=0.0,
        projection=projection,
        state_free=rule,
        state_free_lr_scale=scale,
        update_period=3,
    )
    for g in _grads((5, 3), 20):
        p.grad = g.clone()
        opt.step()
        expected = expected * (1 - lr * wd) - lr * scale * (g.sign() if rule == "sign" else g)
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-14)
    assert set(opt.state[p]) == {"step", "adam_step", "mode", "period"}  # no tensor state


def _svd_oracle(p0, grads, lr, betas, eps, wd, rho, period, scale):
    """Direct transcription of theta <- (1-lr wd) theta - lr P Adam(P^T G) - lr s sign(G - P P^T G),
    P = top-r left singular vectors of the (wide-oriented) gradient at each switch, moments reset."""
    theta = p0.detach().clone()
    tall = theta.shape[0] > theta.shape[1]
    state, k = {}, 0
    for t, g_full in enumerate(grads):
        g = g_full.T if tall else g_full
        r = subspace_rank(rho, g.shape[0])
        if t % period == 0:
            P = torch.linalg.svd(g, full_matrices=False)[0][:, :r]
            state, k = {}, 0
        k += 1
        u = P @ _adam_dir(P.T @ g, state, k, *betas, eps)
        upd = lr * u + lr * scale * (g - P @ (P.T @ g)).sign()
        theta = theta * (1 - lr * wd) - (upd.T if tall else upd)
    return theta


@pytest.mark.parametrize("shape", [(6, 10), (10, 6)])
def test_svd_decomposition_matches_transcription(shape):
    kw = {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8, "weight_decay": 0.05}
    p = _param(shape)
    p0 = p.detach().clone()
    grads = _grads(shape, 25)
    opt = FRUGAL([p], density=0.5, projection="svd", update_period=10, state_free_lr_scale=0.2, **kw)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    expected = _svd_oracle(p0, grads, kw["lr"], kw["betas"], kw["eps"], kw["weight_decay"], 0.5, 10, 0.2)
    torch.testing.assert_close(p, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("projection", ["svd", "random", "columns"])
def test_subspace_changes_exactly_every_period(projection):
    p = _param((6, 8))
    opt = FRUGAL([p], density=0.5, projection=projection, update_period=4)
    projs = []
    for g in _grads((6, 8), 13):
        p.grad = g
        opt.step()
        projs.append(opt.state[p]["proj"].clone())
        P = projs[-1]
        torch.testing.assert_close(P.T @ P, torch.eye(3, dtype=F64), rtol=0, atol=1e-12)
    for t in range(1, 13):
        same = torch.equal(projs[t], projs[t - 1])
        assert same == (t % 4 != 0), f"step {t + 1}"
    assert opt.state[p]["adam_step"] == 1  # step 13 opened a new period: moments and bias correction reset


def test_blocks_choose_whole_tensors():
    ps = [_param((3, 4), seed=i) for i in range(8)]
    opt = FRUGAL(ps, density=0.25, projection="blocks", update_period=2)
    history = []
    for g in _grads((3, 4), 6):
        for p in ps:
            p.grad = g
        opt.step()
        active = [i for i, p in enumerate(ps) if "exp_avg" in opt.state[p]]
        assert len(active) == 2
        assert all(opt.state[ps[i]]["exp_avg"].shape == (3, 4) for i in active)
        history.append(active)
    assert history[0] == history[1] and history[2] == history[3] and history[4] == history[5]


def _bytes(state):
    return sum(v.numel() * v.element_size() for v in state.values() if isinstance(v, torch.Tensor))


@pytest.mark.parametrize("dtype", [F64, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("shape", [(6, 10), (10, 6), (2, 3, 4), (7,)])
@pytest.mark.parametrize("rho", [0.0, 0.25, 0.5, 1.0])
def test_state_bytes_formula(dtype, shape, rho):
    p = torch.zeros(shape, dtype=dtype, requires_grad=True)
    opt = FRUGAL([p], density=rho, projection="svd")
    p.grad = torch.randn(shape).to(dtype)
    opt.step()
    s = 8 if dtype == F64 else 4
    rows, cols = (shape[0], math.prod(shape[1:])) if len(shape) >= 2 else (1, shape[0])
    m, n = min(rows, cols), max(rows, cols)
    r = subspace_rank(rho, m)
    expected = 0 if r == 0 else 2 * p.numel() * s if r == m else (m * r + 2 * r * n) * s
    assert _bytes(opt.state[p]) == expected


@pytest.mark.parametrize("projection", PROJECTIONS)
def test_grad_untouched_and_state_dict_round_trip(projection):
    shapes = [(6, 4), (4, 6), (5,), (3, 5)]
    ps = [_param(s, seed=i) for i, s in enumerate(shapes)]
    kw = {"lr": 1e-2, "weight_decay": 0.01, "density": 0.5, "projection": projection, "update_period": 3}
    opt = FRUGAL(ps, **kw)
    grads = [_grads(s, 10, seed=10 + i) for i, s in enumerate(shapes)]
    for t in range(4):
        for p, g in zip(ps, grads, strict=True):
            p.grad = g[t].clone()
        before = [p.grad.clone() for p in ps]
        opt.step()
        for p, b in zip(ps, before, strict=True):
            assert torch.equal(p.grad, b)
    clones = [p.detach().clone().requires_grad_() for p in ps]
    fresh = FRUGAL(clones, **kw)
    fresh.load_state_dict(copy.deepcopy(opt.state_dict()))
    for t in range(4, 10):
        for p, c, g in zip(ps, clones, grads, strict=True):
            p.grad, c.grad = g[t].clone(), g[t].clone()
        opt.step()
        fresh.step()
    for p, c in zip(ps, clones, strict=True):
        assert torch.equal(p, c)


def test_bf16_state_is_fp32_after_reload():
    p = torch.randn(6, 4).bfloat16().requires_grad_()
    opt = FRUGAL([p], density=0.5, projection="svd")
    p.grad = torch.randn(6, 4).bfloat16()
    opt.step()
    fresh = FRUGAL([p.detach().clone().requires_grad_()], density=0.5, projection="svd")
    fresh.load_state_dict(opt.state_dict())
    st = next(iter(fresh.state.values()))
    assert {st[k].dtype for k in ("proj", "exp_avg", "exp_avg_sq")} == {torch.float32}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"density": 1.5}, "1.5"),
        ({"density": -0.1}, "-0.1"),
        ({"projection": "qr"}, "'qr'"),
        ({"update_period": 0}, "update_period: 0"),
        ({"update_period": 2.5}, "2.5"),
        ({"state_free": "adam"}, "'adam'"),
        ({"state_free_lr_scale": -1.0}, "-1.0"),
        ({"lr": -1e-3}, "-0.001"),
        ({"betas": (0.9, 1.0)}, "1.0"),
        ({"eps": 0.0}, "0.0"),
        ({"weight_decay": -0.1}, "-0.1"),
        ({"seed": -3}, "-3"),
        ({"use_frugal": 1}, "use_frugal: 1"),
    ],
)
def test_bad_inputs_raise(kwargs, needle):
    with pytest.raises(ValueError, match="Invalid") as info:
        FRUGAL([torch.zeros(2, 2, requires_grad=True)], **kwargs)
    assert needle in str(info.value)


def test_bad_group_key_and_complex():
    with pytest.raises(ValueError, match="densty"):
        FRUGAL([{"params": [torch.zeros(2, 2, requires_grad=True)], "densty": 0.5}])
    with pytest.raises(ValueError, match="complex"):
        FRUGAL([torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)])


def test_make_frugal_routes_and_schedules():
    model = torch.nn.ModuleDict(
        {"embed": torch.nn.Embedding(10, 8), "hidden": torch.nn.Linear(8, 8), "norm": torch.nn.LayerNorm(8)}
    )
    hp = FRUGAL_SPEC.defaults
    opt, sched = make_frugal(list(model.named_parameters()), hp, step_hint=100)
    assert [g["use_frugal"] for g in opt.param_groups] == [True, False]
    assert [len(g["params"]) for g in opt.param_groups] == [1, 4]
    assert FRUGAL_SPEC.defaults["projection"] == "blocks" and FRUGAL_SPEC.defaults["density"] == 0.25
    x = torch.randint(0, 10, (4,))
    model["norm"](model["hidden"](model["embed"](x))).square().mean().backward()
    opt.step()
    sched.step()
