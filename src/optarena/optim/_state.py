"""Optimizer-state helpers shared by the optimizers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["LOW_PRECISION", "as_real", "keep_fp32_state", "state_dtype"]

LOW_PRECISION = (torch.float16, torch.bfloat16)


def state_dtype(p: Tensor) -> torch.dtype:
    """State is kept in fp32 for 16-bit parameters (complex64 for complex32), otherwise in the
    parameter's dtype."""
    if p.dtype in LOW_PRECISION:
        return torch.float32
    if p.dtype == torch.complex32:
        return torch.complex64
    return p.dtype


def as_real(t: Tensor) -> Tensor:
    """A complex tensor as its real view (..., 2); a real tensor as it is."""
    return torch.view_as_real(t) if t.is_complex() else t


def keep_fp32_state(optimizer: Optimizer, state_dict: Mapping[str, Any]) -> None:
    """``Optimizer.load_state_dict`` casts every floating state tensor to its parameter's dtype; for
    parameters whose state is kept wider (:func:`state_dtype`: 16-bit floats, complex32) reload the
    saved tensors in that dtype instead, so no precision is lost in a round trip."""
    saved_ids = [i for g in state_dict["param_groups"] for i in g["params"]]
    params = [p for g in optimizer.param_groups for p in g["params"]]
    for pid, p in zip(saved_ids, params, strict=True):
        saved = state_dict["state"].get(pid)
        dtype = state_dtype(p)
        if dtype == p.dtype or not saved:
            continue
        for key, value in saved.items():
            if (
                isinstance(value, Tensor)
                and (value.is_floating_point() or value.is_complex())
                and key != "step"
            ):
                optimizer.state[p][key] = value.to(device=p.device, dtype=dtype, copy=True)
