"""The optimizer contract suite: one list of checks that every training optimizer (a
``torch.optim.Optimizer``, built-in or plugin) must pass, after torch.optim's ``OptimizerInfo`` test
database and scikit-learn's ``check_estimator``.

An optimizer is described by one :class:`OptimizerInfo` record: how to build it, small stable
hyperparameters for the tests, the bad hyperparameters it must reject, and capability flags (closure,
complex, sparse, 2-D only, dtypes, fast paths, a state-size formula). The record's flags choose the
checks that apply and how; nothing here special-cases an optimizer by name. A check the optimizer is
known to fail is declared in ``known_failures`` with a reason and runs as a strict xfail, never a skip,
so it starts failing the suite the day it is fixed.

A plugin author runs the suite on their optimizer in a few lines::

    from optarena.testing.optim_checks import OptimizerInfo, parametrize_with_checks

    MY_SGD = OptimizerInfo(
        name="my_sgd",
        factory=MySGD,  # called as factory(params, **kwargs)
        default_kwargs={"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-2},
        bad_inputs=(({"lr": -1.0}, r"learning rate: -1\\.0"),),
        state_bytes_per_param=lambda p: p.numel() * p.element_size(),  # one momentum buffer
        converges_kwargs={"lr": 1.5e-3, "momentum": 0.9, "weight_decay": 0.0},
    )

    @parametrize_with_checks([MY_SGD])
    def test_my_sgd(check):
        check()

Adding a built-in record is the same: append an ``OptimizerInfo`` to ``OPTIMIZER_INFOS``.

Every check runs on the readable path (``default_kwargs`` + ``readable_kwargs``) unless it says
otherwise, on parameters of shapes (5,), (4, 3), (3, 4), (2, 3, 2, 2) (only the 2-D ones when
``only_2d``), with gradients ``0.5 * p + noise`` drawn from seeded generators (never the global RNG).
"Identical" below means bit-identical.

Checks (names as in test ids ``<record>::<check>``):

- ``param_groups``: two groups with different lr (and weight decay, if the optimizer has one) step
  exactly like two separate optimizers; a group with lr=0 is untouched; ``add_param_group`` mid-run
  gives the new parameter the updates of a fresh optimizer and leaves the others alone.
- ``state_dict_round_trip``: after 3 steps, a fresh optimizer on cloned parameters loaded with a deep
  copy of the state_dict steps identically to the original for 3 more steps.
- ``closure`` (``supports_closure``): ``step(closure)`` calls the closure once, returns its loss, and
  equals ``closure(); step()``.
- ``lr_zero``: lr=0 leaves parameters identical, also with weight decay > 0.
- ``grad_none_untouched``: a parameter whose grad is None is unchanged (with weight decay > 0) and
  gets no state.
- ``late_start``: a parameter whose grad is None for the first 3 steps then steps exactly like a fresh
  optimizer started on it alone (per-parameter step counts, not per-group).
- ``grad_not_modified``: ``p.grad`` is the same tensor with the same values after ``step()``, on every path.
- ``bad_hyperparameters``: each of ``bad_inputs`` raises ValueError at construction, the message matches
  the record's regex and contains the bad value.
- ``rejects_unknown_kwargs``: a misspelled keyword raises TypeError (no silent ``**kwargs``).
- ``sparse_gradients``: a sparse grad raises RuntimeError/ValueError, or with ``supports_sparse`` gives
  the dense result (checked with weight_decay=0, as torch.optim.SGD supports sparse grads only so).
- ``complex_params``: with ``supports_complex``, a complex parameter steps like its ``view_as_real``
  (within ``tolerance``; with ``only_2d``, it only has to run and keep its dtype); otherwise
  construction or step raises ValueError/RuntimeError.
- ``dtypes``: parameters of each dtype in ``dtypes`` run 5 steps, stay finite and keep their dtype; with
  ``bf16_state_fp32`` the floating state of bf16 parameters (except 0-d counters) is fp32.
- ``zero_size_params``: parameters of shape (0,) and (0, 3) ((0, 3) and (3, 0) when ``only_2d``) next to
  a normal one do not crash, on every path.
- ``deterministic``: two runs from the same global seed give identical parameters, on every path, and
  the global RNG state is restored around it.
- ``state_location``: all state lives in ``optimizer.state`` (keyed by the parameters) and
  hyperparameters in ``param_groups``: no attributes beyond a fresh instance's, no tensors outside
  ``state`` / ``param_groups['params']``, on every path. An optimizer may name caches derived from
  ``state`` and the parameters in a class attribute ``derived_state`` (a tuple of attribute names; e.g.
  the flat layout of :mod:`optarena.optim._flat`): they are not saved, and ``state_dict_round_trip``,
  which steps a fresh optimizer without them in lockstep, shows that they are derived.
- ``converges_quadratic``, ``converges_rosenbrock``: with ``converges_kwargs`` for ``converges_steps``
  steps, the distance to the optimum of a diagonal quadratic (d=10, condition number 1000, from 0 to 1)
  and of Rosenbrock (from (-1.5, 2) to (1, 1)) is below ``converges_tol``.
- ``state_size`` (``state_bytes_per_param``): bytes of all tensors in ``optimizer.state[p]`` equal the
  record's formula, for every shape and supported dtype.
- ``fast_path_<name>`` (one per ``fast_paths`` entry): parameters after 10 steps equal the readable
  path's within ``tolerance``.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from optarena.optim.adabelief import AdaBelief
from optarena.optim.cosmos import COSMOS, cosmos_state_bytes
from optarena.optim.exadam import EXAdam
from optarena.optim.frugal import FRUGAL, subspace_rank
from optarena.optim.hesso import HESSO
from optarena.optim.lion import Lion
from optarena.optim.mfac import MFAC
from optarena.optim.muon import Muon
from optarena.optim.soap import SOAP

__all__ = [
    "OPTIMIZER_INFOS",
    "OptimizerCheck",
    "OptimizerInfo",
    "optimizer_checks",
    "parametrize_with_checks",
]

ALL_DTYPES: tuple[torch.dtype, ...] = (torch.float64, torch.float32, torch.bfloat16)
#: The kwargs of the flat-block path of the fused elementwise optimizers (optarena.optim._flat).
_FLAT: Mapping[str, Any] = {"fused": True, "flat": True}


@dataclass(frozen=True)
class OptimizerInfo:
    """What the contract suite needs to know about one optimizer.

    Attributes:
        name: short id used in test ids (``adamw::lr_zero``).
        factory: called as ``factory(params, **kwargs)``; usually the optimizer class.
        default_kwargs: small, stable hyperparameters for the generic checks (e.g. ``lr=1e-2``); include a
            nonzero ``weight_decay`` if the optimizer has one, so that it is exercised.
        readable_kwargs: kwargs selecting the readable single-tensor loop, merged over
            ``default_kwargs`` everywhere except in a fast-path run (``{"foreach": False}`` for classes
            with that flag).
        fast_paths: name -> kwargs selecting an alternative implementation (``{"foreach": {"foreach":
            True}, "fused": {"fused": True}}``); each must match the readable loop within ``tolerance``.
        tolerance: rtol and atol for fast-path and complex-vs-real comparisons.
        bad_inputs: (kwargs, regex) pairs: each kwargs must make construction raise ValueError whose
            message matches the regex and contains the bad value.
        supports_closure: ``step(closure)`` evaluates the closure once and returns its loss.
        supports_complex: complex parameters are treated as their ``view_as_real``; if False they must be
            rejected with ValueError or RuntimeError.
        supports_sparse: sparse gradients give the dense result; if False they must raise.
        only_2d: the optimizer accepts only 2-D matrices (e.g. Muon); the checks then use 2-D shapes only.
        dtypes: parameter dtypes the optimizer supports (a subset of float64, float32, bfloat16).
        bf16_state_fp32: the floating state of bfloat16 parameters is kept in float32.
        state_bytes_per_param: the docstring's state-size formula: bytes of all tensors in
            ``optimizer.state[p]`` after a step, as a function of ``p``; None skips ``state_size``.
        converges_kwargs: hyperparameters (merged over the defaults) that reach the optimum of the
            convergence problems within ``converges_steps`` steps and ``converges_tol`` (Euclidean).
        known_failures: check name -> reason; those checks run as strict xfails.
    """

    name: str
    factory: Callable[..., Optimizer]
    default_kwargs: Mapping[str, Any] = field(default_factory=lambda: {"lr": 1e-2})
    readable_kwargs: Mapping[str, Any] = field(default_factory=dict)
    fast_paths: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    tolerance: float = 1e-5
    bad_inputs: Sequence[tuple[Mapping[str, Any], str]] = ()
    supports_closure: bool = True
    supports_complex: bool = False
    supports_sparse: bool = False
    only_2d: bool = False
    dtypes: tuple[torch.dtype, ...] = ALL_DTYPES
    bf16_state_fp32: bool = False
    state_bytes_per_param: Callable[[Tensor], int] | None = None
    converges_kwargs: Mapping[str, Any] = field(default_factory=dict)
    converges_steps: int = 2000
    converges_tol: float = 1e-2
    known_failures: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class OptimizerCheck:
    """One named check bound to one record; calling it raises AssertionError on failure."""

    name: str
    info: OptimizerInfo
    fn: Callable[[OptimizerInfo], None]

    def __call__(self) -> None:
        self.fn(self.info)

    @property
    def known_failure(self) -> str | None:
        """The reason the record gives for an expected failure, or None."""
        return self.info.known_failures.get(self.name)

    def __repr__(self) -> str:
        return f"{self.info.name}::{self.name}"


# ---------------------------------------------------------------------------------------------- helpers


def _kwargs(info: OptimizerInfo, path: str | None = None, **over: Any) -> dict[str, Any]:
    kwargs = {**info.default_kwargs, **info.readable_kwargs}
    if path is not None:
        kwargs.update(info.fast_paths[path])
    return kwargs | over


def _make(info: OptimizerInfo, params: Any, path: str | None = None, **over: Any) -> Optimizer:
    return info.factory(params, **_kwargs(info, path, **over))


def _paths(info: OptimizerInfo) -> list[str | None]:
    """The readable path (None) and every fast path."""
    return [None, *info.fast_paths]


def _shapes(info: OptimizerInfo) -> list[tuple[int, ...]]:
    return [(4, 3), (3, 4)] if info.only_2d else [(5,), (4, 3), (3, 4), (2, 3, 2, 2)]


def _leaf(shape: Sequence[int], key: int, dtype: torch.dtype = torch.float32) -> Tensor:
    gen = torch.Generator().manual_seed(key)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    return torch.randn(tuple(shape), generator=gen, dtype=wide).to(dtype).requires_grad_()


def _leaves(
    shapes: Iterable[Sequence[int]], dtype: torch.dtype = torch.float32, first: int = 0
) -> list[Tensor]:
    return [_leaf(s, first + i, dtype) for i, s in enumerate(shapes)]


def _clone(p: Tensor) -> Tensor:
    return p.detach().clone().requires_grad_()


def _grad(p: Tensor, key: int, step: int) -> Tensor:
    """A gradient that depends on the parameter and on the step, from a seeded generator."""
    gen = torch.Generator().manual_seed(1_000_003 + 1009 * key + step)
    wide = torch.complex128 if p.is_complex() else torch.float64
    noise = torch.randn(p.shape, generator=gen, dtype=wide)
    return (0.5 * p.detach().to(wide) + noise).to(p.dtype)


def _step(
    opt: Optimizer, params: Sequence[Tensor], keys: Sequence[int], step: int, idle: Iterable[int] = ()
) -> None:
    """One step with fresh gradients; parameters at the indices in ``idle`` get grad None."""
    idle = set(idle)
    for i, (p, key) in enumerate(zip(params, keys, strict=True)):
        p.grad = None if i in idle else _grad(p, key, step)
    opt.step()


def _run(opt: Optimizer, params: Sequence[Tensor], keys: Sequence[int], steps: int, start: int = 0) -> None:
    for s in range(start, start + steps):
        _step(opt, params, keys, s)


def _max_diff(a: Tensor, b: Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return float(
        (a.detach().to(torch.complex128 if a.is_complex() else torch.float64) - b.detach()).abs().max()
    )


def _assert_same(actual: Sequence[Tensor], expected: Sequence[Tensor], what: str, tol: float = 0.0) -> None:
    """Bit-identical when ``tol`` is 0, else ``allclose`` with rtol = atol = ``tol``."""
    assert len(actual) == len(expected), what
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        a, e = a.detach(), e.detach()
        assert a.shape == e.shape and a.dtype == e.dtype, (
            f"{what}: parameter {i} is {a.dtype}{tuple(a.shape)}"
        )
        same = torch.equal(a, e) if tol == 0 else torch.allclose(a, e, rtol=tol, atol=tol)
        if not same:
            raise AssertionError(
                f"{what}: parameter {i} of shape {tuple(a.shape)} differs by up to {_max_diff(a, e):.3g}"
                + (" (bit-identical expected)" if tol == 0 else f" (tolerance {tol:g})")
            )


def _defaults(info: OptimizerInfo) -> dict[str, Any]:
    return dict(_make(info, [_leaf((4, 3), 0)]).defaults)


def _has_weight_decay(info: OptimizerInfo) -> bool:
    return "weight_decay" in _defaults(info)


def _tensors_in(value: Any, depth: int = 0) -> list[Tensor]:
    """Tensors held in ``value`` through dicts (keys and values), lists, tuples and sets."""
    if isinstance(value, Tensor):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, Mapping):
        return [t for k, v in value.items() for x in (k, v) for t in _tensors_in(x, depth + 1)]
    if isinstance(value, list | tuple | set | frozenset):
        return [t for x in value for t in _tensors_in(x, depth + 1)]
    return []


def _state_bytes(state: Mapping[str, Any]) -> int:
    return sum(t.numel() * t.element_size() for t in _tensors_in(state))


def _describe_state(state: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}: {v.dtype}{tuple(v.shape)}" if isinstance(v, Tensor) else f"{k}: {type(v).__name__}"
        for k, v in state.items()
    )


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [s for v in value for s in _scalars(v)]
    return [value]


def _where(path: str | None) -> str:
    return "readable loop" if path is None else f"fast path {path!r}"


# ------------------------------------------------------------------------------------------------ checks


def check_param_groups(info: OptimizerInfo) -> None:
    lr = float(_defaults(info)["lr"])
    decay = _has_weight_decay(info)
    hyper = [{"lr": lr}, {"lr": 3 * lr}, {"lr": 0.0}, {"lr": 2 * lr}]
    if decay:
        for h, wd in zip(hyper, (0.05, 0.2, 0.1, 0.02), strict=True):
            h["weight_decay"] = wd
    shapes = _shapes(info)
    params = _leaves([shapes[0], shapes[1], shapes[0], shapes[1]])
    a, b, c, d = params
    c0 = c.detach().clone()
    opt = _make(info, [{"params": [p], **h} for p, h in zip(params[:3], hyper[:3], strict=True)])
    alone = [_clone(p) for p in params]
    opts = [_make(info, [p], **h) for p, h in zip(alone[:2], hyper[:2], strict=True)]
    _run(opt, params[:3], [0, 1, 2], 3)
    for i in range(2):
        _run(opts[i], [alone[i]], [i], 3)
    _assert_same(
        [a, b], alone[:2], "two param groups vs two separate optimizers with the groups' hyperparameters"
    )
    _assert_same([c], [c0], "a param group with lr=0" + (" (and weight_decay > 0)" if decay else ""))

    opt.add_param_group({"params": [d], **hyper[3]})
    opts.append(_make(info, [alone[3]], **hyper[3]))
    _run(opt, params, [0, 1, 2, 3], 3, start=3)
    for i, k in ((0, 0), (1, 1), (2, 3)):
        _run(opts[i], [alone[k]], [k], 3, start=3)
    _assert_same([d], [alone[3]], "a group added with add_param_group after 3 steps vs a fresh optimizer")
    _assert_same([a, b], alone[:2], "the first groups after add_param_group")
    _assert_same([c], [c0], "a param group with lr=0 after add_param_group")


def check_state_dict_round_trip(info: OptimizerInfo) -> None:
    params = _leaves(_shapes(info))
    keys = list(range(len(params)))
    opt = _make(info, params)
    _run(opt, params, keys, 3)
    saved = copy.deepcopy(opt.state_dict())
    clones = [_clone(p) for p in params]
    fresh = _make(info, clones)
    fresh.load_state_dict(saved)
    _run(opt, params, keys, 3, start=3)
    _run(fresh, clones, keys, 3, start=3)
    _assert_same(clones, params, "a fresh optimizer loaded with the state_dict after 3 steps vs the original")


def check_closure(info: OptimizerInfo) -> None:
    shapes = _shapes(info)
    params = _leaves(shapes)
    clones = [_clone(p) for p in params]
    targets = _leaves(shapes, first=100)

    def loss_of(ps: Sequence[Tensor]) -> Tensor:
        return sum(
            ((0.5 * p * p - t.detach() * p).sum() for p, t in zip(ps, targets, strict=True)), torch.zeros(())
        )

    opt, ref = _make(info, params), _make(info, clones)
    calls, losses = 0, []

    def closure() -> Tensor:
        nonlocal calls
        calls += 1
        opt.zero_grad()
        loss = loss_of(params)
        loss.backward()
        losses.append(loss.detach().clone())
        return loss

    for s in range(2):
        returned = opt.step(closure)
        assert calls == s + 1, f"step(closure) called the closure {calls - s} times (once expected)"
        assert isinstance(returned, Tensor) and torch.equal(returned.detach(), losses[-1]), (
            f"step(closure) returned {returned!r}, not the closure's loss {losses[-1]!r}"
        )
        with torch.enable_grad():
            ref.zero_grad()
            loss_of(clones).backward()
        ref.step()
    _assert_same(params, clones, "step(closure) vs closure() then step()")


def check_lr_zero(info: OptimizerInfo) -> None:
    over: dict[str, Any] = {"lr": 0.0}
    if _has_weight_decay(info):
        over["weight_decay"] = 0.1
    params = _leaves(_shapes(info))
    before = [p.detach().clone() for p in params]
    opt = _make(info, params, **over)
    _run(opt, params, range(len(params)), 5)
    _assert_same(params, before, f"5 steps with {over}")


def check_grad_none_untouched(info: OptimizerInfo) -> None:
    over = {"weight_decay": 0.1} if _has_weight_decay(info) else {}
    params = _leaves(_shapes(info))
    idle = params[1]
    before = idle.detach().clone()
    opt = _make(info, params, **over)
    for s in range(3):
        _step(opt, params, range(len(params)), s, idle=[1])
    _assert_same([idle], [before], f"a parameter whose grad is None ({over or 'default kwargs'})")
    assert not opt.state.get(idle), (
        f"a parameter whose grad was always None got state: {_describe_state(opt.state[idle])}"
    )


def check_late_start(info: OptimizerInfo) -> None:
    params = _leaves(_shapes(info)[:2])
    late = params[1]
    keys = [0, 1]
    alone = _clone(late)
    opt = _make(info, params)
    for s in range(3):
        _step(opt, params, keys, s, idle=[1])
    fresh = _make(info, [alone])
    for s in range(3, 6):
        _step(opt, params, keys, s)
        _step(fresh, [alone], [1], s)
    _assert_same(
        [late],
        [alone],
        "a parameter whose grad was None for 3 steps vs a fresh optimizer started on it then "
        "(step counts must be per parameter)",
    )


def check_grad_not_modified(info: OptimizerInfo) -> None:
    over = {"weight_decay": 0.1} if _has_weight_decay(info) else {}
    for path in _paths(info):
        params = _leaves(_shapes(info))
        opt = _make(info, params, path, **over)
        for s in range(3):
            grads = [_grad(p, i, s) for i, p in enumerate(params)]
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            copies = [g.clone() for g in grads]
            opt.step()
            for i, (p, g, c) in enumerate(zip(params, grads, copies, strict=True)):
                assert p.grad is g, f"{_where(path)}: step() replaced p.grad of parameter {i}"
                assert torch.equal(g, c), (
                    f"{_where(path)}: step() modified p.grad of parameter {i} in place "
                    f"(by up to {_max_diff(g, c):.3g})"
                )


def check_bad_hyperparameters(info: OptimizerInfo) -> None:
    assert info.bad_inputs, "the record lists no bad_inputs: every optimizer validates at least its lr"
    for bad, pattern in info.bad_inputs:
        try:
            _make(info, [_leaf((4, 3), 0)], **bad)
        except ValueError as exc:
            message = str(exc)
            assert re.search(pattern, message), f"{bad}: ValueError {message!r} does not match {pattern!r}"
            values = [s for v in bad.values() for s in _scalars(v)]
            assert any(str(v) in message for v in values), (
                f"{bad}: ValueError {message!r} omits the bad value"
            )
        else:
            raise AssertionError(f"{bad} was accepted: __init__ must raise ValueError naming the value")


def check_rejects_unknown_kwargs(info: OptimizerInfo) -> None:
    try:
        _make(info, [_leaf((4, 3), 0)], not_a_hyperparameter=0.5)
    except TypeError as exc:
        assert "not_a_hyperparameter" in str(exc), f"TypeError {exc} does not name the unknown keyword"
    else:
        raise AssertionError("an unknown keyword argument was accepted: a typo would pass silently")


def check_sparse_gradients(info: OptimizerInfo) -> None:
    over = {"weight_decay": 0.0} if _has_weight_decay(info) else {}
    shapes = _shapes(info)[:2]
    if not info.supports_sparse:
        p = _leaf(shapes[0], 0)
        opt = _make(info, [p], **over)
        p.grad = _grad(p, 0, 0).to_sparse()
        try:
            opt.step()
        except (RuntimeError, ValueError):
            return
        raise AssertionError("a sparse gradient was accepted, but the record says supports_sparse=False")
    dense, sparse = _leaves(shapes), _leaves(shapes)
    opt_dense, opt_sparse = _make(info, dense, **over), _make(info, sparse, **over)
    for s in range(3):
        _step(opt_dense, dense, [0, 1], s)
        for i, p in enumerate(sparse):
            p.grad = _grad(p, i, s).to_sparse()
        opt_sparse.step()
    _assert_same(sparse, dense, "3 steps with sparse gradients vs dense ones", info.tolerance)


def check_complex_params(info: OptimizerInfo) -> None:
    dtype = torch.complex128 if torch.float64 in info.dtypes else torch.complex64
    shapes = _shapes(info)[:2]
    params = _leaves(shapes, dtype)
    if not info.supports_complex:
        try:
            _run(_make(info, params), params, [0, 1], 1)
        except (RuntimeError, ValueError):
            return
        raise AssertionError("complex parameters were accepted, but the record says supports_complex=False")
    opt = _make(info, params)
    if info.only_2d:
        _run(opt, params, [0, 1], 5)
        for p in params:
            assert p.dtype == dtype and bool(torch.isfinite(torch.view_as_real(p.detach())).all())
        return
    reals = [torch.view_as_real(p.detach()).clone().requires_grad_() for p in params]
    ref = _make(info, reals)
    for s in range(5):
        for i, (p, r) in enumerate(zip(params, reals, strict=True)):
            p.grad = _grad(p, i, s)
            r.grad = torch.view_as_real(p.grad).clone()
        opt.step()
        ref.step()
    _assert_same(
        [torch.view_as_real(p.detach()) for p in params],
        reals,
        "complex parameters vs view_as_real",
        info.tolerance,
    )


def check_dtypes(info: OptimizerInfo) -> None:
    for dtype in info.dtypes:
        params = _leaves(_shapes(info), dtype)
        before = [p.detach().clone() for p in params]
        opt = _make(info, params)
        _run(opt, params, range(len(params)), 5)
        for i, (p, b) in enumerate(zip(params, before, strict=True)):
            assert p.dtype == dtype, f"a {dtype} parameter became {p.dtype}"
            assert bool(torch.isfinite(p.detach()).all()), (
                f"{dtype}: parameter {i} is not finite after 5 steps"
            )
            assert not torch.equal(p.detach(), b), f"{dtype}: parameter {i} did not move in 5 steps"
            if dtype == torch.bfloat16 and info.bf16_state_fp32:
                state = opt.state[p]
                wrong = [
                    k
                    for k, v in state.items()
                    if isinstance(v, Tensor) and v.ndim > 0 and v.is_floating_point()
                ]
                wrong = [k for k in wrong if state[k].dtype != torch.float32]
                assert not wrong, f"bf16_state_fp32: state of a bf16 parameter is {_describe_state(state)}"


def check_zero_size_params(info: OptimizerInfo) -> None:
    shapes = [(0, 3), (3, 0), (4, 3)] if info.only_2d else [(0,), (0, 3), (5,)]
    for path in _paths(info):
        params = _leaves(shapes)
        opt = _make(info, params, path)
        try:
            _run(opt, params, range(len(params)), 3)
        except Exception as exc:
            raise AssertionError(f"{_where(path)}: zero-size parameters {shapes[:2]} crash: {exc!r}") from exc
        assert [tuple(p.shape) for p in params] == shapes, f"{_where(path)}: shapes changed"
        assert bool(torch.isfinite(params[2].detach()).all()), f"{_where(path)}: the non-empty parameter"


def check_deterministic(info: OptimizerInfo) -> None:
    for path in _paths(info):
        runs = []
        with torch.random.fork_rng(devices=[]):
            for _ in range(2):
                torch.manual_seed(0)
                params = _leaves(_shapes(info))
                _run(_make(info, params, path), params, range(len(params)), 10)
                runs.append(params)
        _assert_same(runs[1], runs[0], f"{_where(path)}: two runs from the same seed")


@functools.cache
def _attributes_added_by_base_optimizer() -> frozenset[str]:
    """Attribute names torch's own Optimizer machinery adds after construction (none in torch 2.13)."""

    class Bare(Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.0})

        def step(self, closure: Any = None) -> None:
            return None

    p = _leaf((2,), 0)
    opt = Bare([p])
    before = set(vars(opt))
    opt.zero_grad()
    opt.step()
    opt.load_state_dict(opt.state_dict())
    return frozenset(set(vars(opt)) - before)


def check_state_location(info: OptimizerInfo) -> None:
    passed = {k for k, v in _kwargs(info).items() if _tensors_in(v)}
    for path in _paths(info):
        where = _where(path)
        params = _leaves(_shapes(info))
        standard = (
            set(vars(_make(info, [_clone(p) for p in params], path))) | _attributes_added_by_base_optimizer()
        )
        opt = _make(info, params, path)
        _run(opt, params, range(len(params)), 3)
        extra = sorted(set(vars(opt)) - standard)
        assert not extra, f"{where}: step() added attributes {extra}: state belongs in optimizer.state"
        derived = set(getattr(type(opt), "derived_state", ()))
        for name, value in vars(opt).items():
            if name not in ("state", "param_groups", "defaults", *derived) and _tensors_in(value):
                raise AssertionError(
                    f"{where}: attribute {name!r} holds tensors: state belongs in optimizer.state"
                )
        ids = {id(p) for p in params}
        assert all(id(k) in ids for k in opt.state), (
            f"{where}: optimizer.state has keys that are not parameters"
        )
        for i, group in enumerate([opt.defaults, *opt.param_groups]):
            for k, v in group.items():
                if k != "params" and k not in passed and _tensors_in(v):
                    what = "defaults" if i == 0 else f"param_groups[{i - 1}]"
                    raise AssertionError(f"{where}: {what}[{k!r}] holds a tensor the user did not pass")


_QUAD_H = torch.logspace(0, 3, 10, dtype=torch.float64)


def _converge(info: OptimizerInfo, grad_fn: Callable[[Tensor], Tensor], x0: Sequence[float]) -> Tensor:
    dtype = torch.float64 if torch.float64 in info.dtypes else torch.float32
    shape = (1, len(x0)) if info.only_2d else (len(x0),)
    x = torch.tensor(x0, dtype=dtype).reshape(shape).clone().requires_grad_()  # owns its memory (no _base)
    opt = _make(info, [x], **info.converges_kwargs)
    for _ in range(info.converges_steps):
        x.grad = grad_fn(x.detach().reshape(-1).double()).to(dtype).reshape(shape)
        opt.step()
    return x.detach().reshape(-1).double()


def check_converges_quadratic(info: OptimizerInfo) -> None:
    x = _converge(info, lambda x: _QUAD_H * (x - 1.0), [0.0] * 10)
    dist = float((x - 1.0).norm())
    assert math.isfinite(dist) and dist <= info.converges_tol, (
        f"quadratic (condition number 1000): distance to the optimum {dist:.3g} after {info.converges_steps} "
        f"steps with {dict(info.converges_kwargs)} (converges_tol {info.converges_tol:g})"
    )


def _rosenbrock_grad(x: Tensor) -> Tensor:
    a, b = x[0], x[1]
    return torch.stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def check_converges_rosenbrock(info: OptimizerInfo) -> None:
    x = _converge(info, _rosenbrock_grad, [-1.5, 2.0])
    dist = float((x - 1.0).norm())
    assert math.isfinite(dist) and dist <= info.converges_tol, (
        f"Rosenbrock from (-1.5, 2): distance to (1, 1) {dist:.3g} after {info.converges_steps} steps "
        f"with {dict(info.converges_kwargs)} (converges_tol {info.converges_tol:g})"
    )


def check_state_size(info: OptimizerInfo) -> None:
    assert info.state_bytes_per_param is not None
    for dtype in info.dtypes:
        params = _leaves(_shapes(info), dtype)
        opt = _make(info, params)
        _run(opt, params, range(len(params)), 2)
        for p in params:
            got, want = _state_bytes(opt.state[p]), info.state_bytes_per_param(p)
            assert got == want, (
                f"{dtype}{tuple(p.shape)}: state holds {got} bytes, the formula says {want} "
                f"({_describe_state(opt.state[p])})"
            )


def check_fast_path(info: OptimizerInfo, path: str) -> None:
    params = _leaves(_shapes(info))
    fast = [_clone(p) for p in params]
    keys = range(len(params))
    _run(_make(info, params), params, keys, 10)
    _run(_make(info, fast, path), fast, keys, 10)
    _assert_same(fast, params, f"fast path {path!r} vs the readable loop after 10 steps", info.tolerance)


_GENERIC: tuple[Callable[[OptimizerInfo], None], ...] = (
    check_param_groups,
    check_state_dict_round_trip,
    check_closure,
    check_lr_zero,
    check_grad_none_untouched,
    check_late_start,
    check_grad_not_modified,
    check_bad_hyperparameters,
    check_rejects_unknown_kwargs,
    check_sparse_gradients,
    check_complex_params,
    check_dtypes,
    check_zero_size_params,
    check_deterministic,
    check_state_location,
    check_converges_quadratic,
    check_converges_rosenbrock,
    check_state_size,
)


def optimizer_checks(info: OptimizerInfo) -> list[OptimizerCheck]:
    """The checks that apply to ``info``, chosen by its capability flags."""
    fns: list[tuple[str, Callable[[OptimizerInfo], None]]] = []
    for fn in _GENERIC:
        if fn is check_closure and not info.supports_closure:
            continue
        if fn is check_state_size and info.state_bytes_per_param is None:
            continue
        fns.append((fn.__name__.removeprefix("check_"), fn))
    for path in info.fast_paths:
        fns.append((f"fast_path_{path}", functools.partial(check_fast_path, path=path)))
    checks = [OptimizerCheck(name, info, fn) for name, fn in fns]
    unknown = set(info.known_failures) - {c.name for c in checks}
    if unknown:
        raise ValueError(f"{info.name}: known_failures names checks that do not run: {sorted(unknown)}")
    bad_dtypes = set(info.dtypes) - set(ALL_DTYPES)
    if bad_dtypes or not info.dtypes:
        raise ValueError(f"{info.name}: dtypes must be a non-empty subset of {ALL_DTYPES}, got {info.dtypes}")
    return checks


def parametrize_with_checks(infos: Iterable[OptimizerInfo]) -> Any:
    """A ``pytest.mark.parametrize`` over every check of every record, known failures as strict xfails."""
    import pytest

    cases = []
    for info in infos:
        for check in optimizer_checks(info):
            reason = check.known_failure
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(check, id=repr(check), marks=marks))
    return pytest.mark.parametrize("check", cases)


# ----------------------------------------------------------------------------------------------- records

_ADAM_BAD_INPUTS = (
    ({"lr": -1e-2}, r"learning rate: -0\.01"),
    ({"eps": -1e-8}, r"epsilon value: -1e-08"),
    ({"betas": (1.0, 0.999)}, r"beta parameter at index 0: 1\.0"),
    ({"betas": (0.9, 1.5)}, r"beta parameter at index 1: 1\.5"),
    ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
)

_HESSO_BAD_INPUTS = (
    ({"lr": -1e-2}, r"learning rate: -0\.01"),
    ({"momentum": 1.0}, r"momentum: 1\.0"),
    ({"weight_decay": -0.1}, r"weight_decay: -0\.1"),
    ({"betas": (0.9, 1.5)}, r"beta parameter at index 1: 1\.5"),
    ({"eps": 0.0}, r"eps: 0\.0"),
    ({"variant": "rmsprop"}, r"variant: 'rmsprop'"),
    ({"target_group_sparsity": 1.0}, r"target_group_sparsity: 1\.0"),
    ({"pruning_periods": 0}, r"pruning_periods: 0"),
    ({"start_step": -3}, r"start_step: -3"),
)


def _hesso_with_row_groups(params: Any, **kwargs: Any) -> Optimizer:
    """HESSO whose groups are the rows (dim 0) of every parameter (the entries of a 1-D one), so a
    complex parameter and its ``view_as_real`` have the same groups."""
    params = list(params)
    tensors = [p for item in params for p in (item["params"] if isinstance(item, dict) else [item])]
    rows = [[(p, torch.tensor([r]), 0)] for p in tensors if p.ndim >= 1 for r in range(p.shape[0])]
    return HESSO(params, groups=rows, **kwargs)


OPTIMIZER_INFOS: list[OptimizerInfo] = [
    OptimizerInfo(
        name="adamw",
        factory=torch.optim.AdamW,
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}, "fused": {"fused": True}},
        bad_inputs=_ADAM_BAD_INPUTS,
        supports_complex=True,
        # exp_avg and exp_avg_sq in the parameter's dtype, plus a float32 step counter
        state_bytes_per_param=lambda p: 2 * p.numel() * p.element_size() + 4,
        converges_kwargs={"lr": 2e-2, "betas": (0.9, 0.99), "weight_decay": 0.0},
        converges_steps=1000,
    ),
    OptimizerInfo(
        name="sgd_momentum",
        factory=torch.optim.SGD,
        default_kwargs={"lr": 1e-2, "momentum": 0.9, "weight_decay": 1e-2},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}, "fused": {"fused": True}},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"momentum": -0.5}, r"momentum value: -0\.5"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
        ),
        supports_complex=True,
        supports_sparse=True,
        state_bytes_per_param=lambda p: p.numel() * p.element_size(),  # the momentum buffer
        converges_kwargs={"lr": 1.5e-3, "momentum": 0.9, "weight_decay": 0.0},
        converges_steps=2000,
    ),
    OptimizerInfo(
        name="nadamw",
        factory=torch.optim.NAdam,
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2, "decoupled_weight_decay": True},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}},
        bad_inputs=(*_ADAM_BAD_INPUTS, ({"momentum_decay": -1.0}, r"momentum_decay value: -1\.0")),
        supports_complex=True,
        # exp_avg and exp_avg_sq in the parameter's dtype, plus float32 step and mu_product scalars
        state_bytes_per_param=lambda p: 2 * p.numel() * p.element_size() + 8,
        converges_kwargs={"lr": 5e-3, "betas": (0.9, 0.99), "weight_decay": 0.0},
        converges_steps=3000,
    ),
    OptimizerInfo(
        name="exadam",
        factory=EXAdam,
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}, "fused": {"fused": True}, "flat": _FLAT},
        tolerance=1e-6,  # fp32 checks: the compiled kernel reassociates (fp64 equality to 1e-12 is in test_exadam)
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"betas": (0.9, 1.0)}, r"beta parameter at index 1: 1\.0"),
            ({"eps": 0.0}, r"epsilon value: 0\.0"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
        ),
        bf16_state_fp32=True,
        # exp_avg and exp_avg_sq, fp32 for 16-bit parameters; the step count is a Python int
        state_bytes_per_param=lambda p: 2 * p.numel() * max(p.element_size(), 4),
        converges_kwargs={"lr": 3e-3, "betas": (0.9, 0.999), "weight_decay": 0.0},
        converges_steps=4000,
    ),
    OptimizerInfo(
        name="muon",
        factory=Muon,
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"momentum": 1.0}, r"momentum: 1\.0"),
            ({"ns_steps": 0}, r"ns_steps: 0"),
        ),
        only_2d=True,
        bf16_state_fp32=True,
        state_bytes_per_param=lambda p: p.numel() * max(p.element_size(), 4),  # the momentum buffer
        converges_kwargs={"lr": 3e-3, "momentum": 0.95},
        converges_steps=3000,
    ),
    OptimizerInfo(
        name="lion",
        factory=Lion,
        default_kwargs={"lr": 1e-3, "weight_decay": 1e-2},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}, "fused": {"fused": True}, "flat": _FLAT},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"betas": (0.9, 1.5)}, r"beta parameter at index 1: 1\.5"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
        ),
        supports_complex=True,
        bf16_state_fp32=True,
        # exp_avg (fp32 for 16-bit parameters) plus a float32 step counter
        state_bytes_per_param=lambda p: p.numel() * max(p.element_size(), 4) + 4,
        converges_kwargs={"lr": 4e-3, "betas": (0.95, 0.98), "weight_decay": 0.0},
        converges_steps=3000,
    ),
    OptimizerInfo(
        name="adabelief",
        factory=AdaBelief,
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2},
        readable_kwargs={"foreach": False},
        fast_paths={"foreach": {"foreach": True}, "fused": {"fused": True}, "flat": _FLAT},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"eps": -1.0}, r"epsilon value: -1\.0"),
            ({"betas": (1.0, 0.999)}, r"beta parameter at index 0: 1\.0"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
        ),
        supports_complex=True,
        bf16_state_fp32=True,
        # exp_avg and exp_avg_var (fp32 for 16-bit parameters) plus a float32 step counter
        state_bytes_per_param=lambda p: 2 * p.numel() * max(p.element_size(), 4) + 4,
        converges_kwargs={"lr": 3e-2, "weight_decay": 0.0},
        converges_steps=2000,
    ),
    OptimizerInfo(
        name="soap",
        factory=SOAP,
        # frequency 2 so the basis refresh runs within the 3+3-step round trip and the other checks
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2, "precondition_frequency": 2},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"betas": (0.95, 1.0)}, r"beta parameter at index 1: 1\.0"),
            ({"eps": 0.0}, r"epsilon value: 0\.0"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
            ({"precondition_frequency": 0}, r"precondition_frequency: 0"),
            ({"shampoo_beta": 1.5}, r"shampoo_beta: 1\.5"),
        ),
        bf16_state_fp32=True,
        # exp_avg + exp_avg_sq, plus an n_d x n_d statistic and basis per dimension of an N-D (N >= 2)
        # parameter (dims <= max_precond_dim); fp32 for 16-bit params; step is a Python int
        state_bytes_per_param=lambda p: (
            max(p.element_size(), 4)
            * (2 * p.numel() + (2 * sum(n * n for n in p.shape) if p.ndim >= 2 else 0))
        ),
        converges_kwargs={"lr": 1e-2, "betas": (0.9, 0.99), "weight_decay": 0.0},
        converges_steps=2000,
    ),
    OptimizerInfo(
        name="frugal",
        factory=FRUGAL,
        default_kwargs={
            "lr": 1e-2,
            "weight_decay": 1e-2,
            "density": 0.5,
            "projection": "svd",
            "update_period": 2,
        },
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"betas": (0.9, 1.0)}, r"beta parameter at index 1: 1\.0"),
            ({"eps": 0.0}, r"epsilon value: 0\.0"),
            ({"weight_decay": -0.1}, r"weight_decay value: -0\.1"),
            ({"density": 1.5}, r"density: 1\.5"),
            ({"projection": "qr"}, r"projection: 'qr'"),
            ({"update_period": 0}, r"update_period: 0"),
            ({"state_free": "adam"}, r"state_free: 'adam'"),
            ({"state_free_lr_scale": -1.0}, r"state_free_lr_scale: -1\.0"),
        ),
        bf16_state_fp32=True,
        state_bytes_per_param=lambda p: _frugal_state_bytes(p, 0.5),
        converges_kwargs={"lr": 5e-3, "weight_decay": 0.0, "density": 1.0, "betas": (0.9, 0.99)},
        converges_steps=3000,
    ),
    OptimizerInfo(
        name="mfac",
        factory=MFAC,
        default_kwargs={"lr": 1e-2, "damp": 1e-1, "ngrads": 4, "weight_decay": 1e-2},
        bad_inputs=(
            ({"lr": -1.0}, r"learning rate: -1\.0"),
            ({"momentum": 1.0}, r"momentum value: 1\.0"),
            ({"weight_decay": -1.0}, r"weight_decay value: -1\.0"),
            ({"ngrads": 0}, r"ngrads value: 0"),
            ({"damp": 0.0}, r"damp value: 0\.0"),
        ),
        bf16_state_fp32=True,
        # state_bytes_per_param=None: all state sits on the first parameter (s*(m*d + 2m^2 + m [+ d]) with
        # d = all parameters), so no per-parameter formula exists; test_mfac.py checks the total.
        converges_kwargs={"lr": 0.1, "damp": 0.1, "ngrads": 10, "momentum": 0.9, "weight_decay": 0.0},
        known_failures={
            "param_groups": "M-FAC preconditions all parameters with one Fisher over the flattened vector, "
            "so two groups are not two independent optimizers",
            "late_start": "one shared window and step count: a late parameter's gradients enter a window that "
            "already holds the others' gradients (zeros for it), unlike a fresh optimizer",
            "converges_quadratic": "deterministic gradients on a quadratic: the empirical Fisher of the last m "
            "gradients is not the Hessian; near the optimum F -> damp*I, so it reduces to GD with lr/damp and "
            "no tried lr/damp/momentum (18 settings) reaches 1e-2 in 2000 steps",
        },
    ),
    OptimizerInfo(
        name="cosmos",
        factory=COSMOS,
        # rank 2 < n exercises the residual (Muon) part
        default_kwargs={"lr": 1e-2, "weight_decay": 1e-2, "rank": 2, "lr_ratio": 1.0},
        bad_inputs=(
            ({"lr": -1e-2}, r"learning rate: -0\.01"),
            ({"betas": (0.9, 1.0)}, r"beta parameter at index 1: 1\.0"),
            ({"eps": 0.0}, r"eps: 0\.0"),
            ({"weight_decay": -0.1}, r"weight_decay: -0\.1"),
            ({"rank": 0}, r"rank: 0"),
            ({"gamma": -1.0}, r"gamma: -1\.0"),
            ({"lr_ratio": 0.0}, r"lr_ratio: 0\.0"),
            ({"update_freq": 0}, r"update_freq: 0"),
        ),
        only_2d=True,
        bf16_state_fp32=True,
        state_bytes_per_param=lambda p: cosmos_state_bytes(p, 2),
        converges_kwargs={"lr": 1e-3, "lr_ratio": 1.0, "betas": (0.9, 0.95), "weight_decay": 0.0},
        converges_steps=5000,
    ),
    OptimizerInfo(
        name="hesso",
        factory=HESSO,
        # no groups: the base step (SGD with momentum) under every generic check; the pruning schedule
        # runs in the hesso_pruning record below
        default_kwargs={"lr": 1e-2, "variant": "sgd", "momentum": 0.9, "weight_decay": 1e-2},
        bad_inputs=_HESSO_BAD_INPUTS,
        supports_complex=True,
        bf16_state_fp32=True,
        # the momentum buffer (fp32 for 16-bit parameters) plus a float32 step counter
        state_bytes_per_param=lambda p: p.numel() * max(p.element_size(), 4) + 4,
        converges_kwargs={"lr": 1.5e-3, "momentum": 0.9, "weight_decay": 0.0},
        converges_steps=2000,
    ),
    OptimizerInfo(
        name="hesso_adamw",
        factory=HESSO,
        default_kwargs={"lr": 1e-2, "variant": "adamw", "weight_decay": 1e-2},
        bad_inputs=_HESSO_BAD_INPUTS,
        supports_complex=True,
        bf16_state_fp32=True,
        # exp_avg and exp_avg_sq (fp32 for 16-bit parameters) plus a float32 step counter
        state_bytes_per_param=lambda p: 2 * p.numel() * max(p.element_size(), 4) + 4,
        converges_kwargs={"lr": 2e-2, "betas": (0.9, 0.99), "weight_decay": 0.0},
        converges_steps=1000,
    ),
    OptimizerInfo(
        name="hesso_pruning",
        factory=_hesso_with_row_groups,
        # every row of every parameter is a group; pruning starts after step 1 in two periods of two
        # steps, so the 3- to 10-step checks run through scoring, shrinking, zeroing and pinning
        default_kwargs={
            "lr": 1e-2,
            "variant": "sgd",
            "momentum": 0.9,
            "weight_decay": 1e-2,
            "target_group_sparsity": 0.5,
            "start_step": 1,
            "pruning_steps": 4,
            "pruning_periods": 2,
        },
        bad_inputs=_HESSO_BAD_INPUTS,
        supports_complex=True,
        bf16_state_fp32=True,
        state_bytes_per_param=lambda p: p.numel() * max(p.element_size(), 4) + 4,
        converges_kwargs={"lr": 1.5e-3, "momentum": 0.9, "weight_decay": 0.0},
        converges_steps=2000,
        known_failures={
            "param_groups": "saliency is ranked over all groups of all param groups at once (as the "
            "reference), so two param groups do not prune like two separate optimizers, and a group "
            "with lr=0 is still pruned",
            "lr_zero": "pruning is a schedule, not a gradient step: redundant groups shrink to zero "
            "whatever the lr",
            "grad_none_untouched": "pruning acts on groups, not gradients: a redundant group is shrunk and "
            "pinned at zero also in a parameter whose grad is None (the reference pins those too)",
            "late_start": "the pruning schedule counts optimizer steps, not per-parameter steps, and "
            "ranks a parameter's groups against the others'",
            "converges_quadratic": "by design half the groups (coordinates here) end exactly zero, and "
            "the optimum (1, ..., 1) has no zero coordinate",
            "converges_rosenbrock": "by design one of the two groups (coordinates) ends exactly zero, and "
            "the optimum (1, 1) has no zero coordinate",
        },
    ),
]


def _flat_record(info: OptimizerInfo) -> OptimizerInfo:
    """``info``'s optimizer with its ``flat`` fast path as the main path, so that every generic check
    (param groups, round trip, late start, dtypes, ...) runs on the flat blocks too."""
    formula = info.state_bytes_per_param
    if formula is not None and getattr(info.factory, "int_step", False):
        # in a block the step is the block's shared float32 0-dim counter, where it was a Python int
        formula = functools.partial(lambda p, f: f(p) + 4, f=formula)
    return dataclasses.replace(
        info,
        name=f"{info.name}_flat",
        state_bytes_per_param=formula,
        default_kwargs={**info.default_kwargs, **info.fast_paths["flat"]},
        readable_kwargs={},
        fast_paths={},
    )


OPTIMIZER_INFOS += [_flat_record(info) for info in OPTIMIZER_INFOS if "flat" in info.fast_paths]


def _frugal_state_bytes(p: Tensor, density: float) -> int:
    """FRUGAL's state for one parameter: projection (m x r) and the two moments (r x n) in the
    subspace; the whole tensor under Adam when r = m; nothing when r = 0 (fp32 for 16-bit params)."""
    s = 8 if p.dtype == torch.float64 else 4
    rows, cols = (p.shape[0], math.prod(p.shape[1:])) if p.ndim >= 2 else (1, p.numel())
    m, n = min(rows, cols), max(rows, cols)
    r = subspace_rank(density, m)
    return 0 if r == 0 else 2 * p.numel() * s if r == m else (m * r + 2 * r * n) * s
