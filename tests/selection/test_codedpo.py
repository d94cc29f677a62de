"""CodeDPO's mutual ranking of codes and tests, and its preference pairs."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.selection.codedpo import correctness_pairs, efficiency_pairs, mutual_rank


def test_first_step_matches_pass_counts_and_scores_are_normalized():
    x = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]])
    one = mutual_rank(x, iterations=1)
    counts = x.sum(axis=1)
    assert list(np.argsort(-one.code_scores, kind="stable")) == list(np.argsort(-counts, kind="stable"))
    r = mutual_rank(x)
    assert (
        r.converged
        and r.code_scores.max() == pytest.approx(1.0)
        and r.test_scores.max() == pytest.approx(1.0)
    )
    assert r.code_scores[2] < 1e-6  # passes nothing: decays to 0
    assert r.code_scores[0] > r.code_scores[1] > r.code_scores[2]


def test_mutual_rank_beats_raw_pass_counts_when_a_wrong_code_games_bogus_tests():
    """3 correct codes pass the 5 valid tests; one wrong code passes 2 valid tests plus 4 bogus
    tests that nothing else passes. Counts rank the wrong code first (6 > 5); the mutual ranking
    discounts tests that only it supports."""
    valid = np.ones((3, 5))
    bogus = np.zeros((3, 4))
    wrong = np.array([[1, 1, 0, 0, 0, 1, 1, 1, 1]])
    x = np.vstack([np.hstack([valid, bogus]), wrong])
    assert x.sum(axis=1).argmax() == 3
    r = mutual_rank(x)
    assert r.code_scores[:3].min() > r.code_scores[3]
    assert r.test_scores[:5].min() > r.test_scores[5:].max()


def test_synthetic_ranking_auc_not_worse_than_pass_counts():
    """Hidden truth: correct codes pass valid tests; wrong codes pass random subsets; a fraction
    of tests is wrong (passed by a clique of wrong codes sharing a bug)."""
    rng = np.random.default_rng(0)
    aucs_rank, aucs_count = [], []
    for _ in range(30):
        n_codes, n_tests = 12, 10
        correct = rng.random(n_codes) < 0.4
        valid_test = rng.random(n_tests) < 0.6
        bug_clique = (~correct) & (rng.random(n_codes) < 0.6)
        x = np.zeros((n_codes, n_tests))
        for i in range(n_codes):
            for j in range(n_tests):
                if valid_test[j]:
                    x[i, j] = 1.0 if correct[i] else float(rng.random() < 0.3)
                else:
                    x[i, j] = 1.0 if bug_clique[i] else float(rng.random() < 0.1)
        if correct.all() or (~correct).all():
            continue
        for scores, out in ((mutual_rank(x).code_scores, aucs_rank), (x.sum(axis=1), aucs_count)):
            pos, neg = scores[correct], scores[~correct]
            out.append(np.mean([(p > q) + 0.5 * (p == q) for p in pos for q in neg]))
    assert np.mean(aucs_rank) >= np.mean(aucs_count) - 0.02
    assert np.mean(aucs_rank) > 0.6


def test_correctness_pairs_top_against_bottom_with_a_gap():
    s = [0.9, 0.1, 0.5, 1.0, 0.1]
    assert correctness_pairs(s) == [(3, 4)]
    assert correctness_pairs(s, max_pairs=2) == [(3, 4), (0, 1)]
    assert correctness_pairs(s, max_pairs=2, min_gap=0.85) == [(3, 4)]
    assert correctness_pairs([0.5, 0.5]) == []  # no gap, no pair


def test_efficiency_pairs_among_credible_codes_only():
    scores = [1.0, 1.0, 0.2, 1.0]
    times = [0.5, 0.1, 0.01, 0.3]  # code 2 is fastest but not credible
    assert efficiency_pairs(scores, times) == [(1, 0)]
    assert efficiency_pairs(scores, times, min_speedup=10.0) == []
    assert efficiency_pairs(scores, [0.5, 0.1, 0.01, float("inf")]) == [(1, 3)]


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: mutual_rank([[1, 2]]), "must hold 0/1 (or bool), got 2.0 at [0, 1]"),
        (lambda: mutual_rank([1, 0]), "non-empty 2-D"),
        (lambda: mutual_rank([[1]], damping=0.0), "damping must be in (0, 1], got 0.0"),
        (lambda: mutual_rank([[1]], iterations=0), "iterations must be an integer >= 1, got 0"),
        (lambda: correctness_pairs([1.0, float("nan")]), "finite 1-D"),
        (lambda: correctness_pairs([1.0], max_pairs=0), "max_pairs must be an integer >= 1, got 0"),
        (lambda: efficiency_pairs([1.0], [0.0]), "runtimes must be > 0"),
        (lambda: efficiency_pairs([1.0, 1.0], [1.0]), "equal length"),
        (lambda: efficiency_pairs([1.0], [1.0], min_speedup=0.5), "min_speedup must be >= 1, got 0.5"),
    ],
)
def test_bad_input_names_the_value(call, words):
    with pytest.raises(ValueError) as e:
        call()
    assert words in str(e.value)
