"""Zero-cost NAS proxies (GradSign, synflow, snip, grad_norm, NASWOT, #params) on a small MLP space.

``score(model, x, y, proxy)`` scores one network at initialization, ``rank(models, x, y, proxy)`` orders
several; ``sample_space``/``build`` give the architecture space and ``train_eval`` the ground truth.
"""

from optarena.science.zerocost.proxies import (
    PROXIES,
    grad_norm,
    gradsign,
    naswot,
    params,
    rank,
    score,
    snip,
    synflow,
)
from optarena.science.zerocost.space import Arch, build, enumerate_space, sample_space
from optarena.science.zerocost.specs import GRADSIGN_SPEC
from optarena.science.zerocost.train import Digits, load_digits_split, train_eval

__all__ = [
    "GRADSIGN_SPEC",
    "PROXIES",
    "Arch",
    "Digits",
    "build",
    "enumerate_space",
    "grad_norm",
    "gradsign",
    "load_digits_split",
    "naswot",
    "params",
    "rank",
    "sample_space",
    "score",
    "snip",
    "synflow",
    "train_eval",
]
