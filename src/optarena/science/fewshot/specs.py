"""Registry entries of the few-shot methods (family ``"science"``).

Each factory answers ``factory(hparams) -> run(support_x, support_y, query_x) -> labels`` (an array of
query labels, values of ``support_y``); :func:`optarena.science.fewshot.fit_predict` returns the full
record (probabilities, prototypes, objective trace).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["FEWSHOT_BOUND_SPEC", "NEAREST_PROTOTYPE_SPEC", "make_fewshot_bound", "make_nearest_prototype"]

_ZIKO = PaperRef(
    "I. M. Ziko, M. Boudiaf, J. Dolz, E. Granger, I. Ben Ayed",
    "Transductive Few-Shot Learning: Clustering is All You Need?",
    "arXiv",
    2021,
    "2106.09516",
)


def make_fewshot_bound(hparams: Mapping[str, Any]) -> Callable[[Any, Any, Any], np.ndarray]:
    """``run(support_x, support_y, query_x) -> labels`` of the bound optimizer with ``hparams``."""
    h = dict(hparams)

    def run(support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
        from optarena.science.fewshot.bound import fit_predict

        return fit_predict(support_x, support_y, query_x, **h).labels

    return run


def make_nearest_prototype(hparams: Mapping[str, Any]) -> Callable[[Any, Any, Any], np.ndarray]:
    """``run(support_x, support_y, query_x) -> labels`` of the nearest-support-mean rule."""
    if hparams:
        raise ValueError(f"nearest-prototype takes no hyperparameters, got {sorted(hparams)}")

    def run(support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
        from optarena.science.fewshot.bound import nearest_prototype

        return nearest_prototype(support_x, support_y, query_x)

    return run


FEWSHOT_BOUND_SPEC = MethodSpec(
    name="fewshot-bound",
    family="science",
    factory="optarena.science.fewshot.specs:make_fewshot_bound",
    summary="Transductive few-shot by clustering: bound optimizer for prototype + Laplacian (lam = 0: K-means)",
    search_space=SearchSpace(
        (
            Param("lam", 0.0, 1.5),
            Param("knn", 1, 10, integer=True),
        )
    ),
    defaults={"lam": 0.5, "knn": 3, "tau": 1.0, "iters": 50, "inner_iters": 50},
    paper=_ZIKO,
    capabilities=frozenset({"few-shot", "transductive", "monotone-objective"}),
    status="experimental",
)

NEAREST_PROTOTYPE_SPEC = MethodSpec(
    name="nearest-prototype",
    family="science",
    factory="optarena.science.fewshot.specs:make_nearest_prototype",
    summary="Inductive few-shot baseline: nearest support-class mean (SimpleShot / ProtoNet rule)",
    search_space=SearchSpace(()),
    defaults={},
    paper=PaperRef(
        "Y. Wang, W.-L. Chao, K. Q. Weinberger, L. van der Maaten",
        "SimpleShot: Revisiting Nearest-Neighbor Classification for Few-Shot Learning",
        "arXiv",
        2019,
        "1911.04623",
    ),
    capabilities=frozenset({"few-shot", "inductive"}),
    status="experimental",
)
