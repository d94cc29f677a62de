"""HESSO: exact-zero groups, target sparsity, pinning, output-identical subnetwork, validation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from optarena.optim.hesso import HESSO, HESSO_SPEC, construct_subnetwork, find_groups, group_is_zero


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


def test_dense_without_groups_is_base_sgd():
    torch.manual_seed(2)
    p = nn.Parameter(torch.randn(5))
    q = p.detach().clone().requires_grad_()
    a = HESSO([p], lr=0.1, momentum=0.9)
    ref = torch.optim.SGD([q], lr=0.1, momentum=0.9)
    for _ in range(5):
        for t, o in ((p, a), (q, ref)):
            o.zero_grad()
            (t**2).sum().backward()
            o.step()
    torch.testing.assert_close(p, q)
    assert a.group_sparsity() == 0.0


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


def test_factory_explains_it_needs_a_model():
    from optarena.optim.hesso import make_hesso

    assert HESSO_SPEC.name == "hesso"
    with pytest.raises(ValueError, match="needs the model"):
        make_hesso(list(_mlp().named_parameters()), HESSO_SPEC.resolve_hparams(), 100)
