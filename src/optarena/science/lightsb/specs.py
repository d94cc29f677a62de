"""Registry entry of LightSB (family ``"science"``).

The factory answers ``factory(hparams) -> fit(x0, x1, eps, seed=0) -> LightSB`` (fitted), where ``x0``,
``x1`` are (n, d) samples or samplers ``n -> (n, d) tensor`` of the two marginals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["LIGHTSB_SPEC", "make_lightsb"]


def make_lightsb(hparams: Mapping[str, Any]) -> Callable[..., Any]:
    """``fit(x0, x1, eps, seed=0)``: build a LightSB of the data's dimension and fit it."""
    h = dict(hparams)

    def fit(x0: Any, x1: Any, eps: float, seed: int = 0) -> Any:
        import torch

        from optarena.science.lightsb.model import LightSB

        probe = x0(2) if callable(x0) and not isinstance(x0, torch.Tensor) else torch.as_tensor(x0)
        if probe.ndim != 2:
            raise ValueError(f"x0 must have shape (n, d), got {tuple(probe.shape)}")
        torch.manual_seed(seed)
        sb = LightSB(int(probe.shape[1]), int(h["K"]), eps, h["cov"], S_init=float(h["S_init"]))
        lr = None if h["lr"] is None else float(h["lr"])
        return sb.fit(x0, x1, steps=int(h["steps"]), batch_size=int(h["batch_size"]), lr=lr, seed=seed)

    return fit


LIGHTSB_SPEC = MethodSpec(
    name="lightsb",
    family="science",
    factory="optarena.science.lightsb.specs:make_lightsb",
    summary="LightSB: Schrodinger bridge with a Gaussian-mixture potential, closed-form plan and drift",
    search_space=SearchSpace(
        (
            Param("K", 1, 200, log=True, integer=True),
            Param("lr", 1e-4, 1e-1, log=True),
            Param("steps", 500, 20_000, log=True, integer=True),
        )
    ),
    # lr None: the authors' per-eps value (1e-3 / 3e-3 / 6e-2 for eps = 0.1 / 1 / 10)
    defaults={"K": 50, "lr": None, "steps": 10_000, "batch_size": 128, "cov": "diag", "S_init": 1.0},
    paper=PaperRef(
        "A. Korotin, N. Gushchin, E. Burnaev", "Light Schrodinger Bridge", "ICLR", 2024, "2310.01174"
    ),
    capabilities=frozenset({"schrodinger-bridge", "entropic-ot", "cpu"}),
    status="experimental",
)
