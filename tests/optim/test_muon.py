"""Muon and the Muon + AdamW hybrid: equality with torch.optim.Muon (same Newton-Schulz precision),
the torch.optim contract, routing, and the hybrid's equality with Muon + AdamW run separately."""

from __future__ import annotations

import copy
import doctest
import io

import pytest
import torch
import torch.optim._muon as torch_muon
from torch import nn

import optarena.optim.muon as muon_module
from optarena.optim.muon import MUON, Muon, MuonWithAdamW, default_route, hybrid, zeropower_via_newtonschulz

SHAPES = [(5, 3), (3, 5), (16, 8)]


def _params(shapes, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=g, dtype=torch.float64).to(dtype)) for s in shapes]


def _run(params, opt, steps, seed=1):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for p in params:
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            p.grad = (noise + 0.1 * p.detach().double()).to(p.dtype)
        opt.step()


def _max_abs(a, b):
    return max((x.double() - y.double()).abs().max().item() for x, y in zip(a, b, strict=True))


def _torch_ns_in(dtype):
    """torch.optim.Muon's Newton-Schulz with its ``grad.bfloat16()`` cast replaced by ``dtype``."""

    def ns(grad, ns_coefficients, ns_steps, eps):
        a, b, c = ns_coefficients
        x = grad.to(dtype, copy=True)
        if grad.size(0) > grad.size(1):
            x = x.T
        x.div_(x.norm().clamp(min=eps))
        for _ in range(ns_steps):
            gram = x @ x.T
            gram_update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
            x = torch.addmm(x, gram_update, x, beta=a)
        if grad.size(0) > grad.size(1):
            x = x.T
        return x

    return ns


# ------------------------------------------------------------------------------------------------
# equality with torch.optim.Muon


@pytest.mark.parametrize("nesterov", [True, False])
def test_equals_torch_muon_bf16_ns_100_steps(nesterov):
    """torch.optim.Muon always iterates in bf16; ns_dtype=bfloat16 reproduces it."""
    ref_p, our_p = _params(SHAPES), _params(SHAPES)
    kw = {"lr": 0.02, "weight_decay": 0.01, "momentum": 0.9, "nesterov": nesterov}
    ref, ours = torch.optim.Muon(ref_p, **kw), Muon(our_p, ns_dtype=torch.bfloat16, **kw)
    _run(ref_p, ref, 100)
    _run(our_p, ours, 100)
    assert _max_abs(our_p, ref_p) <= 1e-5
    for p, q in zip(our_p, ref_p, strict=True):
        assert torch.allclose(ours.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"], atol=1e-5)


@pytest.mark.parametrize(
    ("dtype", "tol", "adjust"),
    [
        (torch.float32, 1e-5, "original"),
        (torch.float64, 1e-12, "original"),
        (torch.float64, 1e-12, "match_rms_adamw"),
    ],
)
def test_equals_torch_muon_same_ns_precision(monkeypatch, dtype, tol, adjust):
    monkeypatch.setattr(torch_muon, "_zeropower_via_newtonschulz", _torch_ns_in(dtype))
    ref_p, our_p = _params(SHAPES, dtype), _params(SHAPES, dtype)
    kw = {"lr": 0.02, "weight_decay": 0.01, "adjust_lr_fn": adjust}
    ref, ours = torch.optim.Muon(ref_p, **kw), Muon(our_p, ns_dtype=dtype, **kw)
    _run(ref_p, ref, 100)
    _run(our_p, ours, 100)
    assert _max_abs(our_p, ref_p) <= tol


def test_newton_schulz_orthogonalizes_and_leaves_input_alone():
    g = torch.randn(16, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    before = g.clone()
    for mat in (g, g.T):
        out = zeropower_via_newtonschulz(mat, dtype=None)
        assert out.shape == mat.shape and out.dtype == torch.float64
        s = torch.linalg.svdvals(out)
        assert s.min() > 0.6 and s.max() < 1.25  # the quintic lands near, not at, 1
    assert torch.equal(g, before)


# ------------------------------------------------------------------------------------------------
# contract


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 4), ()])
def test_non_matrix_params_raise_naming_the_shape(shape):
    with pytest.raises(ValueError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
        Muon([torch.nn.Parameter(torch.zeros(shape))])


@pytest.mark.parametrize(
    ("kwargs", "shown"),
    [
        ({"lr": -0.1}, "-0.1"),
        ({"lr": float("inf")}, "inf"),
        ({"momentum": 1.0}, "1.0"),
        ({"momentum": -0.1}, "-0.1"),
        ({"weight_decay": -1.0}, "-1.0"),
        ({"ns_coefficients": (1.0, 2.0)}, "(1.0, 2.0)"),
        ({"ns_steps": 0}, "0"),
        ({"ns_steps": 100}, "100"),
        ({"eps": 0.0}, "0.0"),
        ({"ns_dtype": torch.int32}, "int32"),
        ({"adjust_lr_fn": "fancy"}, "fancy"),
        ({"nesterov": 1}, "1"),
    ],
)
def test_bad_hyperparameters_raise_value_error_naming_the_value(kwargs, shown):
    with pytest.raises(ValueError) as err:
        Muon(_params([(3, 3)]), **kwargs)
    assert shown in str(err.value)


def test_complex_and_sparse_rejected():
    with pytest.raises(ValueError, match="complex"):
        Muon([torch.zeros(3, 3, dtype=torch.complex64, requires_grad=True)])
    p = torch.nn.Parameter(torch.zeros(4, 3))
    opt = Muon([p])
    p.grad = torch.eye(4, 3).to_sparse()
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_grad_and_momentum_untouched_by_the_iteration(nesterov, dtype):
    """p.grad is never written; the buffer is exactly (1 - mu) g after one step (torch 2.13's Muon
    normalizes it in place for bf16 params with nesterov=False)."""
    p = torch.nn.Parameter(torch.randn(6, 4).to(dtype))
    opt = Muon([p], nesterov=nesterov, ns_dtype=torch.bfloat16)
    p.grad = torch.randn(6, 4).to(dtype)
    before = p.grad.clone()
    opt.step()
    assert torch.equal(p.grad, before)
    buf = opt.state[p]["momentum_buffer"]
    assert buf.dtype == torch.float32
    torch.testing.assert_close(buf, 0.05 * before.float(), rtol=1e-6, atol=0)


def test_bf16_state_round_trip_keeps_fp32():
    p = torch.nn.Parameter(torch.randn(6, 4).bfloat16())
    opt = Muon([p])
    p.grad = torch.randn(6, 4).bfloat16()
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    fresh = Muon([p])
    fresh.load_state_dict(saved)
    assert fresh.state[p]["momentum_buffer"].dtype == torch.float32
    assert torch.equal(fresh.state[p]["momentum_buffer"], opt.state[p]["momentum_buffer"])


def test_state_bytes_zero_size_and_lr_zero():
    ps = (
        _params([(5, 3), (0, 4), (4, 0)])
        + _params([(3, 3)], torch.float64)
        + _params([(2, 2)], torch.bfloat16)
    )
    opt = Muon(ps, lr=0.0, weight_decay=0.1)
    before = [p.detach().clone() for p in ps]
    for p in ps:
        p.grad = torch.randn(p.shape).to(p.dtype)
    opt.step()
    assert all(torch.equal(p, b) for p, b in zip(ps, before, strict=True))
    for p in ps:
        tensors = [v for v in opt.state[p].values() if isinstance(v, torch.Tensor)]
        per_param = 8 if p.dtype == torch.float64 else 4  # momentum_buffer; step is a Python int
        assert sum(t.numel() * t.element_size() for t in tensors) == per_param * p.numel()
        assert opt.state[p]["step"] == 1


def test_closure_and_state_dict_lockstep():
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(8, 4, dtype=torch.float64))
    x = torch.randn(16, 4, dtype=torch.float64)
    opt = Muon([w], lr=0.05, weight_decay=0.01)

    def closure(w=w, opt=opt):
        opt.zero_grad()
        loss = (x @ w.T).square().mean()
        loss.backward()
        return loss

    first = float(opt.step(closure).detach())
    for _ in range(5):
        last = float(opt.step(closure).detach())
    assert last < first
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    w2 = torch.nn.Parameter(w.detach().clone())
    opt2 = Muon([w2])
    opt2.load_state_dict(torch.load(buf))
    assert opt2.param_groups[0]["lr"] == 0.05 and opt2.param_groups[0]["ns_dtype"] == torch.float32
    for _ in range(5):
        opt.step(closure)
        opt2.step(lambda: closure(w2, opt2))
    assert torch.equal(w, w2)


# ------------------------------------------------------------------------------------------------
# the hybrid


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 8)
        self.norm = nn.LayerNorm(8)
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 8)
        self.head = nn.Linear(8, 11, bias=False)

    def forward(self, idx):
        h = self.norm(self.embed(idx))
        return self.head(self.fc2(torch.relu(self.fc1(h))))


def _tiny(seed=0):
    torch.manual_seed(seed)
    return _Tiny().double()


def _loss(model, seed):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, 11, (4, 6), generator=g)
    return nn.functional.cross_entropy(model(idx).flatten(0, 1), idx.roll(1, dims=1).flatten())


MUON_KW = {"lr": 0.03, "momentum": 0.9, "weight_decay": 0.01, "ns_dtype": torch.float64}
ADAMW_KW = {"lr": 2e-3, "betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.01}


def test_router_sends_hidden_matrices_to_muon_and_the_rest_to_adamw():
    model = _tiny()
    opt = hybrid(model.named_parameters(), MUON_KW, ADAMW_KW)
    names = {id(p): n for n, p in model.named_parameters()}
    routed = {g["use_muon"]: sorted(names[id(p)] for p in g["params"]) for g in opt.param_groups}
    assert routed[True] == ["fc1.weight", "fc2.weight"]
    assert routed[False] == [
        "embed.weight",
        "fc1.bias",
        "fc2.bias",
        "head.weight",
        "norm.bias",
        "norm.weight",
    ]
    assert default_route("tok_emb.weight", torch.zeros(3, 3)) is False
    assert default_route("blocks.0.qkv.weight", torch.zeros(3, 3)) is True
    custom = hybrid(model.named_parameters(), route=lambda n, p: n == "fc1.weight")
    assert [len(g["params"]) for g in custom.param_groups] == [1, 7]
    with pytest.raises(ValueError, match=r"norm.weight.*\(8,\)"):
        hybrid(model.named_parameters(), route=lambda n, p: n == "norm.weight")


def test_hybrid_step_equals_muon_plus_adamw_run_separately():
    a, b = _tiny(), _tiny()
    opt = hybrid(a.named_parameters(), MUON_KW, ADAMW_KW)
    mats = [b.fc1.weight, b.fc2.weight]
    rest = [p for n, p in b.named_parameters() if n not in ("fc1.weight", "fc2.weight")]
    muon, adamw = Muon(mats, **MUON_KW), torch.optim.AdamW(rest, **ADAMW_KW)
    for step in range(3):
        opt.zero_grad()
        _loss(a, step).backward()
        opt.step()
        muon.zero_grad()
        adamw.zero_grad()
        _loss(b, step).backward()
        muon.step()
        adamw.step()
    for (n, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), n


def test_hybrid_state_dict_round_trip_and_scheduler():
    a = _tiny()
    opt = hybrid(a.named_parameters(), MUON_KW, ADAMW_KW)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    for step in range(3):
        opt.zero_grad()
        _loss(a, step).backward()
        opt.step()
        sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.03 / 4, 2e-3 / 4])
    buf = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf)

    b = copy.deepcopy(a)
    opt_b = hybrid(b.named_parameters(), MUON_KW, ADAMW_KW)
    sched_b = torch.optim.lr_scheduler.LambdaLR(opt_b, lambda s: 1.0 / (1 + s))
    opt_b.load_state_dict(saved["opt"])
    sched_b.load_state_dict(saved["sched"])
    assert [g["use_muon"] for g in opt_b.param_groups] == [True, False]
    for step in range(3, 6):
        for model, o, s in ((a, opt, sched), (b, opt_b, sched_b)):
            o.zero_grad()
            _loss(model, step).backward()
            o.step()
            s.step()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    muon_p = a.fc1.weight
    assert set(opt.state[muon_p]) == {"step", "momentum_buffer"}
    assert set(opt.state[a.head.weight]) == {"step", "exp_avg", "exp_avg_sq"}


def test_hybrid_rejects_unknown_keys_and_missing_flag():
    p, v = torch.nn.Parameter(torch.zeros(3, 3)), torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="momentum"):
        MuonWithAdamW([{"params": [v], "use_muon": False, "momentum": 0.9}])
    with pytest.raises(ValueError, match="use_muon"):
        MuonWithAdamW([{"params": [p]}])
    with pytest.raises(ValueError, match="lr_typo"):
        hybrid([("w", p)], muon_kwargs={"lr_typo": 1.0})
    with pytest.raises(ValueError, match=r"-1\.0"):
        hybrid([("b", v)], adamw_kwargs={"betas": (0.9, -1.0)})
    with pytest.raises(ValueError, match=r"\(3,\)"):
        MuonWithAdamW([{"params": [v], "use_muon": True}])


def test_method_spec_factory_runs_on_named_params():
    assert MUON.name == "muon" and MUON.paper is not None and MUON.paper.venue == "blog post"
    hp = MUON.resolve_hparams({"lr": 0.05, "adam_lr": 3e-3, "warmup_frac": 0.0})
    model = _tiny()
    opt, sched = MUON.load_factory()(list(model.named_parameters()), hp, 50)
    assert isinstance(opt, MuonWithAdamW)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.05, 3e-3])
    _loss(model, 0).backward()
    opt.step()
    sched.step()
    # the factory on a workload without matrices (all AdamW) still builds
    opt2, _ = MUON.load_factory()([("x", torch.nn.Parameter(torch.zeros(5)))], hp, 50)
    assert [g["use_muon"] for g in opt2.param_groups] == [False]


def test_docstring_examples_run():
    result = doctest.testmod(muon_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
