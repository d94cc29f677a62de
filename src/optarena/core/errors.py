"""Exceptions shared across OptArena. Each names the bad value it reports."""

from __future__ import annotations

import difflib

__all__ = [
    "HyperparameterError",
    "IncompatibleError",
    "OptArenaError",
    "StoreMismatchError",
    "SuiteError",
    "UnknownNameError",
]


class OptArenaError(Exception):
    """Base class of every error OptArena raises on purpose."""


class UnknownNameError(OptArenaError, KeyError):
    """A method or workload name that is not registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}.{hint} Known {kind}s: {', '.join(self.known)}")

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0])


class HyperparameterError(OptArenaError, ValueError):
    """A hyperparameter that is unknown or outside its search space."""


class IncompatibleError(OptArenaError, ValueError):
    """A method that cannot run on a workload (the workload lacks the interface the method needs)."""


class SuiteError(OptArenaError, ValueError):
    """A malformed suite file or suite option."""


class StoreMismatchError(OptArenaError):
    """A results store written by another suite, suite version or schema."""
