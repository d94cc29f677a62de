"""FRUGAL: a state-full low-dimensional part of each gradient updated by Adam, and a state-free rest
updated by signSGD (or SGD), with the subspace re-chosen every ``update_period`` steps.

Written from the paper (arXiv v1/v2, Algorithm 1 and Section 3); the official code
(anonymous.4open.science/r/FRUGAL-D3CA, ``frugal/proj_optimizer_templates.py``) was not run or ported.

References:
    P. Zmushko, A. Beznosikov, M. Takáč, S. Horváth, "FRUGAL: Memory-Efficient Optimization by Reducing
    State Overhead for Scalable Training", ICML 2025, https://arxiv.org/abs/2411.07837
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
    check_int,
    check_lr,
    check_nonneg,
    check_positive,
    is_number,
)

__all__ = ["FRUGAL", "FRUGAL_SPEC", "PROJECTIONS", "make_frugal", "subspace_rank"]

#: Ways of choosing the state-full subspace.
PROJECTIONS = ("blocks", "svd", "random", "columns")
STATE_FREE_RULES = ("sign", "sgd")
_LABEL_KEYS = frozenset({"params", "name", "param_names"})
#: ``state["mode"]`` codes (ints: ``Optimizer.load_state_dict`` mangles string state values).
FREE, FULL, PROJ = 0, 1, 2


# --------------------------------------------------------------------------------------------------
# validation and helpers


def _scalar(x: float | Tensor) -> float:
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def _check_hparams(group: Mapping[str, Any]) -> None:
    check_lr(group["lr"])
    check_betas(group["betas"])
    check_positive("epsilon value", group["eps"])
    check_nonneg("weight_decay value", group["weight_decay"])
    rho = group["density"]
    if not is_number(rho) or not 0.0 <= rho <= 1.0:
        raise ValueError(f"Invalid density: {rho!r} (must be in [0, 1])")
    if group["projection"] not in PROJECTIONS:
        raise ValueError(f"Invalid projection: {group['projection']!r} (must be one of {PROJECTIONS})")
    check_int("update_period", group["update_period"], 1)
    if group["state_free"] not in STATE_FREE_RULES:
        raise ValueError(f"Invalid state_free: {group['state_free']!r} (must be one of {STATE_FREE_RULES})")
    check_nonneg("state_free_lr_scale", group["state_free_lr_scale"])
    check_int("seed", group["seed"], 0)
    check_bool("use_frugal", group["use_frugal"])


def subspace_rank(density: float, dim: int) -> int:
    """Rank :math:`r = \\lfloor \\rho\\, d + 1/2 \\rfloor` (round half up, clipped to ``[0, dim]``) of the
    state-full subspace along a side of size ``dim``."""
    return min(dim, max(0, math.floor(density * dim + 0.5)))


def _frame(p: Tensor) -> tuple[int, int, bool]:
    """``(m, n, transposed)``: the parameter seen as a matrix (``p.shape[0] x rest`` for ndim >= 2,
    ``1 x numel`` otherwise), transposed if needed so that the projected side ``m <= n``."""
    if p.ndim >= 2:
        rows, cols = p.shape[0], math.prod(p.shape[1:])
    else:
        rows, cols = 1, p.numel()
    return (cols, rows, True) if rows > cols else (rows, cols, False)


def _to_frame(t: Tensor, rows: int, cols: int, transposed: bool) -> Tensor:
    mat = t.reshape(cols, rows) if transposed else t.reshape(rows, cols)
    return mat.T if transposed else mat


def _from_frame(w: Tensor, shape: torch.Size, transposed: bool) -> Tensor:
    return (w.T if transposed else w).reshape(shape)


def _generator(seed: int, index: int, period: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed((seed * 1_000_003 + (index + 1) * 7_919 + period * 104_729) % (2**63 - 1))
    return gen


def _active_blocks(seed: int, period: int, n_blocks: int, density: float) -> set[int]:
    """Indices (within its group) of the state-full parameters in ``period`` for ``"blocks"``."""
    k = subspace_rank(density, n_blocks)
    if k in (0, n_blocks):
        return set(range(k))
    return set(torch.randperm(n_blocks, generator=_generator(seed, -1, period))[:k].tolist())


def _projection(kind: str, g: Tensor, r: int, gen: torch.Generator) -> Tensor:
    """Orthonormal ``m x r`` basis (``m = g.shape[0] <= g.shape[1]``) of the state-full subspace."""
    m = g.shape[0]
    if kind == "svd":
        return torch.linalg.svd(g, full_matrices=False)[0][:, :r].contiguous()
    if kind == "random":
        gauss = torch.randn(m, r, generator=gen, dtype=torch.float64).to(g.dtype)
        return torch.linalg.qr(gauss)[0].contiguous()
    # "columns": r coordinate directions of the projected side, i.e. whole rows of the frame
    idx = torch.randperm(m, generator=gen)[:r].sort().values
    return torch.eye(m, dtype=g.dtype)[:, idx].contiguous()


# --------------------------------------------------------------------------------------------------
# the readable loop


def _choose_subspace(
    st: dict[str, Any], p: Tensor, grad: Tensor, group: Mapping[str, Any], index: int, period: int
) -> None:
    """Set ``st["mode"]`` (FREE, FULL or PROJ) for ``period``; moments are reset (and the Adam
    step restarted) whenever the state-full subspace changes."""
    dt = state_dtype(p)
    old_mode = st.get("mode")
    m, n, transposed = _frame(p)
    if not group["use_frugal"]:
        mode = FULL
    elif group["projection"] == "blocks":
        active = _active_blocks(group["seed"], period, len(group["params"]), group["density"])
        mode = FULL if index in active else FREE
    else:
        r = subspace_rank(group["density"], m)
        mode = FREE if r == 0 else FULL if r == m else PROJ
    if mode == PROJ:
        r = subspace_rank(group["density"], m)
        g = _to_frame(grad, m, n, transposed)
        st["proj"] = _projection(group["projection"], g, r, _generator(group["seed"], index, period))
        st["exp_avg"] = torch.zeros(r, n, dtype=dt, device=p.device)
        st["exp_avg_sq"] = torch.zeros(r, n, dtype=dt, device=p.device)
        st["adam_step"] = 0
    elif mode == FULL:
        st.pop("proj", None)
        if old_mode != FULL:  # a block that stays state-full keeps its moments
            st["exp_avg"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
            st["exp_avg_sq"] = torch.zeros_like(p, dtype=dt, memory_format=torch.preserve_format)
            st["adam_step"] = 0
    else:
        for key in ("proj", "exp_avg", "exp_avg_sq"):
            st.pop(key, None)
        st["adam_step"] = 0
    st["mode"] = mode
    st["period"] = period


def _frugal_group_step(state: Mapping[Tensor, dict[str, Any]], group: Mapping[str, Any]) -> None:
    lr = _scalar(group["lr"])
    beta1, beta2 = group["betas"]
    eps = group["eps"]
    wd = group["weight_decay"]
    free_lr = lr * group["state_free_lr_scale"]
    for index, p in enumerate(group["params"]):
        if p.grad is None:
            continue
        if p.grad.is_sparse:
            raise RuntimeError(
                f"FRUGAL does not support sparse gradients (parameter of shape {tuple(p.shape)})"
            )
        st = state[p]
        if len(st) == 0:
            st["step"] = 0
        st["step"] += 1
        dt = state_dtype(p)
        grad = p.grad.to(dt)  # may alias p.grad: read only below
        period = (st["step"] - 1) // group["update_period"]
        if st.get("period") != period:
            _choose_subspace(st, p, grad, group, index, period)
        mode = st["mode"]
        target = p if p.dtype == dt else p.to(dt)
        if wd != 0.0:
            target.mul_(1.0 - lr * wd)
        if mode == FREE:
            resid = grad
        else:
            st["adam_step"] += 1
            t = st["adam_step"]
            exp_avg, exp_avg_sq = st["exp_avg"], st["exp_avg_sq"]
            if mode == FULL:
                low = grad
            else:
                m, n, transposed = _frame(p)
                g = _to_frame(grad, m, n, transposed)
                proj = st["proj"]
                low = proj.T @ g
            exp_avg.lerp_(low, 1.0 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(low, low, value=1.0 - beta2)
            step_size = lr / (1.0 - beta1**t)
            denom = (exp_avg_sq.sqrt() / (1.0 - beta2**t) ** 0.5).add_(eps)
            if mode == FULL:
                target.addcdiv_(exp_avg, denom, value=-step_size)
                resid = None
            else:
                target.add_(_from_frame(proj @ (exp_avg / denom), p.shape, transposed), alpha=-step_size)
                resid = _from_frame(g - proj @ low, p.shape, transposed)
        if resid is not None and free_lr != 0.0:
            target.add_(resid.sign() if group["state_free"] == "sign" else resid, alpha=-free_lr)
        if target is not p:
            p.copy_(target)


# --------------------------------------------------------------------------------------------------
# the optimizer


class FRUGAL(Optimizer):
    r"""FRUGAL (Full-Rank Updates with GrAdient spLitting): Adam on a low-dimensional state-full part
    of each gradient, signSGD (or SGD) on the state-free rest.

    .. math::
       \begin{aligned}
            &\rule{110mm}{0.4pt} \\
            &\textbf{input}: \gamma \text{ (lr)},\ \gamma_{\text{free}} = s\gamma
                \text{ ($s$: state\_free\_lr\_scale)},\ \beta_1, \beta_2, \epsilon,\
                \lambda \text{ (weight decay)},\ \rho \text{ (density)},\ T \text{ (update\_period)} \\
            &\textbf{per parameter}: G \in \mathbb{R}^{m\times n} \text{ (the gradient as a matrix,
                transposed so that } m \le n),\ r = \lfloor \rho m + 1/2 \rfloor \\[-1.ex]
            &\rule{110mm}{0.4pt} \\
            &\textbf{for}\ t=1\ \textbf{to}\ \ldots\ \textbf{do} \\
            &\hspace{5mm} G_t \leftarrow \nabla_\theta f_t(\theta_{t-1}) \\
            &\hspace{5mm} \textbf{if}\ (t-1) \bmod T = 0:\ \text{choose } P_t \in \mathbb{R}^{m\times r},\
                P_t^\top P_t = I \ (\text{svd: top-}r\text{ left singular vectors of } G_t;\
                \text{random; columns}), \\
            &\hspace{10mm} m \leftarrow 0,\ v \leftarrow 0,\ k \leftarrow 0
                \quad (\text{reset; } m, v \in \mathbb{R}^{r\times n}) \\
            &\hspace{5mm} \textbf{else}\ P_t \leftarrow P_{t-1} \\
            &\hspace{5mm} k \leftarrow k+1,\ R_t \leftarrow P_t^\top G_t \\
            &\hspace{5mm} m \leftarrow \beta_1 m + (1-\beta_1) R_t,\quad
                v \leftarrow \beta_2 v + (1-\beta_2) R_t^2 \\
            &\hspace{5mm} U_t \leftarrow \frac{m / (1-\beta_1^k)}{\sqrt{v/(1-\beta_2^k)} + \epsilon} \\
            &\hspace{5mm} \theta_t \leftarrow (1-\gamma\lambda)\theta_{t-1} - \gamma\, P_t U_t
                - \gamma_{\text{free}}\, \mathrm{sign}\!\left(G_t - P_t P_t^\top G_t\right)
                \quad (\text{sgd: without sign}) \\
            &\rule{110mm}{0.4pt} \\[-1.ex]
            &\textbf{return}\ \theta_t \\[-1.ex]
            &\rule{110mm}{0.4pt}
       \end{aligned}

    Special cases, all exact: :math:`r = m` uses :math:`P = I` (no projection, the parameter is plain
    AdamW), :math:`r = 0` is pure signSGD/SGD with no state. So ``density=1`` is ``torch.optim.AdamW``
    and ``density=0`` is signSGD with decoupled weight decay,
    :math:`\theta \leftarrow (1-\gamma\lambda)\theta - \gamma s\, \mathrm{sign}(G)`.

    With ``projection="blocks"`` (the paper's default) every parameter of a group is a whole block:
    at each switch a random subset of :math:`\lfloor \rho N + 1/2 \rfloor` of the group's :math:`N`
    parameters is state-full (plain AdamW on the whole tensor) and the others are state-free. A block
    that stays state-full across a switch keeps its moments; one that becomes state-full starts from
    zero moments and a fresh bias correction; one that becomes state-free drops them.

    A tensor that is not 2-D is seen as a matrix: ``shape[0] x rest`` for ndim > 2 (convolution
    filters) and ``1 x numel`` for vectors, so under svd/random/columns a bias or norm weight is
    state-full only if :math:`\rho \ge 1/2`. As in the paper, route embeddings, norms, biases and the
    output head to AdamW with a param group ``use_frugal=False`` (:func:`make_frugal` does this).

    Args:
        params: iterable of tensors or of param-group dicts. A group may set any hyperparameter below.
        lr: learning rate :math:`\gamma` of the state-full (Adam) part (default 1e-3).
        betas: Adam :math:`(\beta_1, \beta_2)` (default (0.9, 0.999)).
        eps: Adam :math:`\epsilon`, added after the bias correction as torch (default 1e-8).
        weight_decay: decoupled weight decay :math:`\lambda`, applied to the whole parameter (default 0).
        density: :math:`\rho \in [0, 1]`, the state-full fraction (default 0.25, the paper's).
        projection: ``"blocks"`` (default, the paper's), ``"svd"`` (GaLore-style), ``"random"``
            (orthonormalized Gaussian) or ``"columns"`` (random coordinate directions of the smaller side,
            i.e. whole rows/columns of the matrix).
        update_period: :math:`T`, steps between subspace switches, counted per parameter (default 200).
        state_free: ``"sign"`` (signSGD, default) or ``"sgd"`` for the state-free part.
        state_free_lr_scale: :math:`s`, state-free lr relative to ``lr`` (default 1.0; the paper uses 1
            for pre-training and 0.1 for fine-tuning).
        seed: seed of the random choices (blocks, random, columns); each choice uses its own generator
            seeded from ``(seed, index of the parameter in its group, switch number)``, so the global RNG
            is never touched and a reloaded state_dict continues identically (default 0).
        use_frugal: False makes the group plain AdamW (for embeddings, norms, head) (default True).

    State (per parameter, created at its first gradient), with :math:`s` = 4 bytes for fp32 and 16-bit
    parameters (state is fp32 for them) and 8 for fp64; ``step``, ``adam_step``, ``period`` and
    ``mode`` (0 state-free, 1 whole-tensor Adam, 2 projected; Python ints) hold no tensor bytes:

    - svd/random/columns, :math:`0 < r < m`: ``proj`` :math:`P` (m x r) and ``exp_avg``, ``exp_avg_sq``
      (r x n): :math:`(mr + 2rn)\,s` bytes;
    - state-full whole tensor (:math:`r = m`, an active block, ``use_frugal=False``): :math:`2\,\text{numel}\,s`;
    - state-free (:math:`r = 0`, an inactive block): 0 bytes.

    Example:
        >>> import torch
        >>> from optarena.optim.frugal import FRUGAL
        >>> w = torch.nn.Parameter(torch.randn(8, 16))
        >>> opt = FRUGAL([w], lr=1e-3, density=0.25, projection="svd")
        >>> w.grad = torch.randn(8, 16)
        >>> opt.step()
        >>> [tuple(opt.state[w][k].shape) for k in ("proj", "exp_avg", "exp_avg_sq")]
        [(8, 2), (2, 16), (2, 16)]

    Reference:
        P. Zmushko, A. Beznosikov, M. Takáč, S. Horváth, `FRUGAL: Memory-Efficient Optimization by
        Reducing State Overhead for Scalable Training <https://arxiv.org/abs/2411.07837>`_, ICML 2025.
        Official code: anonymous.4open.science/r/FRUGAL-D3CA (``frugal/proj_optimizer_templates.py``).

    .. warning:: Departures and uncertainties. Written from the paper; the official code was not run.

       - The moments are reset to zero at every subspace switch and the bias correction restarts
         (``adam_step``), as the paper's "reset" variant; the paper also discusses projecting the state
         into the new subspace, which is not implemented. Whether the official code restarts the bias
         correction count is unverified.
       - Rounding of :math:`r` (half up) and of the number of active blocks is ours. :math:`r = m` and
         :math:`r = 0` are special-cased to the identity / no projection so that :math:`\rho \in \{0, 1\}`
         are exactly signSGD / AdamW (a full orthonormal :math:`P` would rotate Adam's coordinates).
       - The projected side is the smaller one (GaLore's rule); ``"columns"`` selects coordinate
         directions of that side and stores them as a dense 0/1 matrix (indices would be cheaper).
       - Block selection is uniformly random per switch within a param group; the official code may
         cycle through blocks in an order. Blocks are whole tensors, not transformer layers.
       - Subspace switches are counted by each parameter's own step count; a parameter without a
         gradient is skipped (no decay, no state).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        density: float = 0.25,
        projection: str = "blocks",
        update_period: int = 200,
        state_free: str = "sign",
        state_free_lr_scale: float = 1.0,
        seed: int = 0,
        use_frugal: bool = True,
    ) -> None:
        defaults = {
            "lr": lr,
            "betas": tuple(betas) if isinstance(betas, list) else betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "density": density,
            "projection": projection,
            "update_period": update_period,
            "state_free": state_free,
            "state_free_lr_scale": state_free_lr_scale,
            "seed": seed,
            "use_frugal": use_frugal,
        }
        _check_hparams(defaults)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        unknown = set(param_group) - set(self.defaults) - _LABEL_KEYS
        if unknown:
            raise ValueError(
                f"unknown keys for a FRUGAL group: {sorted(unknown)}; known: {sorted(self.defaults)}"
            )
        _check_hparams({**self.defaults, **param_group})
        params = param_group["params"]
        for p in [params] if isinstance(params, Tensor) else list(params):
            q = p[1] if isinstance(p, tuple) else p
            if isinstance(q, Tensor) and torch.is_complex(q):
                raise ValueError(
                    f"FRUGAL does not support complex parameters; got {q.dtype} of shape {tuple(q.shape)} "
                    "(optimize torch.view_as_real(p) instead)"
                )
        super().add_param_group(param_group)

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
            _frugal_group_step(self.state, group)
        return loss


# --------------------------------------------------------------------------------------------------
# MethodSpec


def make_frugal(
    params: Sequence[tuple[str, Any]], hparams: Mapping[str, Any], step_hint: int
) -> tuple[Any, Any]:
    """FRUGAL on the 2-D hidden weights (``optarena.optim.muon.default_route``), AdamW
    (``use_frugal=False``) on embeddings, norms, biases and the head as in the paper; one shared lr and
    weight decay, warmup-cosine schedule."""
    from optarena.optim.muon import default_route
    from optarena.optim.schedules import warmup_cosine_scheduler

    hidden, rest = [], []
    for name, p in params:
        (hidden if default_route(name, p) else rest).append(p)
    groups = [g for g in ({"params": hidden}, {"params": rest, "use_frugal": False}) if g["params"]]
    opt = FRUGAL(
        groups,
        lr=hparams["lr"],
        betas=(hparams["beta1"], hparams["beta2"]),
        eps=hparams["eps"],
        weight_decay=hparams["weight_decay"],
        density=hparams["density"],
        projection=hparams["projection"],
        update_period=hparams["update_period"],
        state_free=hparams["state_free"],
        state_free_lr_scale=hparams["state_free_lr_scale"],
    )
    sched = warmup_cosine_scheduler(opt, step_hint, hparams["warmup_frac"])
    return opt, sched


_FRUGAL_SPACE = SearchSpace(
    (
        Param("lr", 1e-4, 1e-2, log=True),
        Param("state_free_lr_scale", 0.01, 1.0, log=True),
        Param("weight_decay", 1e-5, 1e-1, log=True),
        Param("warmup_frac", 0.0, 0.1),
    ),
    fixed={
        "density": 0.25,
        "projection": "blocks",
        "update_period": 200,
        "state_free": "sign",
        "beta1": 0.9,
        "beta2": 0.999,
        "eps": 1e-8,
    },
)

FRUGAL_SPEC = MethodSpec(
    name="frugal",
    family="torch-optimizer",
    factory="optarena.optim.frugal:make_frugal",
    summary="FRUGAL: Adam on a low-dimensional state-full subspace + signSGD on the rest (AdamW elsewhere)",
    search_space=_FRUGAL_SPACE,
    defaults={"lr": 1e-3, "state_free_lr_scale": 1.0, "weight_decay": 1e-4, "warmup_frac": 0.05}
    | dict(_FRUGAL_SPACE.fixed),
    paper=PaperRef(
        "P. Zmushko, A. Beznosikov, M. Takáč, S. Horváth",
        "FRUGAL: Memory-Efficient Optimization by Reducing State Overhead for Scalable Training",
        "ICML",
        2025,
        "2411.07837",
    ),
    capabilities=frozenset({"param-groups", "hybrid"}),
    status="experimental",
)
