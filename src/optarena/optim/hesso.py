"""HESSO: Hybrid Efficient Structured Sparse Optimizer, one-run training and structured pruning.

A base step (SGD-momentum, Adam or AdamW) on every parameter, plus a hybrid pruning schedule over
zero-invariant groups (an output channel of a Linear/Conv2d layer together with its bias, BatchNorm
entries and the matching input channels of the next layer): after a warm-up, in each pruning period the
groups of lowest saliency are marked redundant and shrunk linearly to exactly zero, then pinned there.
Removing the zero groups (:func:`construct_subnetwork`) gives a smaller network with the same outputs.

Groups come from one of three places:

* :func:`find_groups` ``(model)`` for a plain ``nn.Sequential`` (Linear, Conv2d, BatchNorm, Flatten,
  elementwise activations, pooling); :func:`construct_subnetwork` builds the smaller network from them;
* :func:`groups_from_named_parameters` ``(model.named_parameters())`` when only the named parameters are
  at hand (the benchmark harness): it reads a chain of ``<layer>.weight`` / ``<layer>.bias`` pairs of
  Linear/Conv2d layers in forward order and checks that consecutive shapes connect (see its docstring
  for what it assumes and what it rejects);
* explicit groups: a list of groups, each a list of ``(parameter, index, dim)`` slices.

References:
    T. Chen, X. Qu, D. Aponte, C. Banbury, J. Ko, T. Ding, Y. Ma, V. Lyapunov, I. Zharkov, L. Liang,
    "HESSO: Towards Automatic Efficient and User Friendly Any Neural Network Training and Pruning",
    arXiv preprint, 2024, https://arxiv.org/abs/2409.09085
    Reference code: https://github.com/microsoft/only_train_once
    (``only_train_once/optimizer/hesso.py``, ``base_hybrid_sparse_optimizer.py``, ``importance_score/``).

Example::

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = HESSO(model.parameters(), groups=find_groups(model), lr=0.05, momentum=0.9,
                target_group_sparsity=0.5, start_step=100, pruning_steps=100, pruning_periods=5)
    ...  # train as usual; after start_step + pruning_steps, half the hidden channels are exactly zero
    small = construct_subnetwork(model)  # 8 hidden channels, same outputs
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from optarena.core.errors import IncompatibleError
from optarena.core.paper import PaperRef
from optarena.core.searchspace import Param, SearchSpace
from optarena.core.spec import MethodSpec
from optarena.optim._state import LOW_PRECISION, as_real, keep_fp32_state, state_dtype

__all__ = [
    "DEFAULT_SALIENCY",
    "HESSO",
    "HESSO_SPEC",
    "construct_subnetwork",
    "find_groups",
    "group_is_zero",
    "groups_from_named_parameters",
    "make_hesso",
]

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
# groups from named parameters (no model at hand)


def groups_from_named_parameters(named_params: Iterable[tuple[str, Tensor]]) -> list[Group]:
    """Zero-invariant groups inferred from ``model.named_parameters()`` alone, for a chain of layers.

    The parameters must be, in order, ``<layer>.weight`` (2-D: Linear, or 4-D: Conv2d) each optionally
    followed by ``<layer>.bias`` of one entry per output channel, and each layer must consume the
    previous one's outputs: Conv2d -> Conv2d with ``in_channels`` equal to the previous
    ``out_channels``; Linear -> Linear with ``in_features`` equal to the previous ``out_features``;
    Conv2d -> Linear with ``in_features`` a multiple ``span`` of the channels (a channel-major
    ``nn.Flatten``). Each output channel ``c`` of every layer but the last gives one group: weight row
    ``c``, bias entry ``c`` and the ``span`` input columns of the next layer that read channel ``c``
    (the same groups :func:`find_groups` builds for such an ``nn.Sequential``). The last layer's outputs
    are the network's outputs and are not pruned.

    Assumed, and not checkable from names and shapes: the layers run in this order and each one's
    output feeds only the next one, through elementwise functions, pooling, dropout or a flatten.
    Anything else among the parameters (BatchNorm/LayerNorm weights, embeddings, free tensors, grouped
    convolutions) raises ValueError naming the parameter: use :func:`find_groups` on the model or pass
    explicit groups instead. Zero groups then contribute exactly nothing to the next layer, so the
    network computes what a network without those channels computes, whatever its activations.
    """
    items = list(named_params)
    layers: list[tuple[str, Tensor, Tensor | None]] = []
    i = 0
    while i < len(items):
        name, w = items[i]
        prefix, _, leaf = name.rpartition(".")
        if leaf != "weight" or not isinstance(w, Tensor) or w.ndim not in (2, 4):
            shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ValueError(
                f"cannot infer HESSO groups: parameter {name!r} of shape {shape} is not the weight of a "
                "Linear or Conv2d layer (a 2-D or 4-D tensor named '<layer>.weight'); pass groups from "
                "find_groups(model) or explicit groups"
            )
        bias = None
        bias_name = f"{prefix}.bias" if prefix else "bias"
        if i + 1 < len(items) and items[i + 1][0] == bias_name:
            bias = items[i + 1][1]
            if tuple(bias.shape) != (w.shape[0],):
                raise ValueError(
                    f"cannot infer HESSO groups: bias {bias_name!r} has shape {tuple(bias.shape)}, "
                    f"expected ({w.shape[0]},) for weight {name!r} of shape {tuple(w.shape)}"
                )
            i += 1
        layers.append((name, w, bias))
        i += 1
    groups: list[Group] = []
    for (name, w, bias), (next_name, nxt, _) in itertools.pairwise(layers):
        channels, fan_in = w.shape[0], nxt.shape[1]
        if nxt.ndim == w.ndim and fan_in == channels:  # Conv2d -> Conv2d or Linear -> Linear
            span = 1
        elif nxt.ndim == 2 and w.ndim == 4 and channels > 0 and fan_in % channels == 0:
            span = fan_in // channels
        else:
            raise ValueError(
                f"cannot infer HESSO groups: {next_name!r} of shape {tuple(nxt.shape)} does not consume "
                f"the {channels} output channels of {name!r} of shape {tuple(w.shape)} (not a chain of "
                "Linear/Conv2d layers)"
            )
        for c in range(channels):
            idx = torch.tensor([c], device=w.device)
            g: Group = [(w, idx, 0)]
            if bias is not None:
                g.append((bias, idx, 0))
            g.append((nxt, torch.arange(c * span, (c + 1) * span, device=nxt.device), 1))
            groups.append(g)
    return groups


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
       &\quad d_k = \text{sgd: } b \leftarrow \mu b + (g_k + \lambda x),\; d_k = b \;(d_k = g_k +
            \lambda x \text{ if } \mu = 0);\;
            \text{adam(w): } \hat m_k / (\sqrt{\hat v_k} + \epsilon) \\
       &\quad x \leftarrow x - \gamma d_k \;(\text{adamw: first } x \leftarrow x - \gamma\lambda x,
            \text{ and no } \lambda \text{ in } g_k) \\
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

    The first :math:`T_0` steps are the warm-up (plain training); the pruning window follows; after it,
    training continues with the :math:`\mathcal{Z}` groups pinned at exactly zero. Saliency criteria
    :math:`\sigma_c` (those of the reference, computed on the parameters :math:`x_g` and the step
    direction :math:`d_g` of the group at the first step of each period): ``magnitude``
    :math:`\|x_g\|`, ``avg_magnitude`` :math:`\|x_g\|/n_g`, ``cosine_similarity``
    :math:`\cos(x_g, d_g) + 1`, ``taylor_first_order`` :math:`|\langle x_g, d_g\rangle|`,
    ``taylor_second_order`` :math:`\tfrac12\langle x_g, d_g\rangle^2`; each is normalized by its L2
    norm over all groups and mixed with weights ``saliency`` (0.2 each, the reference's default).

    With no groups, or with ``target_group_sparsity=0``, HESSO is exactly its base optimizer: the
    ``sgd`` variant computes what ``torch.optim.SGD(momentum=mu, weight_decay=wd)`` computes, ``adam``
    ``torch.optim.Adam`` and ``adamw`` ``torch.optim.AdamW`` (same operations in the same order;
    tested bit-identical in fp32/fp64).

    Args:
        params: parameters (or param-group dicts) the base step updates; every parameter named in
            ``groups`` must be among them.
        groups: zero-invariant groups, a list of groups, each a list of ``(parameter, index, dim)``
            slices (:func:`find_groups` builds them for a plain ``nn.Sequential``,
            :func:`groups_from_named_parameters` for a chain of named Linear/Conv2d parameters).
            ``None`` or empty: no pruning, HESSO is its base optimizer.
        lr: learning rate (default 1e-3).
        variant: base step, ``"sgd"`` (momentum, coupled weight decay), ``"adam"`` (coupled) or
            ``"adamw"`` (decoupled weight decay) (default ``"sgd"``, the reference's).
        momentum: SGD momentum (default 0.0). betas, eps: Adam moments (default (0.9, 0.999), 1e-8).
        weight_decay: (default 0.0).
        target_group_sparsity: fraction of groups driven to exactly zero, in [0, 1) (default 0.5, the
            reference's).
        start_step: warm-up steps of plain training before pruning starts (default 0).
        pruning_steps: length of the pruning window (default 1000).
        pruning_periods: number of periods the target is split over (default 1).
        saliency: criterion name -> weight (default :data:`DEFAULT_SALIENCY`).

    Complex parameters are treated as their ``view_as_real`` (each real and imaginary part is a real
    parameter; a group's slice of a complex parameter contributes both parts). Gradients and state of
    16-bit parameters are computed and kept in fp32, the result rounded into the parameter.

    State (bytes per parameter ``p``): ``"step"``, a 4-byte fp32 counter, plus ``m * numel`` for the
    SGD momentum buffer (none when ``momentum == 0``) or ``2 * m * numel`` for Adam's
    ``exp_avg``/``exp_avg_sq``, where ``m = max(p.element_size(), 4)``. The pruning schedule (global
    step, redundant and zero group ids) is optimizer-wide, not per parameter: O(|groups|) Python ints
    kept in the ``_prune`` attribute and saved under ``"hesso"`` in :meth:`state_dict`. Groups are stored
    as (parameter position, indices, dim) ints, not tensors.

    Departures from the reference (``only_train_once``):
        * Groups are explicit slices, not OTO's traced graph; :func:`find_groups` covers plain
          ``nn.Sequential`` models only, :func:`groups_from_named_parameters` plain chains only.
        * A group also holds the next layer's input columns of its channel (OTO zeroes only the
          producer side and removes those columns when it builds the subnetwork). Zero groups then
          contribute nothing whatever the activation (OTO relies on ``act(0) = 0``), and the columns
          enter the saliency norms.
        * The shrink factor runs :math:`(D-t)/(D-t+1)` for :math:`t = 1..D`, i.e. a linear decay that hits
          zero on the last step of each period; the reference's ``(D-t-1)/(D-t)`` with its own step
          offsets reaches zero one step earlier.
        * Adam moments start at zero with standard bias correction, as ``torch.optim.Adam`` (the
          reference starts them at :math:`g` and still divides by the bias correction); all state
          lives in ``state`` (the reference keeps moments and full-size gradient copies in the param
          groups) and is saved.
        * ``group_divisible`` (channel-count rounding), ``dampening`` and the CRIC variant are not
          implemented.
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
        _check_hyper(lr, variant, momentum, betas, eps, weight_decay)
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
        super().__init__(params, defaults)  # add_param_group checks each group's hyperparameters

        position = {id(p): i for i, p in enumerate(self._params())}
        self._slices: list[list[tuple[int, tuple[int, ...], int]]] = []
        for gi, group in enumerate(groups or []):
            checked = []
            if len(group) == 0:
                raise ValueError(f"Invalid group {gi}: it has no slices")
            for p, index, dim in group:
                if not isinstance(p, Tensor) or id(p) not in position:
                    raise ValueError(
                        f"Invalid group {gi}: a slice's parameter is not among the optimizer's params"
                    )
                if not _is_int(dim) or not -p.ndim <= dim < p.ndim:
                    raise ValueError(
                        f"Invalid group {gi}: dim={dim!r} for a parameter of shape {tuple(p.shape)}"
                    )
                ids = torch.as_tensor(index, dtype=torch.long).reshape(-1).tolist()
                if not ids or min(ids) < 0 or max(ids) >= p.shape[dim]:
                    raise ValueError(
                        f"Invalid group {gi}: index {ids} out of range for dim {dim} of shape "
                        f"{tuple(p.shape)}"
                    )
                checked.append((position[id(p)], tuple(ids), dim % p.ndim))
            self._slices.append(checked)
        self.target_group_sparsity = float(target_group_sparsity)
        self.start_step = start_step
        self.pruning_steps = pruning_steps
        self.pruning_periods = pruning_periods
        self.period_length = pruning_steps // pruning_periods
        self.saliency = sal
        total = int(len(self._slices) * self.target_group_sparsity)
        per = total // pruning_periods
        self.redundant_per_period = [per] * (pruning_periods - 1) + [total - per * (pruning_periods - 1)]
        self._prune: dict[str, Any] = {"step": 0, "active": [], "zero": []}
        # merged index lists of recent group sets (Python ints derived from _slices, not state)
        self._merged_cache: dict[tuple[int, ...], list[tuple[int, int, list[int]]]] = {}

    # ---------------------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """As ``Optimizer.add_param_group``, with the group's hyperparameters validated."""
        super().add_param_group(param_group)
        g = self.param_groups[-1]
        _check_hyper(g["lr"], g["variant"], g["momentum"], g["betas"], g["eps"], g["weight_decay"])

    def _params(self) -> list[Tensor]:
        """All parameters in param-group order (group slices refer to positions in this list)."""
        return [p for g in self.param_groups for p in g["params"]]

    @property
    def groups(self) -> list[Group]:
        """The groups as ``(parameter, index tensor, dim)`` slices."""
        params = self._params()
        return [
            [(params[i], torch.tensor(ids, device=params[i].device), d) for i, ids, d in g]
            for g in self._slices
        ]

    def group_sparsity(self) -> float:
        """Measured fraction of groups that are exactly zero (0.0 without groups)."""
        if not self._slices:
            return 0.0
        return sum(group_is_zero(g) for g in self.groups) / len(self._slices)

    def state_dict(self) -> dict[str, Any]:
        sd = super().state_dict()
        sd["hesso"] = {k: (list(v) if isinstance(v, list) else v) for k, v in self._prune.items()}
        return sd

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("hesso", None)
        super().load_state_dict(state_dict)
        keep_fp32_state(self, state_dict)
        for st in self.state.values():  # torch aliases the saved step counters; own them
            if isinstance(st.get("step"), Tensor):
                st["step"] = st["step"].clone()
        if saved is not None:
            self._prune = {k: (list(v) if isinstance(v, list) else v) for k, v in saved.items()}

    # ---------------------------------------------------------------------------------------------
    def _base_step(self, p: Tensor, group: Mapping[str, Any], want_direction: bool) -> Tensor | None:
        """The base optimizer's update of ``p`` (as torch.optim's single-tensor loop); returns the step
        direction ``d`` (``x -= lr * d``, real view, fp32 for 16-bit params) when asked."""
        grad = p.grad
        if grad.is_sparse:
            raise RuntimeError(
                f"HESSO does not support sparse gradients (parameter of shape {tuple(p.shape)})"
            )
        st = self.state[p]
        sgd = group["variant"] == "sgd"
        if len(st) == 0:
            st["step"] = torch.tensor(0.0)
            kw = dict(dtype=state_dtype(p), memory_format=torch.preserve_format)
            if sgd:
                if group["momentum"] > 0.0:
                    st["momentum_buffer"] = torch.zeros_like(p, **kw)
            else:
                st["exp_avg"] = torch.zeros_like(p, **kw)
                st["exp_avg_sq"] = torch.zeros_like(p, **kw)
        st["step"] += 1
        low = p.dtype in LOW_PRECISION
        x = as_real(p).float() if low else as_real(p)  # a fp32 copy for 16-bit params
        g = as_real(grad).float() if low else as_real(grad)  # never modified in place
        lr, wd = group["lr"], group["weight_decay"]
        if sgd:
            d = g.add(x, alpha=wd) if wd != 0.0 else g
            if group["momentum"] > 0.0:
                d = as_real(st["momentum_buffer"]).mul_(group["momentum"]).add_(d)
            x.add_(d, alpha=-lr)
            direction = d if want_direction else None
        else:
            if wd != 0.0:
                if group["variant"] == "adamw":
                    x.mul_(1.0 - lr * wd)
                else:
                    g = g.add(x, alpha=wd)
            b1, b2 = group["betas"]
            m, v = as_real(st["exp_avg"]), as_real(st["exp_avg_sq"])
            m.lerp_(g, 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            k = float(st["step"])
            bc1, bc2 = 1.0 - b1**k, 1.0 - b2**k
            denom = (v.sqrt() / bc2**0.5).add_(group["eps"])
            x.addcdiv_(m, denom, value=-(lr / bc1))
            direction = (m / denom).div_(bc1) if want_direction else None
        if low:
            as_real(p).copy_(x)
        return direction

    def _phase(self, k: int) -> tuple[int, int] | None:
        """``(period j, step t in 1..D)`` when global step ``k`` lies in the pruning window."""
        D = self.period_length
        if not self._slices or not self.start_step < k <= self.start_step + self.pruning_periods * D:
            return None
        j, t = divmod(k - self.start_step - 1, D)
        return j, t + 1

    def _scores(self, directions: Mapping[int, Tensor]) -> Tensor:
        """Mixed saliency of every group (higher = more important)."""
        params = self._params()
        raw: dict[str, list[float]] = {c: [] for c in self.saliency}
        for group in self._slices:
            xx = dd = xd = 0.0
            n = 0
            for pos, ids, dim in group:
                p = params[pos]
                index = torch.tensor(ids, device=p.device)
                x = as_real(p.detach()).index_select(dim, index).double()
                d = directions.get(pos)
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
        total = torch.zeros(len(self._slices), dtype=torch.float64)
        for c, w in self.saliency.items():
            v = torch.tensor(raw[c], dtype=torch.float64)
            total += w * v / (math.sqrt(float((v * v).sum()) + _SAFE) + _SAFE)
        return total

    def _merged(self, ids: Sequence[int]) -> list[tuple[int, int, list[int]]]:
        """The entries of groups ``ids`` as one sorted index list per (parameter position, dim)."""
        key = tuple(ids)
        if key in self._merged_cache:
            return self._merged_cache[key]
        merged: dict[tuple[int, int], set[int]] = {}
        for gi in ids:
            for pos, idx, dim in self._slices[gi]:
                merged.setdefault((pos, dim), set()).update(idx)
        out = [(pos, dim, sorted(idx)) for (pos, dim), idx in merged.items()]
        if len(self._merged_cache) >= 4:  # the active and the zero set of the current period, mostly
            self._merged_cache.clear()
        self._merged_cache[key] = out
        return out

    def _scale_groups(self, ids: Sequence[int], factor: float) -> None:
        """Multiply the entries of groups ``ids`` by ``factor`` (0: set to zero), once per parameter."""
        params = self._params()
        for pos, dim, idx in self._merged(ids):
            p = params[pos]
            index = torch.tensor(idx, device=p.device)
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
        pr = self._prune
        k = pr["step"] + 1
        phase = self._phase(k)
        scoring = phase is not None and phase[1] == 1 and self.redundant_per_period[phase[0]] > 0
        directions: dict[int, Tensor] = {}
        pos = -1
        for group in self.param_groups:
            for p in group["params"]:
                pos += 1
                if p.grad is None:
                    continue
                d = self._base_step(p, group, scoring)
                if d is not None:
                    directions[pos] = d
        pr["step"] = k
        if phase is not None:
            j, t = phase
            D = self.period_length
            if scoring:
                zero = set(pr["zero"])
                order = [
                    i for i in torch.argsort(self._scores(directions), stable=True).tolist() if i not in zero
                ]
                pr["active"] = sorted(order[: self.redundant_per_period[j]])
            self._scale_groups(pr["active"], (D - t) / (D - t + 1))
            if t == D:
                pr["zero"] = sorted(set(pr["zero"]) | set(pr["active"]))
                pr["active"] = []
        if pr["zero"]:
            self._scale_groups(pr["zero"], 0.0)
        return loss


def _check_hyper(lr: Any, variant: Any, momentum: Any, betas: Any, eps: Any, weight_decay: Any) -> None:
    """The base optimizer's hyperparameters (also checked per param group)."""
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
) -> tuple[HESSO, Any]:
    """HESSO for the harness, which passes named parameters only: groups come from
    :func:`groups_from_named_parameters` (a chain of Linear/Conv2d layers, e.g. an MLP), the warm-up is
    ``start_frac * step_hint`` steps and the pruning window ``prune_frac * step_hint`` steps split into
    ``pruning_periods`` periods (the reference's ResNet18/CIFAR-10 tutorial: 10% warm-up, 10% pruning
    in 10 periods, 70% group sparsity), with warmup-cosine on the lr as the SGD baselines.

    Raises IncompatibleError when the parameters are not such a chain or leave nothing to prune (a
    single layer): the harness then records the trial as failed instead of running plain SGD under
    HESSO's name. The measured metric is that of the network with its zero groups in place (the
    same function as the smaller network; building it needs the model, :func:`construct_subnetwork`).
    """
    from optarena.optim.schedules import warmup_cosine_scheduler

    named = list(params)
    try:
        groups = groups_from_named_parameters(named)
    except ValueError as exc:
        raise IncompatibleError(f"hesso: {exc}") from exc
    if not groups:
        raise IncompatibleError(
            "hesso: nothing to prune: the parameters form a single layer, whose outputs are the network's "
            f"outputs ({[n for n, _ in named]})"
        )
    periods = int(hparams["pruning_periods"])
    opt = HESSO(
        [p for _, p in named],
        groups=groups,
        lr=hparams["lr"],
        variant=hparams["variant"],
        momentum=1.0 - hparams["one_minus_momentum"],
        weight_decay=hparams["weight_decay"],
        target_group_sparsity=hparams["target_group_sparsity"],
        start_step=int(hparams["start_frac"] * step_hint),
        pruning_steps=max(periods, int(hparams["prune_frac"] * step_hint)),
        pruning_periods=periods,
    )
    return opt, warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])


# The base step is tuned over the SGD baselines' space (same ranges, so HESSO vs sgd-heavyball isolates
# the cost of pruning); the pruning schedule and the target sparsity are fixed: a tuner that could pick
# the sparsity would just pick the smallest.
_HESSO_SPACE = SearchSpace(
    (
        Param("lr", 1e-3, 1.0, log=True),
        Param("one_minus_momentum", 0.01, 0.3, log=True),
        Param("weight_decay", 1e-6, 1e-3, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={
        "variant": "sgd",
        "target_group_sparsity": 0.5,
        "start_frac": 0.1,
        "prune_frac": 0.1,
        "pruning_periods": 10,
    },
)

HESSO_SPEC = MethodSpec(
    name="hesso",
    family="torch-optimizer",
    factory="optarena.optim.hesso:make_hesso",
    summary="HESSO: SGD-momentum plus progressive shrinking of 50% of the channel groups to exact zero "
    "(chains of Linear/Conv2d layers)",
    search_space=_HESSO_SPACE,
    defaults={"lr": 0.05, "one_minus_momentum": 0.1, "weight_decay": 1e-5, "warmup_frac": 0.05}
    | dict(_HESSO_SPACE.fixed),
    paper=PaperRef(
        "T. Chen, X. Qu, D. Aponte, C. Banbury, J. Ko, T. Ding, Y. Ma, V. Lyapunov, I. Zharkov, L. Liang",
        "HESSO: Towards Automatic Efficient and User Friendly Any Neural Network Training and Pruning",
        "arXiv preprint",
        2024,
        "2409.09085",
    ),
    capabilities=frozenset({"param-groups", "complex", "structured-pruning", "needs-layer-chain"}),
    status="experimental",
)
