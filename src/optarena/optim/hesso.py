"""HESSO: Hybrid Efficient Structured Sparse Optimizer, one-run training and structured pruning.

A base step (SGD-momentum, Adam or AdamW) on every parameter, plus a hybrid pruning schedule over
zero-invariant groups (an output channel of a Linear/Conv2d layer together with its bias, BatchNorm
entries and the matching input channels of the next layer): in each pruning period the groups of lowest
saliency are marked redundant and shrunk linearly to exactly zero, then pinned there. Removing the zero
groups (:func:`construct_subnetwork`) gives a smaller network with the same outputs.

References:
    T. Chen, X. Qu, D. Aponte, C. Banbury, J. Ko, T. Ding, Y. Ma, V. Lyapunov, I. Zharkov, L. Liang,
    "HESSO: Towards Automatic Efficient and User Friendly Any Neural Network Training and Pruning",
    arXiv preprint, 2024, https://arxiv.org/abs/2409.09085
    Reference code: https://github.com/microsoft/only_train_once
    (``only_train_once/optimizer/hesso.py``, ``base_hybrid_sparse_optimizer.py``, ``importance_score/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec

__all__ = ["HESSO", "HESSO_SPEC", "construct_subnetwork", "find_groups", "group_is_zero", "make_hesso"]

#: One slice of a group: ``(parameter, index tensor, dim)``, the entries ``p.index_select(dim, index)``.
Slice = tuple[Tensor, Tensor, int]
#: A zero-invariant group: the slices that are zeroed (and removed) together.
Group = list[Slice]

_VARIANTS = ("sgd", "adam", "adamw")
#: The reference's default saliency mix: five criteria, 0.2 each.
DEFAULT_SALIENCY: dict[str, float] = {
    "magnitude": 0.2,
    "avg_magnitude": 0.2,
    "cosine_similarity": 0.2,
    "taylor_first_order": 0.2,
    "taylor_second_order": 0.2,
}
_SAFE = 1e-8
_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Identity,
    nn.Dropout,
    nn.MaxPool2d,
    nn.AvgPool2d,
)


# --------------------------------------------------------------------------------------------------
# groups of a plain nn.Sequential


def _plan(model: nn.Module) -> list[dict[str, Any]]:
    """Per prunable layer of a plain ``nn.Sequential``: the producer, its BatchNorm (or None), the
    consumer, and how many consumer input columns one channel spans (``> 1`` after a Flatten)."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(
            f"find_groups supports plain nn.Sequential models only, got {type(model).__name__} "
            "(pass groups explicitly: a list of groups, each a list of (parameter, index, dim) slices)"
        )
    layers: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None  # the open layer whose outputs flow forward
    for idx, m in enumerate(model):
        if isinstance(m, nn.Linear | nn.Conv2d):
            if isinstance(m, nn.Conv2d) and m.groups != 1:
                raise ValueError(
                    f"find_groups: Conv2d at index {idx} has groups={m.groups} (only 1 is supported)"
                )
            if current is not None:
                prod = current["producer"]
                channels = prod.out_channels if isinstance(prod, nn.Conv2d) else prod.out_features
                if isinstance(m, nn.Conv2d):
                    if current["flattened"] or not isinstance(prod, nn.Conv2d) or m.in_channels != channels:
                        raise ValueError(
                            f"find_groups: Conv2d at index {idx} does not consume layer {current['index']}"
                        )
                    span = 1
                else:
                    if isinstance(prod, nn.Conv2d) and not current["flattened"]:
                        raise ValueError(
                            f"find_groups: Linear at index {idx} follows a Conv2d without nn.Flatten"
                        )
                    if m.in_features % channels != 0:
                        raise ValueError(
                            f"find_groups: Linear at index {idx} has in_features={m.in_features}, "
                            f"not a multiple of the {channels} channels of layer {current['index']}"
                        )
                    span = m.in_features // channels
                current["consumer"], current["span"] = m, span
                layers.append(current)
            current = {"index": idx, "producer": m, "bn": None, "flattened": False}
        elif isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            if current is None or current["bn"] is not None or current["flattened"]:
                raise ValueError(f"find_groups: unsupported BatchNorm placement at index {idx}")
            current["bn"] = m
        elif isinstance(m, nn.Flatten):
            if current is not None:
                if m.start_dim != 1 or m.end_dim != -1:
                    raise ValueError(f"find_groups: Flatten at index {idx} must have start_dim=1, end_dim=-1")
                current["flattened"] = True
        elif isinstance(m, _ACTIVATIONS):
            continue
        else:
            raise ValueError(
                f"find_groups: unsupported module {type(m).__name__} at index {idx} (supported: Linear, "
                "Conv2d(groups=1), BatchNorm1d/2d, Flatten, elementwise activations, Dropout, pooling); "
                "pass groups explicitly instead"
            )
    return layers


def _layer_groups(layer: Mapping[str, Any]) -> list[Group]:
    prod, cons, bn, span = layer["producer"], layer["consumer"], layer["bn"], layer["span"]
    groups = []
    for c in range(prod.weight.shape[0]):
        idx = torch.tensor([c], device=prod.weight.device)
        g: Group = [(prod.weight, idx, 0)]
        if prod.bias is not None:
            g.append((prod.bias, idx, 0))
        if bn is not None and bn.affine:
            g += [(bn.weight, idx, 0), (bn.bias, idx, 0)]
        cols = torch.arange(c * span, (c + 1) * span, device=cons.weight.device)
        g.append((cons.weight, cols, 1))
        groups.append(g)
    return groups


def find_groups(model: nn.Module) -> list[Group]:
    """Zero-invariant groups of a plain ``nn.Sequential``: one per output channel of every Linear/Conv2d
    layer except the last, holding its weight row, bias entry, BatchNorm weight/bias entries and the
    matching input columns of the next layer (``C*H*W`` Linear columns after a Flatten).

    Raises ValueError for any other structure (pass explicit groups to :class:`HESSO` instead).
    """
    return [g for layer in _plan(model) for g in _layer_groups(layer)]


def group_is_zero(group: Group) -> bool:
    """True when every entry of every slice of ``group`` is exactly zero."""
    with torch.no_grad():
        return all(int(torch.count_nonzero(p.index_select(d, i))) == 0 for p, i, d in group)


# --------------------------------------------------------------------------------------------------
# the optimizer


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


class HESSO(Optimizer):
    r"""HESSO: a base optimizer step, then progressive shrinking of the least salient groups to zero.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)}, \text{variant}, \mu, (\beta_1,\beta_2), \epsilon, \lambda,
            \text{groups } \mathcal{G}, \text{target } s, T_0 \text{ (start\_step)},
            T_p \text{ (pruning\_steps)}, P \text{ (periods)} \\
       &\textbf{initialize}: D = \lfloor T_p / P\rfloor, \; K = \lfloor s\,|\mathcal{G}|\rfloor
            \text{ split as } K_j = \lfloor K/P\rfloor \;(K_{P-1} \text{ takes the rest}),
            \; \mathcal{Z} = \emptyset \\
       &\textbf{for}\: k = 1, 2, \ldots \\
       &\quad d_k = \text{sgd: } b \leftarrow \mu b + (g_k + \lambda x);\;
            \text{adam(w): } \hat m_k / (\sqrt{\hat v_k} + \epsilon) \\
       &\quad x \leftarrow x - \gamma d_k \;(\text{adamw: also } x \leftarrow x - \gamma\lambda x) \\
       &\quad \textbf{if}\: T_0 < k \le T_0 + P D: \; j = \lfloor (k - T_0 - 1)/D \rfloor,
            \; t = k - T_0 - jD \\
       &\qquad \textbf{if}\: t = 1: \mathcal{R} = K_j \text{ groups } \notin \mathcal{Z}
            \text{ of lowest } S(g) = \textstyle\sum_c w_c\, \sigma_c(g) / \|\sigma_c\|_2 \\
       &\qquad x_{\mathcal{R}} \leftarrow \tfrac{D - t}{D - t + 1}\, x_{\mathcal{R}}
            \quad (\text{so } x_{\mathcal{R}} = 0 \text{ at } t = D) \\
       &\qquad \textbf{if}\: t = D: \mathcal{Z} \leftarrow \mathcal{Z} \cup \mathcal{R} \\
       &\quad x_{\mathcal{Z}} \leftarrow 0 \\
       &\textbf{return}\: x
       \end{aligned}

    Saliency criteria :math:`\sigma_c` (those of the reference, computed on the parameters :math:`x_g`
    and the step direction :math:`d_g` of the group): ``magnitude`` :math:`\|x_g\|`, ``avg_magnitude``
    :math:`\|x_g\|/n_g`, ``cosine_similarity`` :math:`\cos(x_g, d_g) + 1`, ``taylor_first_order``
    :math:`|\langle x_g, d_g\rangle|`, ``taylor_second_order`` :math:`\tfrac12\langle x_g, d_g\rangle^2`;
    each is normalized by its L2 norm over all groups and mixed with weights ``saliency`` (0.2 each).

    Args:
        params: parameters (or param-group dicts) the base step updates; every parameter named in
            ``groups`` must be among them.
        groups: zero-invariant groups, a list of groups, each a list of ``(parameter, index, dim)``
            slices (:func:`find_groups` builds them for a plain ``nn.Sequential``). ``None`` or empty:
            no pruning, HESSO is its base optimizer.
        lr: learning rate (default 1e-3).
        variant: base step, ``"sgd"`` (momentum, coupled weight decay), ``"adam"`` (coupled) or
            ``"adamw"`` (decoupled weight decay) (default ``"sgd"``).
        momentum: SGD momentum (default 0.0). betas, eps: Adam moments (default (0.9, 0.999), 1e-8).
        weight_decay: (default 0.0).
        target_group_sparsity: fraction of groups driven to exactly zero, in [0, 1) (default 0.5).
        start_step: steps of plain training before pruning starts (default 0).
        pruning_steps: length of the pruning window (default 1000).
        pruning_periods: number of periods the target is split over (default 1).
        saliency: criterion name -> weight (default :data:`DEFAULT_SALIENCY`).

    State (bytes per parameter element, fp32): ``"step"`` (a scalar) plus 4 B for the SGD momentum buffer
    (none when ``momentum == 0``) or 8 B for Adam's ``exp_avg``/``exp_avg_sq``; the pruning schedule
    (global step, period, redundant and zero group ids) is O(|groups|) ints, saved under ``"hesso"``
    in :meth:`state_dict`.

    Departures:
        * Groups are explicit slices, not OTO's traced graph; :func:`find_groups` covers plain
          ``nn.Sequential`` models only.
        * The shrink factor runs :math:`(D-t)/(D-t+1)` for :math:`t = 1..D`, i.e. a linear decay that hits
          zero on the last step of each period; the reference's ``(D-t-1)/(D-t)`` with its own step
          offsets does the same up to an off-by-one.
        * Adam moments start at zero with standard bias correction (the reference starts them at
          :math:`g` and still divides by the bias correction); all state lives in ``state`` and is saved.
        * ``group_divisible`` (channel-count rounding) and the CRIC variant are not implemented.
        * ``p.grad`` is never modified; the step direction is a separate tensor.
    """

    def __init__(
        self,
        params: Iterable[Any],
        groups: Sequence[Group] | None = None,
        lr: float = 1e-3,
        variant: str = "sgd",
        momentum: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        target_group_sparsity: float = 0.5,
        start_step: int = 0,
        pruning_steps: int = 1000,
        pruning_periods: int = 1,
        saliency: Mapping[str, float] | None = None,
    ) -> None:
        if not _is_number(lr) or not (math.isfinite(lr) and lr >= 0.0):
            raise ValueError(f"Invalid learning rate: {lr!r} (must be a finite number >= 0)")
        if variant not in _VARIANTS:
            raise ValueError(f"Invalid variant: {variant!r} (must be one of {_VARIANTS})")
        if not _is_number(momentum) or not 0.0 <= momentum < 1.0:
            raise ValueError(f"Invalid momentum: {momentum!r} (must be in [0, 1))")
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas!r} (must be a pair of floats)")
        for i, b in enumerate(betas):
            if not _is_number(b) or not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b!r} (must be in [0, 1))")
        if not _is_number(eps) or not (math.isfinite(eps) and eps > 0.0):
            raise ValueError(f"Invalid eps: {eps!r} (must be a finite number > 0)")
        if not _is_number(weight_decay) or not (math.isfinite(weight_decay) and weight_decay >= 0.0):
            raise ValueError(f"Invalid weight_decay: {weight_decay!r} (must be a finite number >= 0)")
        if not _is_number(target_group_sparsity) or not 0.0 <= target_group_sparsity < 1.0:
            raise ValueError(f"Invalid target_group_sparsity: {target_group_sparsity!r} (must be in [0, 1))")
        if not _is_int(start_step) or start_step < 0:
            raise ValueError(f"Invalid start_step: {start_step!r} (must be an int >= 0)")
        if not _is_int(pruning_periods) or pruning_periods < 1:
            raise ValueError(f"Invalid pruning_periods: {pruning_periods!r} (must be an int >= 1)")
        if not _is_int(pruning_steps) or pruning_steps < pruning_periods:
            raise ValueError(
                f"Invalid pruning_steps: {pruning_steps!r} (must be an int >= pruning_periods={pruning_periods})"
            )
        sal = dict(DEFAULT_SALIENCY if saliency is None else saliency)
        for name, w in sal.items():
            if name not in DEFAULT_SALIENCY:
                raise ValueError(f"Invalid saliency criterion: {name!r} (known: {tuple(DEFAULT_SALIENCY)})")
            if not _is_number(w) or not (math.isfinite(w) and w >= 0.0):
                raise ValueError(
                    f"Invalid saliency weight for {name!r}: {w!r} (must be a finite number >= 0)"
                )
        if not sal or sum(sal.values()) <= 0.0:
            raise ValueError(f"Invalid saliency: {sal!r} (needs at least one positive weight)")
        defaults = dict(
            lr=lr, variant=variant, momentum=momentum, betas=tuple(betas), eps=eps, weight_decay=weight_decay
        )
        super().__init__(params, defaults)
        for g in self.param_groups:
            if g["variant"] not in _VARIANTS:
                raise ValueError(f"Invalid variant: {g['variant']!r} (must be one of {_VARIANTS})")

        known = {id(p) for g in self.param_groups for p in g["params"]}
        self._groups: list[Group] = []
        for gi, group in enumerate(groups or []):
            checked: Group = []
            if len(group) == 0:
                raise ValueError(f"Invalid group {gi}: it has no slices")
            for p, index, dim in group:
                if not isinstance(p, Tensor) or id(p) not in known:
                    raise ValueError(
                        f"Invalid group {gi}: a slice's parameter is not among the optimizer's params"
                    )
                if not _is_int(dim) or not -p.ndim <= dim < p.ndim:
                    raise ValueError(
                        f"Invalid group {gi}: dim={dim!r} for a parameter of shape {tuple(p.shape)}"
                    )
                index = torch.as_tensor(index, dtype=torch.long, device=p.device).reshape(-1)
                if index.numel() == 0 or int(index.min()) < 0 or int(index.max()) >= p.shape[dim]:
                    raise ValueError(
                        f"Invalid group {gi}: index {index.tolist()} out of range for dim {dim} of shape "
                        f"{tuple(p.shape)}"
                    )
                checked.append((p, index, dim % p.ndim))
            self._groups.append(checked)
        self.target_group_sparsity = float(target_group_sparsity)
        self.start_step = start_step
        self.pruning_steps = pruning_steps
        self.pruning_periods = pruning_periods
        self.period_length = pruning_steps // pruning_periods
        self.saliency = sal
        n = len(self._groups)
        total = int(n * self.target_group_sparsity)
        per = total // pruning_periods
        self.redundant_per_period = [per] * (pruning_periods - 1) + [total - per * (pruning_periods - 1)]
        self._prune: dict[str, Any] = {"step": 0, "active": [], "zero": []}

    # ---------------------------------------------------------------------------------------------
    @property
    def groups(self) -> list[Group]:
        return self._groups

    def group_sparsity(self) -> float:
        """Measured fraction of groups that are exactly zero (0.0 without groups)."""
        if not self._groups:
            return 0.0
        return sum(group_is_zero(g) for g in self._groups) / len(self._groups)

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["hesso"] = {k: (list(v) if isinstance(v, list) else v) for k, v in self._prune.items()}
        return sd

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("hesso", None)
        super().load_state_dict(state_dict)
        if saved is not None:
            self._prune = {k: (list(v) if isinstance(v, list) else v) for k, v in saved.items()}

    # ---------------------------------------------------------------------------------------------
    def _direction(self, p: Tensor, group: Mapping[str, Any]) -> Tensor:
        """The base optimizer's step direction ``d`` (the update is ``x -= lr * d``), state updated."""
        g = p.grad
        if g.is_sparse:
            raise RuntimeError(
                f"HESSO does not support sparse gradients (parameter of shape {tuple(p.shape)})"
            )
        st = self.state[p]
        if len(st) == 0:
            st["step"] = torch.tensor(0.0)
            if group["variant"] == "sgd":
                if group["momentum"] > 0.0:
                    st["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            else:
                st["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                st["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        st["step"] += 1
        wd = group["weight_decay"]
        if group["variant"] == "sgd":
            d = g.add(p, alpha=wd) if wd != 0.0 else g.clone()
            if group["momentum"] > 0.0:
                buf = st["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(d)
                d = buf.clone()
            return d
        if group["variant"] == "adam" and wd != 0.0:
            g = g.add(p, alpha=wd)
        b1, b2 = group["betas"]
        k = float(st["step"])
        st["exp_avg"].lerp_(g, 1.0 - b1)
        st["exp_avg_sq"].mul_(b2).addcmul_(g, g, value=1.0 - b2)
        denom = (st["exp_avg_sq"] / (1.0 - b2**k)).sqrt_().add_(group["eps"])
        return (st["exp_avg"] / (1.0 - b1**k)).div_(denom)

    def _scores(self, directions: Mapping[int, Tensor]) -> Tensor:
        """Mixed saliency of every group (higher = more important)."""
        raw: dict[str, list[float]] = {c: [] for c in self.saliency}
        for group in self._groups:
            xx = dd = xd = 0.0
            n = 0
            for p, index, dim in group:
                x = p.detach().index_select(dim, index).double()
                d = directions.get(id(p))
                d = torch.zeros_like(x) if d is None else d.index_select(dim, index).double()
                xx += float((x * x).sum())
                dd += float((d * d).sum())
                xd += float((x * d).sum())
                n += x.numel()
            nx, nd = math.sqrt(xx), math.sqrt(dd)
            values = {
                "magnitude": nx,
                "avg_magnitude": nx / max(n, 1),
                "cosine_similarity": xd / (nx + _SAFE) / (nd + _SAFE) + 1.0,
                "taylor_first_order": abs(xd),
                "taylor_second_order": 0.5 * xd * xd,
            }
            for c in raw:
                raw[c].append(values[c])
        total = torch.zeros(len(self._groups), dtype=torch.float64)
        for c, w in self.saliency.items():
            v = torch.tensor(raw[c], dtype=torch.float64)
            total += w * v / (math.sqrt(float((v * v).sum()) + _SAFE) + _SAFE)
        return total

    def _scale_groups(self, ids: Iterable[int], factor: float) -> None:
        for gi in ids:
            for p, index, dim in self._groups[gi]:
                if factor == 0.0:
                    p.index_fill_(dim, index, 0.0)
                else:
                    p.index_copy_(dim, index, p.index_select(dim, index).mul_(factor))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """One base step on every parameter with a gradient, then the pruning schedule."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        directions: dict[int, Tensor] = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = self._direction(p, group)
                if group["variant"] == "adamw" and group["weight_decay"] != 0.0:
                    p.mul_(1.0 - group["lr"] * group["weight_decay"])
                p.add_(d, alpha=-group["lr"])
                directions[id(p)] = d
        pr = self._prune
        pr["step"] += 1
        if self._groups:
            k, D = pr["step"], self.period_length
            if self.start_step < k <= self.start_step + self.pruning_periods * D:
                j, t = divmod(k - self.start_step - 1, D)
                t += 1
                if t == 1:
                    scores = self._scores(directions)
                    zero = set(pr["zero"])
                    order = [i for i in torch.argsort(scores, stable=True).tolist() if i not in zero]
                    pr["active"] = sorted(order[: self.redundant_per_period[j]])
                self._scale_groups(pr["active"], (D - t) / (D - t + 1))
                if t == D:
                    pr["zero"] = sorted(set(pr["zero"]) | set(pr["active"]))
                    pr["active"] = []
            self._scale_groups(pr["zero"], 0.0)
        return loss


# --------------------------------------------------------------------------------------------------
# the pruned network


def construct_subnetwork(model: nn.Module, groups: Sequence[Group] | None = None) -> nn.Sequential:
    """A new, smaller ``nn.Sequential`` without the exactly-zero groups of ``model``.

    ``groups`` must be those of :func:`find_groups` (the default); a channel is removed when its whole
    group is zero. The result computes the same function as ``model`` (zero groups contribute exactly
    zero), up to float summation order. ``model`` is not modified.
    """
    import copy

    plan = _plan(model)
    auto = [g for layer in plan for g in _layer_groups(layer)]
    if groups is not None:
        same = len(groups) == len(auto) and all(
            len(a) == len(b)
            and all(pa is pb and da == db for (pa, _, da), (pb, _, db) in zip(a, b, strict=True))
            for a, b in zip(groups, auto, strict=True)
        )
        if not same:
            raise ValueError(
                "construct_subnetwork needs the groups of find_groups(model) (explicit groups differ)"
            )
    small = copy.deepcopy(model)
    small_plan = _plan(small)
    start = 0
    with torch.no_grad():
        for layer, new in zip(plan, small_plan, strict=True):
            n = layer["producer"].weight.shape[0]
            keep = [c for c, g in enumerate(auto[start : start + n]) if not group_is_zero(g)]
            start += n
            if not keep:
                keep = [0]  # keep one (zero) channel so the network stays well formed
            kidx = torch.tensor(keep, device=layer["producer"].weight.device)
            prod, cons, bn, span = new["producer"], new["consumer"], new["bn"], new["span"]
            prod.weight = nn.Parameter(prod.weight.index_select(0, kidx).clone())
            if prod.bias is not None:
                prod.bias = nn.Parameter(prod.bias.index_select(0, kidx).clone())
            if isinstance(prod, nn.Conv2d):
                prod.out_channels = len(keep)
            else:
                prod.out_features = len(keep)
            if bn is not None:
                if bn.affine:
                    bn.weight = nn.Parameter(bn.weight.index_select(0, kidx).clone())
                    bn.bias = nn.Parameter(bn.bias.index_select(0, kidx).clone())
                if bn.track_running_stats:
                    bn.running_mean = bn.running_mean.index_select(0, kidx).clone()
                    bn.running_var = bn.running_var.index_select(0, kidx).clone()
                bn.num_features = len(keep)
            cols = (kidx[:, None] * span + torch.arange(span, device=kidx.device)[None, :]).reshape(-1)
            cols = cols.to(cons.weight.device)
            cons.weight = nn.Parameter(cons.weight.index_select(1, cols).clone())
            if isinstance(cons, nn.Conv2d):
                cons.in_channels = len(keep)
            else:
                cons.in_features = len(cols)
    return small


# --------------------------------------------------------------------------------------------------
# registry


def make_hesso(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """The harness passes named parameters only; HESSO's groups need the model's structure."""
    raise ValueError(
        "HESSO needs the model to build its zero-invariant groups (find_groups(model)) and to construct "
        "the pruned subnetwork; the harness passes named parameters only, so build HESSO directly: "
        "HESSO(model.parameters(), groups=find_groups(model), ...)"
    )


_HESSO_SPACE = SearchSpace(
    (Param("lr", 1e-3, 3e-1, log=True), Param("target_group_sparsity", 0.1, 0.9)),
    fixed={"variant": "sgd", "momentum": 0.9},
)

HESSO_SPEC = MethodSpec(
    name="hesso",
    family="torch-optimizer",
    factory="optarena.optim.hesso:make_hesso",
    summary="HESSO: base step plus progressive shrinking of low-saliency groups to exact zero (needs a model)",
    search_space=_HESSO_SPACE,
    defaults={"lr": 1e-2, "target_group_sparsity": 0.5} | dict(_HESSO_SPACE.fixed),
    paper=PaperRef(
        "T. Chen, X. Qu, D. Aponte, C. Banbury, J. Ko, T. Ding, Y. Ma, V. Lyapunov, I. Zharkov, L. Liang",
        "HESSO: Towards Automatic Efficient and User Friendly Any Neural Network Training and Pruning",
        "arXiv preprint",
        2024,
        "2409.09085",
    ),
    capabilities=frozenset({"needs-model", "param-groups"}),
    status="experimental",
)
