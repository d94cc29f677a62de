"""Muon: momentum orthogonalized by Newton-Schulz, for 2-D hidden weights, plus a hybrid that routes
every other parameter (embeddings, norms, biases, the output head) to AdamW inside one optimizer.

Follows Keller Jordan's post and ``KellerJordan/Muon`` ``muon.py``; numerically it matches
``torch.optim.Muon`` (same Nesterov form, Newton-Schulz normalization and shape-dependent learning-rate
adjustment), which it reproduces exactly with ``ns_dtype=torch.bfloat16``.

References:
    K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse, J. Bernstein, "Muon: An optimizer for
    hidden layers in neural networks", blog post, 2024, https://kellerjordan.github.io/posts/muon/
    Reference code: https://github.com/KellerJordan/Muon (``muon.py``).
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
from optarena.optim._state import keep_fp32_state, state_dtype
from optarena.optim._validation import (
    check_betas,
    check_bool,
    check_lr,
    check_nonneg,
    check_positive,
    is_number,
)

__all__ = [
    "MUON",
    "Muon",
    "MuonWithAdamW",
    "default_route",
    "hybrid",
    "make_muon",
    "zeropower_via_newtonschulz",
]

#: Quintic Newton-Schulz coefficients (a, b, c) of the post and of ``torch.optim.Muon``.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
NS_EPS = 1e-7
_NS_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")

_MUON_DEFAULTS: dict[str, Any] = {
    "lr": 0.02,
    "momentum": 0.95,
    "nesterov": True,
    "weight_decay": 0.0,
    "ns_coefficients": NS_COEFFICIENTS,
    "ns_steps": NS_STEPS,
    "eps": NS_EPS,
    "ns_dtype": torch.float32,
    "adjust_lr_fn": "original",
}
#: AdamW defaults of the hybrid: those of the reference's ``MuonWithAuxAdam``.
_ADAMW_DEFAULTS: dict[str, Any] = {"lr": 3e-4, "betas": (0.9, 0.95), "eps": 1e-10, "weight_decay": 0.0}
#: Group keys that are labels, not hyperparameters (torch >= 2.6 stores ``param_names``).
_LABEL_KEYS = frozenset({"params", "use_muon", "name", "param_names"})


# --------------------------------------------------------------------------------------------------
# validation and shared helpers


def _scalar(x: float | Tensor) -> float:
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def _check_muon_hparams(group: Mapping[str, Any]) -> None:
    check_lr(group["lr"])
    m = group["momentum"]
    if not is_number(m) or not 0.0 <= m < 1.0:
        raise ValueError(f"Invalid momentum: {m!r} (must be in [0, 1))")
    check_bool("nesterov", group["nesterov"])
    check_nonneg("weight_decay", group["weight_decay"])
    coef = group["ns_coefficients"]
    if (
        not isinstance(coef, tuple | list)
        or len(coef) != 3
        or not all(is_number(c) and math.isfinite(c) for c in coef)
    ):
        raise ValueError(f"Invalid ns_coefficients: {coef!r} (must be three finite floats (a, b, c))")
    steps = group["ns_steps"]
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps < 100:
        raise ValueError(f"Invalid ns_steps: {steps!r} (must be an int in [1, 100))")
    check_positive("eps", group["eps"])
    if group["ns_dtype"] is not None and group["ns_dtype"] not in _NS_DTYPES:
        raise ValueError(f"Invalid ns_dtype: {group['ns_dtype']!r} (must be None or one of {_NS_DTYPES})")
    if group["adjust_lr_fn"] not in _ADJUST_LR_FNS:
        raise ValueError(f"Invalid adjust_lr_fn: {group['adjust_lr_fn']!r} (must be one of {_ADJUST_LR_FNS})")


def _check_adamw_hparams(group: Mapping[str, Any]) -> None:
    check_lr(group["lr"])
    check_betas(group["betas"])
    check_positive("eps", group["eps"])
    check_nonneg("weight_decay", group["weight_decay"])


def _as_param_list(params: Any) -> list[Tensor]:
    if isinstance(params, Tensor):
        return [params]
    if isinstance(params, set):
        raise TypeError("optimizer parameters need to be organized in ordered collections, not sets")
    return list(params)


def _named(params: list[Any]) -> list[tuple[str | None, Tensor]]:
    """``(name, tensor)`` for plain tensors (name None) and for torch's named-parameter tuples."""
    out = []
    for item in params:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Tensor):
            out.append((str(item[0]), item[1]))
        elif isinstance(item, Tensor):
            out.append((None, item))
    return out


def _check_real(p: Tensor, who: str) -> None:
    if torch.is_complex(p):
        raise ValueError(
            f"{who} does not support complex parameters; got {p.dtype} of shape {tuple(p.shape)} "
            "(optimize torch.view_as_real(p) instead)"
        )


def _check_matrix(p: Tensor, who: str, name: str | None = None) -> None:
    if p.ndim != 2:
        label = f" {name!r}" if name else ""
        raise ValueError(
            f"{who} takes 2-D parameters only; got parameter{label} of shape {tuple(p.shape)} "
            "(route it to AdamW, e.g. with optarena.optim.muon.hybrid)"
        )


def zeropower_via_newtonschulz(
    G: Tensor,
    coefficients: Sequence[float] = NS_COEFFICIENTS,
    steps: int = NS_STEPS,
    eps: float = NS_EPS,
    dtype: torch.dtype | None = torch.float32,
) -> Tensor:
    r"""Approximate orthogonalization :math:`U V^\top` of a matrix :math:`G = U S V^\top` by ``steps``
    quintic Newton-Schulz iterations in ``dtype`` (``None``: ``G``'s dtype), as ``torch.optim.Muon``:
    :math:`X \leftarrow G/\max(\|G\|_F, \epsilon)`, then :math:`A = XX^\top`,
    :math:`X \leftarrow aX + (bA + cA^2)X`, working on the wide orientation (:math:`X^\top` if tall).

    With the default coefficients the singular values land in roughly [0.7, 1.2] rather than at 1.
    Returns a new tensor in ``dtype``; ``G`` is never modified.
    """
    if G.ndim != 2:
        raise ValueError(f"Newton-Schulz needs a 2-D matrix, got shape {tuple(G.shape)}")
    a, b, c = coefficients
    X = G.to(dtype) if dtype is not None else G
    copied = X is not G
    tall = G.size(0) > G.size(1)
    if tall:
        X = X.T
    norm = X.norm().clamp(min=eps)
    X = X.div_(norm) if copied else X.div(norm)  # never write G (torch's Muon does when G is bf16)
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    return X.T if tall else X


def _adjust_lr(lr: float, adjust_lr_fn: str | None, shape: torch.Size) -> float:
    """``torch.optim.Muon``'s shape-dependent learning rate: ``"original"`` (and ``None``) scale by
    :math:`\\sqrt{\\max(1, A/B)}` for an :math:`A\\times B` matrix, ``"match_rms_adamw"`` by
    :math:`0.2\\sqrt{\\max(A, B)}`."""
    rows, cols = shape[0], shape[1]
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1, rows / cols)) if cols > 0 else lr


def _sparse_error(who: str, p: Tensor) -> RuntimeError:
    return RuntimeError(f"{who} does not support sparse gradients (parameter of shape {tuple(p.shape)})")


def _muon_group_step(state: Mapping[Tensor, dict[str, Any]], group: Mapping[str, Any]) -> None:
    """One Muon step for every parameter of ``group`` that has a gradient (readable loop)."""
    lr = _scalar(group["lr"])
    wd = group["weight_decay"]
    mu = group["momentum"]
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise _sparse_error("Muon", p)
        st = state[p]
        if len(st) == 0:
            st["step"] = 0
            st["momentum_buffer"] = torch.zeros_like(
                p, dtype=state_dtype(p), memory_format=torch.preserve_format
            )
        st["step"] += 1
        buf = st["momentum_buffer"]
        grad = p.grad.to(buf.dtype)  # the same tensor when no cast is needed: read only below
        buf.lerp_(grad, 1.0 - mu)
        update = grad.lerp(buf, mu) if group["nesterov"] else buf
        ortho = zeropower_via_newtonschulz(
            update, group["ns_coefficients"], group["ns_steps"], group["eps"], group["ns_dtype"]
        )
        adjusted_lr = _adjust_lr(lr, group["adjust_lr_fn"], p.shape)
        target = p if p.dtype == buf.dtype else p.to(buf.dtype)
        if wd != 0.0:
            target.mul_(1.0 - lr * wd)
        target.add_(ortho, alpha=-adjusted_lr)
        if target is not p:
            p.copy_(target)


def _adamw_group_step(state: Mapping[Tensor, dict[str, Any]], group: Mapping[str, Any]) -> None:
    """One AdamW step, the same operations as ``torch.optim.AdamW``'s single-tensor path (so fp32 and
    fp64 results are bit-identical to it); 16-bit parameters keep fp32 moments."""
    lr = _scalar(group["lr"])
    beta1, beta2 = group["betas"]
    eps = group["eps"]
    wd = group["weight_decay"]
    for p in group["params"]:
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise _sparse_error("AdamW", p)
        st = state[p]
        if len(st) == 0:
            st["step"] = 0
            dt = state_dtype(p)
            st["exp_avg"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
        st["step"] += 1
        step = st["step"]
        exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
        grad = p.grad.to(exp_avg.dtype)
        target = p if p.dtype == exp_avg.dtype else p.to(exp_avg.dtype)
        if wd != 0.0:
            target.mul_(1.0 - lr * wd)
        exp_avg.lerp_(grad, 1.0 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        step_size = lr / (1.0 - beta1**step)
        denom = (exp_avg_sq.sqrt() / (1.0 - beta2**step) ** 0.5).add_(eps)
        target.addcdiv_(exp_avg, denom, value=-step_size)
        if target is not p:
            p.copy_(target)


# --------------------------------------------------------------------------------------------------
# Muon


class Muon(Optimizer):
    r"""Muon (MomentUm Orthogonalized by Newton-Schulz) for 2-D hidden-layer weights.

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \gamma \text{ (lr)},\ \lambda \text{ (weight decay)},\ \mu \text{ (momentum)},\
                \textit{nesterov},\ (a,b,c) \text{ (ns\_coefficients)},\ k \text{ (ns\_steps)},\
                \epsilon,\\
            &\hspace{13mm} \theta_0 \in \mathbb{R}^{A\times B} \text{ (params)},\
                f(\theta) \text{ (objective)} \\
            &\textbf{initialize}: B_0 \leftarrow 0 \text{ (momentum buffer)} \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=1\ \textbf{to}\ \ldots\ \textbf{do} \\
            &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \\
            &\hspace{5mm} B_t \leftarrow \mu B_{t-1} + (1-\mu) g_t \\
            &\hspace{5mm} U_t \leftarrow \mu B_t + (1-\mu) g_t \ \text{if nesterov else}\ B_t \\
            &\hspace{5mm} X \leftarrow U_t / \max(\|U_t\|_F, \epsilon)
                \quad (\text{in ns\_dtype; transposed if } A > B) \\
            &\hspace{5mm} \textbf{repeat}\ k\ \textbf{times}:\
                \Lambda \leftarrow X X^\top,\ X \leftarrow aX + (b\Lambda + c\Lambda^2) X \\
            &\hspace{5mm} O_t \leftarrow X \\
            &\hspace{5mm} \theta_t \leftarrow (1 - \gamma\lambda)\,\theta_{t-1}
                - \gamma \sqrt{\max(1, A/B)}\; O_t \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ \theta_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    The factor :math:`\sqrt{\max(1, A/B)}` is ``torch.optim.Muon``'s default (``adjust_lr_fn="original"``,
    the reference's); ``"match_rms_adamw"`` uses :math:`0.2\sqrt{\max(A, B)}` (Moonshot, arXiv:2502.16982).
    Weight decay is decoupled and uses the unadjusted :math:`\gamma`.

    Muon is for hidden 2-D weights only: embeddings, the output head, norms and biases belong to AdamW.
    Use :func:`hybrid` (or :class:`MuonWithAdamW`) to get one optimizer that routes them.

    Args:
        params: iterable of 2-D tensors or of param-group dicts. Any other shape raises ``ValueError``
            naming it; complex parameters raise ``ValueError`` (Muon is defined for real matrices).
        lr: learning rate :math:`\gamma`, in units of spectral norm per update (default: 0.02).
        momentum: :math:`\mu \in [0, 1)` (default: 0.95).
        nesterov: Nesterov-style update :math:`\mathrm{lerp}(g_t, B_t, \mu)` (default: True).
        weight_decay: decoupled weight decay :math:`\lambda \ge 0` (default: 0).
        ns_coefficients: quintic coefficients :math:`(a, b, c)` (default: (3.4445, -4.7750, 2.0315)).
        ns_steps: Newton-Schulz iterations, in [1, 100) (default: 5).
        eps: floor of the Frobenius norm in the normalization, > 0 (default: 1e-7).
        ns_dtype: dtype of the Newton-Schulz iteration: ``torch.float32`` (default; accurate and fast
            on CPUs without bf16 matrix units), ``torch.bfloat16`` (the reference's and
            ``torch.optim.Muon``'s choice: faster on accelerators, reproduces ``torch.optim.Muon``
            exactly), ``torch.float16``, ``torch.float64``, or ``None`` for the parameter's dtype.
        adjust_lr_fn: ``"original"`` (default; ``None`` means the same) or ``"match_rms_adamw"``.

    State (per parameter, created at its first gradient): ``step`` (a Python int, no tensor bytes) and
    ``momentum_buffer`` of the parameter's shape, in fp32 for 16-bit parameters and in the
    parameter's dtype otherwise: **4 B/param** for fp32 and bf16 parameters, 8 B/param for fp64.
    Newton-Schulz temporaries (a few :math:`A\times B` and :math:`\min(A,B)^2` matrices) are not state.

    Example:
        >>> import torch
        >>> from optarena.optim.muon import Muon
        >>> w = torch.nn.Parameter(torch.randn(16, 8))
        >>> opt = Muon([w], lr=0.02)
        >>> w.grad = torch.randn(16, 8)
        >>> opt.step()
        >>> opt.state[w]["momentum_buffer"].shape
        torch.Size([16, 8])

    Reference:
        K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse, J. Bernstein,
        `Muon: An optimizer for hidden layers in neural networks
        <https://kellerjordan.github.io/posts/muon/>`_, blog post, 2024; code
        https://github.com/KellerJordan/Muon (``SingleDeviceMuon`` in ``muon.py``).

    .. warning:: Departures from the reference and from ``torch.optim.Muon``:

       - Defaults follow the reference (lr 0.02, weight decay 0); ``torch.optim.Muon`` uses lr 1e-3 and
         weight decay 0.1. Newton-Schulz runs in fp32 by default; both the reference and torch use bf16
         (pass ``ns_dtype=torch.bfloat16`` to match them; it equals ``torch.optim.Muon`` bit for bit).
       - Normalization is :math:`X/\max(\|X\|_F, \epsilon)` as torch; the reference divides by
         :math:`\|X\|_F + 10^{-7}` (relative difference ~1e-7 / ‖X‖).
       - ``p.grad`` is never modified. The reference's Nesterov step ``grad.lerp_(momentum, beta)``
         overwrites ``p.grad``; torch's does not. With bf16 parameters and ``nesterov=False``,
         ``torch.optim.Muon`` (2.13) normalizes the momentum buffer itself in place (its
         ``grad.bfloat16()`` does not copy a bf16 tensor before ``div_``); here the iteration never
         writes its input.
       - A parameter without a gradient is skipped (no decay, no momentum step); the reference sets
         ``p.grad = 0`` and steps it anyway.
       - 16-bit parameters keep an fp32 momentum buffer and are updated in fp32 with one rounding;
         torch and the reference keep a bf16 buffer.
       - Only 2-D parameters: the reference flattens 4-D convolution filters, here they raise.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        ns_steps: int = NS_STEPS,
        eps: float = NS_EPS,
        ns_dtype: torch.dtype | None = torch.float32,
        adjust_lr_fn: str | None = "original",
    ) -> None:
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "nesterov": nesterov,
            "weight_decay": weight_decay,
            "ns_coefficients": tuple(ns_coefficients),
            "ns_steps": ns_steps,
            "eps": eps,
            "ns_dtype": ns_dtype,
            "adjust_lr_fn": adjust_lr_fn,
        }
        _check_muon_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = dict(param_group)
        group["params"] = _as_param_list(group["params"])
        _check_muon_hparams({**self.defaults, **group})
        for name, p in _named(group["params"]):
            _check_real(p, "Muon")
            _check_matrix(p, "Muon", name)
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
            _muon_group_step(self.state, group)
        return loss


# --------------------------------------------------------------------------------------------------
# Muon + AdamW in one optimizer


class MuonWithAdamW(Optimizer):
    r"""One optimizer holding Muon groups and AdamW groups: each param group carries a ``use_muon``
    flag and is stepped by that rule, so learning-rate schedulers (which scale every group's ``lr``),
    ``zero_grad``, ``state_dict`` and ``load_state_dict`` work as for any ``torch.optim`` optimizer.

    Muon groups follow :class:`Muon` exactly (same keys and defaults); AdamW groups follow
    ``torch.optim.AdamW`` with decoupled weight decay (bit-identical on fp32/fp64 parameters):

    .. math::
       \begin{aligned}
            &\theta_t \leftarrow (1-\gamma\lambda)\theta_{t-1}, \quad
             m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \quad
             v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
            &\theta_t \leftarrow \theta_t - \frac{\gamma}{1-\beta_1^t}\,
             \frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}
       \end{aligned}

    Args:
        params: param-group dicts, each with ``"params"`` and ``"use_muon"`` (bool), plus optional
            per-group hyperparameters of its kind. A key of the other kind (or a typo) raises
            ``ValueError``. Muon groups take 2-D tensors only; complex tensors raise ``ValueError``.
        muon_defaults: overrides of the Muon group defaults (keys and defaults as :class:`Muon`:
            lr 0.02, momentum 0.95, nesterov True, weight_decay 0, ns_coefficients, ns_steps 5, eps 1e-7,
            ns_dtype fp32, adjust_lr_fn "original").
        adamw_defaults: overrides of the AdamW group defaults, those of the reference's
            ``MuonWithAuxAdam``: lr 3e-4, betas (0.9, 0.95), eps 1e-10, weight_decay 0.

    State: Muon parameters as :class:`Muon` (4 B/param fp32: ``momentum_buffer``); AdamW parameters
    ``exp_avg`` and ``exp_avg_sq`` (8 B/param fp32; fp32 for 16-bit parameters) and an int ``step``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from optarena.optim.muon import hybrid
        >>> model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
        >>> opt = hybrid(
        ...     model.named_parameters(),
        ...     muon_kwargs={"lr": 0.02},
        ...     adamw_kwargs={"lr": 1e-3},
        ...     route=lambda name, p: p.ndim == 2 and name != "2.weight",  # "2" is the output layer
        ... )
        >>> [(g["use_muon"], len(g["params"])) for g in opt.param_groups]
        [(True, 1), (False, 3)]
        >>> model(torch.randn(5, 8)).square().mean().backward()
        >>> opt.step()
        >>> sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)
        >>> [g["lr"] for g in opt.param_groups]
        [0.01, 0.0005]

    Reference: the hybrid follows ``MuonWithAuxAdam`` of https://github.com/KellerJordan/Muon; its
    AdamW adds :math:`\epsilon` after the bias correction exactly as here.

    .. warning:: Departures: the reference asserts on unknown keys and steps parameters without a
       gradient as if it were zero; here unknown keys raise ``ValueError`` and such parameters are skipped.
    """

    def __init__(
        self,
        params: Iterable[dict[str, Any]],
        muon_defaults: Mapping[str, Any] | None = None,
        adamw_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self._muon_defaults = self._merge(_MUON_DEFAULTS, muon_defaults, "muon_defaults")
        self._adamw_defaults = self._merge(_ADAMW_DEFAULTS, adamw_defaults, "adamw_defaults")
        _check_muon_hparams(self._muon_defaults)
        _check_adamw_hparams(self._adamw_defaults)
        groups = list(params)
        for g in groups:
            if not isinstance(g, dict):
                raise TypeError("MuonWithAdamW takes param-group dicts with a 'use_muon' flag; use hybrid()")
        super().__init__(groups, {})

    @staticmethod
    def _merge(base: Mapping[str, Any], given: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
        given = dict(given or {})
        unknown = set(given) - set(base)
        if unknown:
            raise ValueError(f"unknown keys in {what}: {sorted(unknown)}; known: {sorted(base)}")
        if "ns_coefficients" in given:
            given["ns_coefficients"] = tuple(given["ns_coefficients"])
        return {**base, **given}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if "use_muon" not in param_group or not isinstance(param_group["use_muon"], bool):
            raise ValueError("every MuonWithAdamW param group needs a bool 'use_muon' flag")
        use_muon = param_group["use_muon"]
        base = self._muon_defaults if use_muon else self._adamw_defaults
        unknown = set(param_group) - set(base) - _LABEL_KEYS
        if unknown:
            kind = "Muon" if use_muon else "AdamW"
            raise ValueError(f"unknown keys for a {kind} group: {sorted(unknown)}; known: {sorted(base)}")
        group = {**base, **param_group}
        group["params"] = _as_param_list(group["params"])
        if use_muon:
            group["ns_coefficients"] = tuple(group["ns_coefficients"])
            _check_muon_hparams(group)
        else:
            _check_adamw_hparams(group)
        for name, p in _named(group["params"]):
            _check_real(p, "MuonWithAdamW")
            if use_muon:
                _check_matrix(p, "Muon", name)
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
            if group["use_muon"]:
                _muon_group_step(self.state, group)
            else:
                _adamw_group_step(self.state, group)
        return loss


#: Substrings of a parameter's (lower-cased) name that send a 2-D parameter to AdamW.
ADAMW_NAME_KEYS = ("emb", "wte", "wpe", "head", "norm")


def default_route(name: str, param: Tensor) -> bool:
    """True (Muon) for a 2-D parameter whose lower-cased name contains none of ``ADAMW_NAME_KEYS``
    (``"emb"`` covers embed/embedding/tok_emb/pos_emb, ``"head"`` covers lm_head, plus GPT-2's
    ``wte``/``wpe`` and any ``norm``); False (AdamW) for everything else, including every non-2-D
    parameter. An output layer not named ``*head*`` (e.g. ``"4.weight"`` of an ``nn.Sequential``)
    cannot be told from a hidden layer by name: pass ``route`` to send it to AdamW."""
    lowered = name.lower()
    return param.ndim == 2 and not any(key in lowered for key in ADAMW_NAME_KEYS)


def hybrid(
    named_parameters: Iterable[tuple[str, Tensor]],
    muon_kwargs: Mapping[str, Any] | None = None,
    adamw_kwargs: Mapping[str, Any] | None = None,
    route: Callable[[str, Tensor], bool] | None = None,
) -> MuonWithAdamW:
    """Build one :class:`MuonWithAdamW` from ``model.named_parameters()``: parameters for which
    ``route(name, p)`` (default :func:`default_route`) is True form one Muon group with
    ``muon_kwargs``, the rest one AdamW group with ``adamw_kwargs``; empty groups are left out.
    A route that sends a non-2-D parameter to Muon raises ``ValueError`` naming it.

    Example:
        >>> from torch import nn
        >>> from optarena.optim.muon import hybrid
        >>> model = nn.ModuleDict(
        ...     {"embed": nn.Embedding(10, 8), "hidden": nn.Linear(8, 8), "norm": nn.LayerNorm(8)}
        ... )
        >>> opt = hybrid(model.named_parameters(), {"lr": 0.02}, {"lr": 3e-4})
        >>> [[tuple(p.shape) for p in g["params"]] for g in opt.param_groups]
        [[(8, 8)], [(10, 8), (8,), (8,), (8,)]]
    """
    route = default_route if route is None else route
    muon_params: list[Tensor] = []
    adamw_params: list[Tensor] = []
    for name, p in named_parameters:
        if route(name, p):
            _check_matrix(p, "Muon", name)
            muon_params.append(p)
        else:
            adamw_params.append(p)
    groups = []
    if muon_params:
        groups.append({"params": muon_params, "use_muon": True})
    if adamw_params:
        groups.append({"params": adamw_params, "use_muon": False})
    return MuonWithAdamW(groups, muon_defaults=muon_kwargs, adamw_defaults=adamw_kwargs)


# --------------------------------------------------------------------------------------------------
# MethodSpec


def make_muon(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """Muon on 2-D hidden weights + AdamW on the rest (:func:`hybrid` with :func:`default_route`),
    one shared weight decay, warmup-cosine on both learning rates."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = hybrid(
        params,
        muon_kwargs={
            "lr": hparams["lr"],
            "momentum": hparams["momentum"],
            "weight_decay": hparams["weight_decay"],
        },
        adamw_kwargs={
            "lr": hparams["adam_lr"],
            "betas": (hparams["adam_beta1"], hparams["adam_beta2"]),
            "eps": hparams["adam_eps"],
            "weight_decay": hparams["weight_decay"],
        },
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


_MUON_SPACE = SearchSpace(
    (
        Param("lr", 1e-3, 0.3, log=True),
        Param("adam_lr", 1e-4, 1e-2, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"momentum": 0.95, "adam_beta1": 0.9, "adam_beta2": 0.95, "adam_eps": 1e-10},
)

MUON = MethodSpec(
    name="muon",
    family="torch-optimizer",
    factory="optarena.optim.muon:make_muon",
    summary="Muon (Newton-Schulz orthogonalized momentum) on hidden matrices + AdamW on the rest",
    search_space=_MUON_SPACE,
    defaults={"lr": 0.02, "adam_lr": 1e-3, "weight_decay": 1e-4, "warmup_frac": 0.05}
    | dict(_MUON_SPACE.fixed),
    paper=PaperRef(
        "K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse, J. Bernstein",
        "Muon: An optimizer for hidden layers in neural networks",
        "blog post",
        2024,
    ),
    capabilities=frozenset({"param-groups", "hybrid"}),
    status="experimental",
)
