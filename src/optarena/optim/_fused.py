"""The ``fused=True`` path of OptArena's elementwise optimizers: one ``torch.compile``'d kernel per update.

An elementwise optimizer (Lion, AdaBelief, ...) writes its update as a *chunk kernel*: a plain function
of torch ops, ``kernel(sc, ps, gs, *state_lists, **flags)``, that loops over ``CHUNK`` slots, reads
slot ``i``'s operands once (``ps[i]``, ``gs[i]``, ...; flat tensors), its numbers from row ``sc[i]``, and
writes the results back with ``copy_``. :class:`CompiledStep` compiles it once per (device, dtypes,
flags) key with ``torch.compile(dynamic=True, fullgraph=True)`` and duck shaping off, so every slot has
its own symbolic length and one compiled kernel serves any mix of tensor sizes. Inductor turns each slot
into one loop over its elements: a single pass over memory, instead of one pass per op.

Why chunks: a compiled call costs ~20-40 us of Python and guard overhead, as much as a 256-element
tensor's whole update; ``CHUNK`` tensors per call divide it by ``CHUNK``. Inductor parallelizes the
first loop of a kernel (slot 0) with OpenMP and runs the other slots on one thread, so tensors of
``BIG`` elements or more each get a call of their own in slot 0 (the other slots get 2-element dummy
tensors, which keeps the list length, hence the compiled graph, fixed); smaller tensors are packed
``CHUNK`` to a call, the last call padded with dummies. Step-dependent numbers travel in ``sc``
(float64, one row per slot), never as Python floats, so a new learning rate or step never recompiles.
Tensors go in as 1-D aliases of their memory that are not views and need no grad (the compiled graph
guards on ``requires_grad`` and on a view's base, so ``view(-1)`` would recompile per shape pattern);
the parameters' version counters are then bumped as an in-place op would bump them.

The caller keeps its readable single-tensor loop for the tensors :meth:`CompiledStep.__call__` leaves
out (it returns their indices):

- all of them when compilation is disabled with the environment variable ``OPTARENA_NO_COMPILE=1``,
  or when ``torch.compile`` is unavailable or failed for the key (a ``RuntimeWarning`` is issued once
  per key, and the key is not tried again);
- tensors with fewer than two elements (a dynamic graph specializes on sizes 0 and 1, and a second
  compilation would cost seconds for nothing) or that are not contiguous.

The first call for a key compiles: about 10-25 s on a 2-core CPU, a few seconds when Inductor's on-disk
cache is warm.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["BIG", "CHUNK", "NO_COMPILE_ENV", "CompiledStep", "compile_disabled"]

#: Set to a non-empty value other than ``0`` to make every ``fused=True`` step take the loop path.
NO_COMPILE_ENV = "OPTARENA_NO_COMPILE"
#: Tensors per compiled call.
CHUNK = 16
#: Tensors with at least this many elements get a compiled call (and all threads) to themselves.
BIG = 1 << 15


def compile_disabled() -> bool:
    """True when ``OPTARENA_NO_COMPILE`` asks for no compilation."""
    return os.environ.get(NO_COMPILE_ENV, "").strip() not in ("", "0")


def _no_duck_shapes() -> contextlib.AbstractContextManager[Any]:
    """Give each input size its own symbol (by default equal sizes share one, and a different pattern
    of equal sizes would recompile). A private torch config: without it, only recompilations differ."""
    try:
        from torch.fx.experimental import _config
    except ImportError:  # pragma: no cover - other torch versions
        return contextlib.nullcontext()
    patch = getattr(_config, "patch", None)
    return patch(use_duck_shape=False) if patch is not None else contextlib.nullcontext()


def _flat(t: torch.Tensor) -> torch.Tensor:
    """A 1-D alias of contiguous ``t`` that is not a view and needs no grad. The compiled graph guards
    on ``requires_grad`` and on a view's base (its shape and strides), so ``t.view(-1)`` would recompile
    for every new pattern of shapes in a chunk."""
    if t.dim() == 1 and t._base is None:
        return t.detach()
    return t.new_empty(0).set_(t.untyped_storage(), t.storage_offset(), (t.numel(),), (1,))


class CompiledStep:
    """A chunk kernel, compiled once per (device, dtypes, flags) and run over whole tensor lists.

    ``kernel(sc, *lists, **flags)``: ``sc`` is a float64 ``(CHUNK, k)`` tensor, each of ``lists`` a list
    of ``CHUNK`` flat tensors; slot ``i`` reads row ``sc[i]`` and ``lists[j][i]`` and writes in place.
    ``flags`` are Python booleans baked into the graph.
    """

    def __init__(self, kernel: Callable[..., None], chunk: int = CHUNK, big: int = BIG) -> None:
        self._kernel = kernel
        self._chunk = chunk
        self._big = big
        self._compiled: Callable[..., None] | None = None
        self._ready: set[tuple[Any, ...]] = set()
        self._failed: set[tuple[Any, ...]] = set()
        self._dummies: dict[tuple[Any, ...], list[list[torch.Tensor]]] = {}

    def __call__(
        self,
        rows: Callable[[int], tuple[float, ...]],
        lists: Sequence[Sequence[torch.Tensor]],
        **flags: bool,
    ) -> list[int]:
        """Update every slot ``i`` = ``(lists[0][i], lists[1][i], ...)`` with the numbers ``rows(i)``;
        return the indices it left to the caller's loop (nothing was written to those).

        ``rows`` should return the same tuple object for equal rows: a chunk whose rows are all one
        object reuses one ``sc`` tensor for the whole call."""
        n = len(lists[0])
        if compile_disabled():
            return list(range(n))
        flag_key = tuple(sorted(flags.items()))
        left: list[int] = []
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, tensors in enumerate(zip(*lists, strict=True)):
            numel = tensors[0].numel()
            if numel < 2 or not all(t.numel() == numel and t.is_contiguous() for t in tensors):
                left.append(i)
                continue
            key = (tensors[0].device, *[t.dtype for t in tensors], *flag_key)
            groups.setdefault(key, []).append(i)
        shared: dict[tuple[Any, ...], torch.Tensor] = {}
        for key, idx in groups.items():
            if key in self._failed:
                left += idx
                continue
            small = [i for i in idx if lists[0][i].numel() < self._big]
            chunks = [[i] for i in idx if lists[0][i].numel() >= self._big]
            chunks += [small[j : j + self._chunk] for j in range(0, len(small), self._chunk)]
            for c, slots in enumerate(chunks):
                if not self._run(key, slots, rows, lists, flags, shared):
                    left += [i for s in chunks[c:] for i in s]
                    break
        return left

    def _run(
        self,
        key: tuple[Any, ...],
        slots: list[int],
        rows: Callable[[int], tuple[float, ...]],
        lists: Sequence[Sequence[torch.Tensor]],
        flags: dict[str, bool],
        shared: dict[tuple[Any, ...], torch.Tensor],
    ) -> bool:
        device = key[0]
        dummies = self._dummies.get(key[: 1 + len(lists)])
        if dummies is None:
            dummies = [
                [torch.zeros(2, dtype=t.dtype, device=device) for _ in range(self._chunk)]
                for t in (lst[slots[0]] for lst in lists)
            ]
            self._dummies[key[: 1 + len(lists)]] = dummies
        pad = self._chunk - len(slots)
        args = [
            [_flat(lst[i]) for i in slots] + dummy[:pad] for lst, dummy in zip(lists, dummies, strict=True)
        ]
        table = [rows(i) for i in slots]
        if all(r is table[0] for r in table):  # padding rows copy the first row: same numbers
            sc = shared.get((device, table[0]))
            if sc is None:
                sc = shared[(device, table[0])] = self._table([table[0]] * self._chunk, device)
        else:
            sc = self._table(table + table[:1] * pad, device)
        if key in self._ready:
            self._compiled(sc, *args, **flags)  # type: ignore[misc]
            self._bump(lists[0], slots)
            return True
        try:
            # Inductor's own imports warn (DeprecationWarning from torch.jit); under ``-W error`` that
            # would fail the compilation, so they are silenced while compiling.
            with warnings.catch_warnings(), _no_duck_shapes():
                warnings.simplefilter("ignore", DeprecationWarning)
                if self._compiled is None:
                    self._compiled = torch.compile(self._kernel, dynamic=True, fullgraph=True)
                # Compilation happens before the kernel runs, so a failure here has written nothing.
                self._compiled(sc, *args, **flags)
        except Exception as exc:  # no compiler, unsupported platform or Python, Inductor error
            self._failed.add(key)
            warnings.warn(
                f"torch.compile of {getattr(self._kernel, '__name__', 'kernel')} failed for {key} "
                f"({type(exc).__name__}: {exc}); fused=True falls back to the single-tensor loop",
                RuntimeWarning,
                stacklevel=4,
            )
            return False
        self._ready.add(key)
        self._bump(lists[0], slots)
        return True

    @staticmethod
    def _table(table: list[tuple[float, ...]], device: torch.device) -> torch.Tensor:
        return torch.tensor(table, dtype=torch.float64, device=device)

    @staticmethod
    def _bump(params: Sequence[torch.Tensor], slots: list[int]) -> None:
        """Writes through an alias skip the parameter's version counter; bump it as an in-place op would,
        so autograd still detects a parameter saved for backward and then changed by the step."""
        torch.autograd.graph.increment_version([params[i] for i in slots])
