"""Lion (EvoLved Sign Momentum), Chen et al., NeurIPS 2023: a sign update of an interpolated momentum.

The optimizer follows torch.optim: :class:`Lion` validates its hyperparameters, keeps per-parameter
state (``exp_avg`` and ``step``), and its ``step()`` calls the functional core :func:`lion`, which
dispatches to a readable single-tensor loop (the default), a ``torch._foreach_*`` path or a fused C++
path (:mod:`optarena.optim._fused`; with ``fused=True``, ``step()`` hands whole parameter groups to it).
All three compute the same numbers: the loop and the foreach path run the reference's ops in its order (bit-identical to ``lion-pytorch`` 0.2.5 and to each other); the fused path
computes the same expression in one pass (an operation may round differently, by an ulp; the tests
hold it to 1e-12 of the loop in float64).

:data:`LION` is the registry entry (factory :func:`make_lion`, with warmup-cosine).
"""

from __future__ import annotations

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

__all__ = ["LION", "Lion", "lion", "make_lion"]


class Lion(FlatMixin, torch.optim.Optimizer):
    r"""Lion: the sign of an interpolation of momentum and gradient, with decoupled weight decay.

    .. math::
        \begin{aligned}
            &\rule{110mm}{0.4pt}                                                                   \\
            &\textbf{input}      : \gamma \text{ (lr)}, \: \beta_1, \beta_2 \text{ (betas)},
                \: \theta_0 \text{ (params)}, \: f(\theta) \text{ (objective)},
                \: \lambda \text{ (weight decay)}, \: \textit{maximize}                            \\
            &\textbf{initialize} : m_0 \leftarrow 0 \text{ (momentum)}                        \\[-1.ex]
            &\rule{110mm}{0.4pt}                                                                   \\
            &\textbf{for} \: t=1 \: \textbf{to} \: \ldots \: \textbf{do}                           \\
            &\hspace{5mm}\textbf{if} \: \textit{maximize}: g_t \leftarrow -\nabla_{\theta} f_t(\theta_{t-1}) \\
            &\hspace{5mm}\textbf{else}: g_t \leftarrow \nabla_{\theta} f_t(\theta_{t-1})           \\
            &\hspace{5mm} c_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t                       \\
            &\hspace{5mm} \theta_t \leftarrow \theta_{t-1} (1 - \gamma \lambda)
                - \gamma \, \mathrm{sign}(c_t)                                                      \\
            &\hspace{5mm} m_t \leftarrow \beta_2 m_{t-1} + (1 - \beta_2) g_t                       \\
            &\rule{110mm}{0.4pt}                                                              \\[-1.ex]
            &\textbf{return} \: \theta_t                                                      \\[-1.ex]
            &\rule{110mm}{0.4pt}                                                              \\[-1.ex]
        \end{aligned}

    With :math:`\lambda = 0` every coordinate moves by exactly :math:`0` or :math:`\gamma` per step. The
    paper advises a learning rate 3-10x smaller and a weight decay 3-10x larger than AdamW's (the
    effective decay is :math:`\gamma\lambda`), and larger batches than AdamW.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate :math:`\gamma` (default: 1e-4, the paper's).
        betas: :math:`(\beta_1, \beta_2)`, interpolation for the update and momentum decay
            (default: (0.9, 0.99), the paper's). Each in [0, 1].
        weight_decay: decoupled weight decay :math:`\lambda`, multiplied by the learning rate
            (default: 0, the paper's code).
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

    State (per parameter, created at its first step): ``exp_avg`` (:math:`m`, shape of the parameter,
    float32 for bf16/fp16 parameters, else the parameter's dtype) and ``step`` (a float32 0-dim tensor,
    counted per parameter; Lion itself does not use it). State bytes for fp32, bf16 or fp16 parameters:
    ``4 * numel + 4`` per tensor, i.e. 4 B/param plus 4 B per tensor; ``8 * numel + 4`` for float64.
    Bytes moved per step at the fused floor (fp32): read p, g, m and write p, m, i.e. 20 B/param.
    With ``flat=True`` the state tensors are views of one buffer per key and the blocks' parameters
    share one ``step`` tensor (4 B per block; ``state_dict()`` gives each parameter its own copy).

    Parameters of dtype bf16/fp16 are updated in float32 (the fp32 state, the parameter upcast) and
    rounded once when written back. Complex parameters are optimized as ``torch.view_as_real`` pairs:
    the sign is taken per real and imaginary part. Sparse gradients raise ``RuntimeError``. ``p.grad``
    is never modified.

    Reference:
        X. Chen, C. Liang, D. Huang, E. Real, K. Wang, H. Pham, X. Dong, T. Luong, C.-J. Hsieh, Y. Lu,
        Q. V. Le, "Symbolic Discovery of Optimization Algorithms", NeurIPS 2023, arXiv:2302.06675.
        Code: google/automl ``lion/lion_pytorch.py``; PyPI ``lion-pytorch`` 0.2.5.

    Departures:
        Follows ``lion-pytorch`` 0.2.5 (same ops, same order: bit-identical in the loop and foreach
        paths; the tests check 1e-12 in float64 over 100 steps, with and without weight decay). Unlike
        it: hyperparameters are checked with ``ValueError`` (it uses ``assert`` and rejects ``lr=0``);
        complex parameters use a per-part sign (it uses ``sgn``, :math:`z/|z|`); there is no
        ``decoupled_weight_decay`` rescaling by the initial lr (its default, off, is what we do); the
        state has a ``step`` counter; bf16/fp16 parameters keep fp32 state (it keeps their dtype).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
        foreach: bool = False,
        fused: bool = False,
        flat: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            weight_decay=weight_decay,
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
        self,
        todo: Iterable[Tensor],
        params: list[Tensor],
        grads: list[Tensor],
        exp_avgs: list[Tensor],
        steps: list[Tensor],
    ) -> None:
        for p in todo:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise RuntimeError("Lion does not support sparse gradients")
            state = self.state[p]
            if len(state) == 0:
                state["step"] = torch.tensor(0.0, dtype=torch.float32)
                state["exp_avg"] = torch.zeros_like(
                    p, dtype=state_dtype(p), memory_format=torch.preserve_format
                )
            params.append(as_real(p))
            grads.append(as_real(p.grad))
            exp_avgs.append(as_real(state["exp_avg"]))
            steps.append(state["step"])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """Perform one optimization step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            todo = group["params"]
            if group["fused"]:  # the parameters with state, in one C++ call; the rest below
                hyper = _hyper(group)
                if group["flat"]:
                    todo = self._flat_step(index, group, hyper, ("exp_avg",))
                todo = _fused.step_state(hyper, todo, self.state, ("exp_avg",))
                if not todo:  # every parameter was stepped in C++
                    continue
            params: list[Tensor] = []
            grads: list[Tensor] = []
            exp_avgs: list[Tensor] = []
            steps: list[Tensor] = []
            self._init_group(todo, params, grads, exp_avgs, steps)
            beta1, beta2 = group["betas"]
            lion(
                params,
                grads,
                exp_avgs,
                steps,
                lr=group["lr"],
                beta1=beta1,
                beta2=beta2,
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
                foreach=group["foreach"],
                fused=group["fused"],
            )
        return loss


def _validate(group: Mapping[str, Any]) -> None:
    lr, betas, wd = group["lr"], group["betas"], group["weight_decay"]
    if not (isinstance(lr, int | float) and 0.0 <= lr < float("inf")):
        raise ValueError(f"Invalid learning rate: {lr}")
    if not (isinstance(betas, Sequence) and len(betas) == 2):
        raise ValueError(f"Invalid betas: {betas} (need a pair)")
    for i, beta in enumerate(betas):
        if not (isinstance(beta, int | float) and 0.0 <= beta <= 1.0):
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if not (isinstance(wd, int | float) and 0.0 <= wd < float("inf")):
        raise ValueError(f"Invalid weight_decay value: {wd}")
    if group["foreach"] and group["fused"]:
        raise ValueError("Invalid flags: foreach=True and fused=True are exclusive")
    if group["flat"] and not group["fused"]:
        raise ValueError(f"Invalid flags: flat=True needs fused=True (got fused={group['fused']})")


# --- functional core -------------------------------------------------------------------------------


def lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool = False,
    foreach: bool = False,
    fused: bool = False,
) -> None:
    """Functional Lion on real tensors (complex ones already viewed as real): updates ``params``,
    ``exp_avgs`` and ``state_steps`` in place; ``grads`` are only read."""
    if foreach and fused:
        raise ValueError("Invalid flags: foreach=True and fused=True are exclusive")
    impl = _fused_lion if fused else _multi_tensor_lion if foreach else _single_tensor_lion
    impl(
        params,
        grads,
        exp_avgs,
        state_steps,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        maximize=maximize,
    )


def _lion_update(
    p: Tensor,
    g: Tensor,
    m: Tensor,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """One tensor's update, in the reference's ops and order (so float64 results are bit-identical)."""
    theta = p if p.dtype == m.dtype else p.to(m.dtype)  # bf16/fp16: compute on an fp32 copy
    grad = g.to(m.dtype)
    if maximize:
        grad = -grad
    if weight_decay != 0:
        theta.mul_(1.0 - lr * weight_decay)
    update = m.mul(beta1).add_(grad, alpha=1.0 - beta1).sign_()
    theta.add_(update, alpha=-lr)
    m.mul_(beta2).add_(grad, alpha=1.0 - beta2)
    if theta is not p:
        p.copy_(theta)


def _single_tensor_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    state_steps: list[Tensor],
    **hp: Any,
) -> None:
    for p, g, m, step_t in zip(params, grads, exp_avgs, state_steps, strict=True):
        step_t += 1
        _lion_update(p, g, m, **hp)


def _multi_tensor_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    state_steps: list[Tensor],
    *,
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool,
) -> None:
    """The loop's ops as ``torch._foreach_*`` calls over the whole list (one call per op)."""
    if not params:
        return
    torch._foreach_add_(state_steps, 1.0)
    thetas = [p if p.dtype == m.dtype else p.to(m.dtype) for p, m in zip(params, exp_avgs, strict=True)]
    grads = [g.to(m.dtype) for g, m in zip(grads, exp_avgs, strict=True)]
    if maximize:
        grads = torch._foreach_neg(grads)
    if weight_decay != 0:
        torch._foreach_mul_(thetas, 1.0 - lr * weight_decay)
    updates = torch._foreach_mul(exp_avgs, beta1)
    torch._foreach_add_(updates, grads, alpha=1.0 - beta1)
    torch._foreach_sign_(updates)
    torch._foreach_add_(thetas, updates, alpha=-lr)
    del updates
    torch._foreach_mul_(exp_avgs, beta2)
    torch._foreach_add_(exp_avgs, grads, alpha=1.0 - beta2)
    low = [(p, t) for p, t in zip(params, thetas, strict=True) if t is not p]
    if low:
        torch._foreach_copy_([p for p, _ in low], [t for _, t in low])


def _hyper(group: Mapping[str, Any]) -> _fused.Hyper:
    beta1, beta2 = group["betas"]
    flags = _fused.MAXIMIZE if group["maximize"] else 0
    return (_fused.LION, flags, group["lr"], beta1, beta2, 0.0, group["weight_decay"])


def _fused_lion(
    params: list[Tensor],
    grads: list[Tensor],
    exp_avgs: list[Tensor],
    state_steps: list[Tensor],
    **hp: Any,
) -> None:
    """The C++ kernel over all tensors it takes (see :mod:`optarena.optim._fused`); the loop for the rest."""
    group = {"betas": (hp["beta1"], hp["beta2"]), **hp}
    left = _fused.step_lists(_hyper(group), (params, grads, exp_avgs), state_steps)
    if left:
        _single_tensor_lion(*_fused.subset((params, grads, exp_avgs, state_steps), left), **hp)


# --- registry entry --------------------------------------------------------------------------------


def make_lion(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Lion, Any]:
    """Lion (foreach path: no extension build inside a timed trial) with linear warmup and cosine decay."""
    from optarena.optim.schedules import warmup_cosine_scheduler

    opt = Lion(
        [p for _, p in params],
        lr=hparams["lr"],
        betas=(1.0 - hparams["one_minus_beta1"], hparams["beta2"]),
        weight_decay=hparams["weight_decay"],
        foreach=True,
    )
    return opt, warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])


# The paper: lr 3-10x smaller and weight decay 3-10x larger than AdamW's (baselines: lr [1e-4, 3e-2],
# wd [1e-5, 1e-1]). The defaults must lie in the space (a trial validates them), so the spec's weight
# decay default is 1e-3 = 10x the AdamW baseline's 1e-4 (the class default is the paper's 0).
_LION_SPACE = SearchSpace(
    (
        Param("lr", 1e-5, 3e-3, log=True),
        Param("one_minus_beta1", 0.02, 0.3, log=True),
        Param("weight_decay", 1e-4, 1.0, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={"beta2": 0.99},
)
_LION_DEFAULTS = {"lr": 1e-4, "one_minus_beta1": 0.1, "weight_decay": 1e-3, "warmup_frac": 0.05}
_LION_DEFAULTS |= dict(_LION_SPACE.fixed)

LION = MethodSpec(
    name="lion",
    family="torch-optimizer",
    factory="optarena.optim.lion:make_lion",
    summary="Lion, sign of interpolated momentum with decoupled weight decay",
    search_space=_LION_SPACE,
    defaults=_LION_DEFAULTS,
    paper=PaperRef(
        "X. Chen, C. Liang, D. Huang, E. Real, K. Wang, H. Pham, X. Dong, T. Luong, C.-J. Hsieh, Y. Lu, "
        "Q. V. Le",
        "Symbolic Discovery of Optimization Algorithms",
        "NeurIPS",
        2023,
        "2302.06675",
    ),
    capabilities=frozenset({"foreach", "fused", "closure", "complex", "maximize"}),
    status="experimental",
)
