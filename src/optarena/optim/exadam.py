"""EXAdam: Adam with adaptive cross-moment debiasing terms and a gradient-acceleration term.

Follows paper v2 and the author's repository HEAD (``AhmedMostafa16/EXAdam`` ``exadam.py``), which
``pytorch_optimizer.EXAdam`` (4.1.0) also follows: no step-size schedule. Paper v1's
:math:`\\alpha_t = \\alpha \\ln\\sqrt{2(t+1)}` is available as ``lr_schedule_v1=True``.

Three implementations compute the same numbers: the readable loop (default), ``foreach`` (bit-identical
to it) and ``fused``, the C++ path of :mod:`optarena.optim._fused` (one pass over memory per tensor;
equal to the loop to 1e-12 in float64), to which ``step()`` hands whole parameter groups.

References:
    A. M. Adly, "EXAdam: The Power of Adaptive Cross-Moments", arXiv preprint, 2024,
    https://arxiv.org/abs/2412.20302 ; code https://github.com/AhmedMostafa16/EXAdam
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
from optarena.optim import _fused
from optarena.optim._flat import FlatMixin
from optarena.optim._state import keep_fp32_state, state_dtype
from optarena.optim._validation import check_betas, check_bool, check_lr, check_nonneg, check_positive

__all__ = ["EXADAM", "EXAdam", "exadam", "make_exadam"]


def _check_hparams(group: Mapping[str, Any]) -> None:
    check_lr(group["lr"])
    check_betas(group["betas"])
    check_positive("epsilon value", group["eps"])
    check_nonneg("weight_decay value", group["weight_decay"])
    for flag in ("maximize", "foreach", "fused", "flat", "lr_schedule_v1"):
        check_bool(flag, group[flag])
    if group["foreach"] and group["fused"]:
        raise ValueError("foreach=True and fused=True cannot be used together; pick one")
    if group["flat"] and not group["fused"]:
        raise ValueError(f"flat=True needs fused=True (got fused={group['fused']})")


def _coefficients(
    step: int, lr: float, beta1: float, beta2: float, lr_schedule_v1: bool
) -> tuple[float, float, float, float]:
    """``(beta1**t, beta2**t, 1 - beta2**t, -lr_t / (1 - beta1**t))`` for step ``t``."""
    b1t = beta1**step
    b2t = beta2**step
    lr_t = lr * math.log(math.sqrt(2.0 * (step + 1))) if lr_schedule_v1 else lr
    return b1t, b2t, 1.0 - b2t, -lr_t / (1.0 - b1t)


# --------------------------------------------------------------------------------------------------
# the three implementations; all take the step already incremented


def _single_tensor_exadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[int],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    lr_schedule_v1: bool,
) -> None:
    for p, grad, m, v, step in zip(params, grads, exp_avgs, exp_avg_sqs, steps, strict=True):
        b1t, b2t, bc2, neg_step_size = _coefficients(step, lr, beta1, beta2, lr_schedule_v1)
        grad = grad.to(m.dtype)  # may alias p.grad: never written below
        if maximize:
            grad = -grad
        theta = p if p.dtype == m.dtype else p.to(m.dtype)
        if weight_decay != 0.0:
            theta.mul_(1.0 - lr * weight_decay)
        m.lerp_(grad, 1.0 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        # d1 = 1 + beta2^t v / (v + eps);  d2 = 1 + beta1^t m^2 / (m^2 + eps)
        d1 = v.add(eps)
        torch.div(v, d1, out=d1)
        d1.mul_(b2t).add_(1.0)
        msq = m.mul(m)
        d2 = msq.add(eps)
        torch.div(msq, d2, out=d2)
        d2.mul_(b1t).add_(1.0)
        # numerator d1 (m + g); the 1 / (1 - beta1^t) goes into the step size
        num = m.add(grad).mul_(d1)
        # denominator sqrt(d2 v / (1 - beta2^t)) + eps
        den = v.div(bc2).mul_(d2).sqrt_().add_(eps)
        theta.addcdiv_(num, den, value=neg_step_size)
        if theta is not p:
            p.copy_(theta)


def _multi_tensor_exadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[int],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    lr_schedule_v1: bool,
) -> None:
    for idx in _buckets(params):
        ps = [params[i] for i in idx]
        ms = [exp_avgs[i] for i in idx]
        vs = [exp_avg_sqs[i] for i in idx]
        gs = [grads[i].to(ms[0].dtype) for i in idx]
        coef = [_coefficients(steps[i], lr, beta1, beta2, lr_schedule_v1) for i in idx]
        b1t, b2t, bc2, neg_step = (list(c) for c in zip(*coef, strict=True))
        if maximize:
            gs = torch._foreach_neg(gs)
        thetas = ps if ps[0].dtype == ms[0].dtype else [p.to(ms[0].dtype) for p in ps]
        if weight_decay != 0.0:
            torch._foreach_mul_(thetas, 1.0 - lr * weight_decay)
        torch._foreach_lerp_(ms, gs, 1.0 - beta1)
        torch._foreach_mul_(vs, beta2)
        torch._foreach_addcmul_(vs, gs, gs, value=1.0 - beta2)
        d1 = torch._foreach_add(vs, eps)
        d1 = torch._foreach_div(vs, d1)
        torch._foreach_mul_(d1, b2t)
        torch._foreach_add_(d1, 1.0)
        msq = torch._foreach_mul(ms, ms)
        d2 = torch._foreach_add(msq, eps)
        d2 = torch._foreach_div(msq, d2)
        del msq
        torch._foreach_mul_(d2, b1t)
        torch._foreach_add_(d2, 1.0)
        num = torch._foreach_add(ms, gs)
        torch._foreach_mul_(num, d1)
        del d1
        den = torch._foreach_div(vs, bc2)
        torch._foreach_mul_(den, d2)
        del d2
        torch._foreach_sqrt_(den)
        torch._foreach_add_(den, eps)
        torch._foreach_addcdiv_(thetas, num, den, neg_step)
        if thetas is not ps:
            torch._foreach_copy_(ps, thetas)


def _hyper(
    lr: float, beta1: float, beta2: float, eps: float, wd: float, maximize: bool, v1: bool
) -> _fused.Hyper:
    flags = (_fused.MAXIMIZE if maximize else 0) | (_fused.LR_V1 if v1 else 0)
    return (_fused.EXADAM, flags, lr, beta1, beta2, eps, wd)


def _fused_exadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[int],
    **hp: Any,
) -> None:
    """The C++ kernel over all tensors it takes (see :mod:`optarena.optim._fused`); the loop for the rest."""
    hyper = _hyper(
        hp["lr"],
        hp["beta1"],
        hp["beta2"],
        hp["eps"],
        hp["weight_decay"],
        hp["maximize"],
        hp["lr_schedule_v1"],
    )
    lists = [params, grads, exp_avgs, exp_avg_sqs]
    left = _fused.step_lists(hyper, lists, steps)
    if left:
        _single_tensor_exadam(*_fused.subset([*lists, steps], left), **hp)


def _buckets(params: Sequence[Tensor]) -> list[list[int]]:
    """Indices of ``params`` grouped by (device, dtype), for the list paths."""
    out: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, p in enumerate(params):
        out.setdefault((p.device, p.dtype), []).append(i)
    return list(out.values())


def exadam(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    exp_avg_sqs: list[Tensor],
    steps: list[int],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool = False,
    lr_schedule_v1: bool = False,
    foreach: bool = False,
    fused: bool = False,
) -> None:
    """Functional EXAdam: updates ``params``, ``exp_avgs`` and ``exp_avg_sqs`` in place; ``steps`` are
    the per-parameter step counts *after* this step's increment. See :class:`EXAdam`."""
    if fused:
        impl = _fused_exadam
    elif foreach:
        impl = _multi_tensor_exadam
    else:
        impl = _single_tensor_exadam
    impl(
        params,
        grads,
        exp_avgs,
        exp_avg_sqs,
        steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        maximize=maximize,
        lr_schedule_v1=lr_schedule_v1,
    )


class EXAdam(FlatMixin, Optimizer):
    r"""EXAdam: Adam whose moment bias corrections are rescaled element-wise by cross-moment terms, and
    whose numerator adds a bias-corrected gradient term.

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2 \text{ (betas)},\ \epsilon \text{ (eps)},\
                \lambda \text{ (weight decay)},\ \theta_0 \text{ (params)},\ f(\theta) \text{ (objective)} \\
            &\textbf{initialize}: m_0 \leftarrow 0,\ v_0 \leftarrow 0 \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=1\ \textbf{to}\ \ldots\ \textbf{do} \\
            &\hspace{5mm} g_t \leftarrow \nabla_\theta f_t(\theta_{t-1})
                \quad (-\nabla_\theta f_t \text{ if maximize}) \\
            &\hspace{5mm} \theta_{t-1} \leftarrow (1 - \gamma\lambda)\,\theta_{t-1} \\
            &\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
            &\hspace{5mm} v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
            &\hspace{5mm} d_1 \leftarrow 1 + \beta_2^t\, \frac{v_t}{v_t + \epsilon}, \qquad
                d_2 \leftarrow 1 + \beta_1^t\, \frac{m_t^2}{m_t^2 + \epsilon} \\
            &\hspace{5mm} \tilde m_t \leftarrow \frac{d_1 m_t}{1-\beta_1^t}, \quad
                \tilde g_t \leftarrow \frac{d_1 g_t}{1-\beta_1^t}, \quad
                \tilde v_t \leftarrow \frac{d_2 v_t}{1-\beta_2^t} \\
            &\hspace{5mm} \gamma_t \leftarrow \gamma
                \quad (\gamma \ln\sqrt{2(t+1)} \text{ if lr\_schedule\_v1}) \\
            &\hspace{5mm} \theta_t \leftarrow \theta_{t-1}
                - \gamma_t\, \frac{\tilde m_t + \tilde g_t}{\sqrt{\tilde v_t} + \epsilon} \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ \theta_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    All products and quotients are element-wise; :math:`t` is counted per parameter.

    Args:
        params: iterable of tensors or of param-group dicts. Complex parameters raise ``ValueError``
            (the cross-moment terms are defined for real tensors; optimize ``torch.view_as_real(p)``).
        lr: learning rate :math:`\gamma \ge 0`, float or one-element tensor (default: 1e-3).
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1) (default: (0.9, 0.999)).
        eps: :math:`\epsilon > 0`, in :math:`d_1, d_2` and the denominator (default: 1e-8).
        weight_decay: decoupled weight decay :math:`\lambda \ge 0`, applied first (default: 0).
        maximize: maximize the objective; ``p.grad`` is not modified (default: False).
        foreach: multi-tensor path over each (device, dtype) bucket (default: False).
        fused: use the fused CPU implementation (default: False): one C++ call per parameter group
            (:mod:`optarena.optim._fused`) that finds each parameter's gradient and state itself and
            updates it in one pass over memory, OpenMP over blocks. The extension is built at first use
            (10-20 s, then cached by torch); ``OPTARENA_NO_COMPILE=1`` or a failed build make it the
            loop, as are tensors the kernels do not take (not on CPU, tensor subclasses, a gradient with
            other strides than its parameter); complex parameters are rejected anyway; on GPUs use ``foreach``. ``foreach`` and ``fused`` are
            exclusive.
        flat: with ``fused``, keep each parameter group's parameters, gradients and state as views of one
            buffer each and step them with one kernel call (:mod:`optarena.optim._flat`; default: False).
            The parameters' data is moved into the buffers at the group's first step (the ``Parameter``
            objects stay the same), and :meth:`zero_grad` keeps zeroed gradient views by default, so a
            parameter without a gradient from ``backward`` is stepped with a zero gradient, as after
            torch's ``zero_grad(set_to_none=False)``. A parameter whose memory something else shares (a
            view kept elsewhere, a larger buffer it is a view of, a tied parameter) is not moved and is
            stepped per tensor. For models of many small tensors.
        lr_schedule_v1: use paper v1's step size :math:`\gamma\ln\sqrt{2(t+1)}` (default: False, as
            paper v2, the author's code and pytorch-optimizer).

    State (per parameter, created at its first gradient): ``step`` (a Python int, no tensor bytes),
    ``exp_avg`` :math:`m` and ``exp_avg_sq`` :math:`v`, of the parameter's shape, in fp32 for 16-bit
    parameters and in the parameter's dtype otherwise: **8 B/param** for fp32 and bf16 parameters,
    16 B/param for fp64.
    With ``flat=True`` the state tensors are views of one buffer per key and the blocks' parameters
    share one ``step`` counter, a float32 0-dim tensor (4 B per block, counted as 4 B per parameter by
    the contract suite; ``state_dict()`` gives each parameter its own int step).

    Example:
        >>> import torch
        >>> from optarena.optim.exadam import EXAdam
        >>> w = torch.nn.Parameter(torch.ones(3))
        >>> opt = EXAdam([w], lr=0.1)
        >>> (w**2).sum().backward()
        >>> opt.step()
        >>> sorted(opt.state[w])
        ['exp_avg', 'exp_avg_sq', 'step']

    Reference:
        A. M. Adly, `EXAdam: The Power of Adaptive Cross-Moments <https://arxiv.org/abs/2412.20302>`_,
        arXiv preprint, 2024 (v2); code https://github.com/AhmedMostafa16/EXAdam (``exadam.py``).

    .. warning:: Departures from the author's code and from ``pytorch_optimizer.EXAdam``:

       - Weight decay is :math:`\theta(1-\gamma\lambda)` (pytorch-optimizer); the author's code adds
         :math:`-\gamma\lambda\theta`: the same up to one rounding.
       - :math:`t` is counted per parameter, as in the author's code and ``torch.optim``;
         pytorch-optimizer counts it per group, so a parameter whose gradients start late differs there.
       - 16-bit parameters keep fp32 state and are updated in fp32 with one rounding; the references keep
         state in the parameter's dtype.
       - ``eps`` must be > 0: with 0, a coordinate whose gradients have all been zero gives 0/0 in
         :math:`d_1, d_2`. The references accept 0.
       - ``maximize`` never touches ``p.grad``; pytorch-optimizer's negates ``p.grad`` in place.
       - Complex parameters raise; pytorch-optimizer treats them as ``view_as_real``.
       - HEAD of the author's repository fails at construction (``np`` used, numpy not imported);
         this follows its math, which pytorch-optimizer reproduces.
    """

    int_step = True  # flat blocks share a float32 counter; outside them the step is an int

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool = False,
        fused: bool = False,
        flat: bool = False,
        lr_schedule_v1: bool = False,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "fused": fused,
            "flat": flat,
            "lr_schedule_v1": lr_schedule_v1,
        }
        _check_hparams(defaults)
        super().__init__(params, defaults)
        self._flat_init()

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("flat", False)
        self._flat_init()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, not sets")
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        _check_hparams({**self.defaults, **group})
        for item in group["params"]:
            p = item[1] if isinstance(item, tuple) and len(item) == 2 else item
            if isinstance(p, Tensor) and torch.is_complex(p):
                raise ValueError(
                    f"EXAdam does not support complex parameters; got {p.dtype} of shape {tuple(p.shape)} "
                    "(optimize torch.view_as_real(p) instead)"
                )
        super().add_param_group(group)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``, but 16-bit parameters get their saved fp32 state back
        (the base class would cast it to the parameter's dtype)."""
        super().load_state_dict(state_dict)
        keep_fp32_state(self, state_dict)
        self._flat_forget()

    def _init_group(
        self,
        todo: Iterable[Tensor],
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        exp_avg_sqs: list[Tensor],
        steps: list[int],
    ) -> None:
        for p in todo:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError(
                    f"EXAdam does not support sparse gradients (parameter of shape {tuple(p.shape)})"
                )
            state = self.state[p]
            if len(state) == 0:
                dt = state_dtype(p)
                state["step"] = 0
                state["exp_avg"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
            state["step"] += 1
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Perform one optimization step; ``closure`` (re-evaluates the loss) is optional."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            lr = group["lr"]
            lr = float(lr.item()) if isinstance(lr, Tensor) else float(lr)
            beta1, beta2 = group["betas"]
            todo = group["params"]
            if group["fused"]:  # the parameters with state, in one C++ call; the rest below
                flags = (group["maximize"], group["lr_schedule_v1"])
                hyper = _hyper(lr, beta1, beta2, group["eps"], group["weight_decay"], *flags)
                if group["flat"]:
                    todo = self._flat_step(index, group, hyper, ("exp_avg", "exp_avg_sq"))
                todo = _fused.step_state(hyper, todo, self.state, ("exp_avg", "exp_avg_sq"))
                if not todo:  # every parameter was stepped in C++
                    continue
            params: list[Tensor] = []
            grads: list[Tensor] = []
            exp_avgs: list[Tensor] = []
            exp_avg_sqs: list[Tensor] = []
            steps: list[int] = []
            self._init_group(todo, params, grads, exp_avgs, exp_avg_sqs, steps)
            if not params:
                continue
            exadam(
                params,
                grads,
                exp_avgs,
                exp_avg_sqs,
                steps,
                lr=lr,
                beta1=beta1,
                beta2=beta2,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
                lr_schedule_v1=group["lr_schedule_v1"],
                foreach=group["foreach"],
                fused=group["fused"],
            )
        return loss


# --------------------------------------------------------------------------------------------------
# MethodSpec: the same search space as the AdamW baseline, for a like-for-like comparison

_EXADAM_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 3e-2, log=True),
        Param("one_minus_beta1", 0.02, 0.3, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"beta2": 0.999, "eps": 1e-8},
)


def make_exadam(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """EXAdam (readable loop, decoupled weight decay) plus warmup-cosine, as the AdamW baseline."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = EXAdam(
        [p for _, p in params],
        lr=hparams["lr"],
        betas=(1.0 - hparams["one_minus_beta1"], hparams["beta2"]),
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


EXADAM = MethodSpec(
    name="exadam",
    family="torch-optimizer",
    factory="optarena.optim.exadam:make_exadam",
    summary="EXAdam: Adam with adaptive cross-moment debiasing (paper v2 / author's code)",
    search_space=_EXADAM_SPACE,
    defaults={"lr": 1e-3, "one_minus_beta1": 0.1, "weight_decay": 1e-4, "warmup_frac": 0.05}
    | dict(_EXADAM_SPACE.fixed),
    paper=PaperRef(
        "A. M. Adly", "EXAdam: The Power of Adaptive Cross-Moments", "arXiv preprint", 2024, "2412.20302"
    ),
    capabilities=frozenset({"foreach", "fused", "param-groups"}),
    status="experimental",
)
