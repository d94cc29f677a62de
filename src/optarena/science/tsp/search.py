"""Heatmap-guided local search for the TSP (a simplification of the MCTS of Fu et al., 2021).

Reference: Y. Xia, X. Yang, Z. Liu, Z. Liu, L. Song, J. Bian, "Position: Rethinking Post-Hoc
Search-Based Neural Approaches for Solving Large-Scale Traveling Salesman Problems", ICML 2024
(code: github.com/xyfffff/rethink_mcts_for_tsp). The search they study is the MCTS of Z.-H. Fu,
K.-B. Qiu, H. Zha, "Generalize a Small Pre-trained Model to Arbitrarily Large TSP Instances", AAAI 2021.

What the authors' MCTS does: keep the top-``k`` cities of each heatmap row as candidates; until the
time budget ``T`` is spent, build k-opt moves whose next city ``j`` after ``i`` is chosen with
probability ``~ W_ij / Omega_i + alpha sqrt(ln(M + 1) / (Q_ij + 1))`` (``W`` initialized from the
heatmap, ``Q`` visit counts), apply an improving move and reinforce ``W_ij += beta (exp(dL / L) - 1)``.

What this module does (a documented simplification, numpy-vectorized):

.. code-block:: text

    cand[i] <- top-k entries of H[i] (ties broken at random);  P[i, .] <- H[i, cand[i]] / sum
    tour <- heatmap-greedy construction (next city = unvisited argmax H[cur], else nearest unvisited)
    best <- tour
    until time budget T (or max_rounds):
        for every city i, sample m candidates j ~ P[i, .]                  # heatmap guidance
        evaluate, vectorized over all (i, j), the deltas of
            2-opt  (i, succ i), (j, succ j) -> (i, j), (succ i, succ j)  and the pred version,
            Or-opt move segment s = i .. i+L-1 (L = 1, 2, 3) next to j (both sides of j)
        apply improving moves greedily, best first, re-evaluating the rest after each one
        after `patience` rounds without improvement (a local optimum):
            keep tour if L(tour) < L(best) else tour <- best           # iterated local search
            kick: double bridge on a random window of `kick_window` positions

Departures from the authors' C++ MCTS: moves are 2-opt / Or-opt, not general k-opt chains; the
heatmap weights ``W`` are not updated online (no UCB term, sampling ``~ H`` only); the restart rule is
an iterated-local-search kick instead of the MCTS random restart. The heatmap is the only source
of candidate edges (the construction falls back to the nearest unvisited city when a row's support
is exhausted).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from optarena.science.tsp.heatmaps import check_heatmap
from optarena.science.tsp.instances import check_coords, check_tour, distance_matrix, tour_length

__all__ = ["SearchResult", "candidate_lists", "greedy_tour", "solve", "two_opt_delta"]

_EPS = 1e-12
# move kinds: 0 = 2-opt on successors, 1 = 2-opt on predecessors,
# 2 + 2 (L - 1) + side = Or-opt of a segment of length L (side 0: after j, side 1: before j)
_KINDS_2OPT = (0, 1)
_KINDS_OROPT = tuple(range(2, 8))


@dataclass
class SearchResult:
    """Outcome of :func:`solve`: best tour and its length, counters and the improvement trace."""

    tour: np.ndarray
    length: float
    time_s: float
    rounds: int
    evaluated: int  # candidate moves whose delta was computed in the batched evaluation
    applied: int  # improving moves applied
    kicks: int
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, best length)

    @property
    def moves_per_second(self) -> float:
        return self.evaluated / max(self.time_s, 1e-12)


def candidate_lists(H: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` entries of each heatmap row (ties broken at random) and their normalized weights.

    Returns ``cand`` (``(n, k)`` city ids) and ``cum`` (``(n, k)`` cumulative sampling probabilities,
    last positive entry exactly 1); entries with ``H = 0`` get probability 0.
    """
    n = H.shape[0]
    if int(k) != k or not 1 <= k <= n - 1:
        raise ValueError(f"n_candidates must be an integer in [1, n - 1] = [1, {n - 1}], got {k!r}")
    k = int(k)
    tie = np.random.default_rng(seed).random(H.shape)
    order = np.lexsort((tie, -H), axis=1)[:, :k]
    w = np.take_along_axis(H, order, axis=1)
    cum = np.cumsum(w, axis=1)
    cum /= cum[:, -1:]
    return order.astype(np.int64), cum


def greedy_tour(H: np.ndarray, D: np.ndarray) -> np.ndarray:
    """Heatmap-greedy tour from city 0: next = unvisited argmax ``H[cur]``; nearest unvisited if none has ``H > 0``."""
    n = H.shape[0]
    unvisited = np.ones(n, dtype=bool)
    tour = np.empty(n, dtype=np.int64)
    cur = 0
    for t in range(n):
        tour[t] = cur
        unvisited[cur] = False
        if t == n - 1:
            break
        row = np.where(unvisited, H[cur], -1.0)
        nxt = int(np.argmax(row))
        if row[nxt] <= 0:
            nxt = int(np.argmin(np.where(unvisited, D[cur], np.inf)))
        cur = nxt
    return tour


def two_opt_delta(D: np.ndarray, tour: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Deltas of the 2-opt moves replacing ``(i, succ i), (j, succ j)`` by ``(i, j), (succ i, succ j)``.

    ``+inf`` where the move is degenerate (``j = succ i`` or ``i = succ j``). Vectorized over ``i, j``.
    """
    st = _State(D, np.asarray(tour, dtype=np.int64))
    return st.deltas(0, np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64))


class _State:
    """Tour, positions and the vectorized move evaluation / scalar move application."""

    def __init__(self, D: np.ndarray, tour: np.ndarray) -> None:
        self.D, self.n = D, D.shape[0]
        self.set_tour(tour)

    def set_tour(self, tour: np.ndarray) -> None:
        self.tour = np.array(tour, dtype=np.int64)
        self.pos = np.empty(self.n, dtype=np.int64)
        self.pos[self.tour] = np.arange(self.n)

    def deltas(self, kind: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        D, n, tour, pos = self.D, self.n, self.tour, self.pos
        pi, pj = pos[i], pos[j]
        if kind <= 1:
            step = 1 if kind == 0 else -1
            a, b = tour[(pi + step) % n], tour[(pj + step) % n]
            d = D[i, j] + D[a, b] - D[i, a] - D[j, b]
            return np.where((j != a) & (b != i) & (i != j), d, np.inf)
        L, side = (kind - 2) // 2 + 1, (kind - 2) % 2
        if n < L + 3:
            return np.full(i.shape, np.inf)
        e = tour[(pi + L - 1) % n]
        p, q = tour[(pi - 1) % n], tour[(pi + L) % n]
        gain = D[p, i] + D[e, q] - D[p, q]
        j_in = (pj - pi) % n < L
        if side == 0:  # insert between j and succ j as j, s..e, succ j
            jn = tour[(pj + 1) % n]
            cost = D[j, i] + D[e, jn] - D[j, jn]
            ok = ~j_in & (j != p)
        else:  # insert between pred j and j as pred j, e..s, j
            jp = tour[(pj - 1) % n]
            cost = D[jp, e] + D[i, j] - D[jp, j]
            ok = ~j_in & (j != q)
        return np.where(ok, cost - gain, np.inf)

    def apply(self, kind: int, i: int, j: int) -> None:
        n, tour, pos = self.n, self.tour, self.pos
        pi, pj = int(pos[i]), int(pos[j])
        if kind <= 1:
            # successors: i a .. j b -> i j .. a b (reverse a..j); predecessors: a i .. b j -> reverse i..b
            lo, hi = ((pi + 1) % n, pj) if kind == 0 else (pi, (pj - 1) % n)
            r = np.roll(tour, -lo)
            m = (hi - lo) % n + 1
            r[:m] = r[:m][::-1].copy()
            self.set_tour(r)
            return
        L, side = (kind - 2) // 2 + 1, (kind - 2) % 2
        r = np.roll(tour, -pi)
        seg, rest = r[:L], r[L:]
        k = (pj - pi - L) % n  # index of j in rest
        if side == 0:
            new = np.concatenate((rest[: k + 1], seg, rest[k + 1 :]))
        else:
            new = np.concatenate((rest[:k], seg[::-1], rest[k:]))
        self.set_tour(new)

    def kick(self, rng: np.random.Generator, window: int) -> None:
        n = self.n
        r = np.roll(self.tour, -int(rng.integers(n)))
        if n < 8:  # too small for a double bridge: reverse a random segment
            a, b = np.sort(rng.choice(np.arange(1, n), size=2, replace=False))
            r[a : b + 1] = r[a : b + 1][::-1].copy()
        else:
            w = int(min(max(window, 4), n - 1))
            o1, o2, o3 = np.sort(rng.choice(np.arange(1, w + 1), size=3, replace=False))
            r = np.concatenate((r[:o1], r[o2:o3], r[o1:o2], r[o3:]))
        self.set_tour(r)


def _check_positive_int(name: str, value: int, low: int = 1) -> int:
    if int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def solve(
    coords: np.ndarray,
    heatmap: np.ndarray,
    time_budget: float = 1.0,
    *,
    max_rounds: int | None = None,
    n_candidates: int = 10,
    samples_per_city: int = 3,
    patience: int = 5,
    kick_window: int = 50,
    oropt: bool = True,
    init_tour: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
) -> SearchResult:
    """Heatmap-guided 2-opt + Or-opt iterated local search under a wall-clock budget (see module docstring).

    Args:
        coords: ``(n, 2)`` city coordinates.
        heatmap: ``(n, n)`` nonnegative matrix with zero diagonal (rows need not be normalized).
        time_budget: seconds of search (the stopping rule unless ``max_rounds`` stops first).
        max_rounds: stop after this many sampling rounds (deterministic runs, tests).
        n_candidates: ``k``, candidates per city (top-``k`` of its heatmap row).
        samples_per_city: ``m``, candidates sampled per city and round (``~`` heatmap weights).
        patience: rounds without improvement that define a local optimum (then kick).
        kick_window: positions spanned by the double-bridge kick.
        oropt: also evaluate Or-opt moves (segments of 1-3 cities); False: 2-opt only.
        init_tour: start tour (default: heatmap-greedy construction).
        seed: seeds candidate tie-breaking, sampling and kicks.

    Returns:
        :class:`SearchResult` with the best tour found (a permutation of ``0..n-1``) and its length.
    """
    c = check_coords(coords)
    n = c.shape[0]
    H = check_heatmap(heatmap, n)
    if not np.isfinite(time_budget) or time_budget < 0:
        raise ValueError(f"time_budget must be finite and >= 0, got {time_budget!r}")
    if max_rounds is not None:
        max_rounds = _check_positive_int("max_rounds", max_rounds, 0)
    m = _check_positive_int("samples_per_city", samples_per_city)
    patience = _check_positive_int("patience", patience)
    kick_window = _check_positive_int("kick_window", kick_window, 4)
    t0 = time.perf_counter()
    D = distance_matrix(c)
    cand, cum = candidate_lists(H, min(n_candidates, n - 1) if n_candidates >= 1 else n_candidates, seed)
    rng = np.random.default_rng(seed)
    st = _State(D, greedy_tour(H, D) if init_tour is None else check_tour(init_tour, n))
    kinds = _KINDS_2OPT + (_KINDS_OROPT if oropt else ())
    cur_len = tour_length(c, st.tour)
    best_tour, best_len = st.tour.copy(), cur_len
    trace = [(time.perf_counter() - t0, best_len)]
    cumf = (cum + np.arange(n)[:, None]).ravel()
    src_i = np.repeat(np.arange(n), m)
    evaluated = applied = kicks = rounds = stall = 0
    while time.perf_counter() - t0 < time_budget and (max_rounds is None or rounds < max_rounds):
        rounds += 1
        # sample j ~ P[i, .] for every city i, m times (inverse-CDF on the row-offset cumulative weights)
        flat = np.searchsorted(cumf, rng.random(n * m) + src_i, side="right")
        dst_j = cand.ravel()[np.minimum(flat, n * cand.shape[1] - 1)]
        kk = np.repeat(np.array(kinds), n * m)
        ii, jj = np.tile(src_i, len(kinds)), np.tile(dst_j, len(kinds))
        dd = np.concatenate([st.deltas(k, src_i, dst_j) for k in kinds])
        evaluated += dd.size
        improving = dd < -_EPS
        kk, ii, jj, dd = kk[improving], ii[improving], jj[improving], dd[improving]
        improved = False
        while dd.size:
            b = int(np.argmin(dd))
            st.apply(int(kk[b]), int(ii[b]), int(jj[b]))
            cur_len += float(dd[b])
            applied += 1
            improved = True
            keep = np.ones(dd.size, dtype=bool)
            keep[b] = False
            kk, ii, jj = kk[keep], ii[keep], jj[keep]
            dd = np.empty(kk.size)
            for k in np.unique(kk):
                sel = kk == k
                dd[sel] = st.deltas(int(k), ii[sel], jj[sel])
            still = dd < -_EPS
            kk, ii, jj, dd = kk[still], ii[still], jj[still], dd[still]
        stall = 0 if improved else stall + 1
        if stall >= patience:  # local optimum: accept if better, else return to the best; then kick
            cur_len = tour_length(c, st.tour)
            if cur_len < best_len - _EPS:
                best_tour, best_len = st.tour.copy(), cur_len
                trace.append((time.perf_counter() - t0, best_len))
            else:
                st.set_tour(best_tour)
            st.kick(rng, kick_window)
            cur_len = tour_length(c, st.tour)
            kicks += 1
            stall = 0
    cur_len = tour_length(c, st.tour)
    if cur_len < best_len - _EPS:
        best_tour, best_len = st.tour.copy(), cur_len
        trace.append((time.perf_counter() - t0, best_len))
    return SearchResult(
        best_tour, best_len, time.perf_counter() - t0, rounds, evaluated, applied, kicks, trace
    )
