"""HESSO: exact-zero groups, target sparsity, pinning, output-identical subnetwork, the base optimizer
equal to torch.optim's, the shrink schedule and saliency against hand oracles, groups from named
parameters and the harness factory, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optarena.core.errors import IncompatibleError
from optarena.optim.hesso import (
    HESSO,
    HESSO_SPEC,
    construct_subnetwork,
    find_groups,
    group_is_zero,
    groups_from_named_parameters,
    make_hesso,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models: threads only contend on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def _cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 8, 3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 3),
    )


def _train(model, opt, x, y, steps, after=None):
    for k in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if after is not None:
            after(k + 1)


def test_mlp_groups_exactly_zero_and_subnetwork_identical():
    model = _mlp()
    groups = find_groups(model)
    assert len(groups) == 32
    opt = HESSO(
        model.parameters(),
        groups=groups,
        lr=0.05,
        momentum=0.9,
        target_group_sparsity=0.5,
        start_step=50,
        pruning_steps=150,
        pruning_periods=3,
    )
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    zero_at: dict[int, int] = {}

    def after(k):
        for i, g in enumerate(groups):
            z = group_is_zero(g)
            if i in zero_at:
                assert z, f"group {i} left zero at step {k}"
            elif z:
                zero_at[i] = k

    _train(model, opt, x, y, 300, after)
    zero = [g for g in groups if group_is_zero(g)]
    for g in zero:
        for p, i, d in g:
            assert torch.count_nonzero(p.index_select(d, i)) == 0
    assert abs(len(zero) - 16) <= 1
    assert opt.group_sparsity() == pytest.approx(len(zero) / 32)
    assert all(50 < k <= 200 for k in zero_at.values())
    small = construct_subnetwork(model, groups)
    n_big = sum(p.numel() for p in model.parameters())
    n_small = sum(p.numel() for p in small.parameters())
    assert n_small < n_big
    assert small[0].out_features + small[2].out_features == 32 - len(zero)
    xt = torch.randn(100, 8)
    # fp32 differs only by summation order; in fp64 the removed channels contribute exactly zero
    torch.testing.assert_close(small(xt), model(xt), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(small.double()(xt.double()), model.double()(xt.double()), rtol=0, atol=1e-12)


def test_cnn_with_batchnorm_and_flatten():
    model = _cnn()
    groups = find_groups(model)
    assert len(groups) == 6 + 8
    opt = HESSO(
        model.parameters(),
        groups=groups,
        lr=0.01,
        variant="adamw",
        weight_decay=1e-2,
        target_group_sparsity=0.5,
        start_step=10,
        pruning_steps=40,
        pruning_periods=2,
    )
    x, y = torch.randn(16, 2, 6, 6), torch.randint(0, 3, (16,))
    _train(model, opt, x, y, 60)
    n_zero = sum(group_is_zero(g) for g in groups)
    assert n_zero == int(14 * 0.5)
    model.eval()
    small = construct_subnetwork(model).eval()
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
    xt = torch.randn(5, 2, 6, 6)
    torch.testing.assert_close(small(xt), model(xt), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(small.double()(xt.double()), model.double()(xt.double()), rtol=0, atol=1e-12)


def test_explicit_groups_and_grad_untouched():
    torch.manual_seed(1)
    w = nn.Parameter(torch.randn(6, 4))
    b = nn.Parameter(torch.randn(6))
    groups = [
        [(w, torch.tensor([2 * i, 2 * i + 1]), 0), (b, torch.tensor([2 * i, 2 * i + 1]), 0)] for i in range(3)
    ]
    opt = HESSO(
        [w, b],
        groups=groups,
        lr=0.1,
        variant="adam",
        target_group_sparsity=0.34,
        start_step=0,
        pruning_steps=4,
        pruning_periods=1,
    )
    for _ in range(6):
        opt.zero_grad()
        (w.sum(1) * b).pow(2).sum().backward()
        g_before = (w.grad.clone(), b.grad.clone())
        opt.step()
        assert torch.equal(w.grad, g_before[0]) and torch.equal(b.grad, g_before[1])
    assert sum(group_is_zero(g) for g in groups) == 1
    assert opt.group_sparsity() == pytest.approx(1 / 3)
    assert int(opt.state[w]["step"]) == 6
    sd = opt.state_dict()
    assert len(sd["hesso"]["zero"]) == 1


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"lr": -1.0}, "-1.0"),
        ({"variant": "rmsprop"}, "rmsprop"),
        ({"momentum": 1.5}, "1.5"),
        ({"target_group_sparsity": 1.0}, "target_group_sparsity"),
        ({"pruning_periods": 0}, "pruning_periods"),
        ({"pruning_steps": 2, "pruning_periods": 3}, "pruning_steps"),
        ({"start_step": -3}, "-3"),
        ({"betas": (0.9, 1.2)}, "1.2"),
        ({"saliency": {"hessian": 1.0}}, "hessian"),
    ],
)
def test_bad_inputs(kwargs, word):
    model = _mlp()
    with pytest.raises(ValueError, match=word):
        HESSO(model.parameters(), groups=find_groups(model), **kwargs)


def test_bad_groups():
    model = _mlp()
    other = nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="not among"):
        HESSO(model.parameters(), groups=[[(other, torch.tensor([0]), 0)]])
    with pytest.raises(ValueError, match="out of range"):
        HESSO(model.parameters(), groups=[[(model[0].bias, torch.tensor([99]), 0)]])


def test_unsupported_structure():
    with pytest.raises(ValueError, match="LSTM"):
        find_groups(nn.Sequential(nn.Linear(4, 4), nn.LSTM(4, 4)))
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        find_groups(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="groups=2"):
        find_groups(nn.Sequential(nn.Conv2d(4, 4, 1, groups=2), nn.Conv2d(4, 4, 1)))


# ------------------------------------------------------------------------------ the base optimizer

_SHAPES = [(5,), (4, 3), (3, 4), (2, 3, 2, 2)]
_BASES = {
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "weight_decay": 1e-2}),
    "adam": (torch.optim.Adam, {"betas": (0.9, 0.99), "weight_decay": 1e-2}),
    "adamw": (torch.optim.AdamW, {"betas": (0.9, 0.99), "weight_decay": 1e-2}),
}


def _lockstep(opt_a, a, opt_b, b, steps, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        for x, y in zip(a, b, strict=True):
            g = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype) + 0.5 * x.detach()
            x.grad, y.grad = g, g.clone()
        opt_a.step()
        opt_b.step()


@pytest.mark.parametrize("variant", sorted(_BASES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("with_groups", [False, True])
def test_without_pruning_hesso_is_its_base_optimizer(variant, dtype, with_groups):
    """No groups, or groups with target sparsity 0: bit-identical to torch.optim's single-tensor loop."""
    torch.manual_seed(3)
    a = [torch.randn(s, dtype=dtype, requires_grad=True) for s in _SHAPES]
    b = [x.detach().clone().requires_grad_() for x in a]
    cls, kw = _BASES[variant]
    groups = [[(p, torch.tensor([r]), 0)] for p in a for r in range(p.shape[0])] if with_groups else None
    hesso = HESSO(a, groups=groups, lr=1e-2, variant=variant, target_group_sparsity=0.0, **kw)
    ref = cls(b, lr=1e-2, foreach=False, **kw)
    _lockstep(hesso, a, ref, b, 25)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_shrink_schedule_is_linear_to_exact_zero_then_pinned():
    """lr=0 isolates the pruning: the redundant group follows x0 * (D - t) / D, others do not move."""
    torch.manual_seed(4)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    w0 = w.detach().clone()
    w0[1] *= 1e-3  # row 1: the clear least-magnitude group
    with torch.no_grad():
        w.copy_(w0)
    groups = [[(w, torch.tensor([r]), 0)] for r in range(4)]
    D, start = 5, 2
    opt = HESSO([w], groups=groups, lr=0.0, target_group_sparsity=0.25, start_step=start, pruning_steps=D)
    for k in range(1, start + D + 4):
        w.grad = torch.randn(4, 3, dtype=torch.float64)
        opt.step()
        t = min(max(k - start, 0), D)
        torch.testing.assert_close(w.detach()[1], w0[1] * (D - t) / D, rtol=1e-14, atol=0)
        assert torch.equal(w.detach()[[0, 2, 3]], w0[[0, 2, 3]])
    assert torch.count_nonzero(w.detach()[1]) == 0
    assert opt.state_dict()["hesso"]["zero"] == [1]


@pytest.mark.parametrize("criterion", ["magnitude", "taylor_first_order", "cosine_similarity"])
def test_saliency_picks_the_lowest_scores(criterion):
    """One criterion at a time: the zeroed groups are those of lowest score, computed here by hand from
    the parameters and the step direction (the gradient, for plain SGD)."""
    torch.manual_seed(5)
    w = torch.randn(10, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(10, 4, dtype=torch.float64)
    x = w.detach().clone()
    score = {
        "magnitude": x.norm(dim=1),
        "taylor_first_order": (x * g).sum(1).abs(),
        "cosine_similarity": torch.nn.functional.cosine_similarity(x, g, dim=1) + 1,
    }[criterion]
    want = sorted(torch.argsort(score)[:4].tolist())
    groups = [[(w, torch.tensor([r]), 0)] for r in range(10)]
    opt = HESSO(
        [w], groups=groups, lr=0.0, target_group_sparsity=0.4, pruning_steps=2, saliency={criterion: 1.0}
    )
    for _ in range(2):
        w.grad = g.clone()
        opt.step()
    zero = [r for r in range(10) if torch.count_nonzero(w.detach()[r]) == 0]
    assert zero == want


def test_bf16_state_is_fp32_and_survives_a_round_trip():
    torch.manual_seed(6)
    p = torch.randn(4, 3).bfloat16().requires_grad_()
    opt = HESSO([p], lr=1e-2, variant="adam")
    p.grad = torch.randn(4, 3).bfloat16()
    opt.step()
    q = p.detach().clone().requires_grad_()
    assert opt.state[p]["exp_avg"].dtype == torch.float32
    fresh = HESSO([q], lr=1e-2, variant="adam")
    fresh.load_state_dict(opt.state_dict())
    assert fresh.state[q]["exp_avg_sq"].dtype == torch.float32
    assert torch.equal(fresh.state[q]["exp_avg_sq"], opt.state[p]["exp_avg_sq"])
    _lockstep(opt, [p], fresh, [q], 3)
    assert torch.equal(p, q)


# ------------------------------------------------------------------------ groups from named parameters


def _same_groups(a, b):
    assert len(a) == len(b)
    for ga, gb in zip(a, b, strict=True):
        assert len(ga) == len(gb)
        for (pa, ia, da), (pb, ib, db) in zip(ga, gb, strict=True):
            assert pa is pb and da == db and torch.equal(ia, ib)


def test_named_parameter_groups_equal_find_groups():
    mlp = _mlp()
    _same_groups(groups_from_named_parameters(mlp.named_parameters()), find_groups(mlp))
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 4, 3, padding=1, bias=False),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 5),
        nn.Tanh(),
        nn.Linear(5, 2),
    )
    _same_groups(groups_from_named_parameters(cnn.named_parameters()), find_groups(cnn))


@pytest.mark.parametrize(
    ("model", "word"),
    [
        (nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2)), r"'1\.weight'"),
        (nn.Sequential(nn.Conv2d(2, 4, 1), nn.BatchNorm2d(4), nn.Conv2d(4, 2, 1)), r"'1\.weight'"),
        (nn.Sequential(nn.Linear(4, 6), nn.Linear(5, 2)), "does not consume"),
        (nn.Sequential(nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1, groups=2)), "does not consume"),
        (nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 4)), "weight_ih_l0"),
    ],
)
def test_named_parameter_groups_reject_other_structures(model, word):
    with pytest.raises(ValueError, match=word):
        groups_from_named_parameters(model.named_parameters())


def test_harness_factory_trains_and_prunes_an_mlp():
    model = _mlp()
    hp = HESSO_SPEC.resolve_hparams({"lr": 0.05})
    opt, sched = make_hesso(list(model.named_parameters()), hp, step_hint=200)
    assert (opt.start_step, opt.pruning_steps, opt.pruning_periods) == (20, 20, 10)
    assert len(opt.groups) == 32
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        sched.step()
    assert sum(group_is_zero(g) for g in find_groups(model)) == 16
    small = construct_subnetwork(model)
    xt = torch.randn(10, 8, dtype=torch.float64)
    torch.testing.assert_close(small.double()(xt), model.double()(xt), rtol=0, atol=1e-12)


def test_harness_factory_refuses_what_it_cannot_prune():
    hp = HESSO_SPEC.resolve_hparams()
    with pytest.raises(IncompatibleError, match="'x'"):
        make_hesso([("x", nn.Parameter(torch.zeros(200, dtype=torch.float64)))], hp, 100)
    with pytest.raises(IncompatibleError, match="nothing to prune"):
        make_hesso(list(nn.Linear(4, 2).named_parameters()), hp, 100)
