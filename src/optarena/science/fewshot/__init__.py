"""Transductive few-shot learning by clustering (Ziko et al., 2021): bound optimizer, episodes, baselines."""

from optarena.science.fewshot.bound import (
    FewShotResult,
    fit_predict,
    knn_affinity,
    nearest_prototype,
    objective,
)
from optarena.science.fewshot.episodes import (
    Episode,
    cl2n,
    digits_features,
    gaussian_episode,
    sample_episode,
)

__all__ = [
    "Episode",
    "FewShotResult",
    "cl2n",
    "digits_features",
    "fit_predict",
    "gaussian_episode",
    "knn_affinity",
    "nearest_prototype",
    "objective",
    "sample_episode",
]
