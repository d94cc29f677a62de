"""The preference-loss contract suite: one list of checks every loss of per-token log-probs must pass.

A loss is described by one :class:`LossInfo` record: the function (called as ``loss(policy_chosen_logps,
policy_rejected_logps, chosen_mask, rejected_mask, ref_chosen_logps, ref_rejected_logps, **kwargs)`` and
returning ``(loss, metrics)``), the hyperparameters for the checks, the bad hyperparameters it must
reject, and capabilities that choose the checks (``uses_reference``, ``log2_at_reference``,
``decomposes_over_pairs``). Nothing here special-cases a loss by name; a known failure is declared in
``known_failures`` with a reason and runs as a strict xfail. Golden values are not here: they are
computed by hand in each loss's own tests.

Checks (test ids ``<record>::<check>``), on seeded random batches (B = 4, chosen and rejected of
different lengths, ragged masks, policy near the reference so every loss is in its monotone region):

- ``finite_scalar``: the loss is a finite 0-dim float tensor that backpropagates into the policy
  log-probs; ``metrics`` is a dict of finite floats whose ``"loss"`` equals the loss.
- ``chosen_up_lowers_loss``: adding 0.1 to every unmasked chosen log-prob strictly lowers the loss.
- ``rejected_up_does_not_lower``: adding 0.1 to every unmasked rejected log-prob does not lower it.
- ``padding_ignored``: extra masked columns holding nan, -inf and 1e30 change neither the loss nor the
  gradient at the real positions (and give zero gradient at the padding).
- ``batch_of_one``: a batch of one pair works; with ``decomposes_over_pairs`` the loss of a batch is the
  mean of the losses of its pairs.
- ``empty_mask_raises``: a pair whose chosen (or rejected) mask is all False raises ValueError naming
  the empty mask; so does an empty batch.
- ``shape_mismatch_raises``: a mask of another shape, or chosen and rejected of different batch sizes,
  raise ValueError.
- ``pure``: inputs are not modified and two calls give identical results.
- ``log2_at_reference`` (``log2_at_reference``): loss = log 2 when policy == reference.
- ``needs_reference`` (``uses_reference``): no reference log-probs raises ValueError; otherwise
  ``reference_ignored``: passing reference log-probs changes nothing.
- ``bad_hyperparameters``: each of ``bad_kwargs`` raises ValueError matching the regex and naming the value.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from optarena.core.spec import MethodSpec
from optarena.preference.specs import PREFERENCE_SPECS

__all__ = ["LOSS_INFOS", "LossCheck", "LossInfo", "loss_checks", "parametrize_with_checks", "random_batch"]


@dataclass(frozen=True)
class LossInfo:
    """What the suite needs to know about one preference loss (see the module docstring)."""

    name: str
    loss: Callable[..., tuple[Tensor, dict[str, float]]]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    uses_reference: bool = True
    log2_at_reference: bool = False
    decomposes_over_pairs: bool = True
    bad_kwargs: Sequence[tuple[Mapping[str, Any], str]] = ()
    known_failures: Mapping[str, str] = field(default_factory=dict)

    def __call__(self, *args: Any, **over: Any) -> tuple[Tensor, dict[str, float]]:
        return self.loss(*args, **{**self.kwargs, **over})

    @classmethod
    def from_spec(cls, spec: MethodSpec, **fields: Any) -> LossInfo:
        """A record whose loss is the spec's factory output and whose flags come from its capabilities."""
        fn = spec.load_factory()(dict(fields.pop("hparams", {})))
        return cls(
            name=fields.pop("name", spec.name),
            loss=fn,
            uses_reference="uses-reference" in spec.capabilities,
            log2_at_reference="log2-at-reference" in spec.capabilities,
            **fields,
        )


def random_batch(
    b: int = 4, tc: int = 5, tr: int = 7, seed: int = 0, dtype: torch.dtype = torch.float64
) -> dict[str, Tensor]:
    """Per-token log-probs in [-3, -0.05], ragged masks (every row keeps >= 1 token), a reference within
    0.05 of the policy. Keys: pc, pr, cm, rm, rc, rr."""
    g = torch.Generator().manual_seed(seed)
    pc = -(torch.rand(b, tc, generator=g, dtype=dtype) * 2.95 + 0.05)
    pr = -(torch.rand(b, tr, generator=g, dtype=dtype) * 2.95 + 0.05)
    cm = torch.arange(tc)[None, :] < torch.randint(1, tc + 1, (b, 1), generator=g)
    rm = torch.arange(tr)[None, :] < torch.randint(1, tr + 1, (b, 1), generator=g)
    rc = pc + 0.05 * (torch.rand(b, tc, generator=g, dtype=dtype) - 0.5)
    rr = pr + 0.05 * (torch.rand(b, tr, generator=g, dtype=dtype) - 0.5)
    return {"pc": pc, "pr": pr, "cm": cm, "rm": rm, "rc": rc, "rr": rr}


def _args(info: LossInfo, d: Mapping[str, Tensor]) -> tuple[Tensor | None, ...]:
    refs = (d["rc"], d["rr"]) if info.uses_reference else (None, None)
    return (d["pc"], d["pr"], d["cm"], d["rm"], *refs)


def _loss(info: LossInfo, d: Mapping[str, Tensor]) -> Tensor:
    return info(*_args(info, d))[0]


# ------------------------------------------------------------------------------------------------ checks


def check_finite_scalar(info: LossInfo) -> None:
    d = random_batch()
    pc = d["pc"].clone().requires_grad_(True)
    loss, metrics = info(*_args(info, {**d, "pc": pc}))
    if not (isinstance(loss, Tensor) and loss.dim() == 0 and loss.is_floating_point()):
        raise AssertionError(f"loss must be a 0-dim float tensor, got {loss!r}")
    if not bool(torch.isfinite(loss)):
        raise AssertionError(f"loss is not finite: {loss}")
    loss.backward()
    if pc.grad is None or not bool(torch.isfinite(pc.grad).all()) or float(pc.grad.abs().sum()) == 0:
        raise AssertionError(f"no finite, nonzero gradient into the chosen log-probs: {pc.grad}")
    if not isinstance(metrics, dict) or not all(
        isinstance(v, float) and math.isfinite(v) for v in metrics.values()
    ):
        raise AssertionError(f"metrics must be a dict of finite floats, got {metrics}")
    value = float(loss.detach())
    if abs(metrics.get("loss", math.nan) - value) > 1e-9 * max(1.0, abs(value)):
        raise AssertionError(f"metrics['loss'] = {metrics.get('loss')} differs from the loss {value}")


def check_chosen_up_lowers_loss(info: LossInfo) -> None:
    d = random_batch(seed=1)
    base = float(_loss(info, d))
    up = float(_loss(info, {**d, "pc": d["pc"] + 0.1 * d["cm"]}))
    if not up < base:
        raise AssertionError(f"raising the chosen log-probs by 0.1 did not lower the loss: {base} -> {up}")


def check_rejected_up_does_not_lower(info: LossInfo) -> None:
    d = random_batch(seed=2)
    base = float(_loss(info, d))
    up = float(_loss(info, {**d, "pr": d["pr"] + 0.1 * d["rm"]}))
    if up < base - 1e-12:
        raise AssertionError(f"raising the rejected log-probs by 0.1 lowered the loss: {base} -> {up}")


def _pad(x: Tensor, fill: Sequence[float]) -> Tensor:
    extra = torch.tensor([list(fill)] * x.shape[0], dtype=x.dtype)
    return torch.cat([x, extra], dim=1)


def check_padding_ignored(info: LossInfo) -> None:
    d = random_batch(seed=3)
    junk = (math.nan, -math.inf, 1e30)
    padded = {
        "pc": _pad(d["pc"], junk),
        "pr": _pad(d["pr"], junk[::-1]),
        "cm": _pad(d["cm"].double(), (0, 0, 0)).bool(),
        "rm": _pad(d["rm"].double(), (0, 0, 0)).bool(),
        "rc": _pad(d["rc"], junk),
        "rr": _pad(d["rr"], junk),
    }
    a = d["pc"].clone().requires_grad_(True)
    b = padded["pc"].clone().requires_grad_(True)
    la, lb = _loss(info, {**d, "pc": a}), _loss(info, {**padded, "pc": b})
    if not torch.allclose(la, lb, rtol=1e-12, atol=1e-12):
        raise AssertionError(f"masked padding changed the loss: {float(la.detach())} -> {float(lb.detach())}")
    la.backward()
    lb.backward()
    tc = d["pc"].shape[1]
    if not torch.allclose(a.grad, b.grad[:, :tc], rtol=1e-12, atol=1e-12):
        raise AssertionError("masked padding changed the gradient at real positions")
    if not bool((b.grad[:, tc:] == 0).all()):
        raise AssertionError(f"nonzero gradient at padding positions: {b.grad[:, tc:]}")


def check_batch_of_one(info: LossInfo) -> None:
    d = random_batch(seed=4)
    singles = []
    for i in range(d["pc"].shape[0]):
        one = {k: v[i : i + 1] for k, v in d.items()}
        loss = _loss(info, one)
        if not bool(torch.isfinite(loss)):
            raise AssertionError(f"batch of one gave a non-finite loss: {loss}")
        singles.append(float(loss))
    if info.decomposes_over_pairs:
        whole = float(_loss(info, d))
        mean = sum(singles) / len(singles)
        if abs(whole - mean) > 1e-10 * max(1.0, abs(mean)):
            raise AssertionError(f"batch loss {whole} is not the mean {mean} of its pairs' losses")


def _expect_value_error(fn: Callable[[], Any], pattern: str, what: str) -> None:
    try:
        fn()
    except ValueError as exc:
        if not re.search(pattern, str(exc)):
            raise AssertionError(f"{what}: ValueError {str(exc)!r} does not match {pattern!r}") from exc
        return
    raise AssertionError(f"{what}: no ValueError raised")


def check_empty_mask_raises(info: LossInfo) -> None:
    d = random_batch(seed=5)
    for key in ("cm", "rm"):
        mask = d[key].clone()
        mask[1] = False
        _expect_value_error(
            lambda m=mask, k=key: _loss(info, {**d, k: m}), r"empty mask", f"all-False {key} row"
        )
    empty = {k: v[:0] for k, v in d.items()}
    _expect_value_error(lambda: _loss(info, empty), r"empty batch", "empty batch")


def check_shape_mismatch_raises(info: LossInfo) -> None:
    d = random_batch(seed=6)
    _expect_value_error(lambda: _loss(info, {**d, "cm": d["cm"][:, :-1]}), r"shape", "mask of another shape")
    fewer = {**d, "pr": d["pr"][:-1], "rm": d["rm"][:-1], "rr": d["rr"][:-1]}
    _expect_value_error(lambda: _loss(info, fewer), r"batch size", "different batch sizes")


def check_pure(info: LossInfo) -> None:
    d = random_batch(seed=7)
    before = {k: v.clone() for k, v in d.items()}
    first, second = _loss(info, d), _loss(info, d)
    if not torch.equal(first, second):
        raise AssertionError(f"two calls differ: {float(first)} vs {float(second)}")
    for k, v in d.items():
        if not torch.equal(v, before[k]):
            raise AssertionError(f"the loss modified its input {k}")


def check_log2_at_reference(info: LossInfo) -> None:
    d = random_batch(seed=8)
    loss = float(_loss(info, {**d, "rc": d["pc"].clone(), "rr": d["pr"].clone()}))
    if abs(loss - math.log(2)) > 1e-12:
        raise AssertionError(f"loss at policy == reference is {loss}, not log 2 = {math.log(2)}")


def check_needs_reference(info: LossInfo) -> None:
    d = random_batch(seed=9)
    _expect_value_error(lambda: info(d["pc"], d["pr"], d["cm"], d["rm"])[0], r"ref", "no reference log-probs")


def check_reference_ignored(info: LossInfo) -> None:
    d = random_batch(seed=10)
    without = info(d["pc"], d["pr"], d["cm"], d["rm"])[0]
    with_ref = info(d["pc"], d["pr"], d["cm"], d["rm"], d["rc"] - 1.0, d["rr"] + 1.0)[0]
    if not torch.equal(without, with_ref):
        raise AssertionError(f"a reference-free loss changed with the reference: {without} vs {with_ref}")


def check_bad_hyperparameters(info: LossInfo) -> None:
    d = random_batch(seed=11)
    for kwargs, pattern in info.bad_kwargs:
        bad = next(iter(kwargs.values()))

        def call(kw: Mapping[str, Any] = kwargs) -> Any:
            return info(*_args(info, d), **kw)

        _expect_value_error(call, pattern, f"bad hyperparameters {dict(kwargs)}")
        try:
            call()
        except ValueError as exc:
            if repr(bad) not in str(exc) and str(bad) not in str(exc):
                raise AssertionError(f"error {str(exc)!r} does not name the bad value {bad!r}") from exc


_GENERIC: tuple[Callable[[LossInfo], None], ...] = (
    check_finite_scalar,
    check_chosen_up_lowers_loss,
    check_rejected_up_does_not_lower,
    check_padding_ignored,
    check_batch_of_one,
    check_empty_mask_raises,
    check_shape_mismatch_raises,
    check_pure,
    check_bad_hyperparameters,
)


@dataclass(frozen=True)
class LossCheck:
    name: str
    info: LossInfo
    fn: Callable[[LossInfo], None]

    def __call__(self) -> None:
        self.fn(self.info)

    def __repr__(self) -> str:
        return f"{self.info.name}::{self.name}"

    @property
    def known_failure(self) -> str | None:
        return self.info.known_failures.get(self.name)


def loss_checks(info: LossInfo) -> list[LossCheck]:
    """The checks that apply to ``info``, chosen by its capability flags."""
    fns = list(_GENERIC)
    fns.append(check_needs_reference if info.uses_reference else check_reference_ignored)
    if info.log2_at_reference:
        fns.append(check_log2_at_reference)
    checks = [LossCheck(fn.__name__.removeprefix("check_"), info, fn) for fn in fns]
    unknown = set(info.known_failures) - {c.name for c in checks}
    if unknown:
        raise ValueError(f"{info.name}: known_failures names checks that do not run: {sorted(unknown)}")
    return checks


def parametrize_with_checks(infos: Iterable[LossInfo]) -> Any:
    """A ``pytest.mark.parametrize`` over every check of every record, known failures as strict xfails."""
    import pytest

    cases = []
    for info in infos:
        for check in loss_checks(info):
            reason = check.known_failure
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(check, id=repr(check), marks=marks))
    return pytest.mark.parametrize("check", cases)


# ------------------------------------------------------------------------------------------------ records

_SPECS = {s.name: s for s in PREFERENCE_SPECS}
_from = functools.partial(LossInfo.from_spec)

LOSS_INFOS: list[LossInfo] = [
    _from(_SPECS["dpo"], bad_kwargs=(({"beta": 0.0}, r"beta.*0\.0"), ({"beta": -1.0}, r"beta.*-1\.0"))),
    _from(_SPECS["ipo"], bad_kwargs=(({"tau": -0.5}, r"tau.*-0\.5"),)),
    _from(
        _SPECS["ipo"],
        name="ipo_length_normalized",
        hparams={"length_normalize": True},
    ),
    _from(_SPECS["simpo"], bad_kwargs=(({"beta": -2.0}, r"beta.*-2\.0"), ({"gamma": -0.5}, r"gamma.*-0\.5"))),
    _from(_SPECS["simpo"], name="simpo_gamma0", hparams={"gamma": 0.0}),
    _from(
        _SPECS["rpo"],
        name="rpo_sum",
        hparams={"beta": 0.1, "eta": 1.0},
        bad_kwargs=(({"eta": -1.0}, r"eta.*-1\.0"), ({"nll": "median"}, r"nll.*median")),
    ),
    _from(
        _SPECS["rpo"],
        name="rpo_token_mean",
        hparams={"beta": 0.1, "eta": 1.0, "nll": "token_mean"},
        decomposes_over_pairs=False,  # the token mean pools the tokens of the whole batch (as TRL does)
    ),
    _from(_SPECS["rrhf"], bad_kwargs=(({"length_penalty": -1.0}, r"length_penalty.*-1\.0"),)),
    _from(_SPECS["codpo"], bad_kwargs=(({"lam": -0.1}, r"lam.*-0\.1"),)),
]
