"""Every registered built-in workload passes the workload contract suite."""

from __future__ import annotations

import pytest
import torch

from optarena.registry import list_workloads, resolve_workload
from optarena.testing.workload_checks import workload_checks

CHECKS = [
    c for e in list_workloads() if e.source == "builtin" for c in workload_checks(resolve_workload(e.name))
]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("check", CHECKS, ids=repr)
def test_workload_contract(check):
    check()


def test_the_suite_catches_a_broken_workload():
    from optarena.testing.toys import ToyQuad

    class Trivial(ToyQuad):  # target already met at the start, and a budget outside the range
        id = "broken"
        target = 10.0
        max_runtime = 1.0

    failures = []
    for check in workload_checks(Trivial()):
        try:
            check()
        except AssertionError as exc:
            failures.append((check.name, str(exc)))
    assert {name for name, _ in failures} == {"attributes", "evaluate"}, failures  # and nothing else


def test_the_suite_catches_global_rng_use_and_nondeterminism():
    from optarena.testing.toys import ToyQuad
    from optarena.testing.workload_checks import check_build_is_deterministic, check_leaves_global_rng_alone

    class Sloppy(ToyQuad):
        id = "sloppy"

        def build(self, seed):
            problem = super().build(seed)
            with torch.no_grad():
                problem.model.x.add_(torch.randn(10))  # global RNG: neither isolated nor reproducible
            return problem

    with pytest.raises(AssertionError, match="global RNG"):
        check_leaves_global_rng_alone(Sloppy())
    with pytest.raises(AssertionError, match="same seed"):
        check_build_is_deterministic(Sloppy())
