"""Registry entry of MOGFN-PC (family ``"science"``).

The factory answers ``factory(hparams) -> fit(env, beta, seed=0) -> MOGFN`` (fitted): ``env`` a
:class:`~optarena.science.mogfn.HyperGrid`, ``beta`` the reward exponent of the target. ``hparams``
holds the network and optimiser settings plus ``n_steps`` and ``batch_size`` (the reward-call budget
is ``n_steps * batch_size``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["MOGFN_SPEC", "make_mogfn"]


def make_mogfn(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """``fit(env, beta, seed=0)``: build a :class:`MOGFN` for ``env`` and train it by trajectory balance."""
    h = dict(hparams)
    n_steps, batch_size = int(h.pop("n_steps")), int(h.pop("batch_size"))

    def fit(env: Any, beta: float, seed: int = 0) -> Any:
        from optarena.science.mogfn.model import MOGFN

        return MOGFN(env, beta=beta, seed=seed, **h).fit(n_steps, batch_size)

    return fit


MOGFN_SPEC = MethodSpec(
    name="mogfn",
    family="science",
    factory="optarena.science.mogfn.specs:make_mogfn",
    summary="MOGFN-PC: preference-conditional GFlowNet (trajectory balance) for multi-objective generation",
    search_space=SearchSpace(
        (
            Param("lr", 1e-4, 1e-1, log=True),
            Param("hidden", 16, 256, log=True, integer=True),
            Param("alpha", 0.1, 10.0, log=True),
        )
    ),
    # the authors' HyperGrid script: 3 x 64 LeakyReLU MLP, Adam 1e-2 (wd 1e-4), batch 128, 5000 steps
    defaults={
        "lr": 1e-2,
        "hidden": 64,
        "n_layers": 3,
        "alpha": 1.5,
        "weight_decay": 1e-4,
        "epsilon": 0.01,
        "n_steps": 5000,
        "batch_size": 128,
    },
    paper=PaperRef(
        "M. Jain, S. C. Raparthy, A. Hernandez-Garcia, J. Rector-Brooks, Y. Bengio, S. Miret, E. Bengio",
        "Multi-Objective GFlowNets",
        "ICML",
        2023,
        "2210.12765",
    ),
    capabilities=frozenset({"gflownet", "multi-objective", "exact-distribution", "cpu"}),
    status="experimental",
)
