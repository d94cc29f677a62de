"""Sample-quality metrics: sliced Wasserstein-2 distance and the error to a reference ODE endpoint."""

from __future__ import annotations

import torch

__all__ = ["endpoint_error", "sliced_wasserstein"]


def sliced_wasserstein(x: torch.Tensor, y: torch.Tensor, n_proj: int = 500, seed: int = 0) -> float:
    """Sliced Wasserstein-2 distance between two equal-size point clouds.

    :math:`SW_2(x, y) = \\big(\\tfrac1L \\sum_{l=1}^L W_2^2(\\theta_l^\\top x, \\theta_l^\\top y)\\big)^{1/2}`,
    :math:`\\theta_l` uniform on the sphere (``seed``), each 1-D :math:`W_2^2` the mean squared difference of
    the sorted projections.
    """
    if x.ndim != 2 or y.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"need two (n, d) tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if n_proj < 1:
        raise ValueError(f"need n_proj >= 1, got n_proj = {n_proj}")
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return float("inf")
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(x.shape[1], n_proj, generator=g, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px = torch.sort(x.to(torch.float64) @ theta, dim=0).values
    py = torch.sort(y.to(torch.float64) @ theta, dim=0).values
    return float((px - py).pow(2).mean().sqrt())


def endpoint_error(x: torch.Tensor, x_ref: torch.Tensor) -> float:
    """Mean Euclidean distance :math:`\\tfrac1n\\sum_i \\|x_i - x^{ref}_i\\|` between paired samples (inf if not finite)."""
    if x.shape != x_ref.shape:
        raise ValueError(f"need paired samples of equal shape, got {tuple(x.shape)} and {tuple(x_ref.shape)}")
    err = float((x - x_ref).norm(dim=1).mean())
    return err if err == err else float("inf")
