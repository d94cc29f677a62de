"""COSMOS: exact oracles from the paper's equations (no reference package exists): the two parts sum to
the applied update, the basis is orthonormal, full rank leaves no residual, p.grad is untouched, state_dict
round trip, the state-bytes formula and the <= 0.35 x SOAP ratio, validation, convergence, MethodSpec."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from optarena.optim.cosmos import COSMOS, COSMOS_SPEC, COSMOSWithAdamW, cosmos_state_bytes, hybrid
from optarena.optim.soap import SOAP


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _param(shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.Parameter(torch.randn(shape, generator=g, dtype=torch.float64).to(dtype))


def _set_grad(p, gen):
    p.grad = (torch.randn(p.shape, generator=gen, dtype=torch.float64) + 0.1 * p.detach().double()).to(
        p.dtype
    )


@pytest.mark.parametrize("shape", [(12, 8), (6, 10)])
def test_parts_sum_to_applied_update(shape):
    p = _param(shape)
    opt = COSMOS([p], lr=1e-2, rank=3, weight_decay=0.0, update_freq=2, ns_dtype=None)
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):
        _set_grad(p, gen)
        sub, res = opt.update_parts(p)
        before = p.detach().clone()
        opt.step()
        torch.testing.assert_close(p.detach() - before, sub + res, rtol=0, atol=1e-14)
        assert res.norm() > 0 and sub.norm() > 0
        # the subspace part lies in span(U) (right side); the residual part is gamma/(A) weighted
        u = opt.state[p]["proj"]
        torch.testing.assert_close(sub @ u @ u.T, sub, rtol=0, atol=1e-12)


def test_update_parts_is_read_only_and_weight_decay_is_decoupled():
    p = _param((8, 6))
    opt = COSMOS([p], lr=1e-2, rank=2, weight_decay=0.1, ns_dtype=None)
    gen = torch.Generator().manual_seed(2)
    _set_grad(p, gen)
    opt.step()
    _set_grad(p, gen)
    saved = copy.deepcopy(opt.state[p])
    sub, res = opt.update_parts(p)
    for k, v in saved.items():
        assert torch.equal(v, opt.state[p][k]) if isinstance(v, torch.Tensor) else v == opt.state[p][k]
    before = p.detach().clone()
    opt.step()
    torch.testing.assert_close(p.detach(), before * (1 - 1e-2 * 0.1) + sub + res, rtol=0, atol=1e-14)


def test_projection_orthonormal_fp64():
    p = _param((20, 12))
    opt = COSMOS([p], rank=5, ns_dtype=None)
    gen = torch.Generator().manual_seed(3)
    for _ in range(5):
        _set_grad(p, gen)
        opt.step()
        u = opt.state[p]["proj"]
        assert u.shape == (12, 5) and u.dtype == torch.float64
        torch.testing.assert_close(u.T @ u, torch.eye(5, dtype=torch.float64), rtol=0, atol=1e-10)


def test_first_basis_is_top_right_singular_vectors():
    p = _param((10, 7))
    p.grad = torch.randn(10, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    opt = COSMOS([p], rank=3, ns_dtype=None)
    opt.step()
    u = opt.state[p]["proj"]
    vh = torch.linalg.svd(p.grad, full_matrices=False)[2][:3].T
    torch.testing.assert_close(u @ u.T, vh @ vh.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rank", [6, 100])
def test_full_rank_leaves_no_residual(rank):
    p = _param((9, 6))  # rank >= n = min(m, n) = 6 columns
    opt = COSMOS([p], rank=rank, ns_dtype=None)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        _set_grad(p, gen)
        sub, res = opt.update_parts(p)
        assert torch.count_nonzero(res) == 0 and sub.norm() > 0
        opt.step()
    assert opt.state[p]["proj"].shape == (6, 6)


def test_grad_untouched():
    p = _param((8, 5), torch.float32)
    opt = COSMOS([p], rank=2)
    g = torch.randn(8, 5)
    p.grad = g.clone()
    for _ in range(3):
        opt.step()
    assert torch.equal(p.grad, g)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_state_dict_round_trip_lockstep(dtype):
    p = _param((10, 6), dtype)
    opt = COSMOS([p], lr=1e-2, rank=3, update_freq=2)
    gen = torch.Generator().manual_seed(6)
    for _ in range(3):
        _set_grad(p, gen)
        opt.step()
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = COSMOS([q], lr=1e-2, rank=3, update_freq=2)
    buf.seek(0)
    opt2.load_state_dict(torch.load(buf))
    if dtype == torch.bfloat16:
        assert opt2.state[q]["exp_avg"].dtype == torch.float32
    for _ in range(5):
        _set_grad(p, gen)
        q.grad = p.grad.clone()
        opt.step()
        opt2.step()
        assert torch.equal(p, q)
    for k, v in opt.state[p].items():
        assert torch.equal(v, opt2.state[q][k]) if isinstance(v, torch.Tensor) else v == opt2.state[q][k]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_state_bytes_formula(dtype):
    for shape, rank in [((12, 8), 3), ((5, 9), 64), ((0, 4), 2)]:
        p = _param(shape, dtype)
        opt = COSMOS([p], rank=rank)
        p.grad = torch.ones_like(p)
        opt.step()
        opt.step()
        got = sum(v.numel() * v.element_size() for v in opt.state[p].values() if isinstance(v, torch.Tensor))
        m, n = shape
        r = min(rank, n)
        s = 8 if dtype == torch.float64 else 4
        assert got == cosmos_state_bytes(p, rank) == s * (m * n + m * r + n * r + r * r)


@pytest.mark.parametrize("shape", [(512, 512), (1024, 256)])
def test_state_ratio_vs_soap(shape):
    def state_bytes(opt, p):
        return sum(v.numel() * v.element_size() for v in opt.state[p].values() if isinstance(v, torch.Tensor))

    g = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    p1, p2 = torch.nn.Parameter(torch.zeros(shape)), torch.nn.Parameter(torch.zeros(shape))
    p1.grad, p2.grad = g, g.clone()
    cosmos, soap = COSMOS([p1]), SOAP([p2])  # default rank 64
    cosmos.step()
    soap.step()
    ratio = state_bytes(cosmos, p1) / state_bytes(soap, p2)
    assert ratio <= 0.35
    expected = {(512, 512): 331776 / 1572864, (1024, 256): 348160 / 2752512}[shape]  # 0.211, 0.126
    assert ratio == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": -1e-3}, r"learning rate: -0\.001"),
        ({"betas": (0.9, 1.0)}, r"beta parameter at index 1: 1\.0"),
        ({"eps": 0.0}, r"eps: 0\.0"),
        ({"weight_decay": -0.5}, r"weight_decay: -0\.5"),
        ({"rank": 0}, r"rank: 0"),
        ({"rank": 2.5}, r"rank: 2\.5"),
        ({"gamma": -0.2}, r"gamma: -0\.2"),
        ({"lr_ratio": 0.0}, r"lr_ratio: 0\.0"),
        ({"update_freq": 0}, r"update_freq: 0"),
        ({"nesterov": 1}, r"nesterov: 1"),
        ({"ns_steps": 0}, r"ns_steps: 0"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        COSMOS([_param((3, 2))], **kwargs)


def test_rejects_non_matrix_and_complex():
    with pytest.raises(ValueError, match=r"\(5,\)"):
        COSMOS([torch.nn.Parameter(torch.zeros(5))])
    with pytest.raises(ValueError, match="complex"):
        COSMOS([torch.nn.Parameter(torch.zeros(3, 2, dtype=torch.complex64))])


@pytest.mark.parametrize("nesterov", [True, False])
def test_converges_least_squares(nesterov):
    gen = torch.Generator().manual_seed(8)
    a = torch.randn(40, 12, generator=gen, dtype=torch.float64)
    w_true = torch.randn(12, 6, generator=gen, dtype=torch.float64)
    b = a @ w_true
    w = torch.nn.Parameter(torch.zeros(12, 6, dtype=torch.float64))
    opt = COSMOS([w], lr=2e-2, lr_ratio=1.0, rank=2, weight_decay=0.0, nesterov=nesterov, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / 1500)
    start = float(((a @ w.detach() - b) ** 2).mean())
    for _ in range(1500):
        opt.zero_grad()
        loss = ((a @ w - b) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
    final = float(((a @ w.detach() - b) ** 2).mean())
    assert final < 1e-3 * start


def test_hybrid_routes_and_spec_factory():
    model = torch.nn.ModuleDict(
        {"embed": torch.nn.Embedding(10, 8), "hidden": torch.nn.Linear(8, 8), "head": torch.nn.Linear(8, 3)}
    )
    opt, sched = COSMOS_SPEC.load_factory()(
        list(model.named_parameters()), COSMOS_SPEC.resolve_hparams(), 100
    )
    assert isinstance(opt, COSMOSWithAdamW)
    kinds = [(g["use_cosmos"], [tuple(p.shape) for p in g["params"]]) for g in opt.param_groups]
    assert kinds == [(True, [(8, 8)]), (False, [(10, 8), (8,), (3, 8), (3,)])]
    assert opt.param_groups[1]["betas"] == (0.95, 0.95)  # the AdamW part takes the given beta1, not 0.9
    x = torch.randint(0, 10, (4,))
    model["head"](model["hidden"](model["embed"](x))).square().mean().backward()
    opt.step()
    sched.step()
    assert set(opt.state[model["hidden"].weight]) == {"step", "exp_avg", "exp_avg_sq", "proj", "proj_cov"}
    assert set(opt.state[model["head"].weight]) == {"step", "exp_avg", "exp_avg_sq"}
    with pytest.raises(ValueError, match="unknown keys"):
        hybrid(model.named_parameters(), cosmos_kwargs={"rnak": 3})
    assert COSMOS_SPEC.paper.arxiv == "2502.17410" and COSMOS_SPEC.paper.authors.startswith("L. Liu")
