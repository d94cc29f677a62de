"""M-FAC: the matrix-free inverse-Fisher products against the dense inverse (fp64, 1e-10), the
optimizer's step against ``p - lr * oracle`` (partial window, full window, after wrap-around), and the
optimizer contract: p.grad untouched, state_dict lockstep, bad inputs, state bytes, convergence."""

from __future__ import annotations

import copy

import pytest
import torch

from optarena.optim.mfac import MFAC, MFAC_SPEC, make_mfac, mfac_ihvp

F64 = torch.float64
TOL = 1e-10


def _dense(grads: torch.Tensor, x: torch.Tensor, damp: float, m: int) -> torch.Tensor:
    """(damp I + G^T G / m)^{-1} x, rows of G the gradients (the d x d Fisher, formed densely)."""
    d = x.numel()
    fisher = damp * torch.eye(d, dtype=F64) + grads.T @ grads / m
    return torch.linalg.solve(fisher, x)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("damp", [1e-2, 1e-4])
def test_ihvp_matches_dense_inverse(damp):
    gen = torch.Generator().manual_seed(0)
    m, d = 32, 1500
    grads = 0.1 * torch.randn(m, d, generator=gen, dtype=F64)
    x = torch.randn(d, generator=gen, dtype=F64)
    assert _rel(mfac_ihvp(grads, x, damp), _dense(grads, x, damp, m)) < TOL
    # a vector in the span of the window (the optimizer's case): the subtraction cancels most
    assert _rel(mfac_ihvp(grads, grads[5], damp), _dense(grads, grads[5], damp, m)) < TOL
    # a partly filled window of a size-m buffer: k rows, normalization 1/m
    assert _rel(mfac_ihvp(grads[:7], x, damp, ngrads=m), _dense(grads[:7], x, damp, m)) < TOL


def test_step_matches_oracle_through_fill_and_wraparound():
    """Two parameters (d = 1500 flattened), window m = 8, 20 steps: steps 1-7 fill the buffer, then the
    oldest gradient is replaced each step. Each step equals p - lr * (damp I + G^T G / m)^{-1} (g + wd p)
    with G the last min(t, m) gradients, and ``ihvp`` is the same inverse."""
    gen = torch.Generator().manual_seed(1)
    m, lr, damp, wd = 8, 0.05, 1e-3, 1e-2
    a = torch.randn(30, 40, generator=gen, dtype=F64).requires_grad_()
    b = torch.randn(300, generator=gen, dtype=F64).requires_grad_()
    opt = MFAC([a, b], lr=lr, damp=damp, weight_decay=wd, ngrads=m)
    history: list[torch.Tensor] = []
    for t in range(20):
        a.grad = torch.randn(a.shape, generator=gen, dtype=F64)
        b.grad = torch.randn(b.shape, generator=gen, dtype=F64)
        flat_p = torch.cat([a.detach().reshape(-1), b.detach().reshape(-1)])
        g = torch.cat([a.grad.reshape(-1), b.grad.reshape(-1)]) + wd * flat_p
        history.append(g)
        window = torch.stack(history[-m:])
        want = flat_p - lr * _dense(window, g, damp, m)
        grads_before = (a.grad.clone(), b.grad.clone())
        opt.step()
        got = torch.cat([a.detach().reshape(-1), b.detach().reshape(-1)])
        assert _rel(got - flat_p, want - flat_p) < TOL, f"step {t + 1}"
        assert torch.equal(a.grad, grads_before[0]) and torch.equal(b.grad, grads_before[1])
        if t in (2, 7, 13):
            x = torch.randn(1500, generator=gen, dtype=F64)
            assert _rel(opt.ihvp(x), _dense(window, x, damp, m)) < TOL, f"ihvp after step {t + 1}"
    assert opt.state[a]["step"] == 20 and not opt.state[b]


def test_momentum_and_maximize():
    gen = torch.Generator().manual_seed(2)
    m, lr, damp, mu = 4, 0.1, 1e-2, 0.9
    p = torch.randn(50, generator=gen, dtype=F64).requires_grad_()
    q = p.detach().clone().requires_grad_()
    opt = MFAC([p], lr=lr, damp=damp, ngrads=m, momentum=mu)
    opt_max = MFAC([q], lr=lr, damp=damp, ngrads=m, momentum=mu, maximize=True)
    buf = torch.zeros(50, dtype=F64)
    history = []
    for _ in range(6):
        g = torch.randn(50, generator=gen, dtype=F64)
        history.append(g)
        before = p.detach().clone()
        buf = mu * buf + (1 - mu) * _dense(torch.stack(history[-m:]), g, damp, m)
        p.grad, q.grad = g.clone(), -g
        opt.step()
        opt_max.step()
        assert _rel(p.detach() - before, -lr * buf) < TOL
        assert torch.equal(q.grad, -g)
    assert torch.allclose(p, q, rtol=0, atol=1e-12)


def test_grad_none_parameter_untouched_and_zero_in_window():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(10, generator=gen, dtype=F64).requires_grad_()
    b = torch.randn(5, generator=gen, dtype=F64).requires_grad_()
    b0 = b.detach().clone()
    opt = MFAC([a, b], lr=0.1, damp=1e-2, ngrads=4, weight_decay=0.1)
    g = torch.randn(10, generator=gen, dtype=F64)
    a0 = a.detach().clone()
    a.grad = g
    opt.step()
    assert torch.equal(b, b0)
    flat = torch.cat([g + 0.1 * a0, torch.zeros(5, dtype=F64)])
    want = flat - 0.0  # the window holds the zero-padded gradient
    step = _dense(want[None], want, 1e-2, 4)
    assert _rel(a.detach() - a0, -0.1 * step[:10]) < TOL


def test_state_dict_round_trip_then_lockstep():
    gen = torch.Generator().manual_seed(4)
    params = [torch.randn(s, generator=gen).requires_grad_() for s in ((6,), (3, 4))]
    kw = {"lr": 0.05, "damp": 1e-2, "ngrads": 4, "momentum": 0.5, "weight_decay": 1e-3}
    opt = MFAC(params, **kw)
    grads = [[torch.randn(p.shape, generator=gen) for p in params] for _ in range(10)]

    def run(o, ps, gs):
        for step_grads in gs:
            for p, g in zip(ps, step_grads, strict=True):
                p.grad = g.clone()
            o.step()

    run(opt, params, grads[:5])  # 5 > m: the ring buffer has wrapped
    saved = copy.deepcopy(opt.state_dict())
    clones = [p.detach().clone().requires_grad_() for p in params]
    fresh = MFAC(clones, **kw)
    fresh.load_state_dict(saved)
    run(opt, params, grads[5:])
    run(fresh, clones, grads[5:])
    for p, c in zip(params, clones, strict=True):
        assert torch.equal(p, c)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"lr": -1.0}, "-1.0"),
        ({"lr": float("nan")}, "nan"),
        ({"momentum": 1.0}, "1.0"),
        ({"momentum": -0.1}, "-0.1"),
        ({"weight_decay": -1e-3}, "-0.001"),
        ({"ngrads": 0}, "ngrads value: 0"),
        ({"ngrads": 2.5}, "2.5"),
        ({"damp": 0.0}, "damp value: 0.0"),
        ({"damp": -1e-4}, "-0.0001"),
        ({"maximize": 1}, "maximize: 1"),
    ],
)
def test_bad_inputs_raise(kwargs, text):
    with pytest.raises(ValueError, match=text):
        MFAC([torch.zeros(3, requires_grad=True)], **kwargs)


def test_bad_groups_and_params_raise():
    p, q = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="ngrads: 8"):
        MFAC([{"params": [p]}, {"params": [q], "ngrads": 8}], ngrads=4)
    with pytest.raises(ValueError, match="complex"):
        MFAC([torch.zeros(3, dtype=torch.complex64, requires_grad=True)])
    with pytest.raises(ValueError, match="damp value: -1"):
        mfac_ihvp(torch.zeros(2, 3), torch.zeros(3), -1)


@pytest.mark.parametrize(("dtype", "size"), [(F64, 8), (torch.float32, 4), (torch.bfloat16, 4)])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_state_bytes_formula(dtype, size, momentum):
    shapes = ((5,), (4, 3), (2, 3, 2))
    params = [torch.randn(s, dtype=dtype).requires_grad_() for s in shapes]
    m = 6
    opt = MFAC(params, lr=1e-2, damp=1e-2, ngrads=m, momentum=momentum)
    for _ in range(2):
        for p in params:
            p.grad = torch.randn_like(p)
        opt.step()
    d = sum(p.numel() for p in params)
    want = size * (m * d + 2 * m * m + m + (d if momentum else 0))
    got = sum(
        t.numel() * t.element_size() for st in opt.state.values() for t in st.values() if torch.is_tensor(t)
    )
    assert got == want
    assert list(opt.state) == [params[0]]
    for p in params:
        assert p.dtype == dtype and bool(torch.isfinite(p).all())


def _noisy_least_squares():
    gen = torch.Generator().manual_seed(0)
    n, d = 512, 20
    scale = torch.logspace(0, -1.5, d, dtype=F64)  # condition number of the Hessian ~ 1000
    A = torch.randn(n, d, generator=gen, dtype=F64) * scale
    b = A @ torch.randn(d, generator=gen, dtype=F64) + 0.3 * torch.randn(n, generator=gen, dtype=F64)
    return A, b, torch.linalg.lstsq(A, b).solution


def _steps_to_converge(make, max_steps=600, batch=32):
    """Steps until the excess loss (x - x*)^T H (x - x*) is below 1% of its start, minibatch 32."""
    A, b, best = _noisy_least_squares()
    gen = torch.Generator().manual_seed(1)
    x = torch.zeros(A.shape[1], dtype=F64, requires_grad=True)
    opt = make([x])
    H = A.T @ A / A.shape[0]
    start = float(best @ H @ best)
    for t in range(max_steps):
        idx = torch.randint(0, A.shape[0], (batch,), generator=gen)
        x.grad = A[idx].T @ (A[idx] @ x.detach() - b[idx]) / batch
        opt.step()
        e = x.detach() - best
        excess = float(e @ H @ e)
        if not excess < 1e6 * start:
            return max_steps + 1  # diverged (or nan)
        if excess < 1e-2 * start:
            return t + 1
    return max_steps


def test_converges_faster_than_tuned_sgd_on_least_squares():
    """Noisy minibatch least squares (d=20, condition number ~1000): SGD at its best lr of
    {0.3, 1, 1.5, 2, 3} (lr=1.5) needs 94 steps; M-FAC (m=20, damp=3e-3, lr=0.03) needs 52."""
    sgd = min(
        _steps_to_converge(lambda p, lr=lr: torch.optim.SGD(p, lr=lr)) for lr in (0.3, 1.0, 1.5, 2.0, 3.0)
    )
    mfac = _steps_to_converge(lambda p: MFAC(p, lr=0.03, damp=3e-3, ngrads=20))
    assert mfac < sgd, (mfac, sgd)


def test_method_spec_factory():
    p = torch.nn.Parameter(torch.randn(4, 3))
    opt, sched = make_mfac([("w", p)], dict(MFAC_SPEC.defaults), step_hint=10)
    assert isinstance(opt, MFAC) and opt.defaults["ngrads"] == 32
    p.grad = torch.randn_like(p)
    opt.step()
    sched.step()
    assert MFAC_SPEC.name == "mfac" and MFAC_SPEC.paper.arxiv == "2107.03356"
