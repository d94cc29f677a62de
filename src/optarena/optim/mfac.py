"""M-FAC: the dynamic-window matrix-free inverse empirical Fisher, used as a preconditioner.

Follows the paper's dynamic algorithm and the optimizer of the official code (``IST-DASLab/M-FAC``
``optim.py``: ``HInvFastUpMulti`` and ``MFAC``): a ring buffer of the last :math:`m` gradients of *all*
parameters flattened into one vector, the damped empirical Fisher
:math:`F = \\lambda I + \\frac1m \\sum_i g_i g_i^\\top`, and products :math:`F^{-1}x` by the
Sherman-Morrison chain expressed through the :math:`m \\times m` matrix :math:`GG^\\top`, never a
:math:`d \\times d` matrix.

References:
    E. Frantar, E. Kurtic, D. Alistarh, "M-FAC: Efficient Matrix-Free Approximations of Second-Order
    Information", NeurIPS 2021, https://arxiv.org/abs/2107.03356 ;
    code https://github.com/IST-DASLab/M-FAC (``optim.py``)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["MFAC", "MFAC_SPEC", "make_mfac", "mfac_coefficients", "mfac_ihvp"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
#: Hyperparameters shared by all groups (one window over all parameters).
_GLOBAL_KEYS = ("ngrads", "damp")


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _check_hparams(group: Mapping[str, Any]) -> None:
    lr = group["lr"]
    if not _is_number(lr) or not (math.isfinite(lr) and lr >= 0.0):
        raise ValueError(f"Invalid learning rate: {lr!r} (must be a finite number >= 0)")
    mom = group["momentum"]
    if not _is_number(mom) or not 0.0 <= mom < 1.0:
        raise ValueError(f"Invalid momentum value: {mom!r} (must be in [0, 1))")
    wd = group["weight_decay"]
    if not _is_number(wd) or not (math.isfinite(wd) and wd >= 0.0):
        raise ValueError(f"Invalid weight_decay value: {wd!r} (must be a finite number >= 0)")
    ngrads = group["ngrads"]
    if not isinstance(ngrads, int) or isinstance(ngrads, bool) or ngrads < 1:
        raise ValueError(f"Invalid ngrads value: {ngrads!r} (must be an int >= 1)")
    damp = group["damp"]
    if not _is_number(damp) or not (math.isfinite(damp) and damp > 0.0):
        raise ValueError(f"Invalid damp value: {damp!r} (must be a finite number > 0)")
    if not isinstance(group["maximize"], bool):
        raise ValueError(f"Invalid maximize: {group['maximize']!r} (must be a bool)")


# --------------------------------------------------------------------------------------------------
# the dynamic algorithm: coefficients from GG^T, then products with F^{-1}


def mfac_coefficients(dots: Tensor, damp: float, ngrads: int) -> tuple[Tensor, Tensor]:
    r"""The Sherman-Morrison chain over the rows of :math:`G` (k x d) from their dot products only.

    ``dots`` is :math:`K = GG^\top` (k x k). Returns ``(coef, denom)``: the lower-triangular
    :math:`C` (k x k) with :math:`v_i = F_{i-1}^{-1} g_i = \sum_l C_{il} g_l` and
    :math:`\alpha_i = m + g_i^\top v_i`, where :math:`F_0 = \lambda I` and
    :math:`F_i = F_{i-1} + g_i g_i^\top / m`. Cost :math:`O(k^3)`, no :math:`d`.
    """
    k = dots.shape[0]
    coef = torch.zeros_like(dots)
    proj = torch.zeros_like(dots)  # proj[j, i] = v_j^T g_i = (C K)[j, i]
    denom = torch.zeros(k, dtype=dots.dtype, device=dots.device)
    for i in range(k):
        # v_i = g_i / lambda - sum_{j<i} v_j (v_j^T g_i) / alpha_j
        row = -(proj[:i, i] / denom[:i]) @ coef[:i] if i else torch.zeros_like(coef[0])
        row[i] += 1.0 / damp
        coef[i] = row
        proj[i] = row @ dots
        denom[i] = ngrads + proj[i, i]
    return coef, denom


def _apply(
    grads: Tensor, coef: Tensor, denom: Tensor, x: Tensor, damp: float, gx: Tensor | None = None
) -> Tensor:
    """:math:`F^{-1}x = x/\\lambda - \\sum_j v_j (v_j^\\top x)/\\alpha_j = x/\\lambda - G^\\top C^\\top
    ((C G x)/\\alpha)`: two products with G (O(kd)) and two with C (O(k^2))."""
    if gx is None:
        gx = grads @ x
    z = (coef @ gx) / denom
    return x / damp - grads.T @ (coef.T @ z)


def mfac_ihvp(grads: Tensor, x: Tensor, damp: float, ngrads: int | None = None) -> Tensor:
    r""":math:`(\lambda I + \frac1m G^\top G)^{-1} x` by the paper's recursion, for gradients in the
    rows of ``grads`` (k x d) and ``m = ngrads`` (default k; the optimizer passes its window size, so a
    partly filled window counts its empty rows as zero gradients, as the official code)."""
    if grads.ndim != 2 or x.ndim != 1 or grads.shape[1] != x.shape[0]:
        raise ValueError(f"Invalid shapes: grads {tuple(grads.shape)} and x {tuple(x.shape)} (need k x d, d)")
    if not _is_number(damp) or not (math.isfinite(damp) and damp > 0.0):
        raise ValueError(f"Invalid damp value: {damp!r} (must be a finite number > 0)")
    m = grads.shape[0] if ngrads is None else ngrads
    if grads.shape[0] == 0:
        return x / damp
    coef, denom = mfac_coefficients(grads @ grads.T, damp, m)
    return _apply(grads, coef, denom, x, damp)


class MFAC(Optimizer):
    r"""M-FAC: SGD preconditioned by the inverse of the damped empirical Fisher of the last ``ngrads``
    gradients, applied matrix-free (the paper's dynamic algorithm).

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \gamma \text{ (lr)},\ \mu \text{ (momentum)},\ \omega \text{ (weight decay)},\
                \lambda \text{ (damp)},\ m \text{ (ngrads)},\ \theta_0 \in \mathbb{R}^d \text{ (all params,
                flattened)} \\
            &\textbf{initialize}: G \leftarrow 0_{m\times d},\ K \leftarrow 0_{m\times m},\ b_0 \leftarrow 0 \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=1\ \textbf{to}\ \ldots\ \textbf{do} \\
            &\hspace{5mm} g_t \leftarrow \nabla f_t(\theta_{t-1}) + \omega\,\theta_{t-1}
                \quad (-\nabla f_t \text{ if maximize}) \\
            &\hspace{5mm} s \leftarrow (t-1) \bmod m,\quad G_{s,:} \leftarrow g_t^\top,\quad
                K_{s,:} = K_{:,s}^\top \leftarrow G g_t,\quad k \leftarrow \min(t, m) \\
            &\hspace{5mm} \textbf{for}\ i = 1\ \textbf{to}\ k \textbf{ do}
                \quad (v_i = F_{i-1}^{-1} g_i = \textstyle\sum_l C_{il}\, g_l,\ F_0 = \lambda I,\
                F_i = F_{i-1} + g_i g_i^\top/m) \\
            &\hspace{10mm} C_{i,:} \leftarrow e_i^\top/\lambda
                - \textstyle\sum_{j<i} \frac{(CK)_{ji}}{\alpha_j} C_{j,:},
                \qquad \alpha_i \leftarrow m + (CK)_{ii} \\
            &\hspace{5mm} u_t \leftarrow F_k^{-1} g_t = g_t/\lambda
                - G^\top C^\top \big((C\,G g_t) / \alpha\big) \\
            &\hspace{5mm} b_t \leftarrow \mu b_{t-1} + (1-\mu)\,u_t \quad (b_t = u_t \text{ if } \mu = 0) \\
            &\hspace{5mm} \theta_t \leftarrow \theta_{t-1} - \gamma\, b_t \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ \theta_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    :math:`G` holds rows :math:`1..k` (the filled part of the ring buffer); the chain is
    Sherman-Morrison applied once per row, so
    :math:`F_k^{-1} = (\lambda I + \frac1m\sum_{i\le k} g_i g_i^\top)^{-1}` exactly. During the first
    :math:`m` steps only the :math:`k=t` filled rows are used and the normalization stays :math:`1/m`:
    the same as the official code, whose buffer starts at zero gradients. Costs per step:
    :math:`O(md)` for :math:`Gg` and :math:`G^\top(\cdot)`, :math:`O(m^3)` for the coefficients (as the
    official code's CPU path; the paper's CUDA kernel parallelizes it); nothing :math:`d \times d`.
    :meth:`ihvp` gives :math:`F^{-1}x` for any :math:`x` in :math:`O(md + m^2)`.

    Args:
        params: iterable of tensors or of param-group dicts. All parameters of all groups form one vector
            (one window, one Fisher); ``lr``, ``momentum``, ``weight_decay`` and ``maximize`` may differ
            per group (they act on each group's slice), ``ngrads`` and ``damp`` may not. Complex
            parameters raise ``ValueError``.
        lr: learning rate :math:`\gamma \ge 0` (default: 1e-3, as the official code).
        momentum: :math:`\mu \in [0, 1)`, an EMA of the preconditioned steps (default: 0).
        weight_decay: :math:`\omega \ge 0`, added to the gradient before the buffer and the inverse, as
            the official code (default: 0).
        ngrads: window size :math:`m \ge 1` (default: 32, CPU-friendly; the paper and official code use
            1024, the README 512).
        damp: :math:`\lambda > 0` (default: 1e-5, as the official code).
        maximize: maximize the objective; ``p.grad`` is not modified (default: False).

    State: everything lives in ``optimizer.state[first]``, ``first`` being the first parameter of the
    first group (whether or not it has a gradient): ``step`` (a Python int), ``grads`` :math:`G`
    (m x d), ``dots`` :math:`K` (m x m), ``coef`` :math:`C` (m x m), ``denom`` :math:`\alpha` (m) and,
    once a group has ``momentum > 0``, ``momentum_buffer`` (d), with :math:`d` the total number of
    elements of all parameters. In fp64 for fp64 parameters, fp32 otherwise (16-bit ones included):
    **bytes = s (m d + 2 m^2 + m + [\mu>0] d)** with s = 8 or 4; the other parameters hold no state.

    Example:
        >>> import torch
        >>> from optarena.optim.mfac import MFAC
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = MFAC([w], lr=0.1, ngrads=4, damp=1e-2)
        >>> (w**2).sum().backward()
        >>> opt.step()
        >>> sorted(opt.state[w])
        ['coef', 'denom', 'dots', 'grads', 'step']

    Reference:
        E. Frantar, E. Kurtic, D. Alistarh, `M-FAC: Efficient Matrix-Free Approximations of Second-Order
        Information <https://arxiv.org/abs/2107.03356>`_, NeurIPS 2021; code
        https://github.com/IST-DASLab/M-FAC (``optim.py``, dense check ``HInvSlow``).

    .. warning:: Departures from the official code:

       - Runs on CPU: the coefficients come from the explicit Sherman-Morrison chain above instead of
         ``torch.lu(pivot=False)`` (not implemented on CPU) and the CUDA kernels; the same numbers.
       - All state is in ``optimizer.state`` (the official ``state_dict()['state']`` is empty), so
         ``state_dict`` round trips work; ``step(closure)`` is supported (the official code raises).
       - A parameter whose grad is None enters the buffer as a zero gradient and is not updated; the
         official code requires every gradient. Parameters added with ``add_param_group`` extend the
         buffer with zero columns (their past gradients count as zero).
       - Per-group ``lr`` (as the official code), ``momentum``, ``weight_decay``, ``maximize``; the
         official code takes momentum and weight decay once. ``maximize`` is an addition.
       - 16-bit parameters keep fp32 state and are updated with one rounding; the official buffer is
         always fp32 (fp64 parameters here get fp64 state). The ``sparse`` pruning mask mode, the
         multi-GPU split of :math:`G` and the ``m % 32`` restriction of the kernels are not ported.
       - Default ``ngrads`` is 32 (official 1024).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        ngrads: int = 32,
        damp: float = 1e-5,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "weight_decay": weight_decay,
            "ngrads": ngrads,
            "damp": damp,
            "maximize": maximize,
        }
        _check_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, not sets")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        _check_hparams({**self.defaults, **group})
        for key in _GLOBAL_KEYS:
            if key in group and group[key] != self.defaults[key]:
                raise ValueError(
                    f"Invalid per-group {key}: {group[key]!r} (M-FAC keeps one window over all "
                    f"parameters; {key} must equal the optimizer's {self.defaults[key]!r})"
                )
        for p in group["params"]:
            if isinstance(p, Tensor) and torch.is_complex(p):
                raise ValueError(
                    f"MFAC does not support complex parameters; got {p.dtype} of shape {tuple(p.shape)} "
                    "(optimize torch.view_as_real(p) instead)"
                )
        super().add_param_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``, but the saved state keeps its dtype (the base class would
        cast it to the first parameter's dtype, e.g. bfloat16)."""
        super().load_state_dict(state_dict)
        saved = (
            state_dict["state"].get(state_dict["param_groups"][0]["params"][0]) if self.param_groups else None
        )
        if saved:
            state = self.state[self._params()[0]]
            for key, value in saved.items():
                if isinstance(value, Tensor):
                    state[key] = value.to(device=state[key].device, copy=True)

    # ------------------------------------------------------------------------------------------ helpers

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def _state_dtype(self) -> torch.dtype:
        return torch.float64 if any(p.dtype == torch.float64 for p in self._params()) else torch.float32

    def _window(self) -> tuple[dict[str, Any], int]:
        """The state dict and the number of filled rows ``k``."""
        state = self.state[self._params()[0]]
        return state, min(state.get("step", 0), self.defaults["ngrads"])

    @torch.no_grad()
    def ihvp(self, x: Tensor) -> Tensor:
        r""":math:`F^{-1}x` with the current window (:math:`x/\lambda` before the first step), for ``x``
        of the flattened size :math:`d`; :math:`O(md + m^2)`."""
        state, k = self._window()
        damp = self.defaults["damp"]
        if k == 0:
            return x / damp
        grads = state["grads"]
        if x.shape != (grads.shape[1],):
            raise ValueError(f"Invalid x of shape {tuple(x.shape)} (need ({grads.shape[1]},))")
        x = x.to(grads.dtype)
        return _apply(grads[:k], state["coef"][:k, :k], state["denom"][:k], x, damp)

    def _flat_grad(self, dtype: torch.dtype) -> Tensor:
        pieces = []
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    pieces.append(torch.zeros(p.numel(), dtype=dtype, device=p.device))
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(
                        f"MFAC does not support sparse gradients (parameter of shape {tuple(p.shape)})"
                    )
                g = p.grad.reshape(-1).to(dtype)  # may alias p.grad: never written
                if group["maximize"]:
                    g = -g
                if group["weight_decay"] != 0.0:
                    g = g + group["weight_decay"] * p.detach().reshape(-1).to(dtype)
                pieces.append(g)
        return torch.cat(pieces)

    def _init_state(self, state: dict[str, Any], d: int, dtype: torch.dtype, device: torch.device) -> None:
        m = self.defaults["ngrads"]
        if not state:
            state["step"] = 0
            state["grads"] = torch.zeros(m, d, dtype=dtype, device=device)
            state["dots"] = torch.zeros(m, m, dtype=dtype, device=device)
            state["coef"] = torch.zeros(m, m, dtype=dtype, device=device)
            state["denom"] = torch.zeros(m, dtype=dtype, device=device)
        old = state["grads"].shape[1]
        if d < old:
            raise ValueError(f"Invalid parameter layout: {d} elements, the window holds {old}")
        if d > old:  # parameters were added: their past gradients count as zero
            state["grads"] = torch.cat([state["grads"], state["grads"].new_zeros(m, d - old)], dim=1)
            if "momentum_buffer" in state:
                buf = state["momentum_buffer"]
                state["momentum_buffer"] = torch.cat([buf, buf.new_zeros(d - old)])
        if "momentum_buffer" not in state and any(g["momentum"] > 0 for g in self.param_groups):
            state["momentum_buffer"] = torch.zeros(d, dtype=dtype, device=device)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (re-evaluates the loss) is optional."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        params = self._params()
        if not params or all(p.grad is None for p in params):
            return loss
        dtype = self._state_dtype()
        g = self._flat_grad(dtype)
        state = self.state[params[0]]
        self._init_state(state, g.numel(), dtype, g.device)
        m, damp = self.defaults["ngrads"], self.defaults["damp"]

        # replace the oldest gradient, update its row and column of K = GG^T, redo the chain
        slot = state["step"] % m
        k = min(state["step"] + 1, m)
        grads, dots = state["grads"], state["dots"]
        grads[slot] = g
        gx = grads[:k] @ g
        dots[slot, :k] = gx
        dots[:k, slot] = gx
        coef, denom = mfac_coefficients(dots[:k, :k], damp, m)
        state["coef"][:k, :k] = coef
        state["denom"][:k] = denom
        state["step"] += 1
        update = _apply(grads[:k], coef, denom, g, damp, gx)

        buf = state.get("momentum_buffer")
        offset = 0
        for group in self.param_groups:
            lr, mom = group["lr"], group["momentum"]
            for p in group["params"]:
                n = p.numel()
                sl = slice(offset, offset + n)
                offset += n
                if p.grad is None:
                    continue
                u = update[sl]
                if mom > 0.0:
                    buf[sl].mul_(mom).add_(u, alpha=1.0 - mom)
                    u = buf[sl]
                elif buf is not None:
                    buf[sl].copy_(u)
                if lr == 0.0 or n == 0:
                    continue
                step = u.view(p.shape)
                if p.dtype == dtype:
                    p.sub_(step, alpha=lr)
                else:
                    p.copy_(p.to(dtype).sub_(step, alpha=lr))
        return loss


# --------------------------------------------------------------------------------------------------
# MethodSpec

_MFAC_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 1e-1, log=True),
        Param("damp", 1e-6, 1e-1, log=True),
        Param("weight_decay", 1e-6, 1e-2, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"ngrads": 32, "momentum": 0.0},
)


def make_mfac(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """M-FAC with a fixed window of ``ngrads`` = 32 gradients (the CPU workloads: state 32 floats per
    parameter; the paper uses 1024) and no momentum (the official default), plus warmup-cosine."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = MFAC(
        [p for _, p in params],
        lr=hparams["lr"],
        momentum=hparams["momentum"],
        weight_decay=hparams["weight_decay"],
        ngrads=int(hparams["ngrads"]),
        damp=hparams["damp"],
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


MFAC_SPEC = MethodSpec(
    name="mfac",
    family="torch-optimizer",
    factory="optarena.optim.mfac:make_mfac",
    summary="M-FAC: SGD preconditioned by the matrix-free inverse empirical Fisher of the last m gradients",
    search_space=_MFAC_SPACE,
    defaults={"lr": 1e-3, "damp": 1e-4, "weight_decay": 1e-5, "warmup_frac": 0.05} | dict(_MFAC_SPACE.fixed),
    paper=PaperRef(
        "E. Frantar, E. Kurtic, D. Alistarh",
        "M-FAC: Efficient Matrix-Free Approximations of Second-Order Information",
        "NeurIPS",
        2021,
        "2107.03356",
    ),
    capabilities=frozenset({"closure", "maximize", "second-order"}),
    status="experimental",
)
