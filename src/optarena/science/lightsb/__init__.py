"""LightSB (Korotin, Gushchin, Burnaev, ICLR 2024): Schrodinger bridges with a Gaussian-mixture potential,
entropic OT pairs with known plans, the conditional BW-UVP and baselines (Sinkhorn, independent)."""

from optarena.science.lightsb.baselines import SinkhornConditional, pot_available
from optarena.science.lightsb.metrics import bw2, cond_bw_uvp, gaussian_fit
from optarena.science.lightsb.model import LightSB, default_lr
from optarena.science.lightsb.problems import (
    GaussianPair,
    MixturePair,
    entropic_gaussian_plan,
    random_gaussian_pair,
    random_mixture_pair,
)
from optarena.science.lightsb.specs import LIGHTSB_SPEC

__all__ = [
    "LIGHTSB_SPEC",
    "GaussianPair",
    "LightSB",
    "MixturePair",
    "SinkhornConditional",
    "bw2",
    "cond_bw_uvp",
    "default_lr",
    "entropic_gaussian_plan",
    "gaussian_fit",
    "pot_available",
    "random_gaussian_pair",
    "random_mixture_pair",
]
