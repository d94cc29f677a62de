"""LightSB: the Schrodinger bridge with a Gaussian-mixture adjusted potential, fitted by one loss.

Paper: A. Korotin, N. Gushchin, E. Burnaev, "Light Schrodinger Bridge", ICLR 2024 (arXiv:2310.01174).
Authors' code: github.com/ngushchin/LightSB (``src/light_sb.py``, ``notebooks/LightSB_EOT_benchmark.ipynb``).

Problem: the Schrodinger bridge between ``P0`` and ``P1`` with the Wiener prior ``dX_t = sqrt(eps) dW_t``;
its static plan is the entropic OT plan ``min_pi E_pi ||x - y||^2 / 2 - eps H(pi)``, whose conditional
is ``pi*(y | x) = exp(<x, y> / eps) v*(y) / c*(x)`` with the adjusted potential ``v*`` and
``c*(x) = int exp(<x, y> / eps) v*(y) dy``. LightSB models

.. math::

    v_\\theta(y) = \\sum_k \\alpha_k N(y | r_k, \\varepsilon S_k), \\qquad
    c_\\theta(x) = \\sum_k \\alpha_k \\exp\\big((x^T S_k x + 2 r_k^T x) / (2\\varepsilon)\\big),

and minimizes (Adam on minibatches of ``x ~ P0``, ``y ~ P1``), up to a constant the KL between the
true and the model plan,

.. math::

    L(\\theta) = E_{x \\sim P_0} \\log c_\\theta(x) - E_{y \\sim P_1} \\log v_\\theta(y).

Closed forms used after fitting:

- conditional plan ``pi(y | x) = sum_k w_k(x) N(y | r_k + S_k x, eps S_k)`` with
  ``w_k(x) ∝ alpha_k exp((x^T S_k x + 2 r_k^T x) / (2 eps))`` (:meth:`LightSB.sample`);
- SB drift ``g(x, t) = eps grad_x log int N(y | x, (1 - t) eps I) exp(||y||^2 / (2 eps)) v(y) dy``
  (the paper's Proposition 3.3). In the eigenbasis ``S_k = U_k diag(lam) U_k^T``, with
  ``x~ = U_k^T x``, ``r~ = U_k^T r_k`` and ``D = t lam + 1 - t`` (all elementwise),

  .. math::

      g(x, t) = \\sum_k w_k(x, t)\\, U_k \\frac{(\\lambda - 1) \\tilde x + \\tilde r}{D}, \\quad
      \\log w_k = \\log\\alpha_k - \\tfrac12 \\sum \\log D
      + \\tfrac{1}{2\\varepsilon} \\sum \\frac{(\\lambda - 1)\\tilde x^2 + 2 \\tilde r \\tilde x
      - t \\tilde r^2}{D} + \\text{const}(x, t),

  the paper's formula with the ``x``-only terms that grow like ``1 / (1 - t)`` cancelled by hand, so
  it stays finite on all of ``[0, 1]`` (at ``t = 0`` it is the mean of ``pi(. | x)`` minus ``x``);
- paths by Euler-Maruyama ``X_{t+h} = X_t + g(X_t, t) h + sqrt(eps h) xi`` (:meth:`LightSB.trajectory`).

Defaults follow the authors' benchmark notebook: ``K = 50``, ``S_k = I`` and uniform ``alpha`` at start,
``r_k`` set to ``K`` target samples, batch 128, 10 000 Adam steps, lr 1e-3 / 3e-3 / 6e-2 for
eps = 0.1 / 1 / 10 (other eps: the value of the nearest of these on a log scale), ``log alpha``
stored as ``eps log alpha`` (the authors' ``log_alpha_raw``, which scales its Adam step by 1/eps).

Departures from the authors' code: the full ``S_k`` is parametrized as ``L_k L_k^T`` (lower-triangular
``L_k`` with a log-diagonal) instead of ``O_k diag(exp(s_k)) O_k^T`` with a geotorch orthogonal
``O_k``; the drift is evaluated in closed form (above) instead of by autograd; ``fit`` also accepts
fixed sample arrays (minibatches drawn with replacement) besides samplers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["AUTHORS_LR", "LightSB", "default_lr"]

#: The authors' learning rates per eps (benchmark notebook).
AUTHORS_LR = {0.1: 1e-3, 1.0: 3e-3, 10.0: 6e-2}

Samples = torch.Tensor | Callable[[int], torch.Tensor]


def default_lr(eps: float) -> float:
    """The authors' lr for the nearest of eps = 0.1, 1, 10 on a log scale."""
    key = min(AUTHORS_LR, key=lambda e: abs(math.log(e) - math.log(eps)))
    return AUTHORS_LR[key]


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class LightSB(torch.nn.Module):
    """Light Schrodinger bridge: Gaussian-mixture adjusted potential with closed-form plan and drift.

    Args:
        dim: dimension of the data.
        K: number of mixture components of the potential.
        eps: entropic regularization / volatility of the Wiener prior (> 0).
        cov: ``"diag"`` (diagonal ``S_k``, the authors' benchmark setting) or ``"full"``.
        S_init: initial ``S_k = S_init * I`` (the authors' benchmark notebook: 1.0).
        dtype: ``torch.float32`` or ``torch.float64``.

    After :meth:`fit`, ``loss_history_`` holds the loss of every step. Example::

        >>> import torch
        >>> sb = LightSB(dim=2, K=4, eps=1.0)
        >>> x0, x1 = torch.randn(256, 2), torch.randn(256, 2) + 3.0
        >>> _ = sb.fit(x0, x1, steps=50)
        >>> sb.sample(x0[:5]).shape, sb.trajectory(x0[:5], n_steps=10).shape
        (torch.Size([5, 2]), torch.Size([5, 11, 2]))

    Reference: A. Korotin, N. Gushchin, E. Burnaev, "Light Schrodinger Bridge", ICLR 2024.
    """

    def __init__(
        self,
        dim: int,
        K: int,
        eps: float,
        cov: str = "diag",
        *,
        S_init: float = 1.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.dim = _check_int("dim", dim, 1)
        self.K = _check_int("K", K, 1)
        self.eps = _check_positive("eps", eps)
        if cov not in ("diag", "full"):
            raise ValueError(f"cov must be 'diag' or 'full', got {cov!r}")
        self.cov = cov
        S_init = _check_positive("S_init", S_init)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
        self.dtype = dtype
        kw = {"dtype": dtype}
        self.log_alpha_raw = torch.nn.Parameter(torch.full((K,), self.eps * math.log(1.0 / K), **kw))
        self.r = torch.nn.Parameter(torch.zeros(K, dim, **kw))
        if cov == "diag":
            self.S_log = torch.nn.Parameter(torch.full((K, dim), math.log(S_init), **kw))
        else:
            L0 = torch.diag_embed(torch.full((K, dim), 0.5 * math.log(S_init), **kw))
            self.L_raw = torch.nn.Parameter(L0)
        self.loss_history_: torch.Tensor | None = None

    # ----- parameters -------------------------------------------------------------------------------
    @property
    def log_alpha(self) -> torch.Tensor:
        return self.log_alpha_raw / self.eps

    def chol(self) -> torch.Tensor:
        """``L_k`` with ``S_k = L_k L_k^T`` (K, d, d); for ``cov='diag'`` the diagonal square roots."""
        if self.cov == "diag":
            return torch.diag_embed(torch.exp(0.5 * self.S_log))
        return torch.tril(self.L_raw, -1) + torch.diag_embed(torch.exp(torch.diagonal(self.L_raw, 0, -2, -1)))

    def S(self) -> torch.Tensor:
        """``S_k`` as (K, d) diagonals for ``cov='diag'``, (K, d, d) matrices for ``cov='full'``."""
        if self.cov == "diag":
            return torch.exp(self.S_log)
        L = self.chol()
        return L @ L.transpose(-1, -2)

    def set_params(self, r: torch.Tensor, S: torch.Tensor, log_alpha: torch.Tensor | None = None) -> LightSB:
        """Set ``r`` (K, d), ``S`` ((K, d) diagonals or (K, d, d) SPD matrices) and ``log alpha`` (K,)."""
        r = torch.as_tensor(r, dtype=self.dtype)
        S = torch.as_tensor(S, dtype=self.dtype)
        if r.shape != (self.K, self.dim):
            raise ValueError(f"r must have shape {(self.K, self.dim)}, got {tuple(r.shape)}")
        want = (self.K, self.dim) if self.cov == "diag" else (self.K, self.dim, self.dim)
        if S.shape != want:
            raise ValueError(f"S must have shape {want} for cov={self.cov!r}, got {tuple(S.shape)}")
        with torch.no_grad():
            self.r.copy_(r)
            if self.cov == "diag":
                if (S <= 0).any():
                    raise ValueError("S must be positive")
                self.S_log.copy_(torch.log(S))
            else:
                L = torch.linalg.cholesky(S)  # raises on a non-SPD S
                self.L_raw.copy_(
                    torch.tril(L, -1) + torch.diag_embed(torch.log(torch.diagonal(L, 0, -2, -1)))
                )
            if log_alpha is not None:
                la = torch.as_tensor(log_alpha, dtype=self.dtype)
                if la.shape != (self.K,):
                    raise ValueError(f"log_alpha must have shape {(self.K,)}, got {tuple(la.shape)}")
                self.log_alpha_raw.copy_(self.eps * la)
        return self

    # ----- inputs -----------------------------------------------------------------------------------
    def _points(self, x: Any, name: str = "x") -> torch.Tensor:
        x = torch.as_tensor(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{name} must have shape (n, {self.dim}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            x = x.to(self.dtype)
        if not torch.isfinite(x).all():
            bad = torch.nonzero(~torch.isfinite(x))[0].tolist()
            raise ValueError(f"{name} contains NaN or inf (first at row {bad[0]}, column {bad[1]})")
        return x.to(self.dtype)

    # ----- the two halves of the loss ---------------------------------------------------------------
    def _quad(self, x: torch.Tensor) -> torch.Tensor:
        """``(x^T S_k x + 2 r_k^T x) / (2 eps)`` as (n, K)."""
        if self.cov == "diag":
            xSx = (x**2) @ self.S().T
        else:
            LT = self.chol().transpose(-1, -2)  # rows of L_k^T, stacked: one matmul gives all L_k^T x
            xSx = ((x @ LT.reshape(-1, self.dim).T).reshape(x.shape[0], self.K, self.dim) ** 2).sum(-1)
        return (xSx + 2.0 * x @ self.r.T) / (2.0 * self.eps)

    def log_c(self, x: torch.Tensor) -> torch.Tensor:
        """``log c_theta(x)`` (n,)."""
        return torch.logsumexp(self.log_alpha[None] + self._quad(x), dim=-1)

    def log_potential(self, y: torch.Tensor) -> torch.Tensor:
        """``log v_theta(y) = log sum_k alpha_k N(y | r_k, eps S_k)`` (n,)."""
        if self.cov == "diag":
            inv_S = torch.exp(-self.S_log)
            maha = (y**2) @ inv_S.T - 2.0 * y @ (self.r * inv_S).T + (self.r**2 * inv_S).sum(-1)[None]
            logdet = self.S_log.sum(-1)
        else:
            L = self.chol()
            eye = torch.eye(self.dim, dtype=L.dtype).expand_as(L)
            P = torch.linalg.solve_triangular(L, eye, upper=False)  # L_k^{-1}
            Py = (y @ P.reshape(-1, self.dim).T).reshape(y.shape[0], self.K, self.dim)
            Pr = torch.einsum("kij,kj->ki", P, self.r)
            maha = ((Py - Pr[None]) ** 2).sum(-1)
            logdet = 2.0 * torch.diagonal(self.L_raw, 0, -2, -1).sum(-1)
        log_n = -0.5 * (maha / self.eps + logdet[None] + self.dim * math.log(2 * math.pi * self.eps))
        return torch.logsumexp(self.log_alpha[None] + log_n, dim=-1)

    def loss(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """The LightSB objective on minibatches: ``mean log c(x0) - mean log v(x1)``."""
        return self.log_c(x0).mean() - self.log_potential(x1).mean()

    # ----- fitting ----------------------------------------------------------------------------------
    def _batcher(self, data: Samples, name: str, gen: torch.Generator) -> Callable[[int], torch.Tensor]:
        if callable(data) and not isinstance(data, torch.Tensor):
            return lambda n: self._points(data(n), f"{name} (sampler output)")
        pts = self._points(data, name)
        if pts.shape[0] < 1:
            raise ValueError(f"{name} is empty")
        return lambda n: pts[torch.randint(pts.shape[0], (n,), generator=gen)]

    def fit(
        self,
        x0: Samples,
        x1: Samples,
        *,
        steps: int = 10_000,
        batch_size: int = 128,
        lr: float | None = None,
        seed: int = 0,
        init_r: bool = True,
        callback: Callable[[int, float], Any] | None = None,
    ) -> LightSB:
        """Minimize the LightSB loss with Adam.

        ``x0``, ``x1``: (n, dim) samples of ``P0`` and ``P1`` (minibatches drawn with replacement) or
        samplers ``n -> (n, dim) tensor`` (fresh samples every step, as the authors' benchmark).
        ``lr=None`` takes the authors' value for ``eps`` (:func:`default_lr`). ``init_r`` sets ``r_k``
        to ``K`` samples of ``x1`` first (the authors' ``init_by_samples``). ``callback(step, loss)``
        returning True stops early.
        """
        steps = _check_int("steps", steps, 1)
        batch_size = _check_int("batch_size", batch_size, 1)
        lr = default_lr(self.eps) if lr is None else _check_positive("lr", lr)
        gen = torch.Generator().manual_seed(int(seed))
        draw0 = self._batcher(x0, "x0", gen)
        draw1 = self._batcher(x1, "x1", gen)
        if init_r:
            with torch.no_grad():
                self.r.copy_(draw1(self.K))
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        losses = torch.empty(steps, dtype=torch.float64)
        done = steps
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = self.loss(draw0(batch_size), draw1(batch_size))
            loss.backward()
            opt.step()
            losses[step] = loss.detach()
            if not torch.isfinite(losses[step]):
                raise FloatingPointError(f"LightSB loss is {losses[step].item()} at step {step}; lower lr")
            if callback is not None and callback(step, float(losses[step])):
                done = step + 1
                break
        self.loss_history_ = losses[:done]
        return self

    # ----- closed forms -----------------------------------------------------------------------------
    @torch.no_grad()
    def component_weights(self, x: torch.Tensor) -> torch.Tensor:
        """``w_k(x)`` of the conditional plan (n, K), rows summing to one."""
        x = self._points(x)
        return torch.softmax(self.log_alpha[None] + self._quad(x), dim=-1)

    @torch.no_grad()
    def _component_means(self, x: torch.Tensor) -> torch.Tensor:
        S = self.S()
        Sx = x[:, None, :] * S[None] if self.cov == "diag" else torch.einsum("kij,nj->nki", S, x)
        return self.r[None] + Sx  # (n, K, d)

    @torch.no_grad()
    def sample(self, x0: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of ``y ~ pi_theta(. | x)`` for every row ``x`` of ``x0`` (n, dim)."""
        x = self._points(x0, "x0")
        w = self.component_weights(x)
        k = torch.multinomial(w, 1, generator=generator).squeeze(1)
        xi = torch.randn(x.shape, generator=generator, dtype=self.dtype)
        L = self.chol()
        S = self.S()
        y = torch.empty_like(x)
        for j in torch.unique(k).tolist():
            idx = k == j
            xs = x[idx]
            mean = self.r[j] + (S[j] * xs if self.cov == "diag" else xs @ S[j].T)
            y[idx] = mean + math.sqrt(self.eps) * xi[idx] @ L[j].T
        return y

    @torch.no_grad()
    def conditional_moments(self, x0: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact mean (n, d) and covariance (n, d, d) of the mixture ``pi_theta(. | x)``."""
        x = self._points(x0, "x0")
        w = self.component_weights(x)
        m = self._component_means(x)
        mean = (w[..., None] * m).sum(1)
        S = self.S()
        Sm = torch.diag_embed(S) if self.cov == "diag" else S
        dev = m - mean[:, None, :]
        cov = self.eps * torch.einsum("nk,kij->nij", w, Sm) + torch.einsum("nk,nki,nkj->nij", w, dev, dev)
        return mean, cov

    @torch.no_grad()
    def drift(self, x: Any, t: float | torch.Tensor) -> torch.Tensor:
        """SB drift ``g(x, t)`` (n, d) in closed form; ``t`` a number or (n,) tensor in [0, 1]."""
        x = self._points(x)
        t = torch.as_tensor(t, dtype=self.dtype)
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.shape != (x.shape[0],):
            raise ValueError(f"t must be a number or have shape ({x.shape[0]},), got {tuple(t.shape)}")
        if not torch.isfinite(t).all() or (t < 0).any() or (t > 1).any():
            raise ValueError(f"t must lie in [0, 1], got values in [{t.min().item()}, {t.max().item()}]")
        if self.cov == "diag":
            lam, U = self.S(), None
            xt, rt = x[:, None, :], self.r
        else:
            lam, U = torch.linalg.eigh(self.S())  # S_k = U_k diag(lam_k) U_k^T
            xt = torch.einsum("kji,nj->nki", U, x)
            rt = torch.einsum("kji,kj->ki", U, self.r)
        tt = t[:, None, None]
        D = tt * lam[None] + 1.0 - tt  # (n, K, d)
        num = (lam[None] - 1.0) * xt + rt[None]
        E = (
            self.log_alpha[None]
            - 0.5 * torch.log(D).sum(-1)
            + ((num * xt + rt[None] * xt - tt * rt[None] ** 2) / D).sum(-1) / (2.0 * self.eps)
        )
        g = num / D
        if U is not None:
            g = torch.einsum("kij,nkj->nki", U, g)
        return (torch.softmax(E, dim=-1)[..., None] * g).sum(1)

    @torch.no_grad()
    def trajectory(
        self, x0: Any, n_steps: int = 100, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Euler-Maruyama paths of the fitted bridge from ``x0``: (n, n_steps + 1, d), time 0 to 1."""
        x = self._points(x0, "x0")
        n_steps = _check_int("n_steps", n_steps, 1)
        h = 1.0 / n_steps
        path = [x]
        for i in range(n_steps):
            noise = torch.randn(x.shape, generator=generator, dtype=self.dtype)
            x = x + self.drift(x, i * h) * h + math.sqrt(self.eps * h) * noise
            path.append(x)
        return torch.stack(path, dim=1)
