"""scipy's L-BFGS-B as a harness method for full-batch objectives (the ``minimizer`` family).

It proves the harness is not tied to torch: one harness step is one L-BFGS iteration, and the
callback gives the harness its eval points and its stop signal.

Reference: Liu & Nocedal, "On the limited memory BFGS method for large scale optimization",
Mathematical Programming 45, 1989; Byrd, Lu, Nocedal & Zhu, SIAM J. Sci. Comput., 1995 (L-BFGS-B).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["LBFGS", "lbfgs"]


def lbfgs(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """Factory: returns ``run(problem, callback, max_iter)``; ``callback(x, fun) -> True`` stops the run."""
    import numpy as np
    from scipy.optimize import minimize

    maxcor = int(hparams["maxcor"])

    def run(problem: Any, callback: Callable[[Any], bool], max_iter: int) -> Any:
        def cb(intermediate_result: Any) -> None:
            if callback(np.asarray(intermediate_result.x), float(intermediate_result.fun)):
                raise StopIteration

        # ftol=gtol=0: never stop on tolerances; the harness stops on target, budget or max_iter.
        options = {"maxcor": maxcor, "maxiter": max_iter, "ftol": 0.0, "gtol": 0.0, "maxls": 40}
        return minimize(
            problem.fun_grad, problem.x0, jac=True, method="L-BFGS-B", callback=cb, options=options
        )

    return run


LBFGS = MethodSpec(
    name="lbfgs",
    family="minimizer",
    factory="optarena.solvers.scipy_lbfgs:lbfgs",
    summary="scipy L-BFGS-B, full batch",
    search_space=SearchSpace((Param("maxcor", 3, 30, integer=True),)),
    defaults={"maxcor": 10},
    paper=PaperRef(
        "D. C. Liu, J. Nocedal",
        "On the limited memory BFGS method for large scale optimization",
        "Mathematical Programming",
        1989,
    ),
    capabilities=frozenset({"baseline", "full-batch"}),
    status="stable",
)
