"""Claim experiment: HESSO (Chen et al., 2024) on the digits MLP.

One seed trains the ``digits-mlp`` network (64-128-128-10 ReLU, minibatch 64, the workload's data
split and initialisation for the seed) twice on the same batch stream for ``steps`` steps: densely
with SGD-momentum, and with HESSO (its SGD variant with the same hyperparameters; groups: the 256
hidden channels, each the row of its layer plus the next layer's input column; warm-up
``steps // 10``, then pruning over ``steps // 5`` steps in 10 periods to the target group sparsity,
then training with the pruned groups pinned at zero). Then it builds the smaller network
(:func:`optarena.optim.hesso.construct_subnetwork`) and compares it with the trained one in float64.

Metrics: ``group_sparsity`` (fraction of groups exactly zero), ``dense_acc``, ``hesso_acc`` and
``acc_drop`` = dense - hesso (validation accuracy), ``param_ratio`` (parameters of the constructed
network / of the full one) and ``max_output_diff`` (largest absolute logit difference on the
validation images, both networks in float64).
"""

from __future__ import annotations

import torch

from optarena.optim.hesso import HESSO, construct_subnetwork, find_groups, group_is_zero
from optarena.workloads.digits_mlp import DigitsMLPWorkload

__all__ = ["measure"]


def _train(problem, optimizer: torch.optim.Optimizer, steps: int) -> None:
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        problem.loss(problem.next_batch()).backward()
        optimizer.step()


def measure(
    seed: int,
    quick: bool,
    steps: int = 3000,
    sparsity: float = 0.6,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 1e-5,
) -> dict[str, float]:
    if quick:
        steps = 100
    hp = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
    dense = DigitsMLPWorkload().build(seed)
    _train(dense, torch.optim.SGD(dense.model.parameters(), **hp), steps)

    pruned = DigitsMLPWorkload().build(seed)
    groups = find_groups(pruned.model)
    opt = HESSO(
        pruned.model.parameters(),
        groups,
        variant="sgd",
        target_group_sparsity=sparsity,
        start_step=steps // 10,
        pruning_steps=steps // 5,
        pruning_periods=10,
        **hp,
    )
    _train(pruned, opt, steps)

    small = construct_subnetwork(pruned.model)
    full64, small64 = pruned.model.double(), small.double()
    with torch.no_grad():
        x = pruned.x_val.double()
        diff = float((full64(x) - small64(x)).abs().max())
    pruned.model.float()
    n_full = sum(p.numel() for p in pruned.model.parameters())
    n_small = sum(p.numel() for p in small.parameters())
    dense_acc = dense.evaluate()["val_accuracy"]
    hesso_acc = pruned.evaluate()["val_accuracy"]
    return {
        "group_sparsity": sum(group_is_zero(g) for g in groups) / len(groups),
        "dense_acc": dense_acc,
        "hesso_acc": hesso_acc,
        "acc_drop": dense_acc - hesso_acc,
        "param_ratio": n_small / n_full,
        "max_output_diff": diff,
    }
