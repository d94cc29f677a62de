"""Claim experiment: accuracy against N of best-of-N, majority vote, weighted vote and cluster
re-ranking on a simulated proposer with a noisy verifier (Liu et al., "Bag of Tricks for
Inference-time Computation of LLM Reasoning", 2025; Liu et al., "Improving Large Language Model
Fine-tuning for Solving Math Problems", 2023).

One seed draws :class:`optarena.selection.synthetic.SyntheticReasoning` problems ``draws`` times with
64 scored samples each, and applies the selectors of :mod:`optarena.selection.aggregate` to the first
N samples, N in {1, 2, 4, ..., 64}. The oracle is the unbiased pass@N from the 64 samples
(:func:`optarena.selection.pass_at_k`). No model is involved.

Metrics: ``acc_{bon,mv,wv,rerank,oracle}_N`` curves; ``mv_gain`` = mv(64) - mv(1);
``mv64_plurality_correct`` / ``mv_gain_plurality_wrong`` (on problems whose most likely answer is /
is not the correct one); ``bon_gap_to_oracle`` = oracle(64) - bon(64); ``bon_saturation`` =
[bon(64) - bon(16)] - [bon(4) - bon(1)] / 2; ``rerank_minus_mv64``; ``verifier_auc``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optarena.selection.aggregate import cluster_rerank, majority_vote, select_best, weighted_vote
from optarena.selection.estimators import pass_at_k
from optarena.selection.synthetic import SyntheticReasoning

__all__ = ["measure"]

NS = (1, 2, 4, 8, 16, 32, 64)
N_MAX = 64


def _auc(scores: np.ndarray, correct: np.ndarray) -> float:
    pos, neg = scores[correct], scores[~correct]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1.0
    return float((ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2) / (pos.size * neg.size))


def measure(
    seed: int, quick: bool, n_problems: int = 400, draws: int = 4, top_k: int = 3, **options: Any
) -> dict[str, float]:
    task = SyntheticReasoning(n_problems=n_problems, **options)
    rng = np.random.default_rng(seed)
    hits: dict[str, dict[int, list[bool]]] = {m: {n: [] for n in NS} for m in ("bon", "mv", "wv", "rerank")}
    oracle: dict[int, list[float]] = {n: [] for n in NS}
    plural: list[bool] = []
    auc = []
    for _ in range(draws):
        smp = task.draw(rng, N_MAX)
        plural += smp.plurality_correct.tolist()
        auc.append(_auc(smp.scores.ravel(), smp.answers.ravel() == 0))
        for q in range(task.n_problems):
            a_all, s_all = smp.answers[q].tolist(), smp.scores[q].tolist()
            c = sum(x == 0 for x in a_all)
            for n in NS:
                a, s = a_all[:n], s_all[:n]
                hits["bon"][n].append(select_best(a, s).answer == 0)
                hits["mv"][n].append(majority_vote(a).answer == 0)
                hits["wv"][n].append(weighted_vote(a, s).answer == 0)
                hits["rerank"][n].append(cluster_rerank(a, s, top_k=top_k).answer == 0)
                oracle[n].append(pass_at_k(N_MAX, c, n))
    out: dict[str, float] = {}
    acc = {m: {n: float(np.mean(hits[m][n])) for n in NS} for m in hits}
    acc["oracle"] = {n: float(np.mean(oracle[n])) for n in NS}
    for m, curve in acc.items():
        for n, v in curve.items():
            out[f"acc_{m}_{n}"] = v
    pl = np.array(plural)
    mv1, mv64 = np.array(hits["mv"][1]), np.array(hits["mv"][64])
    out["plurality_correct_share"] = float(pl.mean())
    out["mv_gain"] = acc["mv"][64] - acc["mv"][1]
    out["mv64_plurality_correct"] = float(mv64[pl].mean()) if pl.any() else float("nan")
    out["mv_gain_plurality_wrong"] = (
        float(mv64[~pl].mean() - mv1[~pl].mean()) if (~pl).any() else float("nan")
    )
    out["bon_gap_to_oracle"] = acc["oracle"][64] - acc["bon"][64]
    out["bon_saturation"] = (acc["bon"][64] - acc["bon"][16]) - 0.5 * (acc["bon"][4] - acc["bon"][1])
    out["rerank_minus_mv64"] = acc["rerank"][64] - acc["mv"][64]
    out["wv_minus_bon64"] = acc["wv"][64] - acc["bon"][64]
    out["verifier_auc"] = float(np.mean(auc))
    return out
