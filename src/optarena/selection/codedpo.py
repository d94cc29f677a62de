r"""CodeDPO's self-validation ranking of code samples and self-generated tests, and the preference
pairs it yields for correctness and for speed.

Reference: K. Zhang, G. Li, Y. Dong, J. Xu, J. Zhang, J. Su, Y. Liu, Z. Jin, "CodeDPO: Aligning Code
Models with Self Generated and Verified Source Code", ACL 2025 (arXiv:2410.05605), Sec. 3.2-3.3.

The premise: a test passed by many (credible) codes is credible, and a code passing many (credible)
tests is likely correct. With the pass matrix :math:`X_{ij} = 1` when code i passes test j, the
scores are updated PageRank-style,

.. math::
    s_c \leftarrow (1-d)\, s_c + d\, X s_t,\qquad s_t \leftarrow (1-d)\, s_t + d\, X^\top s_c ,

from :math:`s_c = s_t = 1`. The paper writes the update without a normalization; unnormalized, the
scores grow geometrically, so each side is rescaled to max 1 after every update. The rescaling
changes no ranking within a step but does set how much of the old score is kept relative to the new
sum; this and the default d = 0.85 (PageRank's) are choices of ours, the authors' release being
anonymous.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MutualRank", "correctness_pairs", "efficiency_pairs", "mutual_rank"]


@dataclass(frozen=True)
class MutualRank:
    """Final code and test scores (each max-normalized to 1), iterations run, and convergence."""

    code_scores: np.ndarray
    test_scores: np.ndarray
    iterations: int
    converged: bool


def _pass_matrix(passes: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    x = np.asarray(passes, dtype=float)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"passes must be a non-empty 2-D (codes x tests) matrix, got shape {x.shape}")
    bad = ~np.isin(x, (0.0, 1.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"passes must hold 0/1 (or bool), got {float(x[i, j])!r} at [{i}, {j}]")
    return x


def mutual_rank(
    passes: np.ndarray | Sequence[Sequence[float]],
    *,
    damping: float = 0.85,
    iterations: int = 100,
    tol: float = 1e-10,
) -> MutualRank:
    r"""CodeDPO's self-validation scores of codes (rows) and tests (columns) of a 0/1 pass matrix.

    .. math::
        s_c^{(t+1)} = \frac{(1-d)\,s_c^{(t)} + d\,X s_t^{(t)}}{\|\cdot\|_\infty},\qquad
        s_t^{(t+1)} = \frac{(1-d)\,s_t^{(t)} + d\,X^\top s_c^{(t+1)}}{\|\cdot\|_\infty},

    from all-ones scores, until the largest change is below ``tol`` or ``iterations`` rounds ran.
    A code no test accepts decays to 0; on a connected pass graph the code scores tend to the
    leading eigenvector of :math:`X X^\top` (mutual reinforcement, HITS-like). Zhang et al., CodeDPO,
    ACL 2025, Sec. 3.2 (update as written there; the max-normalization is ours, see module doc).

    Raises:
        ValueError: a matrix that is not 2-D 0/1, ``damping`` outside (0, 1], ``iterations < 1``.
    """
    x = _pass_matrix(passes)
    if not (isinstance(damping, int | float) and 0 < damping <= 1):
        raise ValueError(f"damping must be in (0, 1], got {damping!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ValueError(f"iterations must be an integer >= 1, got {iterations!r}")
    if not (math.isfinite(tol) and tol >= 0):
        raise ValueError(f"tol must be finite and >= 0, got {tol!r}")

    def norm(v: np.ndarray) -> np.ndarray:
        m = v.max()
        return v / m if m > 0 else v

    sc, st = np.ones(x.shape[0]), np.ones(x.shape[1])
    converged = False
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007 - the count is reported
        new_c = norm((1 - damping) * sc + damping * (x @ st))
        new_t = norm((1 - damping) * st + damping * (x.T @ new_c))
        delta = max(np.abs(new_c - sc).max(), np.abs(new_t - st).max())
        sc, st = new_c, new_t
        if delta <= tol:
            converged = True
            break
    return MutualRank(sc, st, it, converged)


def correctness_pairs(
    code_scores: Sequence[float] | np.ndarray, *, max_pairs: int = 1, min_gap: float = 0.0
) -> list[tuple[int, int]]:
    r"""Correctness preference pairs (chosen, rejected) from self-validation scores: the i-th best
    code against the i-th worst, for i < ``max_pairs``, kept while
    :math:`s_{\text{chosen}} - s_{\text{rejected}} > \texttt{min\_gap}`.

    Zhang et al., CodeDPO, ACL 2025, Sec. 3.2 (chosen from the top of the ranking, rejected from the
    bottom). Ties keep index order.

    Raises:
        ValueError: non-finite scores, ``max_pairs < 1``, ``min_gap < 0``.
    """
    s = np.asarray(code_scores, dtype=float)
    if s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError(f"code_scores must be a finite 1-D array, got {s!r}")
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1:
        raise ValueError(f"max_pairs must be an integer >= 1, got {max_pairs!r}")
    if not (math.isfinite(min_gap) and min_gap >= 0):
        raise ValueError(f"min_gap must be finite and >= 0, got {min_gap!r}")
    order = np.argsort(-s, kind="stable")
    pairs = []
    for i in range(min(max_pairs, s.size // 2)):
        hi, lo = int(order[i]), int(order[-1 - i])
        if s[hi] - s[lo] > min_gap:
            pairs.append((hi, lo))
    return pairs


def efficiency_pairs(
    code_scores: Sequence[float] | np.ndarray,
    runtimes: Sequence[float] | np.ndarray,
    *,
    correct_frac: float = 0.99,
    min_speedup: float = 1.1,
    max_pairs: int = 1,
) -> list[tuple[int, int]]:
    r"""Efficiency preference pairs (faster, slower) among the codes judged correct.

    A code is judged correct when :math:`s_c \ge \texttt{correct\_frac} \cdot \max s_c`; among those,
    the i-th fastest is paired with the i-th slowest (i < ``max_pairs``) when
    :math:`t_{\text{slow}} / t_{\text{fast}} \ge \texttt{min\_speedup}`. Zhang et al., CodeDPO,
    ACL 2025, Sec. 3.3 (execution time measured on the self-generated tests of the credible codes).
    Runtimes of ``inf`` (timed out) count as slowest.

    Raises:
        ValueError: lengths differ, NaN or non-positive runtimes, ``correct_frac`` outside (0, 1],
        ``min_speedup < 1``, ``max_pairs < 1``.
    """
    s = np.asarray(code_scores, dtype=float)
    t = np.asarray(runtimes, dtype=float)
    if s.ndim != 1 or s.shape != t.shape:
        raise ValueError(f"code_scores and runtimes must be 1-D of equal length, got {s.shape} and {t.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"code_scores must be finite, got {s.tolist()!r}")
    if np.any(np.isnan(t)) or np.any(t <= 0):
        raise ValueError(f"runtimes must be > 0 (inf for a timeout), got {t.tolist()!r}")
    if not (0 < correct_frac <= 1):
        raise ValueError(f"correct_frac must be in (0, 1], got {correct_frac!r}")
    if not (math.isfinite(min_speedup) and min_speedup >= 1):
        raise ValueError(f"min_speedup must be >= 1, got {min_speedup!r}")
    if isinstance(max_pairs, bool) or not isinstance(max_pairs, int) or max_pairs < 1:
        raise ValueError(f"max_pairs must be an integer >= 1, got {max_pairs!r}")
    if s.size == 0 or s.max() <= 0:
        return []
    good = np.flatnonzero(s >= correct_frac * s.max())
    good = good[np.argsort(t[good], kind="stable")]
    pairs = []
    for i in range(min(max_pairs, good.size // 2)):
        fast, slow = int(good[i]), int(good[-1 - i])
        if t[slow] / t[fast] >= min_speedup:
            pairs.append((fast, slow))
    return pairs
