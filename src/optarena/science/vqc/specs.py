"""Registry entries of the VQC optimizers (family ``"science"``).

Each factory answers ``factory(hparams) -> fit(X, y, budget, seed=0) -> VQC`` (a fitted
:class:`~optarena.science.vqc.VQC`; ``budget`` in objective evaluations, one = one circuit run per
training sample). ``hparams`` are the optimizer's plus the circuit's (``feature_reps``,
``ansatz_reps``, ``shots``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["AQGD_SPEC", "VQC_ADAM_SPEC", "VQC_COBYLA_SPEC", "VQC_SPSA_SPEC", "make_vqc_fit"]

_CIRCUIT = ("feature_reps", "ansatz_reps", "shots")


def make_vqc_fit(optimizer: str) -> Callable[[Mapping[str, Any]], Callable[..., Any]]:
    def factory(hparams: Mapping[str, Any]) -> Callable[..., Any]:
        h = dict(hparams)
        circuit = {k: h.pop(k) for k in _CIRCUIT if k in h}

        def fit(X: Any, y: Any, budget: int, seed: int = 0) -> Any:
            from optarena.science.vqc.api import VQC

            return VQC(optimizer, int(budget), seed=seed, **circuit, **h).fit(X, y)

        return fit

    return factory


make_aqgd = make_vqc_fit("aqgd")
make_cobyla = make_vqc_fit("cobyla")
make_spsa = make_vqc_fit("spsa")
make_adam = make_vqc_fit("adam")

_JOSHI = PaperRef(
    "N. Joshi, P. Katyayan, S. A. Ahmed",
    "Evaluating the Performance of Some Local Optimizers for Variational Quantum Classifiers",
    "arXiv",
    2021,
    "2102.08949",
)
_CAPS = frozenset({"vqc", "statevector", "eval-budget"})

AQGD_SPEC = MethodSpec(
    name="aqgd",
    family="science",
    factory="optarena.science.vqc.specs:make_aqgd",
    summary="AQGD: parameter-shift gradient descent with momentum for a VQC (qiskit-aqua 0.8 rules)",
    search_space=SearchSpace((Param("eta", 0.01, 10.0, log=True), Param("momentum", 0.0, 0.9))),
    defaults={"eta": 3.0, "momentum": 0.25},
    paper=_JOSHI,
    capabilities=_CAPS | {"gradient"},
)

VQC_COBYLA_SPEC = MethodSpec(
    name="vqc-cobyla",
    family="science",
    factory="optarena.science.vqc.specs:make_cobyla",
    summary="COBYLA (scipy) training a VQC at an evaluation budget",
    search_space=SearchSpace((Param("rhobeg", 0.05, 3.0, log=True),)),
    defaults={"rhobeg": 1.0},
    paper=PaperRef(
        "M. J. D. Powell",
        "A Direct Search Optimization Method That Models the Objective and Constraint Functions by "
        "Linear Interpolation",
        "Advances in Optimization and Numerical Analysis",
        1994,
    ),
    capabilities=_CAPS | {"derivative-free"},
)

VQC_SPSA_SPEC = MethodSpec(
    name="vqc-spsa",
    family="science",
    factory="optarena.science.vqc.specs:make_spsa",
    summary="SPSA with qiskit-aqua's step calibration training a VQC",
    search_space=SearchSpace((Param("c", 0.01, 1.0, log=True),)),
    defaults={"c": 0.1},
    paper=PaperRef(
        "J. C. Spall",
        "Multivariate Stochastic Approximation Using a Simultaneous Perturbation Gradient Approximation",
        "IEEE Transactions on Automatic Control",
        1992,
    ),
    capabilities=_CAPS | {"derivative-free"},
)

VQC_ADAM_SPEC = MethodSpec(
    name="vqc-adam",
    family="science",
    factory="optarena.science.vqc.specs:make_adam",
    summary="Adam on exact chain-rule parameter-shift gradients training a VQC",
    search_space=SearchSpace((Param("lr", 1e-3, 1.0, log=True),)),
    defaults={"lr": 0.1},
    paper=PaperRef(
        "D. P. Kingma, J. Ba", "Adam: A Method for Stochastic Optimization", "ICLR", 2015, "1412.6980"
    ),
    capabilities=_CAPS | {"gradient"},
)
