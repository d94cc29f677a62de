"""AdaBelief, Zhuang et al., NeurIPS 2020: Adam whose second moment tracks the belief (g - m)^2.

The optimizer follows torch.optim: :class:`AdaBelief` validates its hyperparameters, keeps per-parameter
state (``exp_avg``, ``exp_avg_var``, ``step``, and ``max_exp_avg_var`` with ``amsgrad``), and its
``step()`` calls the functional core :func:`adabelief`, which dispatches to a readable single-tensor loop
(the default), a ``torch._foreach_*`` path or a fused C++ path (:mod:`optarena.optim._fused`; with
``fused=True``, ``step()`` hands whole parameter groups to it). The loop and the foreach
path run the official code's ops in its order (bit-identical to ``adabelief-pytorch`` 0.2.1 with the same
flags, and to each other); the fused path computes the same expressions in one pass (an operation may
round differently, by an ulp; the tests hold it to 1e-12 of the loop in float64).

:data:`ADABELIEF` is the registry entry (factory :func:`make_adabelief`, with warmup-cosine).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.optim import _fused
from optarena.optim._flat import FlatMixin
from optarena.optim._state import as_real, keep_fp32_state, state_dtype

__all__ = ["ADABELIEF", "AdaBelief", "adabelief", "make_adabelief"]


class AdaBelief(FlatMixin, torch.optim.Optimizer):
    r"""AdaBelief: Adam with the EMA of the squared gradient replaced by the EMA of :math:`(g_t - m_t)^2`.

    .. math::
        \begin{aligned}
            &\rule{110mm}{0.4pt}                                                                   \\
            &\textbf{input}      : \gamma \text{ (lr)}, \: \beta_1, \beta_2 \text{ (betas)},
                \: \theta_0 \text{ (params)}, \: f(\theta) \text{ (objective)},
                \: \lambda \text{ (weight decay)}, \: \epsilon,                                    \\
            &\hspace{13mm} \textit{decoupled}, \: \textit{amsgrad}, \: \textit{maximize}           \\
            &\textbf{initialize} : m_0 \leftarrow 0, \: s_0 \leftarrow 0,
                \: \hat{s}^{\max}_0 \leftarrow 0                                              \\[-1.ex]
            &\rule{110mm}{0.4pt}                                                                   \\
            &\textbf{for} \: t=1 \: \textbf{to} \: \ldots \: \textbf{do}                           \\
            &\hspace{5mm}\textbf{if} \: \textit{maximize}: g_t \leftarrow -\nabla_{\theta} f_t(\theta_{t-1}) \\
            &\hspace{5mm}\textbf{else}: g_t \leftarrow \nabla_{\theta} f_t(\theta_{t-1})           \\
            &\hspace{5mm}\textbf{if} \: \textit{decoupled}:
                \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)                           \\
            &\hspace{5mm}\textbf{else}: g_t \leftarrow g_t + \lambda \theta_{t-1}                  \\
            &\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t                       \\
            &\hspace{5mm} s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon  \\
            &\hspace{5mm}\textbf{if} \: \textit{amsgrad}:
                s^{\max}_t \leftarrow \max(s^{\max}_{t-1}, s_t), \: \tilde{s}_t \leftarrow s^{\max}_t \\
            &\hspace{5mm}\textbf{else}: \tilde{s}_t \leftarrow s_t                                 \\
            &\hspace{5mm} \theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t} \,
                \frac{m_t}{\sqrt{\tilde{s}_t} / \sqrt{1 - \beta_2^t} + \epsilon}                  \\
            &\rule{110mm}{0.4pt}                                                              \\[-1.ex]
            &\textbf{return} \: \theta_t                                                      \\[-1.ex]
            &\rule{110mm}{0.4pt}                                                              \\[-1.ex]
        \end{aligned}

    The :math:`+\epsilon` in :math:`s_t` is stored: it accumulates in the state (the official code adds it
    in place; Algorithm 2 of the paper writes it the same way). Since :math:`\epsilon` sits under the
    square root, the default ``eps=1e-16`` plays the part of Adam's :math:`10^{-8}`
    (:math:`\epsilon \approx \epsilon_{\text{Adam}}^2`); the paper's CIFAR runs used ``eps=1e-8``.

    With ``rectify=True`` (the official package's default, never used in the paper's experiments) the
    step is RAdam's: with :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`, if :math:`\rho_t \ge 5` then
    :math:`\theta_t \leftarrow \theta_{t-1} - \gamma r_t/(1-\beta_1^t) \cdot m_t/(\sqrt{s_t} + \epsilon)`
    with :math:`r_t = \sqrt{(1-\beta_2^t)\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)
    \rho_t}}` (note: :math:`s_t`, not :math:`s^{\max}_t`), else the SGD-momentum step
    :math:`\theta_t \leftarrow \theta_{t-1} - \gamma m_t/(1-\beta_1^t)` (the package's
    ``degenerated_to_sgd=True``).

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\gamma` (default: 1e-3).
        betas: :math:`(\beta_1, \beta_2)` (default: (0.9, 0.999)). Each in [0, 1).
        eps: :math:`\epsilon`, added to :math:`s_t` and to the denominator (default: 1e-16, the official
            package's; see above).
        weight_decay: :math:`\lambda` (default: 0).
        decoupled_weight_decay: decoupled (AdamW-style, multiplied by lr) weight decay if True, L2
            added to the gradient if False (default: True, the package's ``weight_decouple``).
        amsgrad: normalize by the running maximum of :math:`s_t` (default: False).
        rectify: RAdam-style rectification (default: False; the paper never used it).
        maximize: maximize the objective instead of minimizing it (default: False).
        foreach: use the ``torch._foreach_*`` implementation (default: False, the readable loop).
        fused: use the fused CPU implementation (default: False): one C++ call per parameter group
            (:mod:`optarena.optim._fused`) that finds each parameter's gradient and state itself and
            updates it in one pass over memory, OpenMP over blocks. The extension is built at first use
            (10-20 s, then cached by torch); ``OPTARENA_NO_COMPILE=1`` or a failed build make it the
            loop, as are tensors the kernels do not take (not on CPU, tensor subclasses, a gradient with
            other strides than its parameter); on GPUs use ``foreach``. ``foreach`` and ``fused`` are
            exclusive.
        flat: with ``fused``, keep each parameter group's parameters, gradients and state as views of one
            buffer each and step them with one kernel call (:mod:`optarena.optim._flat`; default: False).
            The parameters' data is moved into the buffers at the group's first step (the ``Parameter``
            objects stay the same), and :meth:`zero_grad` keeps zeroed gradient views by default, so a
            parameter without a gradient from ``backward`` is stepped with a zero gradient, as after
            torch's ``zero_grad(set_to_none=False)``. A parameter whose memory something else shares (a
            view kept elsewhere, a larger buffer it is a view of, a tied parameter) is not moved and is
            stepped per tensor. For models of many small tensors.

    State (per parameter, created at its first step): ``exp_avg`` (:math:`m`), ``exp_avg_var``
    (:math:`s`) and, with ``amsgrad``, ``max_exp_avg_var``, each of the parameter's shape in float32 for
    bf16/fp16 parameters, else in the parameter's dtype; and ``step`` (a float32 0-dim tensor, counted
    per parameter). State bytes for fp32, bf16 or fp16 parameters: ``8 * numel + 4`` per tensor, i.e.
    8 B/param plus 4 B per tensor (``12 * numel + 4`` with amsgrad; twice the per-param part in
    float64). Bytes moved per step at the fused floor (fp32, no amsgrad): read p, g, m, s and write
    p, m, s, i.e. 28 B/param.
    With ``flat=True`` the state tensors are views of one buffer per key and the blocks' parameters
    share one ``step`` tensor (4 B per block; ``state_dict()`` gives each parameter its own copy).

    Parameters of dtype bf16/fp16 are updated in float32 and rounded once when written back. Complex
    parameters are optimized as ``torch.view_as_real`` pairs (real and imaginary parts each get their own
    :math:`s`). Sparse gradients raise ``RuntimeError``. ``p.grad`` is never modified.

    Reference:
        J. Zhuang, T. Tang, Y. Ding, S. Tatikonda, N. Dvornek, X. Papademetris, J. S. Duncan, "AdaBelief
        Optimizer: Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020,
        arXiv:2010.07468. Code: juntang-zhuang/Adabelief-Optimizer, PyPI ``adabelief-pytorch`` 0.2.1.

    Departures:
        Follows ``adabelief-pytorch`` 0.2.1 (same ops and order; the tests check 1e-12 in float64 over
        100 steps with equal flags). Differences: ``rectify`` defaults to False (the package: True; the
        paper's algorithm and experiments have no rectification); no ``fixed_decay`` and no
        ``degenerated_to_sgd=False`` option; coupled weight decay does not write into ``p.grad`` (the
        package does ``grad.add_(p)`` in place); the step counter is a per-parameter float32 tensor
        (the package: a per-parameter int); bf16/fp16 parameters keep fp32 state (the package upcasts
        only fp16 parameters, in place); nothing is printed.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-16,
        weight_decay: float = 0.0,
        *,
        decoupled_weight_decay: bool = True,
        amsgrad: bool = False,
        rectify: bool = False,
        maximize: bool = False,
        foreach: bool = False,
        fused: bool = False,
        flat: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            amsgrad=amsgrad,
            rectify=rectify,
            maximize=maximize,
            foreach=foreach,
            fused=fused,
            flat=flat,
        )
        _validate(defaults)
        super().__init__(params, defaults)
        self._flat_init()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _validate({**self.defaults, **param_group})  # per-group values too, before the group is added
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("decoupled_weight_decay", True)
            group.setdefault("amsgrad", False)
            group.setdefault("rectify", False)
            group.setdefault("maximize", False)
            group.setdefault("foreach", False)
            group.setdefault("fused", False)
            group.setdefault("flat", False)
        self._flat_init()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch.optim's loader, except that bf16/fp16 parameters keep their float32 state (torch
        would cast it to the parameter's dtype)."""
        super().load_state_dict(state_dict)
        keep_fp32_state(self, state_dict)
        self._flat_forget()

    def _init_group(
        self, group: dict[str, Any], todo: Iterable[Tensor], lists: dict[str, list[Tensor]]
    ) -> None:
        for p in todo:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("AdaBelief does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                like = dict(dtype=state_dtype(p), memory_format=torch.preserve_format)
                state["exp_avg"] = torch.zeros_like(p, **like)
                state["exp_avg_var"] = torch.zeros_like(p, **like)
            if group["amsgrad"] and "max_exp_avg_var" not in state:
                state["max_exp_avg_var"] = torch.zeros_like(
                    p, dtype=state_dtype(p), memory_format=torch.preserve_format
                )
            lists["params"].append(as_real(p))
            lists["grads"].append(as_real(p.grad))
            lists["exp_avgs"].append(as_real(state["exp_avg"]))
            lists["exp_avg_vars"].append(as_real(state["exp_avg_var"]))
            if group["amsgrad"]:
                lists["max_exp_avg_vars"].append(as_real(state["max_exp_avg_var"]))
            lists["state_steps"].append(state["step"])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        names = ("params", "grads", "exp_avgs", "exp_avg_vars", "max_exp_avg_vars", "state_steps")
        for index, group in enumerate(self.param_groups):
            todo = group["params"]
            if group["fused"]:  # the parameters with state, in one C++ call; the rest below
                keys = ("exp_avg", "exp_avg_var", "max_exp_avg_var")[: 3 if group["amsgrad"] else 2]
                hyper = _hyper(group)
                if group["flat"]:
                    todo = self._flat_step(index, group, hyper, keys)
                todo = _fused.step_state(hyper, todo, self.state, keys)
                if not todo:  # every parameter was stepped in C++
                    continue
            lists: dict[str, list[Tensor]] = {name: [] for name in names}
            self._init_group(group, todo, lists)
            beta1, beta2 = group["betas"]
            adabelief(
                **lists,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                decoupled_weight_decay=group["decoupled_weight_decay"],
                amsgrad=group["amsgrad"],
                rectify=group["rectify"],
                maximize=group["maximize"],
                foreach=group["foreach"],
                fused=group["fused"],
            )
        return loss


def _validate(group: Mapping[str, Any]) -> None:
    lr, betas, eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    if not (isinstance(lr, int | float) and 0.0 <= lr < float("inf")):
        raise ValueError(f"Invalid learning rate: {lr}")
    if not (isinstance(eps, int | float) and 0.0 <= eps < float("inf")):
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not (isinstance(betas, Sequence) and len(betas) == 2):
        raise ValueError(f"Invalid betas: {betas} (need a pair)")
    for i, beta in enumerate(betas):
        if not (isinstance(beta, int | float) and 0.0 <= beta < 1.0):
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if not (isinstance(wd, int | float) and 0.0 <= wd < float("inf")):
        raise ValueError(f"Invalid weight_decay value: {wd}")
    if group["foreach"] and group["fused"]:
        raise ValueError("Invalid flags: foreach=True and fused=True are exclusive")
    if group["flat"] and not group["fused"]:
        raise ValueError(f"Invalid flags: flat=True needs fused=True (got fused={group['fused']})")


# --- functional core -------------------------------------------------------------------------------


def _step_sizes(
    step: float, lr: float, beta1: float, beta2: float, rectify: bool
) -> tuple[float, float, bool]:
    """``(step_size, sqrt_bc2, adaptive)`` for one tensor at ``step``: the update is
    ``-step_size * m / (sqrt(s~) / sqrt_bc2 + eps)`` if ``adaptive`` else ``-step_size * m``.

    The arithmetic is the official code's, operation for operation."""
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    if not rectify:
        return lr / bias_correction1, math.sqrt(bias_correction2), True
    beta2_t = beta2**step
    n_sma_max = 2 / (1 - beta2) - 1
    n_sma = n_sma_max - 2 * step * beta2_t / (1 - beta2_t)
    if n_sma >= 5:
        step_size = math.sqrt(
            (1 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma * n_sma_max / (n_sma_max - 2)
        ) / (1 - beta1**step)
        return step_size * lr, 1.0, True
    return 1.0 / (1 - beta1**step) * lr, 1.0, False


def adabelief(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_vars: list[Tensor],
    max_exp_avg_vars: list[Tensor],
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool = True,
    amsgrad: bool = False,
    rectify: bool = False,
    maximize: bool = False,
    foreach: bool = False,
    fused: bool = False,
) -> None:
    """Functional AdaBelief on real tensors (complex ones already viewed as real): updates ``params``,
    the state lists and ``state_steps`` in place; ``grads`` are only read. ``max_exp_avg_vars`` is empty
    unless ``amsgrad``."""
    if foreach and fused:
        raise ValueError("Invalid flags: foreach=True and fused=True are exclusive")
    impl = _fused_adabelief if fused else _multi_tensor_adabelief if foreach else _single_tensor_adabelief
    impl(
        params,
        grads,
        exp_avgs,
        exp_avg_vars,
        max_exp_avg_vars if amsgrad else [None] * len(params),
        state_steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        decoupled_weight_decay=decoupled_weight_decay,
        amsgrad=amsgrad,
        rectify=rectify,
        maximize=maximize,
    )


def _adabelief_update(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    s: Tensor,
    s_max: Tensor | None,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    rectify: bool,
    maximize: bool,
) -> None:
    """One tensor's update at ``step`` (already counted), in the official code's ops and order."""
    theta = p if p.dtype == m.dtype else p.to(m.dtype)  # bf16/fp16: compute on an fp32 copy
    grad = g.to(m.dtype)
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            theta.mul_(1.0 - lr * weight_decay)
        else:
            grad = grad.add(theta, alpha=weight_decay)  # out of place: p.grad is never written
    step_size, sqrt_bc2, adaptive = _step_sizes(step, lr, beta1, beta2, rectify)
    m.mul_(beta1).add_(grad, alpha=1 - beta1)
    residual = grad - m
    s.mul_(beta2).addcmul_(residual, residual, value=1 - beta2)
    s.add_(eps)  # the official quirk: epsilon accumulates in the state
    if amsgrad and not rectify:
        torch.maximum(s_max, s, out=s_max)
        denom = (s_max.sqrt() / sqrt_bc2).add_(eps)
    else:
        if amsgrad:
            torch.maximum(s_max, s, out=s_max)  # kept up to date, unused by the rectified step
        denom = (s.sqrt() / sqrt_bc2).add_(eps)
    if adaptive:
        theta.addcdiv_(m, denom, value=-step_size)
    else:
        theta.add_(m, alpha=-step_size)
    if theta is not p:
        p.copy_(theta)


def _single_tensor_adabelief(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_vars: list[Tensor],
    max_exp_avg_vars: list[Tensor | None],
    state_steps: list[Tensor],
    **hp: Any,
) -> None:
    for p, g, m, s, s_max, step_t in zip(
        params, grads, exp_avgs, exp_avg_vars, max_exp_avg_vars, state_steps, strict=True
    ):
        step_t += 1
        _adabelief_update(p, g, m, s, s_max, step_t.item(), **hp)


def _multi_tensor_adabelief(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_vars: list[Tensor],
    max_exp_avg_vars: list[Tensor | None],
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    amsgrad: bool,
    rectify: bool,
    maximize: bool,
) -> None:
    """The loop's ops as ``torch._foreach_*`` calls over the whole list; per-tensor step sizes (each
    parameter has its own step) go in as scalar lists."""
    if not params:
        return
    torch._foreach_add_(state_steps, 1.0)
    sizes = [_step_sizes(t.item(), lr, beta1, beta2, rectify) for t in state_steps]
    thetas = [p if p.dtype == m.dtype else p.to(m.dtype) for p, m in zip(params, exp_avgs, strict=True)]
    grads = [g.to(m.dtype) for g, m in zip(grads, exp_avgs, strict=True)]
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        if decoupled_weight_decay:
            torch._foreach_mul_(thetas, 1.0 - lr * weight_decay)
        else:
            grads = torch._foreach_add(grads, thetas, alpha=weight_decay)
    torch._foreach_mul_(exp_avgs, beta1)
    torch._foreach_add_(exp_avgs, grads, alpha=1 - beta1)
    residuals = torch._foreach_sub(grads, exp_avgs)
    torch._foreach_mul_(exp_avg_vars, beta2)
    torch._foreach_addcmul_(exp_avg_vars, residuals, residuals, value=1 - beta2)
    del residuals
    torch._foreach_add_(exp_avg_vars, eps)
    if amsgrad:
        torch._foreach_maximum_(max_exp_avg_vars, exp_avg_vars)
    denoms = torch._foreach_sqrt(max_exp_avg_vars if amsgrad and not rectify else exp_avg_vars)
    torch._foreach_div_(denoms, [sqrt_bc2 for _, sqrt_bc2, _ in sizes])
    torch._foreach_add_(denoms, eps)
    adaptive = [i for i, (_, _, a) in enumerate(sizes) if a]
    if len(adaptive) == len(params):
        torch._foreach_addcdiv_(thetas, exp_avgs, denoms, [-size for size, _, _ in sizes])
    else:  # rectify's first steps: SGD-momentum updates for the tensors that are not adaptive yet
        for i, (size, _, a) in enumerate(sizes):
            if a:
                thetas[i].addcdiv_(exp_avgs[i], denoms[i], value=-size)
            else:
                thetas[i].add_(exp_avgs[i], alpha=-size)
    del denoms
    low = [(p, t) for p, t in zip(params, thetas, strict=True) if t is not p]
    if low:
        torch._foreach_copy_([p for p, _ in low], [t for _, t in low])


def _hyper(group: Mapping[str, Any]) -> _fused.Hyper:
    beta1, beta2 = group["betas"]
    flags = (
        (_fused.MAXIMIZE if group["maximize"] else 0)
        | (_fused.DECOUPLED if group["decoupled_weight_decay"] else 0)
        | (_fused.AMSGRAD if group["amsgrad"] else 0)
        | (_fused.RECTIFY if group["rectify"] else 0)
    )
    return (_fused.ADABELIEF, flags, group["lr"], beta1, beta2, group["eps"], group["weight_decay"])


def _fused_adabelief(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_vars: list[Tensor],
    max_exp_avg_vars: list[Tensor | None],
    state_steps: list[Tensor],
    **hp: Any,
) -> None:
    """The C++ kernel over all tensors it takes (see :mod:`optarena.optim._fused`); the loop for the rest."""
    group = {"betas": (hp["beta1"], hp["beta2"]), **hp}
    lists = [params, grads, exp_avgs, exp_avg_vars]
    left = _fused.step_lists(_hyper(group), lists + [max_exp_avg_vars] * hp["amsgrad"], state_steps)
    if left:
        lists += [max_exp_avg_vars, state_steps]
        _single_tensor_adabelief(*_fused.subset(lists, left), **hp)


# --- registry entry --------------------------------------------------------------------------------


def make_adabelief(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[AdaBelief, Any]:
    """AdaBelief (decoupled weight decay, no rectification, foreach path) with warmup and cosine decay."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = AdaBelief(
        [p for _, p in params],
        lr=hparams["lr"],
        betas=(1.0 - hparams["one_minus_beta1"], hparams["beta2"]),
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        foreach=True,
    )
    return opt, warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])


# AdamW's baseline space (AdaBelief is a drop-in for Adam) with the package's eps = 1e-16 ~ (1e-8)^2.
_ADABELIEF_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 3e-2, log=True),
        Param("one_minus_beta1", 0.02, 0.3, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"beta2": 0.999, "eps": 1e-16},
)
_ADABELIEF_DEFAULTS = {"lr": 1e-3, "one_minus_beta1": 0.1, "weight_decay": 1e-4, "warmup_frac": 0.05}
_ADABELIEF_DEFAULTS |= dict(_ADABELIEF_SPACE.fixed)

ADABELIEF = MethodSpec(
    name="adabelief",
    family="torch-optimizer",
    factory="optarena.optim.adabelief:make_adabelief",
    summary="AdaBelief, Adam with the belief (g - m)^2 as second moment",
    search_space=_ADABELIEF_SPACE,
    defaults=_ADABELIEF_DEFAULTS,
    paper=PaperRef(
        "J. Zhuang, T. Tang, Y. Ding, S. Tatikonda, N. Dvornek, X. Papademetris, J. S. Duncan",
        "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients",
        "NeurIPS",
        2020,
        "2010.07468",
    ),
    capabilities=frozenset({"foreach", "fused", "closure", "complex", "maximize"}),
    status="experimental",
)
