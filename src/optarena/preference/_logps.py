"""Validation and reductions of per-token log-probabilities shared by every preference loss.

A loss receives, for a batch of ``B`` preference pairs, per-token log-probabilities of the chosen and the
rejected responses (shape ``(B, T_c)`` and ``(B, T_r)``) under the policy and, where the loss uses one,
under a frozen reference model, plus boolean masks of the same shapes marking the response tokens that
count (``True``) and the padding (``False``). Padding positions never reach the loss: they are replaced by
zero before any reduction, so even ``nan`` or ``-inf`` there changes nothing (values and gradients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["PreferenceInputError", "PreferenceLogps", "check_logps", "hparam_nonnegative", "hparam_positive"]


class PreferenceInputError(ValueError):
    """Per-token log-probabilities or masks that a preference loss cannot use."""


@dataclass(frozen=True)
class PreferenceLogps:
    """Validated inputs: padding zeroed, masks boolean, per-sequence sums and token counts ready."""

    chosen: Tensor  # (B, T_c), zero at padding
    rejected: Tensor  # (B, T_r)
    chosen_mask: Tensor  # bool
    rejected_mask: Tensor
    ref_chosen: Tensor | None
    ref_rejected: Tensor | None

    @property
    def chosen_len(self) -> Tensor:
        return self.chosen_mask.sum(-1).to(self.chosen.dtype)

    @property
    def rejected_len(self) -> Tensor:
        return self.rejected_mask.sum(-1).to(self.rejected.dtype)

    def chosen_sum(self) -> Tensor:
        return self.chosen.sum(-1)

    def rejected_sum(self) -> Tensor:
        return self.rejected.sum(-1)

    def ref_chosen_sum(self) -> Tensor:
        if self.ref_chosen is None:
            raise PreferenceInputError("this loss needs ref_chosen_logps, got None")
        return self.ref_chosen.sum(-1)

    def ref_rejected_sum(self) -> Tensor:
        if self.ref_rejected is None:
            raise PreferenceInputError("this loss needs ref_rejected_logps, got None")
        return self.ref_rejected.sum(-1)


def _check_pair(name: str, logps: Tensor, mask: Tensor) -> Tensor:
    if not isinstance(logps, Tensor) or not isinstance(mask, Tensor):
        raise TypeError(
            f"{name}: log-probs and mask must be torch.Tensor, got {type(logps).__name__}, "
            f"{type(mask).__name__}"
        )
    if logps.dim() != 2:
        raise PreferenceInputError(
            f"{name}: per-token log-probs must have shape (batch, tokens), got shape {tuple(logps.shape)}"
        )
    if not logps.is_floating_point():
        raise TypeError(f"{name}: log-probs must be a floating tensor, got dtype {logps.dtype}")
    if mask.shape != logps.shape:
        raise PreferenceInputError(
            f"{name}: mask shape {tuple(mask.shape)} differs from log-probs shape {tuple(logps.shape)}"
        )
    if mask.dtype != torch.bool:
        if not bool(((mask == 0) | (mask == 1)).all()):
            raise PreferenceInputError(
                f"{name}: mask must be boolean or 0/1, got values {torch.unique(mask).tolist()[:5]}"
            )
        mask = mask.bool()
    if logps.shape[0] == 0:
        raise PreferenceInputError(f"{name}: empty batch (shape {tuple(logps.shape)})")
    empty = (~mask.any(-1)).nonzero().flatten().tolist()
    if empty:
        raise PreferenceInputError(f"{name}: rows {empty} have an empty mask (no response token)")
    return mask


def _masked(name: str, logps: Tensor, mask: Tensor) -> Tensor:
    kept = torch.where(mask, logps, torch.zeros((), dtype=logps.dtype, device=logps.device))
    if not bool(torch.isfinite(kept.detach()).all()):
        raise PreferenceInputError(f"{name}: non-finite log-prob at an unmasked position")
    return kept


def check_logps(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_mask: Tensor,
    rejected_mask: Tensor,
    ref_chosen_logps: Tensor | None = None,
    ref_rejected_logps: Tensor | None = None,
) -> PreferenceLogps:
    """Validate shapes, masks and values; return the inputs with padding zeroed."""
    cm = _check_pair("policy_chosen_logps", policy_chosen_logps, chosen_mask)
    rm = _check_pair("policy_rejected_logps", policy_rejected_logps, rejected_mask)
    if cm.shape[0] != rm.shape[0]:
        raise PreferenceInputError(
            f"chosen batch size {cm.shape[0]} differs from rejected batch size {rm.shape[0]}"
        )
    if (ref_chosen_logps is None) != (ref_rejected_logps is None):
        raise PreferenceInputError("give both ref_chosen_logps and ref_rejected_logps, or neither")
    refs: list[Tensor | None] = [None, None]
    if ref_chosen_logps is not None and ref_rejected_logps is not None:
        for i, (name, ref, pol, m) in enumerate(
            (
                ("ref_chosen_logps", ref_chosen_logps, policy_chosen_logps, cm),
                ("ref_rejected_logps", ref_rejected_logps, policy_rejected_logps, rm),
            )
        ):
            if not isinstance(ref, Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(ref).__name__}")
            if ref.shape != pol.shape:
                raise PreferenceInputError(
                    f"{name}: shape {tuple(ref.shape)} differs from the policy's {tuple(pol.shape)}"
                )
            refs[i] = _masked(name, ref.detach(), m)
    return PreferenceLogps(
        chosen=_masked("policy_chosen_logps", policy_chosen_logps, cm),
        rejected=_masked("policy_rejected_logps", policy_rejected_logps, rm),
        chosen_mask=cm,
        rejected_mask=rm,
        ref_chosen=refs[0],
        ref_rejected=refs[1],
    )


def hparam_positive(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def hparam_nonnegative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)
