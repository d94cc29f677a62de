"""Fixtures shared by the optimizer tests."""

from __future__ import annotations

import pytest

from optarena.optim import _fused
from optarena.optim import adabelief as adabelief_module
from optarena.optim import exadam as exadam_module
from optarena.optim import lion as lion_module


@pytest.fixture
def loop_calls(monkeypatch):
    """Count the tensors each optimizer's readable loop updates, to see what the kernels left to it."""
    monkeypatch.delenv(_fused.NO_COMPILE_ENV, raising=False)
    calls: list[int] = []
    for module, name in (
        (lion_module, "_single_tensor_lion"),
        (adabelief_module, "_single_tensor_adabelief"),
        (exadam_module, "_single_tensor_exadam"),
    ):
        loop = getattr(module, name)

        def counted(params, *args, _loop=loop, **kwargs):
            calls.append(len(params))
            return _loop(params, *args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls
