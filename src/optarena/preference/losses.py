r"""Preference-optimization losses as pure functions of per-token log-probabilities and masks.

Every loss has the same call::

    loss, metrics = dpo_loss(policy_chosen_logps, policy_rejected_logps, chosen_mask, rejected_mask,
                             ref_chosen_logps, ref_rejected_logps, beta=0.1)

with per-token log-probs of shape ``(B, T)`` (chosen and rejected may have different ``T``), boolean (or
0/1) masks of the same shapes, and reference log-probs (treated as constants) for the losses that use a
reference model; the reference-free losses (SimPO, RRHF) accept and ignore them. ``loss`` is a 0-dim
tensor (mean over the batch) that backpropagates into the policy log-probs; ``metrics`` holds floats.
Padding positions are ignored exactly (see :mod:`optarena.preference._logps`). Notation below:
:math:`\log\pi(y\mid x) = \sum_t m_t \log\pi(y_t\mid x, y_{<t})` (summed over unmasked tokens),
:math:`|y| = \sum_t m_t`, :math:`\sigma` the logistic function, :math:`w` chosen, :math:`l` rejected,
:math:`h = \log\frac{\pi(y_w)}{\pi_{ref}(y_w)} - \log\frac{\pi(y_l)}{\pi_{ref}(y_l)}`.

Nothing here knows about models or tokenizers: a TRL or hand-written trainer computes the per-token
log-probs (``log_softmax(logits).gather(labels)``) and calls the loss.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from optarena.preference._logps import PreferenceLogps, check_logps, hparam_nonnegative, hparam_positive

__all__ = ["codpo_loss", "dpo_loss", "ipo_loss", "rpo_loss", "rrhf_loss", "simpo_loss"]

LossOutput = tuple[Tensor, dict[str, float]]


def _f(x: Tensor) -> float:
    return float(x.detach().double().mean())


def _base_metrics(lp: PreferenceLogps, loss: Tensor) -> dict[str, float]:
    return {
        "loss": _f(loss),
        "logp_chosen": _f(lp.chosen_sum()),
        "logp_rejected": _f(lp.rejected_sum()),
        "avg_logp_chosen": _f(lp.chosen_sum() / lp.chosen_len),
        "avg_logp_rejected": _f(lp.rejected_sum() / lp.rejected_len),
        "len_chosen": _f(lp.chosen_len),
        "len_rejected": _f(lp.rejected_len),
    }


def _reward_metrics(chosen: Tensor, rejected: Tensor) -> dict[str, float]:
    margin = (chosen - rejected).detach()
    return {
        "reward_chosen": _f(chosen),
        "reward_rejected": _f(rejected),
        "reward_margin": _f(margin),
        "reward_accuracy": _f((margin > 0).float()),
    }


def _dpo_terms(lp: PreferenceLogps, beta: float) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair DPO loss and the implicit rewards :math:`\\beta\\log(\\pi/\\pi_{ref})`."""
    chosen_ratio = lp.chosen_sum() - lp.ref_chosen_sum()
    rejected_ratio = lp.rejected_sum() - lp.ref_rejected_sum()
    losses = -F.logsigmoid(beta * (chosen_ratio - rejected_ratio))
    return losses, beta * chosen_ratio.detach(), beta * rejected_ratio.detach()


def dpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    beta: float = 0.1,
) -> LossOutput:
    r"""Direct Preference Optimization: the Bradley-Terry likelihood of the implicit reward.

    .. math:: \mathcal{L}_{DPO} = -\mathbb{E}\big[\log\sigma(\beta h)\big]

    Equals :math:`\log 2` when the policy equals the reference. Default :math:`\beta = 0.1` (the paper's
    value for most experiments; 0.5 for TL;DR summarization). The reference log-probs are required.

    Reference: R. Rafailov, A. Sharma, E. Mitchell, S. Ermon, C. D. Manning, C. Finn, "Direct Preference
    Optimization: Your Language Model is Secretly a Reward Model", NeurIPS 2023, arXiv:2305.18290.
    Equals TRL's ``DPOTrainer`` with ``loss_type="sigmoid"`` and ``label_smoothing=0``.
    """
    beta = hparam_positive("beta", beta)
    lp = check_logps(
        policy_chosen_logps,
        policy_rejected_logps,
        chosen_mask,
        rejected_mask,
        ref_chosen_logps,
        ref_rejected_logps,
    )
    losses, rc, rr = _dpo_terms(lp, beta)
    loss = losses.mean()
    return loss, {**_base_metrics(lp, loss), **_reward_metrics(rc, rr)}


def ipo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    tau: float = 0.1,
    length_normalize: bool = False,
) -> LossOutput:
    r"""Identity Preference Optimization: regress the log-ratio gap onto :math:`1/(2\tau)`.

    .. math:: \mathcal{L}_{IPO} = \mathbb{E}\Big[\big(h - \tfrac{1}{2\tau}\big)^2\Big]

    With ``length_normalize=True`` every log-prob in :math:`h` is divided by its response length (what
    TRL's ``loss_type="ipo"`` does); the default follows the paper (sequence log-probs). Default
    :math:`\tau = 0.1` (the paper gives no LLM default; 0.1 is TRL's ``beta`` default, used as tau).

    Reference: M. G. Azar, M. Rowland, B. Piot, D. Guo, D. Calandriello, M. Valko, R. Munos, "A General
    Theoretical Paradigm to Understand Learning from Human Preferences", AISTATS 2024, arXiv:2310.12036
    (Eq. 17).
    """
    tau = hparam_positive("tau", tau)
    lp = check_logps(
        policy_chosen_logps,
        policy_rejected_logps,
        chosen_mask,
        rejected_mask,
        ref_chosen_logps,
        ref_rejected_logps,
    )
    chosen_ratio = lp.chosen_sum() - lp.ref_chosen_sum()
    rejected_ratio = lp.rejected_sum() - lp.ref_rejected_sum()
    if length_normalize:
        chosen_ratio = chosen_ratio / lp.chosen_len
        rejected_ratio = rejected_ratio / lp.rejected_len
    loss = ((chosen_ratio - rejected_ratio - 1.0 / (2.0 * tau)) ** 2).mean()
    return loss, {**_base_metrics(lp, loss), **_reward_metrics(tau * chosen_ratio, tau * rejected_ratio)}


def simpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    beta: float = 2.5,
    gamma: float = 1.375,
) -> LossOutput:
    r"""SimPO: a reference-free, length-normalised reward with a target margin.

    .. math::
        \mathcal{L}_{SimPO} = -\mathbb{E}\Big[\log\sigma\Big(\tfrac{\beta}{|y_w|}\log\pi(y_w\mid x)
            - \tfrac{\beta}{|y_l|}\log\pi(y_l\mid x) - \gamma\Big)\Big]

    No reference model: ``ref_*`` arguments are accepted and ignored. Defaults :math:`\beta = 2.5`,
    :math:`\gamma = 1.375` (:math:`\gamma/\beta = 0.55`): the authors' Llama-3-8B-Instruct recipe
    (princeton-nlp/SimPO); the paper recommends :math:`\beta \in [2, 2.5]`, :math:`\gamma \in [0.5, 1.5]`.
    Equals TRL's ``CPOTrainer(loss_type="simpo", cpo_alpha=0.0)`` with ``simpo_gamma = gamma``.

    Reference: Y. Meng, M. Xia, D. Chen, "SimPO: Simple Preference Optimization with a Reference-Free
    Reward", NeurIPS 2024, arXiv:2405.14734 (Eq. 6). Departure: no label smoothing (the repo's option,
    0 by default).
    """
    beta = hparam_positive("beta", beta)
    gamma = hparam_nonnegative("gamma", gamma)
    lp = check_logps(policy_chosen_logps, policy_rejected_logps, chosen_mask, rejected_mask)
    rc = beta * lp.chosen_sum() / lp.chosen_len
    rr = beta * lp.rejected_sum() / lp.rejected_len
    loss = (-F.logsigmoid(rc - rr - gamma)).mean()
    return loss, {**_base_metrics(lp, loss), **_reward_metrics(rc, rr)}


def rpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    beta: float = 0.01,
    eta: float = 0.005,
    nll: Literal["sum", "token_mean"] = "sum",
) -> LossOutput:
    r"""Regularized Preference Optimization: DPO plus the NLL of the chosen response.

    .. math::
        \mathcal{L}_{RPO} = \mathcal{L}_{DPO} + \eta\beta\,\mathrm{NLL},\qquad
        \mathrm{NLL}_{sum} = -\tfrac1B\textstyle\sum_b \log\pi(y_{w,b}\mid x_b),\quad
        \mathrm{NLL}_{mean} = -\frac{\sum_b\sum_t m_{bt}\log\pi(y_{w,bt}\mid\cdot)}{\sum_b |y_{w,b}|}

    ``nll="sum"`` is the paper's form (and the authors' alignment-handbook code: ``losses -=
    beta * eta * policy_chosen_logps``); ``nll="token_mean"`` is the token-mean cross-entropy over all
    chosen tokens of the batch, as in the authors' OpenRLHF variant and TRL's ``loss_type=["sigmoid",
    "sft"]`` (there with weight ``loss_weights[1]`` in place of :math:`\eta\beta`). Defaults
    :math:`\beta = 0.01`, :math:`\eta = 0.005`: the authors' zephyr-7b-beta recipe. The SFT term is on the
    chosen response, the paper's practical choice of the baseline policy's response.

    Reference: Z. Liu, M. Lu, S. Zhang, B. Liu, H. Guo, Y. Yang, J. Blanchet, Z. Wang, "Provably Mitigating
    Overoptimization in RLHF: Your SFT Loss is Implicitly an Adversarial Regularizer", NeurIPS 2024,
    arXiv:2405.16436. Code: YSLIU627/Regularized-Preference-Optimization.
    """
    beta = hparam_positive("beta", beta)
    eta = hparam_nonnegative("eta", eta)
    if nll not in ("sum", "token_mean"):
        raise ValueError(f"nll must be 'sum' or 'token_mean', got {nll!r}")
    lp = check_logps(
        policy_chosen_logps,
        policy_rejected_logps,
        chosen_mask,
        rejected_mask,
        ref_chosen_logps,
        ref_rejected_logps,
    )
    losses, rc, rr = _dpo_terms(lp, beta)
    nll_term = -lp.chosen_sum().mean() if nll == "sum" else -lp.chosen.sum() / lp.chosen_len.sum()
    dpo = losses.mean()
    loss = dpo + eta * beta * nll_term
    return loss, {
        **_base_metrics(lp, loss),
        **_reward_metrics(rc, rr),
        "dpo_loss": _f(dpo),
        "nll": _f(nll_term),
    }


def rrhf_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    length_penalty: float = 1.0,
    rank_weight: float = 1.0,
    sft_weight: float = 1.0,
) -> LossOutput:
    r"""RRHF on pairs: a ranking hinge on length-normalised log-probs plus SFT on the best response.

    .. math::
        p_i = \frac{\log\pi(y_i\mid x)}{|y_i|^{\lambda}},\qquad
        \mathcal{L}_{RRHF} = \mathbb{E}\big[w_r\max(0,\, p_l - p_w) - w_s\log\pi(y_w\mid x)\big]

    With two responses per prompt the paper's sum over ranked pairs :math:`r_i < r_j` is the single pair
    (rejected, chosen), and the best response is the chosen one. No reference model (``ref_*`` ignored).
    Defaults follow the paper (:math:`\lambda = 1`, :math:`w_r = w_s = 1`, summed SFT NLL); the authors'
    code (GanjinZero/RRHF) uses ``rrhf_weight = 100`` for :math:`w_r` and averages the SFT term over the
    padded length.

    Reference: Z. Yuan, H. Yuan, C. Tan, W. Wang, S. Huang, F. Huang, "RRHF: Rank Responses to Align
    Language Models with Human Feedback without tears", NeurIPS 2023, arXiv:2304.05302 (Eqs. 1-3).
    """
    length_penalty = hparam_nonnegative("length_penalty", length_penalty)
    rank_weight = hparam_nonnegative("rank_weight", rank_weight)
    sft_weight = hparam_nonnegative("sft_weight", sft_weight)
    lp = check_logps(policy_chosen_logps, policy_rejected_logps, chosen_mask, rejected_mask)
    pw = lp.chosen_sum() / lp.chosen_len**length_penalty
    pl = lp.rejected_sum() / lp.rejected_len**length_penalty
    rank = torch.relu(pl - pw)
    sft = -lp.chosen_sum()
    loss = (rank_weight * rank + sft_weight * sft).mean()
    return loss, {
        **_base_metrics(lp, loss),
        **_reward_metrics(pw, pl),
        "rank_loss": _f(rank),
        "sft_loss": _f(sft),
    }


def codpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
    *,
    beta: float = 0.1,
    lam: float = 1.0,
) -> LossOutput:
    r"""CODPO (constrained online DPO of CGPO): DPO plus the length-normalised NLL of the chosen response.

    .. math::
        \mathcal{L}_{CODPO} = \mathcal{L}_{DPO}
            - \lambda\,\mathbb{E}\Big[\tfrac{1}{|y_w|}\log\pi(y_w\mid x)\Big]

    In CGPO the pairs come from online samples: chosen = the highest-reward response that satisfies
    every judge, rejected = one that violates a judge. This function is the loss only; the constrained
    sampling belongs to a CGPO trainer (not here). Defaults: :math:`\beta = 0.1`, :math:`\lambda = 1`;
    the paper's values were not checked (uncertain, see the project notes), so treat them as ours.

    Reference: T. Xu, E. Helenowski, K. A. Sankararaman, D. Jin, K. Peng, E. Han, S. Nie, C. Zhu, H. Zhang,
    W. Zhou, Z. Zeng, Y. He, K. Mandyam, A. Talabzadeh, M. Khabsa, G. Cohen, Y. Tian, H. Ma, S. Wang,
    H. Fang, "The Perfect Blend: Redefining RLHF with Mixture of Judges", arXiv 2024, arXiv:2409.20370.
    """
    beta = hparam_positive("beta", beta)
    lam = hparam_nonnegative("lam", lam)
    lp = check_logps(
        policy_chosen_logps,
        policy_rejected_logps,
        chosen_mask,
        rejected_mask,
        ref_chosen_logps,
        ref_rejected_logps,
    )
    losses, rc, rr = _dpo_terms(lp, beta)
    nll = -(lp.chosen_sum() / lp.chosen_len)
    loss = (losses + lam * nll).mean()
    return loss, {
        **_base_metrics(lp, loss),
        **_reward_metrics(rc, rr),
        "dpo_loss": _f(losses),
        "nll": _f(nll),
    }
