"""The ``fused=True`` path of OptArena's elementwise optimizers (Lion, AdaBelief, EXAdam) on CPU.

A small C++ extension (``_fused.cpp`` next to this file) holds one loop per optimizer that reads and
writes each element of the parameter, its gradient and its state once (Lion: read p, g, m, write p, m;
AdaBelief and EXAdam: read p, g, m, v, write p, m, v), and a driver that takes a whole parameter group
in one call: it splits the work into blocks of ``2**15`` elements (a large tensor into many blocks, small
tensors packed many to a block) and runs the blocks on OpenMP threads (``torch.set_num_threads``).
Step-dependent numbers (bias corrections, rectification) are computed in the driver per distinct step,
in double precision with the same operations as the Python of the readable loop; the elementwise
arithmetic runs in the state's dtype (float32 for bf16/fp16 parameters, which are rounded once when
written back), as the loop does.

Two entry points:

- :func:`step_state`: the optimizer's fast path. It takes ``group["params"]`` and the optimizer's
  ``state`` dict, finds each parameter's gradient and state in C++ (no Python per parameter), counts its
  step and updates it. It returns the parameters it left: those without complete state yet (their first
  step) and anything the kernels do not take; the optimizer runs them through its usual ``_init_group``
  and the functional core.
- :func:`step_lists`: the functional core's path (``lion(..., fused=True)``), over lists of tensors;
  returns the indices it left to the caller's readable loop.

The kernels take CPU tensors of dtype float32, float64, bfloat16 or float16 (state in the parameter's
dtype, float32 for the 16-bit ones) and complex64/128 as real pairs (not EXAdam), dense (any one memory
format shared by the parameter, its gradient and its state), plain ``Tensor``/``Parameter`` objects.
Everything else (other devices, sparse gradients, tensor subclasses, ...) goes to the readable loop:
use ``foreach=True`` on GPUs. Nothing is written to a tensor that is left to the loop.

The extension is built at first use with :func:`torch.utils.cpp_extension.load` (g++ with OpenMP and
ninja on ``PATH``; about 15 s of CPU time, one build) into torch's extension cache (``~/.cache/torch_extensions``, or
``$TORCH_EXTENSIONS_DIR``); later processes load it from there. One build serves all three optimizers.
When the build fails, or when the environment variable ``OPTARENA_NO_COMPILE`` is set (to anything but
``0``), ``fused=True`` is the readable loop; a failed build issues one ``RuntimeWarning`` per process.
"""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

__all__ = [
    "ADABELIEF",
    "AMSGRAD",
    "DECOUPLED",
    "EXADAM",
    "LION",
    "LR_V1",
    "MAXIMIZE",
    "NO_COMPILE_ENV",
    "RECTIFY",
    "compile_disabled",
    "extension",
    "step_lists",
    "step_state",
    "subset",
]

#: Set to a non-empty value other than ``0`` to make every ``fused=True`` step take the loop path.
NO_COMPILE_ENV = "OPTARENA_NO_COMPILE"

# Algorithm ids and flag bits of ``hyper`` (as in _fused.cpp).
LION, ADABELIEF, EXADAM = 0, 1, 2
MAXIMIZE, DECOUPLED, AMSGRAD, RECTIFY, LR_V1 = 1, 2, 4, 8, 16

#: ``(algo, flags, lr, beta1, beta2, eps, weight_decay)``
Hyper = tuple[int, int, float, float, float, float, float]

_SOURCE = Path(__file__).with_name("_fused.cpp")
_CFLAGS = ["-O3", "-fopenmp", "-fno-math-errno", "-ffp-contract=off"]  # no FMA contraction: as Python
_lock = threading.Lock()
_module: Any = None
_failure: str | None = None


def compile_disabled() -> bool:
    """True when ``OPTARENA_NO_COMPILE`` asks for no compilation."""
    return os.environ.get(NO_COMPILE_ENV, "").strip() not in ("", "0")


def _ninja_on_path() -> None:
    """torch's builder runs ``ninja`` from ``PATH``; the PyPI ``ninja`` package (a dependency) puts
    its binary in the environment's ``bin``, which is not on ``PATH`` unless the environment is
    activated."""
    if shutil.which("ninja") is None:
        try:
            import ninja
        except ImportError:
            return
        os.environ["PATH"] = ninja.BIN_DIR + os.pathsep + os.environ.get("PATH", "")


def _build() -> Any:
    from torch.utils.cpp_extension import load

    _ninja_on_path()
    with warnings.catch_warnings():  # the build's own warnings must not fail a ``-W error`` run
        warnings.simplefilter("ignore")
        return load(
            name="optarena_fused",
            sources=[str(_SOURCE)],
            extra_cflags=_CFLAGS,
            extra_ldflags=["-fopenmp"],
            is_python_module=True,
            verbose=False,
        )


def extension() -> Any:
    """The compiled module, or None when compilation is disabled or failed (warned once per process)."""
    global _module, _failure
    if compile_disabled():
        return None
    if _module is not None or _failure is not None:
        return _module
    with _lock:
        if _module is None and _failure is None:
            try:
                _module = _build()
            except Exception as exc:  # no compiler or ninja, unsupported platform, build error
                _failure = f"{type(exc).__name__}: {exc}"
                warnings.warn(
                    f"building the fused optimizer extension failed ({_failure}); fused=True falls back "
                    "to the single-tensor loop",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return _module


def step_state(
    hyper: Hyper, params: list[Tensor], state: dict[Any, Any], keys: tuple[str, ...]
) -> list[Tensor]:
    """Update every parameter of ``params`` that has a gradient and complete state (``state[p][key]`` for
    ``keys`` and ``state[p]["step"]``, counted here); return the ones it left (all of them without the extension)."""
    ext = extension()
    if ext is None or not isinstance(state, dict):
        return list(params)
    return ext.step_state(hyper, params if isinstance(params, list) else list(params), state, keys)


def step_lists(hyper: Hyper, lists: Sequence[list[Tensor]], steps: list[Any]) -> list[int]:
    """Update slot ``i`` of ``lists`` = (params, grads, state, ...) for every ``i`` it can; ``steps[i]`` is
    a float32 0-dim tensor (counted here) or the step as an int. Return the indices it left."""
    ext = extension()
    if ext is None:
        return list(range(len(steps)))
    as_list = [x if isinstance(x, list) else list(x) for x in (*lists, steps)]
    return ext.step_lists(hyper, tuple(as_list[:-1]), as_list[-1])


def subset(lists: Sequence[Sequence[Any]], idx: list[int]) -> list[list[Any]]:
    """``[[lst[i] for i in idx] for lst in lists]``."""
    return [[lst[i] for i in idx] for lst in lists]
