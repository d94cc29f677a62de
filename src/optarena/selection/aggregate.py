r"""Inference-time selection over a proposer and a verifier: best-of-N, majority and weighted vote,
solution-cluster re-ranking, step-level beam search with a process verifier, and self-refine.

The proposer-verifier pipeline and the methods follow F. Liu, W. Chao, N. Tan, H. Liu, "Bag of Tricks
for Inference-time Computation of LLM Reasoning", arXiv:2502.07191, 2025; cluster re-ranking is from
Y. Liu, A. Singh, C. D. Freeman, J. D. Co-Reyes, P. J. Liu, "Improving Large Language Model
Fine-tuning for Solving Math Problems", arXiv:2310.10047, 2023.

Two layers. *Selectors* work on candidates already drawn and scored (``select_best``,
``majority_vote``, ``weighted_vote``, ``cluster_rerank``): pure functions of lists, so one set of
samples can be re-used across methods and sample sizes. *Pipelines* (``best_of_n``, ``vote``,
``rerank``, ``step_beam_search``, ``self_refine``) call the user's callables:

- ``propose(prompt, n) -> list[str]``: n sampled solutions (e.g. an LLM at temperature > 0);
- ``verify(prompt, solution) -> float``: a reward / verifier score, higher is better;
- ``answer(solution) -> Hashable | None``: the final answer a solution states (None: no answer).

Ties are broken by first appearance in the sample, which for i.i.d. samples is a uniformly random
tie-break.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BeamResult",
    "RefineResult",
    "Selection",
    "best_of_n",
    "cluster_rerank",
    "majority_vote",
    "rerank",
    "select_best",
    "self_refine",
    "step_beam_search",
    "vote",
    "weighted_vote",
]

Proposer = Callable[[str, int], Sequence[str]]
Verifier = Callable[[str, str], float]
AnswerFn = Callable[[str], Hashable | None]


@dataclass(frozen=True)
class Selection:
    """The chosen candidate (``index`` into ``candidates``), its answer, and what it was chosen from.
    ``tally`` holds each answer's count (votes) or summed score (weighted vote, re-ranking)."""

    index: int | None
    answer: Hashable | None
    candidates: list[Any]
    scores: list[float] | None = None
    tally: dict[Hashable, float] = field(default_factory=dict)

    @property
    def choice(self) -> Any:
        return None if self.index is None else self.candidates[self.index]


def _identity(x: Any) -> Any:
    return x


def _check_scores(candidates: Sequence[Any], scores: Sequence[float], nonneg: bool = False) -> list[float]:
    s = [float(x) for x in scores]
    if len(s) != len(candidates):
        raise ValueError(f"got {len(candidates)} candidates but {len(s)} scores")
    for i, x in enumerate(s):
        if not math.isfinite(x):
            raise ValueError(f"scores[{i}] must be finite, got {x!r}")
        if nonneg and x < 0:
            raise ValueError(
                f"scores[{i}] = {x!r} is negative; weighted votes need scores >= 0 "
                "(pass probabilities, e.g. a sigmoid of the reward)"
            )
    return s


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (number of samples) must be an integer >= 1, got {n!r}")
    return n


def select_best(
    candidates: Sequence[Any], scores: Sequence[float], answer: AnswerFn = _identity
) -> Selection:
    r"""Best-of-N selection: :math:`\hat y = \arg\max_i r(y_i)` (first index on ties).

    Reference: Liu et al., "Bag of Tricks for Inference-time Computation of LLM Reasoning",
    arXiv:2502.07191, 2025, Sec. 2 (Best-of-N).

    Raises:
        ValueError: no candidates, lengths differ, a non-finite score.
    """
    if len(candidates) == 0:
        raise ValueError("select_best needs at least one candidate")
    s = _check_scores(candidates, scores)
    i = max(range(len(s)), key=lambda j: (s[j], -j))
    return Selection(i, answer(candidates[i]), list(candidates), s)


def _tally(
    candidates: Sequence[Any], weights: Sequence[float], answer: AnswerFn
) -> tuple[dict[Hashable, float], dict[Hashable, int], list[Hashable | None]]:
    tally: dict[Hashable, float] = {}
    first: dict[Hashable, int] = {}
    answers = [answer(c) for c in candidates]
    for i, (a, w) in enumerate(zip(answers, weights, strict=True)):
        if a is None:
            continue  # a solution with no final answer abstains
        tally[a] = tally.get(a, 0.0) + w
        first.setdefault(a, i)
    return tally, first, answers


def _winner(tally: dict[Hashable, float], first: dict[Hashable, int]) -> Hashable | None:
    if not tally:
        return None
    return max(tally, key=lambda a: (tally[a], -first[a]))


def majority_vote(candidates: Sequence[Any], answer: AnswerFn = _identity) -> Selection:
    r"""Majority vote (self-consistency): :math:`\hat a = \arg\max_a \sum_i \mathbb 1[a(y_i) = a]`.

    Candidates whose answer is None abstain; the returned index is the first candidate with the
    winning answer. Reference: X. Wang et al., "Self-Consistency Improves Chain of Thought
    Reasoning in Language Models", ICLR 2023; as benchmarked by Liu et al., arXiv:2502.07191, 2025.

    Raises:
        ValueError: no candidates.
    """
    if len(candidates) == 0:
        raise ValueError("majority_vote needs at least one candidate")
    tally, first, _ = _tally(candidates, [1.0] * len(candidates), answer)
    a = _winner(tally, first)
    return Selection(None if a is None else first[a], a, list(candidates), None, tally)


def weighted_vote(
    candidates: Sequence[Any], scores: Sequence[float], answer: AnswerFn = _identity
) -> Selection:
    r"""Verifier-weighted majority vote: :math:`\hat a = \arg\max_a \sum_i r(y_i)\,\mathbb 1[a(y_i)=a]`.

    Scores must be >= 0 (probabilities). The returned index is the best-scored candidate with the
    winning answer. Reference: Liu et al., arXiv:2502.07191, 2025 (weighted majority voting);
    Y. Li et al., "Making Language Models Better Reasoners with Step-Aware Verifier", ACL 2023.

    Raises:
        ValueError: no candidates, lengths differ, a negative or non-finite score.
    """
    if len(candidates) == 0:
        raise ValueError("weighted_vote needs at least one candidate")
    s = _check_scores(candidates, scores, nonneg=True)
    tally, first, answers = _tally(candidates, s, answer)
    a = _winner(tally, first)
    idx = None if a is None else max((i for i in range(len(s)) if answers[i] == a), key=lambda i: (s[i], -i))
    return Selection(idx, a, list(candidates), s, tally)


def cluster_rerank(
    candidates: Sequence[Any],
    scores: Sequence[float],
    answer: AnswerFn = _identity,
    *,
    top_k: int | None = 3,
    reduce: str = "sum",
) -> Selection:
    r"""Solution-cluster re-ranking (Liu et al. 2023): cluster the solutions by final answer, keep
    the ``top_k`` largest clusters (majority voting's candidates), and return the kept cluster with
    the highest verifier score,

    .. math::
        \mathcal C = \operatorname{top}_K\{C_a\}_{\text{by } |C_a|},\qquad
        \hat a = \arg\max_{C_a \in \mathcal C} \sum_{y \in C_a} r(y)
        \quad(\text{or the mean with } \texttt{reduce="mean"}).

    ``top_k=1`` is majority voting; ``top_k=None`` (all clusters) with ``reduce="sum"`` is the
    weighted vote. The returned index is the best-scored member of the chosen cluster. Cluster-size
    ties at the cut are kept in first-appearance order.

    Reference: Y. Liu, A. Singh, C. D. Freeman, J. D. Co-Reyes, P. J. Liu, "Improving Large Language
    Model Fine-tuning for Solving Math Problems", arXiv:2310.10047, 2023, Sec. 3.3.

    Raises:
        ValueError: no candidates, lengths differ, a bad score, ``top_k < 1``, unknown ``reduce``.
    """
    if len(candidates) == 0:
        raise ValueError("cluster_rerank needs at least one candidate")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if reduce not in ("sum", "mean"):
        raise ValueError(f"reduce must be 'sum' or 'mean', got {reduce!r}")
    s = _check_scores(candidates, scores)
    answers = [answer(c) for c in candidates]
    members: dict[Hashable, list[int]] = {}
    for i, a in enumerate(answers):
        if a is not None:
            members.setdefault(a, []).append(i)
    if not members:
        return Selection(None, None, list(candidates), s, {})
    order = sorted(members, key=lambda a: (-len(members[a]), members[a][0]))
    kept = order if top_k is None else order[:top_k]
    tally = {a: sum(s[i] for i in members[a]) for a in kept}
    if reduce == "mean":
        tally = {a: tally[a] / len(members[a]) for a in kept}
    best = max(kept, key=lambda a: (tally[a], -members[a][0]))
    idx = max(members[best], key=lambda i: (s[i], -i))
    return Selection(idx, best, list(candidates), s, tally)


# -- pipelines over callables ----------------------------------------------------------------------
def _propose(propose: Proposer, prompt: str, n: int) -> list[str]:
    out = list(propose(prompt, n))
    if len(out) != n:
        raise ValueError(f"the proposer returned {len(out)} candidates for n = {n}")
    return out


def best_of_n(
    prompt: str, propose: Proposer, verify: Verifier, n: int, answer: AnswerFn = _identity
) -> Selection:
    """Draw ``n`` solutions and keep the one the verifier scores highest (:func:`select_best`)."""
    cands = _propose(propose, prompt, _check_n(n))
    return select_best(cands, [verify(prompt, c) for c in cands], answer)


def vote(
    prompt: str,
    propose: Proposer,
    n: int,
    answer: AnswerFn = _identity,
    verify: Verifier | None = None,
) -> Selection:
    """Draw ``n`` solutions and vote: :func:`majority_vote`, or :func:`weighted_vote` with ``verify``."""
    cands = _propose(propose, prompt, _check_n(n))
    if verify is None:
        return majority_vote(cands, answer)
    return weighted_vote(cands, [verify(prompt, c) for c in cands], answer)


def rerank(
    prompt: str,
    propose: Proposer,
    verify: Verifier,
    n: int,
    answer: AnswerFn = _identity,
    *,
    top_k: int | None = 3,
    reduce: str = "sum",
) -> Selection:
    """Draw ``n`` solutions and apply :func:`cluster_rerank` (Liu et al. 2023)."""
    cands = _propose(propose, prompt, _check_n(n))
    return cluster_rerank(cands, [verify(prompt, c) for c in cands], answer, top_k=top_k, reduce=reduce)


@dataclass(frozen=True)
class BeamResult:
    """The best beam (its steps and verifier score), whether it is complete, every final beam,
    and how many proposer / verifier calls the search made."""

    steps: tuple[str, ...]
    score: float
    finished: bool
    beams: list[tuple[tuple[str, ...], float]]
    proposer_calls: int
    verifier_calls: int


def step_beam_search(
    prompt: str,
    propose_step: Callable[[str, tuple[str, ...], int], Sequence[str]],
    verify_steps: Callable[[str, tuple[str, ...]], float],
    is_final: Callable[[tuple[str, ...]], bool],
    *,
    beam_width: int = 4,
    expand: int = 4,
    max_steps: int = 10,
) -> BeamResult:
    r"""Step-level beam search guided by a process verifier (PRM).

    .. math::
        B_0 = \{()\},\qquad
        B_{t+1} = \operatorname{top}_{b}\Bigl(\{s \oplus x : s \in B_t \text{ open},\
                  x \sim \text{propose\_step}(s)\ (\times m)\} \cup \{s \in B_t \text{ final}\}\Bigr)

    ranked by ``verify_steps(prompt, s)``; stop when every beam is final or after ``max_steps``
    expansions; return the best final beam (the best open one if none finished). ``b`` is
    ``beam_width``, ``m`` is ``expand`` (proposals per open beam).

    Reference: Liu et al., "Bag of Tricks for Inference-time Computation of LLM Reasoning",
    arXiv:2502.07191, 2025 (beam search with a process reward); step-level search as in
    Snell et al., arXiv:2408.03314, 2024.

    Raises:
        ValueError: ``beam_width``, ``expand`` or ``max_steps`` < 1, a proposer returning no step,
        a non-finite verifier score.
    """
    for name, v in (("beam_width", beam_width), ("expand", expand), ("max_steps", max_steps)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    beams: list[tuple[tuple[str, ...], float]] = [((), -math.inf)]
    p_calls = v_calls = 0
    for _ in range(max_steps):
        pool: list[tuple[tuple[str, ...], float]] = []
        for steps, score in beams:
            if steps and is_final(steps):
                pool.append((steps, score))
                continue
            nxt = list(propose_step(prompt, steps, expand))
            p_calls += 1
            if not nxt:
                raise ValueError(f"propose_step returned no step for the partial solution {steps!r}")
            for x in nxt:
                child = (*steps, x)
                sc = float(verify_steps(prompt, child))
                v_calls += 1
                if not math.isfinite(sc):
                    raise ValueError(f"verify_steps returned {sc!r} for {child!r}; scores must be finite")
                pool.append((child, sc))
        # stable sort: equal scores keep proposal order
        beams = sorted(pool, key=lambda bs: -bs[1])[:beam_width]
        if all(is_final(s) for s, _ in beams):
            break
    final = [(s, sc) for s, sc in beams if is_final(s)]
    best = max(final or beams, key=lambda bs: bs[1])
    return BeamResult(best[0], best[1], bool(final), final, p_calls, v_calls)


@dataclass(frozen=True)
class RefineResult:
    """Every draft (first = the initial solution), the feedback each got, and the returned draft."""

    history: list[str]
    feedback: list[str | None]
    chosen: str
    rounds: int


def self_refine(
    prompt: str,
    generate: Callable[[str], str],
    critique: Callable[[str, str], str | None],
    refine: Callable[[str, str, str], str],
    *,
    max_rounds: int = 3,
    verify: Verifier | None = None,
) -> RefineResult:
    r"""Self-refine: draft, critique, revise until the critic is satisfied.

    .. math::
        y_0 = \text{generate}(x),\quad f_t = \text{critique}(x, y_t),\quad
        y_{t+1} = \text{refine}(x, y_t, f_t)

    stopping when ``critique`` returns None (no more feedback) or after ``max_rounds`` revisions.
    Returns the last draft, or the verifier's best draft when ``verify`` is given.

    Reference: A. Madaan et al., "Self-Refine: Iterative Refinement with Self-Feedback", NeurIPS
    2023; as benchmarked by Liu et al., arXiv:2502.07191, 2025.

    Raises:
        ValueError: ``max_rounds < 0``.
    """
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 0:
        raise ValueError(f"max_rounds must be an integer >= 0, got {max_rounds!r}")
    y = generate(prompt)
    history, feedback = [y], []
    rounds = 0
    while True:
        f = critique(prompt, y) if rounds < max_rounds else None
        feedback.append(f)
        if f is None:
            break
        y = refine(prompt, y, f)
        history.append(y)
        rounds += 1
    chosen = history[-1]
    if verify is not None:
        s = [float(verify(prompt, h)) for h in history]
        chosen = history[max(range(len(s)), key=lambda i: (s[i], i))]  # ties: the later draft
    return RefineResult(history, feedback, chosen, rounds)
