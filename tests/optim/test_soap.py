"""SOAP: equality with pytorch_optimizer.SOAP (its default flags) over 100 fp32 steps, fp64 and bf16
handling, p.grad untouched, state_dict round trip, validation, and the MethodSpec factory."""

from __future__ import annotations

import copy
import doctest
import io

import pytest
import torch

import optarena.optim.soap as soap_module
from optarena.optim.soap import SOAP, SOAP_SPEC

SHAPES = [(5, 3), (3, 5), (16, 8), (7,)]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _params(shapes, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype)) for s in shapes]


def _grads(params, gen):
    for p in params:
        noise = torch.randn(p.shape, generator=gen, dtype=torch.float64)
        p.grad = (noise + 0.1 * p.detach().double()).to(p.dtype)


def _run(params, opt, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        _grads(params, g)
        opt.step()


def _max_abs(a, b):
    return max((x.double() - y.double()).abs().max().item() for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("kwargs", [{}, {"lr": 1e-2, "betas": (0.9, 0.99), "precondition_frequency": 3}])
def test_matches_pytorch_optimizer_soap_fp32(kwargs):
    po = pytest.importorskip("pytorch_optimizer", reason="pytorch-optimizer is the reference for SOAP")
    ours, ref = _params(SHAPES), _params(SHAPES)
    _run(ours, SOAP(ours, **kwargs), 100)
    # the reference's defaults: merge_dims, precondition_1d, normalize_gradient off, correct_bias on
    ref_kwargs = {"max_precondition_dim": 10000, "merge_dims": False, "precondition_1d": False}
    _run(ref, po.SOAP(ref, correct_bias=True, normalize_gradient=False, **ref_kwargs, **kwargs), 100)
    assert _max_abs(ours, ref) < 1e-5


def test_max_precond_dim_leaves_large_dims_unrotated():
    po = pytest.importorskip("pytorch_optimizer", reason="pytorch-optimizer is the reference for SOAP")
    ours, ref = _params([(16, 8), (2, 3, 2, 2)]), _params([(16, 8), (2, 3, 2, 2)])
    opt = SOAP(ours, max_precond_dim=10)
    _run(ours, opt, 30)
    _run(ref, po.SOAP(ref, max_precondition_dim=10), 30)
    assert _max_abs(ours, ref) < 1e-5
    assert "Q_0" not in opt.state[ours[0]] and opt.state[ours[0]]["Q_1"].shape == (8, 8)


def test_first_step_only_initializes():
    (w,) = _params([(5, 3)])
    w0 = w.detach().clone()
    opt = SOAP([w], weight_decay=0.1)
    w.grad = torch.randn(5, 3)
    opt.step()
    assert torch.equal(w, w0)
    st = opt.state[w]
    q = st["Q_0"]
    assert torch.allclose(q.T @ q, torch.eye(5), atol=1e-5)
    assert torch.allclose(st["GG_0"], 0.05 * w.grad @ w.grad.T, atol=1e-6)


def test_fp64_runs_with_fp64_state():
    """The authors' reference crashes on fp64 parameters; here fp64 runs end to end (through several
    QR refreshes) and keeps fp64 statistics and bases."""
    params = _params(SHAPES, torch.float64)
    opt = SOAP(params, precondition_frequency=3)
    _run(params, opt, 20)
    for p in params:
        assert p.dtype == torch.float64 and torch.isfinite(p).all()
        for value in opt.state[p].values():
            if isinstance(value, torch.Tensor):
                assert value.dtype == torch.float64
    q = opt.state[params[2]]["Q_0"]
    assert torch.allclose(q.T @ q, torch.eye(16, dtype=torch.float64), atol=1e-12)


def test_grad_not_modified():
    params = _params(SHAPES)
    opt = SOAP(params, precondition_frequency=2)
    g = torch.Generator().manual_seed(3)
    for _ in range(6):
        _grads(params, g)
        grads = [p.grad for p in params]
        saved = [p.grad.clone() for p in params]
        opt.step()
        for p, grad, s in zip(params, grads, saved, strict=True):
            assert p.grad is grad and torch.equal(p.grad, s)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_state_dict_round_trip_mid_run(dtype):
    params = _params(SHAPES, dtype)
    opt = SOAP(params, precondition_frequency=4)
    g = torch.Generator().manual_seed(5)
    for _ in range(7):
        _grads(params, g)
        opt.step()
    clones = [torch.nn.Parameter(p.detach().clone()) for p in params]
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    opt2 = SOAP(clones, precondition_frequency=4)
    opt2.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(8):  # crosses a basis refresh (steps 8 and 12)
        _grads(params, g)
        for c, p in zip(clones, params, strict=True):
            c.grad = p.grad.clone()
        opt.step()
        opt2.step()
        for c, p in zip(clones, params, strict=True):
            assert torch.equal(c, p)
    for c, p in zip(clones, params, strict=True):
        for key, value in opt.state[p].items():
            other = opt2.state[c][key]
            if isinstance(value, torch.Tensor):
                assert other.dtype == value.dtype and torch.equal(other, value)
            else:
                assert other == value


def test_bf16_param_keeps_fp32_state():
    params = _params(SHAPES, torch.bfloat16)
    opt = SOAP(params, precondition_frequency=2)
    _run(params, opt, 5)
    for p in params:
        assert p.dtype == torch.bfloat16 and torch.isfinite(p).all()
        st = opt.state[p]
        assert st["step"] == 5
        tensors = {k: v for k, v in st.items() if isinstance(v, torch.Tensor)}
        assert tensors and all(v.dtype == torch.float32 for v in tensors.values())
        n = sum(s * s for s in p.shape) if p.ndim == 2 else 0
        assert sum(v.numel() * v.element_size() for v in tensors.values()) == 4 * (2 * p.numel() + 2 * n)


def test_per_parameter_step_counts():
    a, b = _params([(5, 3), (5, 3)])
    opt = SOAP([a, b])
    a.grad = torch.randn(5, 3)
    opt.step()
    b.grad = torch.randn(5, 3)
    opt.step()
    assert opt.state[a]["step"] == 2 and opt.state[b]["step"] == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1e-3}, r"learning rate: -0\.001"),
        ({"betas": (1.0, 0.95)}, r"beta parameter at index 0: 1\.0"),
        ({"betas": (0.95, -0.1)}, r"beta parameter at index 1: -0\.1"),
        ({"shampoo_beta": 1.5}, r"shampoo_beta: 1\.5"),
        ({"eps": 0.0}, r"epsilon value: 0\.0"),
        ({"weight_decay": -0.5}, r"weight_decay value: -0\.5"),
        ({"precondition_frequency": 0}, r"precondition_frequency: 0"),
        ({"precondition_frequency": 2.5}, r"precondition_frequency: 2\.5"),
        ({"max_precond_dim": 0}, r"max_precond_dim: 0"),
    ],
)
def test_bad_inputs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SOAP(_params([(3, 2)]), **kwargs)


def test_bad_group_and_complex_raise():
    opt = SOAP(_params([(3, 2)]))
    with pytest.raises(ValueError, match=r"learning rate: -1"):
        opt.add_param_group({"params": _params([(2, 2)]), "lr": -1})
    with pytest.raises(ValueError, match="complex"):
        SOAP([torch.zeros(3, 2, dtype=torch.complex64, requires_grad=True)])


def test_make_soap_and_spec():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    hp = SOAP_SPEC.search_space.validate(dict(SOAP_SPEC.defaults))
    opt, sched = soap_module.make_soap(list(model.named_parameters()), hp, step_hint=100)
    assert isinstance(opt, SOAP) and opt.param_groups[0]["betas"] == pytest.approx((0.95, 0.95))
    x = torch.randn(16, 4)
    before = copy.deepcopy(model.state_dict())
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
        sched.step()
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert SOAP_SPEC.name == "soap" and SOAP_SPEC.paper.year == 2025


def test_docstring_example():
    failures, _ = doctest.testmod(soap_module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
