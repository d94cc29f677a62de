"""COSMOS: SOAP-style adaptive update on the leading rank-r eigensubspace of the gradient second moment,
Muon-style Newton-Schulz update on the rest, for 2-D weights; plus a hybrid with AdamW for the others.

Written from the paper's equations as summarized in the project notes (no package exists; the authors'
code is ``lliu606/COSMOS`` ``COSMOS_optim.py``, which was not run here). Reuses Muon's Newton-Schulz
iteration, router and AdamW rule from :mod:`optarena.optim.muon`.

References:
    L. Liu, Z. Xu, Z. Zhang, H. Kang, Z. Li, C. Liang, W. Chen, T. Zhao, "COSMOS: A Hybrid Adaptive
    Optimizer for Memory-Efficient Training of LLMs", arXiv preprint, 2025,
    https://arxiv.org/abs/2502.17410 ; code https://github.com/lliu606/COSMOS
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.optim._state import keep_fp32_state, state_dtype
from optarena.optim._validation import check_bool, check_int, check_nonneg, check_positive
from optarena.optim.muon import (
    _ADAMW_DEFAULTS,
    _LABEL_KEYS,
    NS_COEFFICIENTS,
    NS_EPS,
    NS_STEPS,
    _adamw_group_step,
    _as_param_list,
    _check_adamw_hparams,
    _check_matrix,
    _check_real,
    _named,
    _scalar,
    _sparse_error,
    default_route,
    zeropower_via_newtonschulz,
)

__all__ = ["COSMOS", "COSMOS_SPEC", "COSMOSWithAdamW", "cosmos_state_bytes", "hybrid", "make_cosmos"]

_NS_DTYPES = (None, torch.float16, torch.bfloat16, torch.float32, torch.float64)

#: Defaults: the README's training recipe (lr 2e-3, betas 0.95/0.95, weight decay 0.1, lr_ratio 0.2)
#: and the reference code's rank 64, gamma 0.2, Nesterov on.
_COSMOS_DEFAULTS: dict[str, Any] = {
    "lr": 2e-3,
    "betas": (0.95, 0.95),
    "eps": 1e-8,
    "weight_decay": 0.1,
    "rank": 64,
    "gamma": 0.2,
    "lr_ratio": 0.2,
    "update_freq": 1,
    "nesterov": True,
    "ns_steps": NS_STEPS,
    "ns_dtype": torch.float32,
}


# --------------------------------------------------------------------------------------------------
# validation


def _check_cosmos_hparams(group: Mapping[str, Any]) -> None:
    _check_adamw_hparams(group)  # lr, betas, eps > 0, weight_decay >= 0 (same messages as AdamW)
    check_int("rank", group["rank"], 1)
    check_nonneg("gamma", group["gamma"])
    check_positive("lr_ratio", group["lr_ratio"])
    check_int("update_freq", group["update_freq"], 1)
    check_bool("nesterov", group["nesterov"])
    steps = group["ns_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps < 100:
        raise ValueError(f"Invalid ns_steps: {steps!r} (must be an int in [1, 100))")
    if group["ns_dtype"] not in _NS_DTYPES:
        raise ValueError(f"Invalid ns_dtype: {group['ns_dtype']!r} (must be one of {_NS_DTYPES})")


# --------------------------------------------------------------------------------------------------
# the functional core


def _unit(x: Tensor) -> Tensor:
    """:math:`X/\\|X\\|_F` (zero stays zero)."""
    return x / x.norm().clamp(min=torch.finfo(x.dtype).tiny)


def _init_basis(grad: Tensor, r: int) -> Tensor:
    """Top-``r`` right singular vectors of the first gradient (n x r, orthonormal columns)."""
    m, n = grad.shape
    if grad.numel() == 0:
        return torch.eye(n, r, dtype=grad.dtype, device=grad.device)
    _, _, vh = torch.linalg.svd(grad, full_matrices=r > min(m, n))
    return vh[:r].T.contiguous()


def cosmos_state_bytes(p: Tensor, rank: int = _COSMOS_DEFAULTS["rank"]) -> int:
    """Bytes of COSMOS's tensor state for a 2-D ``p`` of shape m x n, with r = min(rank, n):
    ``exp_avg`` (mn) + ``exp_avg_sq`` (mr) + ``proj`` (nr) + ``proj_cov`` (r^2), each element 4 bytes
    (fp32 for 16-bit parameters) or 8 (fp64); ``step`` is a Python int."""
    m, n = p.shape
    r = min(rank, n)
    return max(p.element_size(), 4) * (m * n + m * r + n * r + r * r)


def _cosmos_parts(st: dict[str, Any], grad: Tensor, group: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """Advance the state ``st`` of one parameter by the gradient ``grad`` (already in the state dtype,
    read only) and return ``(subspace_update, residual_update)``: the two terms of the applied change
    (weight decay apart), so ``p <- (1 - lr*wd) p + subspace_update + residual_update``."""
    lr = _scalar(group["lr"])
    beta1, beta2 = group["betas"]
    m, n = grad.shape
    r = min(group["rank"], n)
    if len(st) == 0:
        st["step"] = 0
        st["exp_avg"] = torch.zeros_like(grad, memory_format=torch.contiguous_format)
        st["exp_avg_sq"] = grad.new_zeros(m, r)
        st["proj"] = _init_basis(grad, r)
        st["proj_cov"] = grad.new_zeros(r, r)
    st["step"] += 1
    t = st["step"]
    if grad.numel() == 0:
        return torch.zeros_like(grad), torch.zeros_like(grad)
    M, V, S = st["exp_avg"], st["exp_avg_sq"], st["proj_cov"]
    M.mul_(beta1).add_(grad)  # no (1 - beta1) factor, as the paper
    U = st["proj"]
    if t > 1 and (t - 1) % group["update_freq"] == 0:
        # one power-iteration step on P = beta2 U S U^T + (1 - beta2) G^T G, then S <- U'^T P U'
        y = torch.addmm(grad.T @ (grad @ U), U, S, beta=1.0 - beta2, alpha=beta2)
        new_u = torch.linalg.qr(y)[0]
        c = new_u.T @ U
        S.copy_(c @ S @ c.T)
        U.copy_(new_u)
    gu = grad @ U
    S.mul_(beta2).add_(gu.T @ gu, alpha=1.0 - beta2)
    V.mul_(beta2).addcmul_(gu, gu, value=1.0 - beta2)
    bc1, bc2 = 1.0 - beta1**t, 1.0 - beta2**t
    if group["nesterov"]:
        m_tilde = (grad + beta1 * M) / (1.0 + beta1 * bc1 / (1.0 - beta1))
    else:
        m_tilde = M * ((1.0 - beta1) / bc1)
    mu = m_tilde @ U
    sub = (mu / (V / bc2).sqrt().add_(group["eps"])) @ U.T
    scale = math.sqrt(m * n)
    if r < n:
        resid = m_tilde - mu @ U.T
        ortho = zeropower_via_newtonschulz(
            resid, NS_COEFFICIENTS, group["ns_steps"], NS_EPS, group["ns_dtype"]
        )
        res = _unit(ortho.to(grad.dtype)).mul_(scale * group["gamma"])
    else:  # the subspace is the whole row space: nothing is left for the Newton-Schulz part
        res = torch.zeros_like(grad)
    factor = -lr * group["lr_ratio"] * scale / (sub + res).norm().clamp(min=torch.finfo(grad.dtype).tiny)
    return sub.mul_(factor), res.mul_(factor)


def _cosmos_group_step(state: Mapping[Tensor, dict[str, Any]], group: Mapping[str, Any]) -> None:
    """One COSMOS step for every parameter of ``group`` that has a gradient (readable loop)."""
    lr = _scalar(group["lr"])
    wd = group["weight_decay"]
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise _sparse_error("COSMOS", p)
        dt = state_dtype(p)
        sub, res = _cosmos_parts(state[p], p.grad.to(dt), group)
        target = p if p.dtype == dt else p.to(dt)
        if wd != 0.0:
            target.mul_(1.0 - lr * wd)
        target.add_(sub + res)
        if target is not p:
            p.copy_(target)


# --------------------------------------------------------------------------------------------------
# COSMOS


class COSMOS(Optimizer):
    r"""COSMOS for 2-D weights :math:`W\in\mathbb{R}^{m\times n}`: Adam in a rank-r eigensubspace
    (SOAP-like) plus Newton-Schulz orthogonalized momentum on its complement (Muon-like).

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \eta \text{ (lr)},\ \rho \text{ (lr\_ratio)},\ \lambda \text{ (weight decay)},\
                \beta_1, \beta_2,\ \epsilon,\ r \text{ (rank)},\ \gamma,\ f \text{ (update\_freq)} \\
            &\textbf{initialize}: M_0 \leftarrow 0_{m\times n},\ V_0 \leftarrow 0_{m\times r},\
                S_0 \leftarrow 0_{r\times r},\ U \leftarrow \text{top-}r \text{ right sing. vectors of } G_1 \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=1\ \textbf{to}\ \ldots\ \textbf{do} \\
            &\hspace{5mm} G_t \leftarrow \nabla_W f_t(W_{t-1}),\quad M_t \leftarrow \beta_1 M_{t-1} + G_t \\
            &\hspace{5mm} \textbf{if}\ t>1,\ (t-1) \bmod f = 0:\
                U' \leftarrow \mathrm{QR}\big(\beta_2 U S_{t-1} + (1-\beta_2) G_t^\top G_t U\big),\
                C \leftarrow U'^\top U,\ S_{t-1} \leftarrow C S_{t-1} C^\top,\ U \leftarrow U' \\
            &\hspace{5mm} S_t \leftarrow \beta_2 S_{t-1} + (1-\beta_2)(G_tU)^\top(G_tU),\quad
                V_t \leftarrow \beta_2 V_{t-1} + (1-\beta_2)(G_tU)^{\odot 2} \\
            &\hspace{5mm} \tilde M_t \leftarrow \frac{G_t + \beta_1 M_t}{1 + \beta_1 (1-\beta_1^t)/(1-\beta_1)}
                \ \text{(nesterov) else}\ \frac{(1-\beta_1) M_t}{1-\beta_1^t} \\
            &\hspace{5mm} A_t \leftarrow \Big(\tilde M_t U \oslash \big(\sqrt{V_t/(1-\beta_2^t)}
                + \epsilon\big)\Big) U^\top \\
            &\hspace{5mm} B_t \leftarrow \sqrt{mn}\; \mathcal{N}\big(\mathrm{NS5}(\tilde M_t - \tilde M_t U U^\top)\big)
                \quad (B_t = 0 \text{ if } r = n),\qquad \mathcal{N}(X) = X/\|X\|_F \\
            &\hspace{5mm} W_t \leftarrow (1-\eta\lambda) W_{t-1} - \eta\rho\sqrt{mn}\;\mathcal{N}(A_t + \gamma B_t) \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ W_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    :meth:`update_parts` returns the two terms :math:`-\eta\rho\sqrt{mn}\,A_t/\|A_t+\gamma B_t\|_F` and
    :math:`-\eta\rho\sqrt{mn}\,\gamma B_t/\|A_t+\gamma B_t\|_F` of the next step without changing anything.

    Args:
        params: iterable of 2-D tensors or of param-group dicts. Any other shape or a complex tensor
            raises ``ValueError``; route embeddings, the head and 1-D parameters to AdamW with
            :func:`hybrid`.
        lr: :math:`\eta` (default 2e-3, the README's); also the weight-decay rate.
        betas: :math:`(\beta_1, \beta_2)` (default (0.95, 0.95)); :math:`\beta_2` also weighs the
            subspace statistic :math:`S`.
        eps: :math:`\epsilon` (default 1e-8), > 0.
        weight_decay: decoupled :math:`\lambda` (default 0.1).
        rank: :math:`r` (default 64), clamped to :math:`n` per parameter.
        gamma: weight :math:`\gamma` of the residual (Muon) part (default 0.2).
        lr_ratio: :math:`\rho` (default 0.2, the README's; the code's default is 0.1), scales the step.
        update_freq: :math:`f`, refresh the basis by one power/QR step every ``f`` steps (default 1: every
            step, as the reference).
        nesterov: Nesterov momentum (default True).
        ns_steps: Newton-Schulz iterations (default 5, Muon's coefficients).
        ns_dtype: dtype of the Newton-Schulz iteration (default fp32; None: the state dtype; the
            reference uses bf16).

    State (per parameter, at its first gradient): ``step`` (Python int), ``exp_avg`` :math:`M` (m x n),
    ``exp_avg_sq`` :math:`V` (m x r), ``proj`` :math:`U` (n x r), ``proj_cov`` :math:`S` (r x r), with
    r = min(rank, n), fp32 for 16-bit parameters: **state bytes = s (mn + mr + nr + r^2)**, s = 4 for
    fp32/bf16 and 8 for fp64 (:func:`cosmos_state_bytes`). SOAP holds s(2mn + 2m^2 + 2n^2); at the
    default rank the ratio COSMOS/SOAP is 0.211 for 512x512 and 0.126 for 1024x256.

    Example:
        >>> import torch
        >>> from optarena.optim.cosmos import COSMOS
        >>> w = torch.nn.Parameter(torch.randn(16, 8))
        >>> opt = COSMOS([w], rank=4)
        >>> w.grad = torch.randn(16, 8)
        >>> opt.step()
        >>> tuple(opt.state[w]["proj"].shape), tuple(opt.state[w]["exp_avg_sq"].shape)
        ((8, 4), (16, 4))

    Reference:
        L. Liu, Z. Xu, Z. Zhang, H. Kang, Z. Li, C. Liang, W. Chen, T. Zhao, `COSMOS: A Hybrid Adaptive
        Optimizer for Memory-Efficient Training of LLMs <https://arxiv.org/abs/2502.17410>`_, arXiv
        preprint, 2025; code https://github.com/lliu606/COSMOS (``COSMOS_optim.py``).

    .. warning:: Departures and uncertainties (the reference code was not run here):

       - Written from a summary of the paper's equations. Unsure: how :math:`S` is carried across a
         basis change (here :math:`C S C^\top`, the exact projection of the previous EMA onto the new
         basis), and whether :math:`V` is rotated when :math:`U` changes (here it is kept, as SOAP's
         refresh keeps its second moment); whether the scale is :math:`\sqrt{mn}` or :math:`\sqrt{n}`
         (a third-party page writes :math:`\sqrt n`; the notes say :math:`\sqrt{mn}`).
       - The residual part is set to exactly 0 when :math:`r = n` (otherwise Newton-Schulz would
         normalize roundoff noise to a full-size update).
       - ``nesterov=False`` uses the bias-corrected momentum; the reference uses :math:`G/(1-\beta_1^t)`
         and ignores :math:`M` (a bug per the notes).
       - ``p.grad`` is never modified (the reference changes it in place). Newton-Schulz runs in fp32 by
         default and is not ``torch.compile``\ d (the reference: bf16, compiled).
       - ``rank``, ``gamma`` and ``lr_ratio`` are per-group hyperparameters saved in the state dict; the
         reference keeps them as attributes (not saved). Step counts are per parameter.
       - The reference's 2-D size limit (m <= 10000) is not applied. 16-bit parameters keep fp32 state.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.95, 0.95),
        eps: float = 1e-8,
        weight_decay: float = 0.1,
        rank: int = 64,
        gamma: float = 0.2,
        lr_ratio: float = 0.2,
        update_freq: int = 1,
        nesterov: bool = True,
        ns_steps: int = NS_STEPS,
        ns_dtype: torch.dtype | None = torch.float32,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "rank": rank,
            "gamma": gamma,
            "lr_ratio": lr_ratio,
            "update_freq": update_freq,
            "nesterov": nesterov,
            "ns_steps": ns_steps,
            "ns_dtype": ns_dtype,
        }
        _check_cosmos_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = dict(param_group)
        group["params"] = _as_param_list(group["params"])
        _check_cosmos_hparams({**self.defaults, **group})
        for name, p in _named(group["params"]):
            _check_real(p, "COSMOS")
            _check_matrix(p, "COSMOS", name)
        super().add_param_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        keep_fp32_state(self, state_dict)

    @torch.no_grad()
    def update_parts(self, p: Tensor) -> tuple[Tensor, Tensor]:
        """``(subspace_update, residual_update)`` that the next :meth:`step` would add to ``p`` (after
        weight decay), from ``p.grad`` and a copy of ``p``'s state; the optimizer is not changed."""
        group = next((g for g in self.param_groups if any(q is p for q in g["params"])), None)
        if group is None or p.grad is None:
            raise ValueError("update_parts needs a parameter of this optimizer that has a gradient")
        st = copy.deepcopy(self.state[p]) if p in self.state else {}
        return _cosmos_parts(st, p.grad.to(state_dtype(p)), group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (re-evaluates the loss) is optional."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            _cosmos_group_step(self.state, group)
        return loss


# --------------------------------------------------------------------------------------------------
# COSMOS + AdamW in one optimizer


class COSMOSWithAdamW(Optimizer):
    """One optimizer holding COSMOS groups (``"use_cosmos": True``, keys and defaults as :class:`COSMOS`)
    and AdamW groups (Muon's hybrid AdamW rule, :class:`optarena.optim.muon.MuonWithAdamW`; its betas come
    from the group, unlike the reference's hard-coded 0.9). Unknown keys raise ``ValueError``.
    State: COSMOS parameters as :class:`COSMOS`, AdamW ones ``exp_avg`` + ``exp_avg_sq``."""

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        cosmos_defaults: Mapping[str, Any] | None = None,
        adamw_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self._kinds = {True: self._merge(_COSMOS_DEFAULTS, cosmos_defaults, "cosmos_defaults")}
        self._kinds[False] = self._merge(_ADAMW_DEFAULTS, adamw_defaults, "adamw_defaults")
        _check_cosmos_hparams(self._kinds[True])
        _check_adamw_hparams(self._kinds[False])
        groups = list(params)
        if not all(isinstance(g, dict) for g in groups):
            raise TypeError("COSMOSWithAdamW takes param-group dicts with a 'use_cosmos' flag; use hybrid()")
        super().__init__(groups, {})

    @staticmethod
    def _merge(base: Mapping[str, Any], given: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        unknown = set(given or {}) - set(base)
        if unknown:
            raise ValueError(f"unknown keys in {what}: {sorted(unknown)}; known: {sorted(base)}")
        return {**base, **(given or {})}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        use = param_group.get("use_cosmos")
        if not isinstance(use, bool):
            raise ValueError("every COSMOSWithAdamW param group needs a bool 'use_cosmos' flag")
        base = self._kinds[use]
        unknown = set(param_group) - set(base) - _LABEL_KEYS - {"use_cosmos"}
        if unknown:
            kind = "COSMOS" if use else "AdamW"
            raise ValueError(f"unknown keys for a {kind} group: {sorted(unknown)}; known: {sorted(base)}")
        group = {**base, **param_group}
        group["params"] = _as_param_list(group["params"])
        (_check_cosmos_hparams if use else _check_adamw_hparams)(group)
        for name, p in _named(group["params"]):
            _check_real(p, "COSMOSWithAdamW")
            if use:
                _check_matrix(p, "COSMOS", name)
        super().add_param_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
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
            (_cosmos_group_step if group["use_cosmos"] else _adamw_group_step)(self.state, group)
        return loss


def hybrid(
    named_parameters: Iterable[tuple[str, Tensor]],
    cosmos_kwargs: Mapping[str, Any] | None = None,
    adamw_kwargs: Mapping[str, Any] | None = None,
    route: Callable[[str, Tensor], bool] | None = None,
) -> COSMOSWithAdamW:
    """COSMOS on parameters where ``route(name, p)`` (default Muon's
    :func:`~optarena.optim.muon.default_route`: 2-D, not embedding/head/norm) is True, AdamW on the rest."""
    route = default_route if route is None else route
    chosen: dict[bool, list[Tensor]] = {True: [], False: []}
    for name, p in named_parameters:
        use = bool(route(name, p))
        if use:
            _check_matrix(p, "COSMOS", name)
        chosen[use].append(p)
    groups = [{"params": ps, "use_cosmos": use} for use, ps in chosen.items() if ps]
    return COSMOSWithAdamW(groups, cosmos_defaults=cosmos_kwargs, adamw_defaults=adamw_kwargs)


# --------------------------------------------------------------------------------------------------
# MethodSpec


def make_cosmos(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """COSMOS on 2-D hidden weights + AdamW on the rest, one weight decay, warmup-cosine on both."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    betas = (hparams["beta1"], hparams["beta2"])
    opt = hybrid(
        params,
        cosmos_kwargs={
            "lr": hparams["lr"],
            "betas": betas,
            "weight_decay": hparams["weight_decay"],
            "rank": hparams["rank"],
            "gamma": hparams["gamma"],
            "lr_ratio": hparams["lr_ratio"],
        },
        adamw_kwargs={
            "lr": hparams["adam_lr"],
            "betas": betas,
            "eps": hparams["adam_eps"],
            "weight_decay": hparams["weight_decay"],
        },
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


_COSMOS_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 3e-2, log=True),
        Param("adam_lr", 1e-4, 1e-2, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={
        "beta1": 0.95,
        "beta2": 0.95,
        "rank": 64,
        "gamma": 0.2,
        "lr_ratio": 0.2,
        "adam_eps": 1e-8,
    },
)

COSMOS_SPEC = MethodSpec(
    name="cosmos",
    family="torch-optimizer",
    factory="optarena.optim.cosmos:make_cosmos",
    summary="COSMOS: SOAP-like Adam on a rank-r gradient eigensubspace + Muon on the rest, AdamW elsewhere",
    search_space=_COSMOS_SPACE,
    defaults={"lr": 2e-3, "adam_lr": 2e-3, "weight_decay": 0.1, "warmup_frac": 0.05}
    | dict(_COSMOS_SPACE.fixed),
    paper=PaperRef(
        "L. Liu, Z. Xu, Z. Zhang, H. Kang, Z. Li, C. Liang, W. Chen, T. Zhao",
        "COSMOS: A Hybrid Adaptive Optimizer for Memory-Efficient Training of LLMs",
        "arXiv preprint",
        2025,
        "2502.17410",
    ),
    capabilities=frozenset({"param-groups", "hybrid"}),
    status="experimental",
)
