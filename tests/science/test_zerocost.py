"""Zero-cost proxies (GradSign and baselines): hand-computed values, brute-force definitions, bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from optarena.science.zerocost import (
    GRADSIGN_SPEC,
    PROXIES,
    Arch,
    build,
    enumerate_space,
    grad_norm,
    gradsign,
    load_digits_split,
    naswot,
    params,
    rank,
    sample_space,
    score,
    snip,
    synflow,
    train_eval,
)


def _linear(W: list[list[float]], b: list[float]) -> nn.Linear:
    lin = nn.Linear(len(W[0]), len(W))
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(W))
        lin.bias.copy_(torch.tensor(b))
    return lin


def _brute_gradsign(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The authors' loop: one backward per sample, signs of Linear weight gradients, |sum|, summed."""
    rows = []
    for i in range(x.shape[0]):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[[i]]), y[[i]]).backward()
        rows.append(
            np.concatenate(
                [m.weight.grad.numpy().ravel() for m in model.modules() if isinstance(m, nn.Linear)]
            )
        )
    model.zero_grad()
    return float(np.abs(np.sign(np.stack(rows)).sum(axis=0)).sum())


def test_gradsign_hand_computed_linear_model() -> None:
    # Cross-entropy on z = Wx + b, 2 classes: dl/dW = (p - e_y) x^T, sign = s_y (x) sign(x) with
    # s_0 = (-1, +1), s_1 = (+1, -1); so tau = 2 * sum_j |sum_i sigma_i sign(x_ij)|, sigma = +1 for y = 0.
    model = _linear([[0.3, -0.2], [0.1, 0.5]], [0.0, 0.1])
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [-2.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    # j = 0: 1 + 1 + 1 = 3; j = 1: 1 - 1 - 1 = -1; tau = 2 * (3 + 1)
    assert gradsign(model, x, y) == 8.0


@pytest.mark.parametrize("arch", [Arch((8, 16), "relu", True), Arch((4, 6, 5), "tanh", False)])
def test_gradsign_equals_per_sample_loop(arch: Arch) -> None:
    model = build(arch, 5, 3, seed=1)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 5, generator=g), torch.randint(0, 3, (16,), generator=g)
    assert gradsign(model, x, y) == _brute_gradsign(model, x, y)


def test_synflow_hand_computed() -> None:
    W1, b1 = np.array([[1.0, -2.0], [-0.5, 0.25], [3.0, 1.0]]), np.array([0.5, -1.0, 0.0])
    W2, b2 = np.array([[-1.0, 2.0, 0.5]]), np.array([0.3])
    model = nn.Sequential(_linear(W1.tolist(), b1.tolist()), nn.ReLU(), _linear(W2.tolist(), b2.tolist()))
    # R = |W2| h + |b2|, h = |W1| 1 + |b1|:  W2 * dR/dW2 = |W2| h,  W1 * dR/dW1 = |W2|_j |W1|_jk
    h = np.abs(W1).sum(axis=1) + np.abs(b1)
    want = float(np.abs(W2[0]) @ h + (np.abs(W2[0])[:, None] * np.abs(W1)).sum())
    assert synflow(model, torch.zeros(4, 2)) == pytest.approx(want, rel=1e-12)
    assert model[0].weight[0, 1].item() == -2.0  # the model itself is untouched


def test_snip_and_grad_norm_hand_computed() -> None:
    W, b = [[0.3, -0.2], [0.1, 0.5], [-0.4, 0.2]], [0.0, 0.1, -0.1]
    model = _linear(W, b)
    x = torch.tensor([[1.0, 2.0], [3.0, -1.0], [-2.0, 1.0], [0.5, 0.5]])
    y = torch.tensor([0, 2, 1, 1])
    Xn, Wn = x.numpy().astype(np.float64), np.array(W)
    z = Xn @ Wn.T + np.array(b)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    G = (p - np.eye(3)[y.numpy()]).T @ Xn / len(y)  # dL/dW of the batch-mean loss
    assert snip(model, x, y) == pytest.approx(np.abs(Wn * G).sum(), rel=1e-5)
    assert grad_norm(model, x, y) == pytest.approx(np.linalg.norm(G), rel=1e-5)
    assert model.weight.grad is None


def test_naswot_hand_computed_and_singular() -> None:
    model = nn.Sequential(
        _linear([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]), nn.ReLU(), _linear([[1.0, 1.0]] * 2, [0.0, 0.0])
    )
    x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
    # codes (1,1), (1,0), (0,0); K_ij = 2 - Hamming = [[2,1,0],[1,2,1],[0,1,2]], det = 4
    assert naswot(model, x) == pytest.approx(math.log(4.0), rel=1e-12)
    assert naswot(model, torch.tensor([[1.0, 2.0], [3.0, 4.0]])) == -math.inf  # equal codes: singular


def test_params_and_rank() -> None:
    small, big = build(Arch((8,)), 64, 10, seed=0), build(Arch((32, 32)), 64, 10, seed=0)
    assert params(small) == 64 * 8 + 8 + 8 * 10 + 10
    x, y = torch.zeros(2, 64), torch.tensor([0, 1])
    assert rank([small, big], x, y, "params").tolist() == [1, 0]


def test_scores_deterministic_and_leave_model_untouched() -> None:
    arch = Arch((16, 8), "relu", True)
    d = load_digits_split()
    x, y = d.x_train[:32], d.y_train[:32]
    m1, m2 = build(arch, d.in_dim, d.n_classes, seed=3), build(arch, d.in_dim, d.n_classes, seed=3)
    before = [p.detach().clone() for p in m1.parameters()]
    s1 = {k: score(m1, x, y, k) for k in PROXIES}
    assert s1 == {k: score(m2, x, y, k) for k in PROXIES}
    assert all(torch.equal(a, b) for a, b in zip(before, m1.parameters(), strict=True))
    assert all(p.grad is None for p in m1.parameters())
    assert s1 != {k: score(build(arch, d.in_dim, d.n_classes, seed=4), x, y, k) for k in PROXIES}


@pytest.mark.parametrize("proxy", sorted(set(PROXIES) - {"params"}))
def test_bad_batches_raise(proxy: str) -> None:
    model = build(Arch((4,)), 3, 2, seed=0)
    with pytest.raises(ValueError, match=r"non-empty batch.*\(0, 3\)"):
        score(model, torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), proxy)
    x = torch.ones(4, 3)
    x[1, 2] = float("nan")
    with pytest.raises(ValueError, match="1 non-finite"):
        score(model, x, torch.zeros(4, dtype=torch.long), proxy)


def test_bad_arguments_raise() -> None:
    model = build(Arch((4,)), 3, 2, seed=0)
    with pytest.raises(ValueError, match="'gradsgn'"):
        score(model, torch.ones(2, 3), torch.zeros(2, dtype=torch.long), "gradsgn")
    with pytest.raises(ValueError, match="y has 2 rows, x has 3"):
        gradsign(model, torch.ones(3, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="'sigmoid'"):
        Arch((4,), "sigmoid")
    with pytest.raises(ValueError, match=r"\(4, 0\)"):
        Arch((4, 0))
    with pytest.raises(ValueError, match="skip"):
        Arch((4,), skip=True)
    with pytest.raises(ValueError, match="5000"):
        sample_space(5000)


def test_space_distinct_deterministic_stratified() -> None:
    space = enumerate_space()
    assert len(space) == len(set(space)) == 2 * 5 + 4 * (25 + 125 + 625)
    a = sample_space(160)
    assert a == sample_space(160) and len(set(a)) == 160 and a != sample_space(160, seed=1)
    depths = np.bincount([len(x.widths) for x in a])
    assert depths[1] == 10 and depths[2:].min() >= 45  # depth 1 exhausted, the rest share evenly


def test_skip_connection_changes_function() -> None:
    x = torch.randn(3, 6, generator=torch.Generator().manual_seed(0))
    plain, res = build(Arch((4, 8), skip=False), 6, 2, seed=0), build(Arch((4, 8), skip=True), 6, 2, seed=0)
    assert not torch.allclose(plain(x), res(x))


def test_train_eval_deterministic_and_learns() -> None:
    torch.set_num_threads(1)
    d = load_digits_split()
    accs = [
        train_eval(build(Arch((32,)), d.in_dim, d.n_classes, seed=0), d, epochs=3, seed=5) for _ in range(2)
    ]
    assert accs[0] == accs[1] > 0.6  # chance is 0.1
    with pytest.raises(ValueError, match="-1"):
        train_eval(build(Arch((32,)), d.in_dim, d.n_classes, seed=0), d, epochs=-1)


def test_spec_factory_and_quick_experiment() -> None:
    from optarena.claims.experiments.gradsign import measure

    assert GRADSIGN_SPEC.family == "science"
    run = GRADSIGN_SPEC.load_factory()(GRADSIGN_SPEC.resolve_hparams())
    model = build(Arch((8,)), 5, 3, seed=0)
    x, y = torch.randn(6, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    assert run(model, x, y) == gradsign(model, x, y)
    out, again = measure(0, quick=True), measure(0, quick=True)
    assert {k: v for k, v in out.items() if not k.startswith("time")} == {
        k: v for k, v in again.items() if not k.startswith("time")
    }
    assert out["diff_snip"] == pytest.approx(out["rho_gradsign"] - out["rho_snip"])
    assert {f"acc_{i:03d}" for i in range(12)} <= set(out) and 0 <= out["acc_mean"] <= 1
