"""Every shipped constrained solver passes the contract suite in optarena.testing.solver_checks."""

from optarena.testing.solver_checks import parametrize_with_checks, solver_records


@parametrize_with_checks(solver_records())
def test_constrained_solver(check):
    check()
