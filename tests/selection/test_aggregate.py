"""Selectors and pipelines: best-of-N, votes, cluster re-ranking, step beam search, self-refine."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.selection.aggregate import (
    best_of_n,
    cluster_rerank,
    majority_vote,
    rerank,
    select_best,
    self_refine,
    step_beam_search,
    vote,
    weighted_vote,
)
from optarena.selection.synthetic import SyntheticReasoning


def answer_of(solution: str):
    """'... answer: 42' -> '42'; None without an answer line."""
    return solution.rsplit("answer:", 1)[1].strip() if "answer:" in solution else None


def test_select_best_takes_the_highest_score_first_on_ties():
    s = select_best(["a", "b", "c", "d"], [0.1, 0.9, 0.9, 0.2])
    assert s.index == 1 and s.choice == "b" and s.answer == "b"


def test_majority_vote_counts_answers_not_texts_and_abstentions_do_not_vote():
    cands = ["x answer: 3", "y answer: 4", "z answer: 4", "no idea", "w answer: 3", "v answer: 4"]
    s = majority_vote(cands, answer_of)
    assert s.answer == "4" and s.index == 1 and s.tally == {"3": 2.0, "4": 3.0}
    # a tie goes to the answer seen first
    assert majority_vote(["a", "b", "b", "a"]).answer == "a"
    assert majority_vote(["no", "answers"], answer_of).answer is None


def test_weighted_vote_can_overrule_the_majority_and_returns_the_best_member():
    cands = ["answer: 1", "answer: 1", "answer: 1", "answer: 2", "answer: 2"]
    scores = [0.1, 0.1, 0.1, 0.9, 0.8]
    assert majority_vote(cands, answer_of).answer == "1"
    s = weighted_vote(cands, scores, answer_of)
    assert s.answer == "2" and s.index == 3
    assert s.tally["2"] == pytest.approx(1.7) and s.tally["1"] == pytest.approx(0.3)


def test_cluster_rerank_limits_and_reductions():
    # sizes: A x4 (low scores), B x3 (high), C x1 (very high)
    cands = ["A"] * 4 + ["B"] * 3 + ["C"]
    scores = [0.2] * 4 + [0.6] * 3 + [0.99]
    assert cluster_rerank(cands, scores, top_k=1).answer == "A"  # = majority vote
    assert cluster_rerank(cands, scores, top_k=2).answer == "B"  # 1.8 > 0.8
    assert cluster_rerank(cands, scores, top_k=3, reduce="mean").answer == "C"
    assert cluster_rerank(cands, scores, top_k=2, reduce="mean").answer == "B"
    assert best_answer_is_argmax_score(cands, scores) == "C"
    # top_k=None with sums is exactly the weighted vote
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = rng.integers(0, 4, size=9).tolist()
        s = rng.random(9).tolist()
        assert cluster_rerank(a, s, top_k=None).answer == weighted_vote(a, s).answer
        assert cluster_rerank(a, s, top_k=1).answer == majority_vote(a).answer


def best_answer_is_argmax_score(cands, scores):
    return select_best(cands, scores).answer


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: select_best([], []), "at least one candidate"),
        (lambda: select_best(["a", "b"], [1.0]), "got 2 candidates but 1 scores"),
        (lambda: select_best(["a"], [float("nan")]), "scores[0] must be finite, got nan"),
        (lambda: weighted_vote(["a", "b"], [0.5, -0.1]), "scores[1] = -0.1 is negative"),
        (lambda: cluster_rerank(["a"], [1.0], top_k=0), "top_k must be a positive integer or None, got 0"),
        (lambda: cluster_rerank(["a"], [1.0], reduce="max"), "reduce must be 'sum' or 'mean', got 'max'"),
        (lambda: best_of_n("q", lambda p, n: ["a"] * n, lambda p, c: 1.0, 0), "got 0"),
        (lambda: vote("q", lambda p, n: ["a"], 3), "returned 1 candidates for n = 3"),
    ],
)
def test_bad_input_names_the_value(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert words in str(e.value)


def test_pipelines_call_the_proposer_and_verifier():
    calls = []

    def propose(prompt, n):
        calls.append((prompt, n))
        return [f"step answer: {i % 3}" for i in range(n)]

    def verify(prompt, sol):
        return {"0": 0.1, "1": 0.5, "2": 0.4}[answer_of(sol)]

    assert best_of_n("q", propose, verify, 6, answer_of).answer == "1"
    assert vote("q", propose, 7, answer_of).answer == "0"  # 0 appears 3 times of 7
    assert vote("q", propose, 6, answer_of, verify=verify).answer == "1"
    assert rerank("q", propose, verify, 6, answer_of, top_k=2).answer == "1"
    assert calls == [("q", 6), ("q", 7), ("q", 6), ("q", 6)]


def test_simulated_majority_vote_and_best_of_n_behave_as_theory_says():
    task = SyntheticReasoning(n_problems=300)
    smp = task.draw(np.random.default_rng(0), 64)

    def acc(fn, n):
        return np.mean([fn(q, n) == 0 for q in range(task.n_problems)])

    def mv(q, n):
        return majority_vote(smp.answers[q, :n].tolist()).answer

    def bon(q, n):
        return select_best(smp.answers[q, :n].tolist(), smp.scores[q, :n]).answer

    plural = smp.plurality_correct
    mv64 = np.array([mv(q, 64) == 0 for q in range(task.n_problems)])
    assert mv64[plural].mean() > 0.9 and mv64[~plural].mean() < 0.2
    assert acc(mv, 64) > acc(mv, 1) + 0.05
    assert acc(bon, 4) > acc(bon, 1)  # the verifier carries signal
    oracle = np.mean((smp.answers == 0).any(axis=1))
    assert acc(bon, 64) < oracle - 0.1  # a noisy verifier cannot find every correct sample


# -- beam search ---------------------------------------------------------------------------------------
def _digits_problem():
    """Build a 4-digit string equal to the target; the PRM rewards correct prefixes (with noise
    from a fixed table), the proposer offers digits in a fixed order."""
    target = "2718"

    def propose_step(prompt, steps, n):
        return [str((len(steps) * 3 + i) % 10) for i in range(n)]

    def verify_steps(prompt, steps):
        s = "".join(steps)
        return sum(a == b for a, b in zip(s, target, strict=False)) - 0.01 * len(s)

    def is_final(steps):
        return len(steps) == 4

    return target, propose_step, verify_steps, is_final


def test_beam_search_finds_the_target_when_wide_enough_and_counts_calls():
    target, propose, verify, final = _digits_problem()
    res = step_beam_search("q", propose, verify, final, beam_width=2, expand=10, max_steps=6)
    assert "".join(res.steps) == target and res.finished
    assert res.proposer_calls == 1 + 2 + 2 + 2  # first step from the empty beam, then 2 beams
    assert res.verifier_calls == 10 * res.proposer_calls
    # proposals that never contain the right digit cannot reach it: the beam keeps the best prefix
    narrow = step_beam_search("q", propose, verify, final, beam_width=1, expand=2, max_steps=6)
    assert narrow.finished and "".join(narrow.steps) != target
    assert narrow.score < res.score


def test_beam_search_bad_input():
    _, propose, verify, final = _digits_problem()
    with pytest.raises(ValueError, match="beam_width must be an integer >= 1, got 0"):
        step_beam_search("q", propose, verify, final, beam_width=0)
    with pytest.raises(ValueError, match="returned no step"):
        step_beam_search("q", lambda p, s, n: [], verify, final)
    with pytest.raises(ValueError, match="scores must be finite"):
        step_beam_search("q", propose, lambda p, s: float("inf"), final)


# -- self-refine ---------------------------------------------------------------------------------------
def test_self_refine_stops_when_the_critic_is_satisfied_or_at_the_round_cap():
    def generate(prompt):
        return "draft0"

    def critique(prompt, y):
        return None if y == "draft2" else f"fix {y}"

    def refine(prompt, y, fb):
        return f"draft{int(y[-1]) + 1}"

    r = self_refine("q", generate, critique, refine, max_rounds=5)
    assert r.history == ["draft0", "draft1", "draft2"] and r.chosen == "draft2" and r.rounds == 2
    assert r.feedback == ["fix draft0", "fix draft1", None]
    capped = self_refine("q", generate, critique, refine, max_rounds=1)
    assert capped.history == ["draft0", "draft1"] and capped.rounds == 1
    # with a verifier, the best draft is kept even if refinement made it worse
    best = self_refine(
        "q", generate, critique, refine, max_rounds=5, verify=lambda p, y: -abs(int(y[-1]) - 1)
    )
    assert best.chosen == "draft1"
    with pytest.raises(ValueError, match="max_rounds must be an integer >= 0, got -1"):
        self_refine("q", generate, critique, refine, max_rounds=-1)
