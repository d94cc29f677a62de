"""SOAP: Adam run in the eigenbasis of Shampoo's preconditioner (ShampoO with Adam in the
Preconditioner's eigenbasis).

Follows ``pytorch_optimizer.SOAP`` (4.1.0), itself a port of the authors' ``nikhilvyas/SOAP``
``soap.py`` (no PyPI package), with its default flags (no dimension merging, no 1-D preconditioning,
bias correction on, no gradient normalization). With those flags it is the same algorithm as the
reference; the departures are listed in :class:`SOAP`.

References:
    N. Vyas, D. Morwani, R. Zhao, M. Kwun, I. Shapira, D. Brandfonbrener, L. Janson, S. Kakade,
    "SOAP: Improving and Stabilizing Shampoo using Adam", ICLR 2025, https://arxiv.org/abs/2409.11321 ;
    code https://github.com/nikhilvyas/SOAP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.optim._state import keep_fp32_state, state_dtype
from optarena.optim._validation import (
    check_betas,
    check_int,
    check_lr,
    check_nonneg,
    check_positive,
    is_number,
)

__all__ = ["SOAP", "SOAP_SPEC", "make_soap"]


# --------------------------------------------------------------------------------------------------
# validation


def _check_hparams(group: Mapping[str, Any]) -> None:
    check_lr(group["lr"])
    check_betas(group["betas"])
    sb = group["shampoo_beta"]
    if sb is not None and (not is_number(sb) or not 0.0 <= sb < 1.0):
        raise ValueError(f"Invalid shampoo_beta: {sb!r} (must be None or in [0, 1))")
    check_positive("epsilon value", group["eps"])
    check_nonneg("weight_decay value", group["weight_decay"])
    check_int("precondition_frequency", group["precondition_frequency"], 1)
    check_int("max_precond_dim", group["max_precond_dim"], 1)


# --------------------------------------------------------------------------------------------------
# the functional core


def _precond_dims(shape: torch.Size, max_precond_dim: int) -> list[bool]:
    """Which dimensions get a preconditioner: none for 1-D (and 0-D) tensors, as the reference's default
    ``precondition_1d=False``; for N-D, every dimension of size <= ``max_precond_dim``."""
    if len(shape) < 2:
        return [False] * len(shape)
    return [s <= max_precond_dim for s in shape]


def _outer(g: Tensor, dim: int) -> Tensor:
    """:math:`G_{(d)} G_{(d)}^\\top`: ``g`` contracted with itself over every dimension but ``dim``
    (``G G^T`` for dim 0 and ``G^T G`` for dim 1 of a matrix), as the reference computes it."""
    others = [*chain(range(dim), range(dim + 1, g.ndim))]
    return torch.tensordot(g, g, dims=[others, others])


def _project(x: Tensor, bases: Sequence[Tensor | None], back: bool = False) -> Tensor:
    """Rotate ``x`` into the eigenbases (:math:`Q_L^\\top X Q_R` for a matrix) or, with ``back``, out of
    them (:math:`Q_L X Q_R^\\top`); dimensions without a basis (None) are left as they are. Returns a new
    tensor when any basis is present (``x`` is never written)."""
    for q in bases:
        if q is None:
            x = x.permute([*range(1, x.ndim), 0])
        else:
            x = torch.tensordot(x, q, dims=[[0], [1 if back else 0]])
    return x


def _eigenbasis(gg: Tensor) -> Tensor:
    """Eigenvectors of the (symmetric) statistic, by decreasing eigenvalue (init only)."""
    eye = torch.eye(gg.shape[0], device=gg.device, dtype=gg.dtype)
    _, q = torch.linalg.eigh(gg + 1e-30 * eye)
    return torch.flip(q, dims=[1])


def _bases(st: Mapping[str, Any], ndim: int) -> list[Tensor | None]:
    return [st.get(f"Q_{d}") for d in range(ndim)]


def _refresh_bases(st: dict[str, Any], ndim: int) -> None:
    """One power-iteration step :math:`Q \\leftarrow \\mathrm{QR}(GG\\,Q)` per preconditioned dimension,
    columns sorted by the estimated eigenvalues :math:`\\mathrm{diag}(Q^\\top GG\\,Q)` (descending);
    ``exp_avg_sq`` is permuted along with them and ``exp_avg`` (kept in the rotated basis) is rotated
    from the old bases to the new ones."""
    old = _bases(st, ndim)
    exp_avg_sq = st["exp_avg_sq"]
    exp_avg = _project(st["exp_avg"], old, back=True)  # back to the parameter's coordinates
    for d, q in enumerate(old):
        if q is None:
            continue
        product = st[f"GG_{d}"] @ q
        est_eig = (q * product).sum(dim=0)
        order = torch.argsort(est_eig, descending=True)
        exp_avg_sq = exp_avg_sq.index_select(d, order)
        st[f"Q_{d}"] = torch.linalg.qr(product.index_select(1, order))[0]
    st["exp_avg_sq"] = exp_avg_sq
    st["exp_avg"] = _project(exp_avg, _bases(st, ndim))


def _soap_group_step(state: Mapping[Tensor, dict[str, Any]], group: Mapping[str, Any]) -> None:
    """One SOAP step for every parameter of ``group`` that has a gradient (readable loop)."""
    lr = float(group["lr"].item()) if isinstance(group["lr"], Tensor) else float(group["lr"])
    beta1, beta2 = group["betas"]
    shampoo_beta = beta2 if group["shampoo_beta"] is None else group["shampoo_beta"]
    eps, wd, freq = group["eps"], group["weight_decay"], group["precondition_frequency"]
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(
                f"SOAP does not support sparse gradients (parameter of shape {tuple(p.shape)})"
            )
        st = state[p]
        dt = state_dtype(p)
        grad = p.grad.to(dt)  # the same tensor when no cast is needed: read only below
        dims = _precond_dims(p.shape, group["max_precond_dim"])
        if len(st) == 0:
            # step 1 only initializes: statistics from this gradient and their exact eigenbases
            st["step"] = 1
            st["exp_avg"] = torch.zeros_like(p, dtype=dt, memory_format=torch.contiguous_format)
            st["exp_avg_sq"] = torch.zeros_like(p, dtype=dt, memory_format=torch.contiguous_format)
            for d, on in enumerate(dims):
                if on:
                    n = p.shape[d]
                    gg = torch.zeros(n, n, dtype=dt, device=p.device)
                    st[f"GG_{d}"] = gg.lerp_(_outer(grad, d), 1.0 - shampoo_beta)
                    st[f"Q_{d}"] = _eigenbasis(gg)
            continue
        st["step"] += 1
        t = st["step"] - 1  # Adam's step count: the first step only initialized
        bases = _bases(st, p.ndim)
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        grad_rot = _project(grad, bases)
        exp_avg.lerp_(grad_rot, 1.0 - beta1)
        exp_avg_sq.lerp_(grad_rot.square(), 1.0 - beta2)
        denom = exp_avg_sq.sqrt().add_(eps)
        update = _project(exp_avg / denom, bases, back=True)
        step_size = lr * math.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
        target = p if p.dtype == dt else p.to(dt)
        target.add_(update, alpha=-step_size)
        if wd != 0.0:
            target.mul_(1.0 - lr * wd)
        if target is not p:
            p.copy_(target)
        for d, on in enumerate(dims):
            if on:
                st[f"GG_{d}"].lerp_(_outer(grad, d), 1.0 - shampoo_beta)
        if any(dims) and t % freq == 0:
            _refresh_bases(st, p.ndim)


# --------------------------------------------------------------------------------------------------
# SOAP


class SOAP(Optimizer):
    r"""SOAP: Adam in the slowly changing eigenbasis of Shampoo's preconditioner.

    For a matrix parameter :math:`W \in \mathbb{R}^{m\times n}` (dimensions larger than
    ``max_precond_dim`` use the identity instead of :math:`Q_L` or :math:`Q_R`):

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)},\
                \beta_s \text{ (shampoo\_beta, default } \beta_2),\ \lambda \text{ (weight decay)},\
                \epsilon,\ f \text{ (precondition\_frequency)} \\
            &\textbf{initialize } (t=1): g_1 \leftarrow \nabla f_1(W_0),\
                L \leftarrow (1-\beta_s) g_1 g_1^\top,\ R \leftarrow (1-\beta_s) g_1^\top g_1, \\
            &\hspace{13mm} Q_L, Q_R \leftarrow \mathrm{eigh}(L), \mathrm{eigh}(R)
                \text{ (by decreasing eigenvalue)},\ M \leftarrow 0,\ V \leftarrow 0,\
                W_1 \leftarrow W_0 \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=2\ \textbf{to}\ \ldots\ \textbf{do}\quad (k \leftarrow t-1) \\
            &\hspace{5mm} g_t \leftarrow \nabla f_t(W_{t-1}),\quad
                \tilde g \leftarrow Q_L^\top g_t Q_R \\
            &\hspace{5mm} M \leftarrow \beta_1 M + (1-\beta_1)\tilde g,\quad
                V \leftarrow \beta_2 V + (1-\beta_2)\tilde g^{\,2}
                \quad (M, V \text{ live in the rotated basis}) \\
            &\hspace{5mm} W_t \leftarrow W_{t-1} - \gamma\frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k}\,
                Q_L \frac{M}{\sqrt{V}+\epsilon} Q_R^\top \\
            &\hspace{5mm} W_t \leftarrow (1-\gamma\lambda) W_t \\
            &\hspace{5mm} L \leftarrow \beta_s L + (1-\beta_s) g_t g_t^\top,\quad
                R \leftarrow \beta_s R + (1-\beta_s) g_t^\top g_t \\
            &\hspace{5mm} \textbf{if}\ k \bmod f = 0: \\
            &\hspace{10mm} \hat M \leftarrow Q_L M Q_R^\top;\ \text{for } (P, Q) \in \{(L, Q_L), (R, Q_R)\}:\
                \pi \leftarrow \mathrm{argsort}_\downarrow \mathrm{diag}(Q^\top P Q), \\
            &\hspace{15mm} V \leftarrow V \text{ with that axis permuted by } \pi,\quad
                Q \leftarrow \mathrm{QR}\big((P Q)_{:,\pi}\big) \\
            &\hspace{10mm} M \leftarrow Q_L^\top \hat M Q_R \quad (\text{re-rotated into the new basis}) \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ W_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    A 1-D parameter gets no preconditioner (the reference's default ``precondition_1d=False``): it is
    Adam (with the step-1 initialization and the :math:`\sqrt{1-\beta_2^k}/(1-\beta_1^k)` bias correction
    above). An N-D parameter gets one statistic :math:`G_{(d)} G_{(d)}^\top` and one basis per dimension
    of size at most ``max_precond_dim``, as the reference without ``merge_dims``.

    Args:
        params: iterable of tensors or of param-group dicts. Complex parameters raise ``ValueError``.
        lr: learning rate :math:`\gamma` (default 3e-3).
        betas: :math:`(\beta_1, \beta_2)` of Adam in the rotated basis (default (0.95, 0.95)).
        shampoo_beta: EMA factor :math:`\beta_s` of the statistics L and R; None (default) uses
            :math:`\beta_2`.
        eps: :math:`\epsilon` added to :math:`\sqrt{V}` (default 1e-8, must be > 0).
        weight_decay: decoupled weight decay :math:`\lambda`, applied after the update (default 0.01).
        precondition_frequency: :math:`f`, steps between eigenbasis refreshes (default 10).
        max_precond_dim: dimensions larger than this are not rotated (default 10000).

    State (per parameter, ``step`` is a Python int): ``exp_avg`` (M, rotated basis) and ``exp_avg_sq``
    (V), each the parameter's shape; for each preconditioned dimension d of size :math:`n_d`, ``GG_d``
    (the statistic: ``GG_0`` = L, ``GG_1`` = R for a matrix) and ``Q_d`` (its eigenbasis), each
    :math:`n_d\times n_d`. All in fp32 for 16-bit parameters, else in the parameter's dtype, so an
    :math:`m\times n` matrix with :math:`m, n \le` ``max_precond_dim`` holds exactly
    :math:`b\,(2mn + 2m^2 + 2n^2)` bytes (:math:`b` = 4 for fp32/bf16/fp16, 8 for fp64): 6x the
    parameter for a square one; a 1-D parameter holds :math:`2bn`.

    Example:
        >>> import torch
        >>> from optarena.optim.soap import SOAP
        >>> w = torch.nn.Parameter(torch.randn(6, 4))
        >>> opt = SOAP([w])
        >>> for _ in range(2):
        ...     w.grad = torch.randn(6, 4)
        ...     opt.step()
        >>> sorted(opt.state[w])
        ['GG_0', 'GG_1', 'Q_0', 'Q_1', 'exp_avg', 'exp_avg_sq', 'step']

    Reference:
        N. Vyas, D. Morwani, R. Zhao, M. Kwun, I. Shapira, D. Brandfonbrener, L. Janson, S. Kakade,
        `SOAP: Improving and Stabilizing Shampoo using Adam <https://arxiv.org/abs/2409.11321>`_,
        ICLR 2025; code https://github.com/nikhilvyas/SOAP; checked against ``pytorch_optimizer.SOAP``
        (4.1.0) with its default flags.

    .. warning:: Departures from the reference (and ``pytorch_optimizer.SOAP``):

       - ``exp_avg`` is stored in the rotated basis and re-rotated only when the bases change (every
         ``precondition_frequency`` steps), as the notes of the paper describe; the reference keeps it in
         the parameter's coordinates and rotates it every step. The two are equal in exact arithmetic
         (rotation is linear and the bases orthogonal); in fp32 they agree to ~1e-6.
       - Step counts are per parameter (a parameter whose gradients start late gets its own
         initialization step and bias correction); the reference counts per param group.
       - Statistics and bases are kept in fp32 for 16-bit parameters and in fp64 for fp64 parameters
         (also the QR, which ``pytorch_optimizer.SOAP`` always runs in fp32). The authors' reference
         builds them in the default dtype and crashes on fp64 parameters and bf16 gradients;
         ``pytorch_optimizer.SOAP`` runs on fp64 but rounds each QR to fp32, so fp64 results differ
         from it at the fp32 level. ``exp_avg``/``exp_avg_sq`` are fp32 for 16-bit parameters, and
         such parameters are updated in fp32 with one rounding.
       - Not offered: ``merge_dims``, ``precondition_1d``, ``normalize_gradient``, ``correct_bias=False``,
         ``data_format`` and ``maximize`` (the reference's optional flags, all off by default).
       - ``eps`` must be > 0; ``p.grad`` is never modified; a parameter without a gradient is skipped
         (no decay); sparse gradients raise ``RuntimeError``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 3e-3,
        betas: tuple[float, float] = (0.95, 0.95),
        shampoo_beta: float | None = None,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        precondition_frequency: int = 10,
        max_precond_dim: int = 10000,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "shampoo_beta": shampoo_beta,
            "eps": eps,
            "weight_decay": weight_decay,
            "precondition_frequency": precondition_frequency,
            "max_precond_dim": max_precond_dim,
        }
        _check_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else params
        if not isinstance(group["params"], set):
            group["params"] = list(group["params"])
        _check_hparams({**self.defaults, **group})
        for p in group["params"]:
            if isinstance(p, Tensor) and torch.is_complex(p):
                raise ValueError(
                    f"SOAP does not support complex parameters; got {p.dtype} of shape {tuple(p.shape)} "
                    "(optimize torch.view_as_real(p) instead)"
                )
        super().add_param_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``, but 16-bit parameters get their saved fp32 state back
        (the base class would cast it to the parameter's dtype)."""
        super().load_state_dict(state_dict)
        keep_fp32_state(self, state_dict)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (re-evaluates the loss) is optional."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            _soap_group_step(self.state, group)
        return loss


# --------------------------------------------------------------------------------------------------
# MethodSpec: SOAP on every parameter, as in the paper


def make_soap(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """SOAP on every parameter (1-D ones get its Adam step, as in the paper's runs; embeddings and the
    head are preconditioned unless a dimension exceeds ``max_precond_dim``), plus warmup-cosine. This is
    simpler than a SOAP + AdamW hybrid and is what the paper and reference do."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = SOAP(
        [p for _, p in params],
        lr=hparams["lr"],
        betas=(1.0 - hparams["one_minus_beta1"], hparams["beta2"]),
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        precondition_frequency=hparams["precondition_frequency"],
        max_precond_dim=hparams["max_precond_dim"],
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


_SOAP_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 3e-2, log=True),
        Param("one_minus_beta1", 0.02, 0.3, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"beta2": 0.95, "eps": 1e-8, "precondition_frequency": 10, "max_precond_dim": 10000},
)

SOAP_SPEC = MethodSpec(
    name="soap",
    family="torch-optimizer",
    factory="optarena.optim.soap:make_soap",
    summary="SOAP: Adam in the eigenbasis of Shampoo's preconditioner (refreshed by one QR step every f)",
    search_space=_SOAP_SPACE,
    defaults={"lr": 3e-3, "one_minus_beta1": 0.05, "weight_decay": 0.01, "warmup_frac": 0.05}
    | dict(_SOAP_SPACE.fixed),
    paper=PaperRef(
        "N. Vyas, D. Morwani, R. Zhao, M. Kwun, I. Shapira, D. Brandfonbrener, L. Janson, S. Kakade",
        "SOAP: Improving and Stabilizing Shampoo using Adam",
        "ICLR",
        2025,
        "2409.11321",
    ),
    capabilities=frozenset({"param-groups"}),
    status="experimental",
)
