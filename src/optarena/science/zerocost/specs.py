"""Registry entry of GradSign (family ``"science"``): ``factory({"proxy": name}) -> score(model, x, y)``."""

from __future__ import annotations

from optarena.core.paper import PaperRef
from optarena.core.searchspace import SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["GRADSIGN_SPEC"]

GRADSIGN_SPEC = MethodSpec(
    name="gradsign",
    family="science",
    factory="optarena.science.zerocost.proxies:make_proxy",
    summary="GradSign zero-cost NAS proxy: sum_k |sum_i sign(per-sample gradient_ik)| at initialization",
    search_space=SearchSpace(fixed={"proxy": "gradsign"}),
    defaults={"proxy": "gradsign"},
    paper=PaperRef(
        "Z. Zhang, Z. Jia",
        "GradSign: Model Performance Inference with Theoretical Insights",
        "ICLR",
        2022,
    ),
    capabilities=frozenset({"zero-cost-proxy", "nas"}),
    status="experimental",
)
