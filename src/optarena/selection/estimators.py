r"""Unbiased estimators of sample-selection metrics: pass@k and ENAMEL's eff@k, plus ENAMEL's
per-sample efficiency score.

pass@k (Chen et al., "Evaluating Large Language Models Trained on Code", arXiv:2107.03374, 2021) is the
probability that at least one of k samples is correct; eff@k (Qiu, Zeng, Tong, Ezick, Lott, "How
Efficient is LLM-Generated Code? A Rigorous & High-Standard Benchmark", ICLR 2025, arXiv:2406.06647) is
the expected best efficiency score among k samples. Both are estimated from n >= k samples without bias
by averaging over all k-subsets (Rao-Blackwellization); pass@k is the 0/1 case of eff@k.

Every weight is computed by a ratio recursion of numbers in [0, 1], never by a binomial coefficient,
so n may be in the millions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "eff_at_k",
    "eff_at_k_weights",
    "efficiency_score",
    "hodges_lehmann",
    "level_efficiency",
    "pass_at_k",
]


def _int(name: str, v: object, minimum: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {v!r}")
    return int(v)


def pass_at_k(n: int, c: int, k: int) -> float:
    r"""Unbiased pass@k from ``n`` samples of which ``c`` are correct.

    .. math::
        \widehat{\text{pass@}k} = 1 - \binom{n-c}{k} \Big/ \binom{n}{k}
                                = 1 - \prod_{i=n-c+1}^{n} \Bigl(1 - \frac{k}{i}\Bigr)

    (1 when ``n - c < k``). The product form is the numerically stable one of the HumanEval code.

    Reference: M. Chen et al., "Evaluating Large Language Models Trained on Code", arXiv:2107.03374,
    2021 (Codex / HumanEval), eq. 1 and Fig. 3.

    Raises:
        ValueError: ``n < 1``, ``c`` outside ``[0, n]``, ``k`` outside ``[1, n]``.
    """
    n = _int("n", n, 1)
    c = _int("c (number of correct samples)", c, 0)
    k = _int("k", k, 1)
    if c > n:
        raise ValueError(f"c (number of correct samples) must be <= n = {n}, got {c}")
    if k > n:
        raise ValueError(f"k must be <= n = {n} (the number of samples), got k = {k}")
    if n - c < k:
        return 1.0
    i = np.arange(n - c + 1, n + 1, dtype=float)
    return float(1.0 - np.prod(1.0 - k / i))


def eff_at_k_weights(n: int, k: int) -> np.ndarray:
    r"""Weights ``w`` of the eff@k estimator over the ascending order statistics of ``n`` samples.

    .. math::
        w_i = \binom{i-1}{k-1} \Big/ \binom{n}{k}\ (i \ge k), \qquad w_i = 0\ (i < k),

    computed by the recursion :math:`w_n = k/n`, :math:`w_{r} = w_{r+1}\,(1 - (k-1)/r)` for
    :math:`r = n-1, \dots, k` (Qiu et al. 2025, Appendix: numerically stable eff@k). ``w_i`` is the
    probability that the i-th smallest of n samples is the largest of a uniform random k-subset;
    the weights sum to 1.

    Raises:
        ValueError: ``n < 1`` or ``k`` outside ``[1, n]``.
    """
    n = _int("n", n, 1)
    k = _int("k", k, 1)
    if k > n:
        raise ValueError(f"k must be <= n = {n} (the number of samples), got k = {k}")
    w = np.zeros(n)
    r = np.arange(k, n, dtype=float)  # r = k .. n-1 (1-based positions)
    ratios = 1.0 - (k - 1) / r  # w_r / w_{r+1}
    # w_r = (k/n) * prod_{s=r}^{n-1} ratio_s: reversed cumulative product.
    w[k - 1 : n - 1] = (k / n) * np.cumprod(ratios[::-1])[::-1]
    w[n - 1] = k / n
    return w


def eff_at_k(scores: Sequence[float] | np.ndarray, k: int) -> float:
    r"""Unbiased, Rao-Blackwellized estimator of eff@k = E[max(e_1, ..., e_k)] from n >= k scores.

    With the scores sorted ascending, :math:`e_{(1)} \le \dots \le e_{(n)}`,

    .. math::
        \widehat{\text{eff@}k} = \sum_{i=k}^{n} \frac{\binom{i-1}{k-1}}{\binom{n}{k}}\, e_{(i)}
                               = \binom{n}{k}^{-1} \sum_{|S| = k} \max_{j \in S} e_j ,

    the average of the best score over all k-subsets: the conditional expectation of the naive
    estimator :math:`\max(e_1..e_k)` given the sample's order statistics, hence unbiased with no
    larger variance. Weights from :func:`eff_at_k_weights`. With 0/1 scores it equals
    :func:`pass_at_k`. Scores may be any finite reals (ENAMEL's scores lie in [0, 1/(1 - 1/alpha)]).

    Reference: R. Qiu, W. W. Zeng, H. Tong, J. Ezick, C. Lott, "How Efficient is LLM-Generated Code?
    A Rigorous & High-Standard Benchmark", ICLR 2025 (arXiv:2406.06647), Sec. 3.2, Theorem 1;
    equal to ``enam.evaluate.calc_eff_at_k`` of the authors' code.

    Raises:
        ValueError: empty or non-1-D ``scores``, a non-finite score, ``k`` outside ``[1, n]``.
    """
    e = np.asarray(scores, dtype=float)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D sequence, got shape {e.shape}")
    bad = np.flatnonzero(~np.isfinite(e))
    if bad.size:
        raise ValueError(f"scores must be finite, got {float(e[bad[0]])!r} at index {bad[0]}")
    w = eff_at_k_weights(e.size, k)
    return float(np.dot(w, np.sort(e)))


def hodges_lehmann(times: Sequence[float] | np.ndarray) -> float:
    r"""Hodges-Lehmann location estimate of repeated timings: the median of the Walsh averages

    .. math:: \hat t = \operatorname{median}\{(t_i + t_j)/2 : i \le j\},

    robust to a few slow outliers (Hodges & Lehmann 1963); ENAMEL times each test this way
    (``enam.evaluate.calc_exec_time``).

    Raises:
        ValueError: empty, or a negative or non-finite time.
    """
    t = np.asarray(times, dtype=float).ravel()
    if t.size == 0:
        raise ValueError("times must be non-empty")
    if not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"times must be finite and >= 0, got {t.tolist()!r}")
    i, j = np.triu_indices(t.size)
    return float(np.median((t[i] + t[j]) / 2.0))


def level_efficiency(t: float, t_ref: float, timeout: float) -> float:
    r"""ENAMEL's efficiency of one test level:

    .. math:: e_l = \frac{\max(0,\, T - t_l)}{T - t^{\mathrm{ref}}_l},

    1 when the code is as fast as the reference, above 1 when faster, 0 at or past the timeout
    ``T`` (``t = inf`` for a level that timed out). Qiu et al. 2025, Sec. 3.1, eq. (1).

    Raises:
        ValueError: ``timeout <= t_ref``, a negative or NaN time.
    """
    if math.isnan(t) or t < 0:
        raise ValueError(f"t (the level's execution time) must be >= 0 or inf, got {t!r}")
    if not (math.isfinite(t_ref) and t_ref >= 0):
        raise ValueError(f"t_ref (the reference time) must be finite and >= 0, got {t_ref!r}")
    if not (math.isfinite(timeout) and timeout > t_ref):
        raise ValueError(f"timeout must be finite and > t_ref = {t_ref!r}, got {timeout!r}")
    return max(0.0, timeout - t) / (timeout - t_ref)


def efficiency_score(
    level_times: Sequence[float],
    ref_times: Sequence[float],
    hardness: Sequence[float] = (0.0, 3.0, 3.0, 4.0),
    alpha: float = 2.0,
    *,
    passed: bool = True,
) -> float:
    r"""ENAMEL's efficiency score of one code sample.

    .. math::
        e = \frac{\sum_l h_l\, e_l}{\sum_l h_l}, \quad
        e_l = \frac{\max(0, T - t_l)}{T - t^{\mathrm{ref}}_l}, \quad
        T = \alpha \max_{l:\, h_l > 0} t^{\mathrm{ref}}_l,

    and :math:`e = 0` when the sample is wrong (``passed`` False). :math:`t_l` is the level's time
    (the maximum over its tests of each test's Hodges-Lehmann time), ``inf`` when the level timed out
    or ran out of memory (ENAMEL then scores that level and every later one 0). Defaults are the
    paper's: levels with hardness h = (0, 3, 3, 4) (level 0 checks correctness only), alpha = 2.

    Reference: Qiu et al., ICLR 2025 (arXiv:2406.06647), Sec. 3.1; ``enam.evaluate.Evaluator``.
    Departure: no per-machine time calibration (the authors rescale times by a reference rerun).

    Raises:
        ValueError: lengths differ, a negative hardness or all zero, ``alpha <= 1``, a bad time.
    """
    h = np.asarray(hardness, dtype=float)
    t = [float(x) for x in level_times]
    r = [float(x) for x in ref_times]
    if not (len(t) == len(r) == h.size):
        raise ValueError(
            f"level_times, ref_times and hardness must have equal lengths, got {len(t)}, {len(r)}, {h.size}"
        )
    if h.size == 0 or np.any(~np.isfinite(h)) or np.any(h < 0) or h.sum() <= 0:
        raise ValueError(f"hardness must be >= 0 with a positive sum, got {h.tolist()!r}")
    if not (math.isfinite(alpha) and alpha > 1):
        raise ValueError(f"alpha (timeout factor) must be > 1, got {alpha!r}")
    if not passed:
        return 0.0
    hard = [i for i in range(h.size) if h[i] > 0]
    for i in hard:
        if not (math.isfinite(r[i]) and r[i] > 0):
            raise ValueError(f"ref_times[{i}] must be finite and > 0, got {r[i]!r}")
    timeout = alpha * max(r[i] for i in hard)
    # A level that timed out zeroes itself and every later level (ENAMEL stops at the first one).
    total, stopped = 0.0, False
    for i in range(h.size):
        stopped = stopped or math.isinf(t[i])
        if h[i] > 0 and not stopped:
            total += h[i] * level_efficiency(t[i], r[i], timeout)
    return float(total / h.sum())
