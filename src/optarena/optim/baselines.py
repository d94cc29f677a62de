"""The AlgoPerf target-setting baselines, from torch.optim: AdamW, NAdamW, SGD with heavy-ball and
with Nesterov momentum, each with linear warmup and cosine decay over the workload's ``step_hint``.

Search spaces follow the spirit of AlgoPerf's baseline spaces (log-uniform learning rate, ``1 - beta1``
on a log scale, log-uniform weight decay, warmup fraction), narrowed to what the CPU workloads need.
Momentum-type hyperparameters are searched as ``one_minus_beta1`` / ``one_minus_momentum`` so that a
log scale concentrates draws near 1, as AlgoPerf does.

References:
    Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR 2019 (AdamW).
    Dozat, "Incorporating Nesterov Momentum into Adam", ICLR Workshop 2016 (NAdam).
    Polyak, "Some methods of speeding up the convergence of iteration methods", USSR Comp. Math. 1964.
    Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum in deep
    learning", ICML 2013 (Nesterov momentum in SGD form).
    Dahl et al., "Benchmarking Neural Network Training Algorithms", arXiv:2306.07179, 2023.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.optim.schedules import warmup_cosine_scheduler

__all__ = ["ADAMW", "NADAMW", "SGD_HEAVYBALL", "SGD_NESTEROV", "make_adam_family", "make_sgd"]

_ADAM_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 3e-2, log=True),
        Param("one_minus_beta1", 0.02, 0.3, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"beta2": 0.999, "eps": 1e-8},
)
_ADAM_DEFAULTS = {"lr": 1e-3, "one_minus_beta1": 0.1, "weight_decay": 1e-4, "warmup_frac": 0.05}
_ADAM_DEFAULTS |= dict(_ADAM_SPACE.fixed)

_SGD_SPACE = SearchSpace(
    (
        Param("lr", 1e-3, 1.0, log=True),
        Param("one_minus_momentum", 0.01, 0.3, log=True),
        Param("weight_decay", 1e-6, 1e-3, log=True),
        Param("warmup_frac", 0.0, 0.1),
    )
)
_SGD_DEFAULTS = {"lr": 0.05, "one_minus_momentum": 0.1, "weight_decay": 1e-5, "warmup_frac": 0.05}


def make_adam_family(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int, *, nesterov: bool
) -> tuple[Any, Any]:
    """AdamW (``nesterov=False``) or NAdam with decoupled weight decay, plus warmup-cosine."""
    import torch

    tensors = [p for _, p in params]
    betas = (1.0 - hparams["one_minus_beta1"], hparams["beta2"])
    common = dict(lr=hparams["lr"], betas=betas, eps=hparams["eps"], weight_decay=hparams["weight_decay"])
    if nesterov:
        opt = torch.optim.NAdam(tensors, decoupled_weight_decay=True, **common)
    else:
        opt = torch.optim.AdamW(tensors, **common)
    return opt, warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])


def make_sgd(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int, *, nesterov: bool
) -> tuple[Any, Any]:
    """SGD with heavy-ball or Nesterov momentum (coupled L2 weight decay, as torch.optim.SGD), plus warmup-cosine."""
    import torch

    opt = torch.optim.SGD(
        [p for _, p in params],
        lr=hparams["lr"],
        momentum=1.0 - hparams["one_minus_momentum"],
        weight_decay=hparams["weight_decay"],
        nesterov=nesterov,
    )
    return opt, warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])


def adamw(params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int) -> tuple[Any, Any]:
    return make_adam_family(params, hparams, step_hint, nesterov=False)


def nadamw(params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int) -> tuple[Any, Any]:
    return make_adam_family(params, hparams, step_hint, nesterov=True)


def sgd_heavyball(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    return make_sgd(params, hparams, step_hint, nesterov=False)


def sgd_nesterov(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    return make_sgd(params, hparams, step_hint, nesterov=True)


ADAMW = MethodSpec(
    name="adamw",
    family="torch-optimizer",
    factory="optarena.optim.baselines:adamw",
    summary="AdamW, decoupled weight decay (torch.optim)",
    search_space=_ADAM_SPACE,
    defaults=_ADAM_DEFAULTS,
    paper=PaperRef(
        "I. Loshchilov, F. Hutter", "Decoupled Weight Decay Regularization", "ICLR", 2019, "1711.05101"
    ),
    capabilities=frozenset({"baseline"}),
    status="stable",
)
NADAMW = MethodSpec(
    name="nadamw",
    family="torch-optimizer",
    factory="optarena.optim.baselines:nadamw",
    summary="NAdam with decoupled weight decay (torch)",
    search_space=_ADAM_SPACE,
    defaults=_ADAM_DEFAULTS,
    paper=PaperRef("T. Dozat", "Incorporating Nesterov Momentum into Adam", "ICLR Workshop", 2016),
    capabilities=frozenset({"baseline"}),
    status="stable",
)
SGD_HEAVYBALL = MethodSpec(
    name="sgd-heavyball",
    family="torch-optimizer",
    factory="optarena.optim.baselines:sgd_heavyball",
    summary="SGD, heavy-ball momentum",
    search_space=_SGD_SPACE,
    defaults=_SGD_DEFAULTS,
    paper=PaperRef(
        "B. T. Polyak", "Some methods of speeding up the convergence of iteration methods", "USSR CMMP", 1964
    ),
    capabilities=frozenset({"baseline"}),
    status="stable",
)
SGD_NESTEROV = MethodSpec(
    name="sgd-nesterov",
    family="torch-optimizer",
    factory="optarena.optim.baselines:sgd_nesterov",
    summary="SGD, Nesterov momentum",
    search_space=_SGD_SPACE,
    defaults=_SGD_DEFAULTS,
    paper=PaperRef(
        "I. Sutskever, J. Martens, G. Dahl, G. Hinton",
        "On the importance of initialization and momentum in deep learning",
        "ICML",
        2013,
    ),
    capabilities=frozenset({"baseline"}),
    status="stable",
)
