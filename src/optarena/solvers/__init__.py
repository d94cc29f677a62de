"""Solvers for constrained, bilevel, black-box and full-batch problems.

``minimize`` (constrained, scipy's shape), ``minimize_blackbox`` and ``minimize_bilevel`` are importable from here; submodules load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "minimize": "optarena.solvers.constrained.api",
    "ConstrainedProblem": "optarena.solvers.constrained.problem",
    "minimize_blackbox": "optarena.solvers.blackbox",
    "minimize_bilevel": "optarena.solvers.bilevel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'optarena.solvers' has no attribute {name!r}")
