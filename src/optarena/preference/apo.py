r"""Accelerated Preference Optimization (APO): iterative DPO with a Nesterov extrapolation step.

.. math::
    \begin{aligned}
    &\textbf{input: } \pi_0 \text{ (SFT / reference)},\ \beta > 0,\ \alpha \in [0, 1),\ T \text{ rounds}\\
    &\hat\pi_0 \leftarrow \pi_0\\
    &\textbf{for } t = 0, \dots, T-1:\\
    &\quad D_t \leftarrow \text{preference pairs } (x, y_w, y_l),\ y \sim \pi_t(\cdot\mid x)\\
    &\quad \hat\pi_{t+1} \leftarrow \arg\min_\pi -\mathbb{E}_{D_t}\log\sigma\Big(
        \beta\log\tfrac{\pi(y_w\mid x)}{\pi_t(y_w\mid x)} - \beta\log\tfrac{\pi(y_l\mid x)}{\pi_t(y_l\mid x)}\Big)
        \quad\text{(DPO, reference } \pi_t)\\
    &\quad \pi_{t+1}(y\mid x) \propto \hat\pi_{t+1}(y\mid x)\,
        \Big(\tfrac{\hat\pi_{t+1}(y\mid x)}{\hat\pi_t(y\mid x)}\Big)^{\alpha}
        \quad\text{(momentum: } \log\pi_{t+1} = \log\hat\pi_{t+1}
        + \alpha(\log\hat\pi_{t+1} - \log\hat\pi_t) + c(x))\\
    &\textbf{return } \pi_T
    \end{aligned}

With :math:`\alpha = 0` this is iterative (online) DPO. For a softmax policy :math:`\pi_\theta =
\mathrm{softmax}(\theta)` over a table of logits the momentum step is exactly the parameter step
:math:`\theta_{t+1} = \hat\theta_{t+1} + \alpha(\hat\theta_{t+1} - \hat\theta_t)`; for a network it is
what :func:`extrapolate` does to every floating parameter, an approximation (a sequence model's
per-token softmaxes do not multiply into the normalised sequence-level product).

Exact tabular case (a caution, see :mod:`optarena.preference.tabular`): the population DPO round is
:math:`\hat\theta_{t+1} = \theta_t + r/\beta`, so the log-increments :math:`\Delta_t = \hat\theta_{t+1} -
\hat\theta_t` obey :math:`\Delta_t = r/\beta + \alpha\Delta_{t-1}`, :math:`\Delta_0 = r/\beta`, i.e.
:math:`\Delta_t = \frac{r}{\beta}\frac{1 - \alpha^{t+1}}{1 - \alpha} \to \frac{r}{\beta(1-\alpha)}`:
APO tends to iterative DPO at :math:`\beta(1-\alpha)`. Precisely, :math:`\pi_t` (the extrapolated
output) equals iterative DPO at :math:`\beta(1-\alpha)` after :math:`t - \alpha^2(1-\alpha^t)/(1-\alpha)`
rounds (a lag below :math:`\alpha^2/(1-\alpha)` round) and :math:`\hat\pi_t` after
:math:`t - \alpha(1-\alpha^t)/(1-\alpha)` rounds. A fair comparison therefore includes iterative DPO at
:math:`\beta(1-\alpha)`.

What we follow: the update above as the project notes read the paper (Algorithm 1: reference and data of
round :math:`t` from the extrapolated :math:`\pi_t`, :math:`\hat\pi_0 = \pi_0`, output :math:`\pi_T`;
the trainer also returns :math:`\hat\pi_T` and can evaluate every :math:`\hat\pi_t`). The paper's exact
practical recipe for LLMs (how it realises the momentum step for a transformer) was not checked against the
PDF and there is no official code; the parameter extrapolation here is our reading. Departures: none known
for the tabular case; for networks, parameter-space extrapolation (above). Defaults: :math:`\beta = 0.1`
(DPO's), :math:`\alpha = 0.3`, 3 rounds (the paper's 3 iterations); the paper's :math:`\alpha` was not
checked.

Reference: J. He, H. Yuan, Q. Gu, "Accelerated Preference Optimization for Large Language Model
Alignment", arXiv 2024, arXiv:2410.06293.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.preference._logps import hparam_positive
from optarena.preference.losses import dpo_loss

__all__ = [
    "APO",
    "APO_SPEC",
    "APOResult",
    "FitRound",
    "extrapolate",
    "extrapolate_logps",
    "fit_dpo_round",
    "fit_round_on_testbed",
    "make_apo",
]

#: ``fit_round(reference, beta, t) -> fitted``: one DPO round at ``beta`` whose reference (and data
#: source) is the module ``reference`` = :math:`\pi_t`; returns :math:`\hat\pi_{t+1}` as a new module
#: (the reference must not be modified in place).
FitRound = Callable[[nn.Module, float, int], nn.Module]
Evaluate = Callable[[nn.Module, int], Mapping[str, float]]
PairLogps = Callable[[nn.Module, Tensor], tuple[Tensor, Tensor, Tensor, Tensor]]


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be a number in [0, 1), got {alpha!r}")
    return float(alpha)


@torch.no_grad()
def extrapolate(current: nn.Module, previous: nn.Module, alpha: float) -> nn.Module:
    r"""The momentum step in parameter space: a copy of ``current`` whose floating parameters are
    :math:`\hat\theta_{t+1} + \alpha(\hat\theta_{t+1} - \hat\theta_t)` (``current`` = :math:`\hat\theta_{t+1}`,
    ``previous`` = :math:`\hat\theta_t`). Buffers are copied from ``current``; a parameter that is
    :math:`-\infty` in both (a response with zero probability) stays :math:`-\infty`. Inputs are not modified.
    """
    alpha = _check_alpha(alpha)
    new = copy.deepcopy(current)
    prev = dict(previous.named_parameters())
    names = [n for n, _ in new.named_parameters()]
    if set(names) != set(prev):
        raise ValueError(
            f"current and previous have different parameters: {sorted(set(names) ^ set(prev))[:5]}"
        )
    for name, p in new.named_parameters():
        q = prev[name]
        if p.shape != q.shape:
            raise ValueError(f"parameter {name!r}: shape {tuple(p.shape)} vs previous {tuple(q.shape)}")
        if not p.is_floating_point() or alpha == 0.0:
            continue
        q = q.to(p.dtype)
        both_neginf = torch.isneginf(p) & torch.isneginf(q)
        step = torch.where(both_neginf, torch.zeros_like(p), p - q)
        p.add_(step, alpha=alpha)
    return new


def extrapolate_logps(current: Tensor, previous: Tensor, alpha: float, dim: int = -1) -> Tensor:
    r"""The momentum step in log space, normalised over ``dim``:
    :math:`\log\pi_{t+1} = \mathrm{logsoftmax}\big((1+\alpha)\log\hat\pi_{t+1} - \alpha\log\hat\pi_t\big)`.

    Zero-probability responses of ``current`` stay at zero; one that ``current`` supports and ``previous``
    does not raises (the ratio would be infinite)."""
    alpha = _check_alpha(alpha)
    if current.shape != previous.shape:
        raise ValueError(
            f"current shape {tuple(current.shape)} differs from previous {tuple(previous.shape)}"
        )
    if bool((torch.isneginf(previous) & ~torch.isneginf(current)).any()):
        raise ValueError("current gives probability to a response that previous gives zero: infinite ratio")
    cur_zero = torch.isneginf(current)
    z = torch.where(cur_zero, current, (1 + alpha) * current - alpha * torch.where(cur_zero, 0.0, previous))
    return torch.log_softmax(z, dim=dim)


@dataclass
class APOResult:
    """``policy`` = :math:`\\pi_T` (extrapolated, the algorithm's output), ``fitted`` = :math:`\\hat\\pi_T`
    (the last DPO fit), ``history`` = one dict per round (``round`` 0 = the start, then 1..T) holding what
    ``evaluate`` returned for :math:`\\pi_t` and, prefixed ``fitted_``, for :math:`\\hat\\pi_t`."""

    policy: nn.Module
    fitted: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)


class APO:
    """Accelerated Preference Optimization trainer (module docstring); ``alpha = 0`` is iterative DPO.

    Args:
        beta: DPO's inverse temperature in every round (> 0).
        alpha: extrapolation (momentum) coefficient in [0, 1).
        rounds: number of DPO rounds T (>= 1).

    ``run(policy, fit_round, evaluate=None)`` runs the loop; ``fit_round`` (:data:`FitRound`) does one DPO
    round (data collection from and reference = the policy it is given): :func:`fit_round_on_testbed`,
    :func:`optarena.preference.tabular.population_fit_round` and
    :func:`~optarena.preference.tabular.sampled_fit_round` build one, :func:`fit_dpo_round` is the generic
    gradient fit on a fixed set of pairs.
    """

    def __init__(self, beta: float = 0.1, alpha: float = 0.3, rounds: int = 3) -> None:
        self.beta = hparam_positive("beta", beta)
        self.alpha = _check_alpha(alpha)
        if isinstance(rounds, bool) or not isinstance(rounds, int | np.integer) or rounds < 1:
            raise ValueError(f"rounds must be an int >= 1, got {rounds!r}")
        self.rounds = int(rounds)

    def __repr__(self) -> str:
        return f"APO(beta={self.beta}, alpha={self.alpha}, rounds={self.rounds})"

    def run(
        self,
        policy: nn.Module,
        fit_round: FitRound,
        evaluate: Evaluate | None = None,
        evaluate_fitted: bool = False,
    ) -> APOResult:
        """Run ``rounds`` rounds from ``policy`` (= :math:`\\pi_0 = \\hat\\pi_0`; not modified).

        ``evaluate(policy, t)`` is called on :math:`\\pi_t` after each round (and on :math:`\\pi_0`);
        with ``evaluate_fitted`` also on :math:`\\hat\\pi_t` (keys prefixed ``fitted_``; for
        ``alpha = 0`` the two coincide and are not evaluated twice)."""
        current = policy
        prev_fitted = copy.deepcopy(policy)
        history: list[dict[str, float]] = []
        if evaluate is not None:
            m = dict(evaluate(policy, 0))
            history.append({"round": 0.0, **m})
            if evaluate_fitted:
                history[0] |= {f"fitted_{k}": v for k, v in m.items()}
        fitted = prev_fitted
        for t in range(self.rounds):
            fitted = fit_round(current, self.beta, t)
            if fitted is current:
                raise ValueError("fit_round must return a new module, not modify its reference in place")
            current = extrapolate(fitted, prev_fitted, self.alpha) if self.alpha > 0 else fitted
            prev_fitted = fitted
            if evaluate is not None:
                row = {"round": float(t + 1), **evaluate(current, t + 1)}
                if evaluate_fitted and self.alpha > 0:
                    row |= {f"fitted_{k}": v for k, v in evaluate(fitted, t + 1).items()}
                elif evaluate_fitted:
                    row |= {f"fitted_{k}": v for k, v in row.items() if k != "round"}
                history.append(row)
        return APOResult(current, fitted, history)


def fit_dpo_round(
    reference: nn.Module,
    pair_logps: PairLogps,
    n_pairs: int,
    beta: float,
    *,
    steps: int,
    lr: float,
    batch_size: int | None = None,
    seed: int = 0,
    loss_fn: Callable[..., tuple[Tensor, dict[str, float]]] | None = None,
) -> nn.Module:
    """One DPO round by gradient descent (Adam) on a fixed set of ``n_pairs`` pairs, from and with reference
    ``reference``: works for any module given ``pair_logps(model, idx) -> (chosen_logps, rejected_logps,
    chosen_mask, rejected_mask)`` (per-token, shape ``(B, T)``) for the pair indices ``idx``. Full batch
    when ``batch_size`` is None. ``loss_fn`` defaults to :func:`~optarena.preference.losses.dpo_loss` at
    ``beta``. Returns a new module."""
    beta = hparam_positive("beta", beta)
    if n_pairs < 1 or steps < 0:
        raise ValueError(f"need n_pairs >= 1 and steps >= 0, got {n_pairs}, {steps}")
    loss_fn = functools.partial(dpo_loss, beta=beta) if loss_fn is None else loss_fn
    policy = copy.deepcopy(reference)
    policy.train()
    opt = torch.optim.Adam(policy.parameters(), lr=hparam_positive("lr", lr))
    gen = torch.Generator().manual_seed(seed)
    full = torch.arange(n_pairs)
    for _ in range(steps):
        idx = (
            full if batch_size is None else torch.randint(n_pairs, (min(batch_size, n_pairs),), generator=gen)
        )
        with torch.no_grad():
            rc, rr, _, _ = pair_logps(reference, idx)
        pc, pr, cm, rm = pair_logps(policy, idx)
        loss, _ = loss_fn(pc, pr, cm, rm, rc, rr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    policy.eval()
    return policy


def fit_round_on_testbed(
    cfg: Any,
    judge: Callable[[Sequence[int], Sequence[int]], float],
    prompts_per_round: Sequence[Sequence[Sequence[int]]],
    seed: int,
    steps: int | None = None,
) -> FitRound:
    """A ``fit_round`` on the sorting testbed (:mod:`optarena.preference.testbed`): round ``t`` samples
    ``cfg.samples_per_prompt`` responses per prompt of ``prompts_per_round[t]`` from the round's reference
    at temperature 1, labels best vs worst with ``judge`` (:func:`~optarena.preference.testbed.build_pairs`),
    and trains a copy of the reference with DPO at the given beta
    (:func:`~optarena.preference.testbed.train_preference`: Adam, ``cfg.pref_lr``, ``cfg.pref_batch``,
    ``steps`` or ``cfg.pref_steps`` steps). Seeds depend only on ``(seed, t)``."""
    from optarena.preference.testbed import build_pairs, train_preference

    def fit(reference: nn.Module, beta: float, t: int) -> nn.Module:
        if t >= len(prompts_per_round):
            raise ValueError(f"round {t}: only {len(prompts_per_round)} prompt sets were given")
        pairs = build_pairs(reference, prompts_per_round[t], judge, cfg, seed * 1000 + t)  # type: ignore[arg-type]
        loss = functools.partial(dpo_loss, beta=beta)
        return train_preference(reference, pairs, loss, cfg, seed * 1000 + t, steps)  # type: ignore[arg-type]

    return fit


# ----------------------------------------------------------------------------------------- registry spec


def make_apo(hparams: Mapping[str, Any] | None = None) -> APO:
    """The preference-family factory of APO: an :class:`APO` trainer (not a loss: its rounds use DPO)."""
    return APO(**APO_SPEC.resolve_hparams(hparams))


APO_SPEC = MethodSpec(
    name="apo",
    family="preference",
    factory="optarena.preference.apo:make_apo",
    summary="APO, iterative DPO with a Nesterov extrapolation of the policy after each round",
    search_space=SearchSpace(
        (
            Param("beta", 0.01, 1.0, log=True),
            Param("alpha", 0.0, 0.9),
            Param("rounds", 1, 10, integer=True),
        )
    ),
    defaults={"beta": 0.1, "alpha": 0.3, "rounds": 3},
    paper=PaperRef(
        "J. He, H. Yuan, Q. Gu",
        "Accelerated Preference Optimization for Large Language Model Alignment",
        "arXiv",
        2024,
        "2410.06293",
    ),
    capabilities=frozenset({"uses-reference", "iterative", "trainer"}),
)
